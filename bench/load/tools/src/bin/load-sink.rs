//! The collectors of the load benchmark, on loopback:
//!
//! - `--mode ok`: an OTLP/HTTP sink that answers `200` (an empty protobuf message) at once. It
//!   decodes `/v1/traces` bodies to count spans; `GET /stats` returns its counts as JSON.
//! - `--mode hang`: accepts connections and reads what is sent, never answering (the collector
//!   that hangs, for the shutdown-time and memory bound).
//!
//! ```text
//! load-sink --listen 127.0.0.1:4318 [--mode ok|hang]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

/// What the sink has received since it started.
#[derive(Default)]
struct Stats {
    trace_requests: AtomicU64,
    trace_bytes: AtomicU64,
    spans: AtomicU64,
    undecoded_trace_requests: AtomicU64,
    metric_requests: AtomicU64,
    metric_bytes: AtomicU64,
    other_requests: AtomicU64,
}

impl Stats {
    fn json(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        serde_json::json!({
            "trace_requests": get(&self.trace_requests),
            "trace_bytes": get(&self.trace_bytes),
            "spans": get(&self.spans),
            "undecoded_trace_requests": get(&self.undecoded_trace_requests),
            "metric_requests": get(&self.metric_requests),
            "metric_bytes": get(&self.metric_bytes),
            "other_requests": get(&self.other_requests),
        })
        .to_string()
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|at| args.get(at + 1))
    };
    let Some(Ok(listen)) = value("--listen").map(|v| v.parse::<SocketAddr>()) else {
        eprintln!("usage: load-sink --listen ADDR [--mode ok|hang]");
        return ExitCode::FAILURE;
    };
    let hang = match value("--mode").map(String::as_str) {
        None | Some("ok") => false,
        Some("hang") => true,
        Some(other) => {
            eprintln!("load-sink: unknown mode {other}");
            return ExitCode::FAILURE;
        }
    };
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(serve(listen, hang)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load-sink: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr, hang: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let stats = Arc::new(Stats::default());
    loop {
        let (stream, _) = listener.accept().await?;
        if hang {
            tokio::spawn(swallow(stream));
            continue;
        }
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let stats = Arc::clone(&stats);
                async move { Ok::<_, Infallible>(answer(request, &stats).await) }
            });
            // A client that goes away mid-request is not the sink's concern.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Reads and discards until the peer closes; never writes.
async fn swallow(mut stream: TcpStream) {
    let mut buffer = vec![0_u8; 64 * 1024];
    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
}

async fn answer(request: Request<Incoming>, stats: &Stats) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET && parts.uri.path() == "/stats" {
        return reply(StatusCode::OK, "application/json", stats.json().into());
    }
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, "text/plain", Bytes::new());
    };
    let bytes = body.len() as u64;
    match (parts.method == Method::POST, parts.uri.path()) {
        (true, "/v1/traces") => {
            stats.trace_requests.fetch_add(1, Ordering::SeqCst);
            stats.trace_bytes.fetch_add(bytes, Ordering::SeqCst);
            let plain = !parts.headers.contains_key(CONTENT_ENCODING);
            match ExportTraceServiceRequest::decode(body)
                .ok()
                .filter(|_| plain)
            {
                Some(export) => {
                    let spans = export
                        .resource_spans
                        .iter()
                        .flat_map(|resource| &resource.scope_spans)
                        .map(|scope| scope.spans.len() as u64)
                        .sum();
                    stats.spans.fetch_add(spans, Ordering::SeqCst);
                }
                None => {
                    stats
                        .undecoded_trace_requests
                        .fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        (true, "/v1/metrics") => {
            stats.metric_requests.fetch_add(1, Ordering::SeqCst);
            stats.metric_bytes.fetch_add(bytes, Ordering::SeqCst);
        }
        _ => {
            stats.other_requests.fetch_add(1, Ordering::SeqCst);
        }
    }
    // An empty Export*ServiceResponse: full success.
    reply(StatusCode::OK, "application/x-protobuf", Bytes::new())
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
