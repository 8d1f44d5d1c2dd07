//! A reqwest client instrumented with `tracewire-reqwest`: retries with one span per attempt,
//! URL templates for span names, and a third-party call that does not receive our trace
//! context. See the README.
//!
//! ```text
//! cargo run -p example-axum-server &                 # something to call
//! cargo run -p example-reqwest-client                # API_URL (--url), default http://127.0.0.1:3000
//! cargo run -p example-reqwest-client -- --smoke     # calls a local flaky server instead, then exits
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use serde::{Deserialize, Serialize};
use tracewire_init::{ExporterKind, InitError, Signal, TelemetryGuard};
use tracewire_reqwest::{DisableInjection, PathTemplates, TelemetryMiddleware, UrlTemplate};
use tracing::Instrument as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_API_URL: &str = "http://127.0.0.1:3000";

#[derive(Debug, Deserialize, Serialize)]
struct NewUser {
    name: String,
}

/// The client every call goes through.
fn client() -> Result<ClientWithMiddleware, Error> {
    let retry = RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_millis(50), Duration::from_secs(2))
            .build_with_max_retries(3),
    );
    let telemetry = TelemetryMiddleware::builder()
        // Span names and `url.template` without ids: `GET /users/{id}`, never `GET /users/42`.
        .path_templates(PathTemplates::new(["/users/{id}"])?)
        .build();
    Ok(ClientBuilder::new(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    )
    // Order matters: retries outside, telemetry inside, so each attempt is its own span
    // (with `http.request.resend_count`) and sends its own `traceparent`.
    .with(retry)
    .with(telemetry)
    .build())
}

/// One job: create a user, read it back, then ask a third party for its status.
async fn sync_user(
    client: &ClientWithMiddleware,
    api_url: &str,
    third_party_url: &str,
) -> Result<(), Error> {
    client
        .post(format!("{api_url}/users"))
        // A per-request template wins over the builder's list.
        .with_extension(UrlTemplate::new("/users"))
        .json(&NewUser {
            name: "Ada".to_owned(),
        })
        .send()
        .await?
        .error_for_status()?;
    let user = client
        .get(format!("{api_url}/users/1"))
        .send()
        .await?
        .error_for_status()?;
    tracing::info!(status = %user.status(), "user read");
    // Our trace ids are none of a third party's business: recorded, not propagated.
    let status = client
        .get(third_party_url)
        .with_extension(DisableInjection)
        .send()
        .await?;
    tracing::info!(status = %status.status(), "third party answered");
    Ok(())
}

/// Traces, metrics and logs from the `OTEL_*` variables; printed to the console until
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
fn telemetry() -> Result<TelemetryGuard, InitError> {
    tracewire_init::builder()
        .service_name(env!("CARGO_PKG_NAME"))
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Logs, [])
        .init()
}

struct Args {
    api_url: String,
    smoke: bool,
}

fn args() -> Result<Args, String> {
    let mut api_url = std::env::var("API_URL").unwrap_or_else(|_| DEFAULT_API_URL.to_owned());
    let mut smoke = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => api_url = args.next().ok_or("--url needs a base URL")?,
            "--smoke" => smoke = true,
            other => return Err(format!("unknown argument {other:?} (--url URL, --smoke)")),
        }
    }
    Ok(Args { api_url, smoke })
}

/// The smoke run's server: `GET /users/{id}` fails twice with 503 before answering, and
/// `/status` plays the third party (it says whether it got a `traceparent`).
async fn flaky_server() -> Result<String, Error> {
    async fn create(Json(user): Json<NewUser>) -> (StatusCode, Json<NewUser>) {
        (StatusCode::CREATED, Json(user))
    }
    async fn read(
        State(failures): State<Arc<AtomicU32>>,
        Path(id): Path<u32>,
    ) -> Result<String, StatusCode> {
        if failures.fetch_add(1, Ordering::Relaxed) < 2 {
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        Ok(format!("user {id}"))
    }
    async fn status(headers: HeaderMap) -> Result<&'static str, StatusCode> {
        if headers.contains_key("traceparent") {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok("up")
    }
    let app = Router::new()
        .route("/users", post(create))
        .route("/users/{id}", get(read))
        .route("/status", get(status))
        .with_state(Arc::new(AtomicU32::new(0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let telemetry = telemetry()?;

    let (api_url, third_party_url) = if args.smoke {
        let url = flaky_server().await?;
        (url.clone(), format!("{url}/status"))
    } else {
        let health = format!("{}/health", args.api_url);
        (args.api_url, health)
    };
    // A parent span for the job: the client spans (one per attempt) are its children.
    let job = tracing::info_span!("sync user");
    let outcome = sync_user(&client()?, &api_url, &third_party_url)
        .instrument(job)
        .await;

    // Flush before exiting, also after a failure.
    let report = telemetry.shutdown();
    if !report.is_clean() {
        eprintln!("telemetry: {report}");
    }
    outcome
}
