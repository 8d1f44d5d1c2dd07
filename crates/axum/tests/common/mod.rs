//! Shared fixtures: a router exercising every route kind, explicit providers and propagator (no
//! globals), and a small HTTP/1.1 client for the tests that run a real server.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{any, get};
use bytes::Bytes;
use http_body_util::BodyExt;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tracewire_axum::extract::{Baggage, RequestSpan, TraceIds};
use tracewire_axum::{Propagator, SpanBackend, TelemetryLayer, TelemetryLayerBuilder};
use tracewire_core::propagation::parse_propagators;
use tracewire_testing::TelemetryCapture;

pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT_ID: &str = "00f067aa0ba902b7";

pub fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

pub fn remote_parent() -> SpanContext {
    SpanContext::new(
        TraceId::from_hex(TRACE_ID).unwrap(),
        SpanId::from_hex(PARENT_ID).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    )
}

pub fn propagator() -> Propagator {
    Propagator::new(parse_propagators("tracecontext,baggage").build())
}

/// A builder wired to `capture`'s providers and an explicit W3C propagator.
pub fn builder(capture: &TelemetryCapture) -> TelemetryLayerBuilder {
    TelemetryLayer::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(propagator())
}

/// Same, with OpenTelemetry API spans only (no `tracing` involvement).
pub fn otel_builder(capture: &TelemetryCapture) -> TelemetryLayerBuilder {
    builder(capture).span_backend(SpanBackend::OpenTelemetry)
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

/// Echoes what the handler sees: the ids of the current span (via the extractor) and baggage.
async fn whoami(ids: TraceIds, baggage: Baggage) -> String {
    let mut pairs: Vec<_> = baggage.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    format!("{} {} {}", ids.trace_id, ids.span_id, pairs.join(","))
}

/// The ids of the context current in the handler, after an await (no extractor involved).
async fn current() -> String {
    tokio::task::yield_now().await;
    tracewire_core::context::current_ids().map_or_else(String::new, |ids| {
        format!("{} {}", ids.trace_id, ids.span_id)
    })
}

async fn annotate(span: RequestSpan) -> &'static str {
    span.set_attribute(opentelemetry::KeyValue::new("app.items", 3_i64));
    span.set_error("quota_exceeded");
    "annotated"
}

async fn panics() -> &'static str {
    panic!("handler bug")
}

/// Three chunks, `gap` apart.
pub fn slow_body(gap: Duration) -> Body {
    let chunks = futures_util::stream::unfold(0_u8, move |sent| async move {
        if sent == 3 {
            return None;
        }
        tokio::time::sleep(gap).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(b"chunk")), sent + 1))
    });
    Body::from_stream(chunks)
}

pub fn routes() -> Router {
    let api = Router::new().route("/items/{id}", get(|| async { "item" }));
    let mounted = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("mounted")))
    });
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/status/{code}", get(status))
        .route("/any", any(|| async { "any" }))
        .route("/whoami", get(whoami))
        .route("/current", get(current))
        .route("/annotate", get(annotate))
        .route("/panic", get(panics))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/stream",
            get(|| async { Response::new(slow_body(Duration::from_millis(40))) }),
        )
        .nest("/api", api)
        .nest_service("/static", mounted)
}

/// Sends one request through `app` in-process and collects the response.
pub async fn send(app: &Router, request: Request<Body>) -> (Response<()>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A GET of `uri` whose caller is [`remote_parent`], with these extra headers.
pub fn traced_request(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(uri).header("traceparent", traceparent());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

/// Runs `app` on 127.0.0.1:0 with `ConnectInfo`, returning its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A keep-alive HTTP/1.1 connection that sends GETs with extra headers and reads
/// `Content-Length` or chunked responses.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }

    /// Returns the status code and body, or `None` when the server closed the connection.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
        let mut head = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.stream
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .ok()?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.ok()?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.trim() == "chunked",
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.ok()?;
                let size = usize::from_str_radix(line.trim_end(), 16).ok()?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.ok()?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length.unwrap_or(0), 0);
            self.stream.read_exact(&mut body).await.ok()?;
        }
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
