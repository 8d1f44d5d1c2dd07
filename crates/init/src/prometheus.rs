//! The Prometheus pull exporter: `opentelemetry-prometheus` collects on each scrape, a small
//! HTTP/1.1 server (hyper, on its own thread) serves the text exposition at `/metrics`.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_prometheus::PrometheusExporter;
use prometheus::{Registry, TextEncoder};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::warning::{Warning, WarningKind};

const PATH: &str = "/metrics";

/// The running endpoint; dropping it stops the server and waits for its thread.
#[derive(Debug)]
pub(crate) struct PrometheusServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PrometheusServer {
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _already_stopped = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _panicked = thread.join();
        }
    }
}

/// The reader to add to the meter provider and the server scraping it; `None`, with a warning,
/// when the endpoint cannot be served.
pub(crate) fn start(
    config: &Config,
    warnings: &mut Vec<Warning>,
) -> Option<(PrometheusExporter, PrometheusServer)> {
    let target = format!("{}:{}", config.prometheus_host, config.prometheus_port);
    let started = try_start(&target);
    if let Err(reason) = &started {
        warnings.push(Warning::new(
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            &target,
            WarningKind::ExporterBuild,
            reason.clone(),
            "no Prometheus endpoint",
        ));
    }
    started.ok()
}

fn try_start(target: &str) -> Result<(PrometheusExporter, PrometheusServer), String> {
    let cannot_listen = |error: std::io::Error| format!("cannot listen on {target}: {error}");
    // Bound here, not on the thread, so that a port in use is reported by `init`.
    let listener = TcpListener::bind(target).map_err(cannot_listen)?;
    listener.set_nonblocking(true).map_err(cannot_listen)?;
    let address = listener.local_addr().map_err(cannot_listen)?;
    let registry = Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .map_err(|error| format!("cannot build the Prometheus exporter: {error}"))?;
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("tracewire-prometheus".to_owned())
        .spawn(move || serve(listener, registry, stopped))
        .map_err(|error| format!("cannot start the server thread: {error}"))?;
    Ok((
        exporter,
        PrometheusServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
        },
    ))
}

fn serve(listener: TcpListener, registry: Registry, mut stopped: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            crate::report::export_failure(&format!("Prometheus endpoint not served: {error}"));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                crate::report::export_failure(&format!("Prometheus endpoint not served: {error}"));
                return;
            }
        };
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A connection that failed before it was accepted concerns only itself.
                    Err(_) => continue,
                },
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = respond(&request, &registry);
                    async move { Ok::<_, Infallible>(response) }
                });
                // A client that goes away mid-response ends only its own connection.
                let _closed = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let response = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != PATH {
        return response(StatusCode::NOT_FOUND, format!("scrape {PATH}\n"));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut refused = response(StatusCode::METHOD_NOT_ALLOWED, String::new());
        refused
            .headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    match TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(text) => {
            let mut ok = response(StatusCode::OK, text);
            ok.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            ok
        }
        Err(error) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {error}\n"),
        ),
    }
}
