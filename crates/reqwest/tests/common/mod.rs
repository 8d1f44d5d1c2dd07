//! A real HTTP server on 127.0.0.1:0 that echoes the headers it received, plus client helpers.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::any;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use reqwest_middleware::ClientWithMiddleware;
use tracewire_core::propagation::{Propagator, TraceContextPropagator};
use tracewire_reqwest::{TelemetryMiddleware, TelemetryMiddlewareBuilder};
use tracewire_testing::TelemetryCapture;

/// Trace context and baggage, passed explicitly so no test touches the global propagator.
pub fn w3c() -> Propagator {
    Propagator::new(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]))
}

/// The middleware builder wired to `capture` and the W3C propagator.
pub fn middleware(capture: &TelemetryCapture) -> TelemetryMiddlewareBuilder {
    TelemetryMiddleware::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(w3c())
}

/// A client with only the given middleware.
pub fn client(middleware: TelemetryMiddleware) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

#[derive(Default)]
struct AppState {
    /// Answers 503 to the first `flaky_failures` calls of `/flaky`.
    flaky_failures: AtomicUsize,
    /// The `traceparent` of every call of `/flaky`, in order.
    flaky_traceparents: Mutex<Vec<String>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<AppState>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_state(AppState::default(), None).await
    }

    /// A server instrumented with the `tracewire-axum` layer, recording into `capture`.
    pub async fn with_server_spans(capture: &TelemetryCapture) -> Self {
        let layer = tracewire_axum::TelemetryLayer::builder()
            .tracer_provider(capture.tracer_provider())
            .meter_provider(capture.meter_provider())
            .propagator(w3c())
            .build();
        Self::with_state(AppState::default(), Some(layer)).await
    }

    /// `/flaky` answers 503 to its first `failures` calls, then 200.
    pub async fn flaky(failures: usize) -> Self {
        Self::with_state(
            AppState {
                flaky_failures: AtomicUsize::new(failures),
                ..AppState::default()
            },
            None,
        )
        .await
    }

    async fn with_state(state: AppState, layer: Option<tracewire_axum::TelemetryLayer>) -> Self {
        let state = Arc::new(state);
        let app = Router::new()
            .route("/echo", any(echo))
            .route("/users/{id}", any(echo))
            .route("/status/{code}", any(status))
            .route("/redirect", any(|| async { redirect("/echo") }))
            .route("/loop", any(|| async { redirect("/loop") }))
            .route("/slow", any(slow))
            .route("/flaky", any(flaky))
            .with_state(Arc::clone(&state));
        let app = match layer {
            Some(layer) => app.layer(layer),
            None => app,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> i64 {
        i64::from(self.addr.port())
    }

    pub fn flaky_traceparents(&self) -> Vec<String> {
        self.state.flaky_traceparents.lock().unwrap().clone()
    }
}

/// Answers with one `name: value` line per received header value (non-UTF-8 shown lossily).
async fn echo(headers: HeaderMap) -> impl IntoResponse {
    let body: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    (
        [
            ("x-served-by", "echo"),
            ("set-cookie", "session=secret-cookie"),
        ],
        body,
    )
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn redirect(to: &'static str) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, to)])
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(10)).await;
    "late"
}

async fn flaky(State(state): State<Arc<AppState>>, headers: HeaderMap) -> StatusCode {
    let traceparent = headers
        .get("traceparent")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    state.flaky_traceparents.lock().unwrap().push(traceparent);
    let failing = state
        .flaky_failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// The values of header `name` in an echo body, in order.
pub fn echoed(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(header, _)| *header == name)
        .map(|(_, value)| value.to_owned())
        .collect()
}

/// `00-{trace}-{span}-{flags}` sent for a span of a trace started here: its flags, and the
/// W3C random flag (the SDK's trace ids are random).
pub fn traceparent_of(cx: &opentelemetry::trace::SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        cx.trace_id(),
        cx.span_id(),
        cx.trace_flags().to_u8() | 0x02
    )
}
