//! A small JSON API (`GET /users/{id}`, `POST /users`, `GET /health`) instrumented with
//! `tracewire-axum`, telemetry set up by `tracewire-init`. See the README.
//!
//! ```text
//! cargo run -p example-axum-server                     # listens on 127.0.0.1:3000 (LISTEN_ADDR, --listen)
//! cargo run -p example-axum-server -- --smoke          # serves, sends itself requests, exits
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracewire_axum::extract::TraceId;
use tracewire_axum::{ResponsePropagation, TelemetryLayer};
use tracewire_init::{ExporterKind, InitError, Signal, TelemetryGuard};

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:3000";
const TRACE_ID_HEADER: HeaderName = HeaderName::from_static("x-trace-id");

#[derive(Clone, Debug, Deserialize, Serialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct NewUser {
    name: String,
}

/// Every answer carries its trace id, for users to quote in support requests.
#[derive(Debug, Deserialize, Serialize)]
struct Reply<T> {
    data: T,
    trace_id: String,
}

#[derive(Clone, Default)]
struct Users(Arc<Mutex<HashMap<u64, User>>>);

impl Users {
    fn insert(&self, name: String) -> User {
        let mut users = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let id = users.keys().max().map_or(1, |max| max + 1);
        let user = User { id, name };
        users.insert(id, user.clone());
        user
    }

    fn get(&self, id: u64) -> Option<User> {
        let users = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        users.get(&id).cloned()
    }
}

async fn create_user(
    State(users): State<Users>,
    TraceId(trace_id): TraceId,
    Json(new_user): Json<NewUser>,
) -> (StatusCode, Json<Reply<User>>) {
    let user = users.insert(new_user.name);
    tracing::info!(user.id = user.id, "user created");
    let reply = Reply {
        data: user,
        trace_id: trace_id.to_string(),
    };
    (StatusCode::CREATED, Json(reply))
}

async fn get_user(
    State(users): State<Users>,
    TraceId(trace_id): TraceId,
    Path(id): Path<u64>,
) -> Result<Json<Reply<User>>, (StatusCode, Json<Reply<String>>)> {
    let trace_id = trace_id.to_string();
    match users.get(id) {
        Some(user) => Ok(Json(Reply {
            data: user,
            trace_id,
        })),
        // A 404 is the client's problem: the server span stays unset, not an error.
        None => Err((
            StatusCode::NOT_FOUND,
            Json(Reply {
                data: format!("no user {id}"),
                trace_id,
            }),
        )),
    }
}

async fn health() -> &'static str {
    "ok"
}

fn app() -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/health", get(health))
        .with_state(Users::default())
        // After the routes, so that spans are named after the matched route.
        .layer(
            TelemetryLayer::builder()
                // Health checks would drown the real traffic: no span, no metrics.
                .filter(|request| request.uri.path() != "/health")
                // `traceresponse` for tools, `x-trace-id` for humans.
                .response_propagation(
                    ResponsePropagation::new()
                        .traceresponse()
                        .trace_id_header(TRACE_ID_HEADER),
                )
                .build(),
        )
}

/// Traces, metrics and logs from the `OTEL_*` variables; printed to the console until
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
fn telemetry() -> Result<TelemetryGuard, InitError> {
    tracewire_init::builder()
        .service_name(env!("CARGO_PKG_NAME"))
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        // The `fmt` layer already prints log lines.
        .exporters_without_endpoint(Signal::Logs, [])
        .init()
}

struct Args {
    listen: SocketAddr,
    smoke: bool,
}

fn args() -> Result<Args, String> {
    let mut listen =
        std::env::var("LISTEN_ADDR").unwrap_or_else(|_| DEFAULT_LISTEN_ADDR.to_owned());
    let mut smoke = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--smoke" => smoke = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--listen ADDR, --smoke)"
                ));
            }
        }
    }
    let listen = listen
        .parse()
        .map_err(|error| format!("invalid address {listen:?}: {error}"))?;
    Ok(Args { listen, smoke })
}

/// Ctrl-C, or `stop` (the smoke run).
async fn shutdown_signal(stop: oneshot::Receiver<()>) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Ok(()) = stop => {}
    }
}

/// Creates a user, reads it back, asks for a missing one and checks health.
async fn smoke(address: SocketAddr) -> Result<(), Error> {
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    let created: Reply<User> = client
        .post(format!("{base}/users"))
        .json(&NewUser {
            name: "Ada".to_owned(),
        })
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let response = client
        .get(format!("{base}/users/{}", created.data.id))
        .send()
        .await?
        .error_for_status()?;
    let header = response
        .headers()
        .get(TRACE_ID_HEADER)
        .ok_or("no x-trace-id header")?
        .to_str()?
        .to_owned();
    let fetched: Reply<User> = response.json().await?;
    if fetched.trace_id != header {
        return Err("the extractor and the response header disagree".into());
    }
    let missing = client.get(format!("{base}/users/999")).send().await?;
    if missing.status() != StatusCode::NOT_FOUND {
        return Err(format!("expected 404, got {}", missing.status()).into());
    }
    client
        .get(format!("{base}/health"))
        .send()
        .await?
        .error_for_status()?;
    tracing::info!(trace_id = %fetched.trace_id, "smoke requests done");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    // Keep the guard until the end of `main`: its shutdown flushes what is still queued.
    let telemetry = telemetry()?;

    let listener = TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(
        axum::serve(listener, app())
            .with_graceful_shutdown(shutdown_signal(stopped))
            .into_future(),
    );
    if args.smoke {
        let outcome = smoke(address).await;
        let _server_gone = stop.send(());
        outcome?;
    }
    // Otherwise `stop` stays alive and unused: the server runs until Ctrl-C.
    server.await??;

    tracing::info!("server stopped; flushing telemetry");
    let report = telemetry.shutdown();
    if !report.is_clean() {
        eprintln!("telemetry: {report}");
    }
    Ok(())
}
