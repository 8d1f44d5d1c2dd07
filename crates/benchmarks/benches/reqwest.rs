//! Per-request overhead of `tracewire-reqwest` against a loopback server, next to the bare
//! `reqwest_middleware::ClientWithMiddleware` (the floor) and `reqwest-tracing` 0.7.
//!
//! `reqwest-tracing` 0.7.1 supports OpenTelemetry up to 0.32, so it runs with its own
//! OpenTelemetry 0.32 SDK and `tracing-opentelemetry` 0.33; it shares our `reqwest` 0.13 and
//! `reqwest-middleware` 0.5, so the clients are identical. Every case injects W3C
//! `traceparent` and exports nowhere.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench reqwest -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use tokio::runtime::Runtime;
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};
use tracewire_core::propagation::{TraceContextPropagator, install_global};
use tracewire_reqwest::TelemetryMiddleware;
use tracing_subscriber::layer::SubscriberExt as _;

fn start_server() -> (Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = axum::Router::new().route("/users/{id}", axum::routing::get(|| async { "ok" }));
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, addr)
}

/// Answers every request without touching the network, so the chain's own cost is measured.
struct Canned;

#[async_trait::async_trait]
impl Middleware for Canned {
    async fn handle(
        &self,
        _request: reqwest::Request,
        _extensions: &mut http::Extensions,
        _next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        Ok(reqwest::Response::from(http::Response::new("ok")))
    }
}

fn client(middleware: Option<impl Middleware>, canned: bool) -> ClientWithMiddleware {
    let mut builder = ClientBuilder::new(reqwest::Client::new());
    if let Some(middleware) = middleware {
        builder = builder.with(middleware);
    }
    if canned {
        builder = builder.with(Canned);
    }
    builder.build()
}

fn ours(provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> TelemetryMiddleware {
    TelemetryMiddleware::builder()
        .tracer_provider(provider)
        .metrics(false)
        .build()
}

/// `reqwest-tracing`'s world: a `tracing` subscriber with the OpenTelemetry 0.32 bridge.
fn anchor_dispatch(sampled: bool) -> tracing::Dispatch {
    use opentelemetry_0_32::trace::TracerProvider as _;
    let sampler = if sampled {
        opentelemetry_sdk_0_32::trace::Sampler::AlwaysOn
    } else {
        opentelemetry_sdk_0_32::trace::Sampler::AlwaysOff
    };
    let provider = opentelemetry_sdk_0_32::trace::SdkTracerProvider::builder()
        .with_sampler(sampler)
        .build();
    let layer = tracing_opentelemetry_0_33::layer().with_tracer(provider.tracer("bench"));
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Our `tracing` world: the same subscriber shape with the OpenTelemetry 0.33 bridge.
fn tracewire_dispatch(provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> tracing::Dispatch {
    use opentelemetry::trace::TracerProvider as _;
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

fn bench(c: &mut Criterion) {
    let (_server, addr) = start_server();
    let url = format!("http://{addr}/users/42?color=blue");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    install_global(TraceContextPropagator::new());
    opentelemetry_0_32::global::set_text_map_propagator(
        opentelemetry_sdk_0_32::propagation::TraceContextPropagator::new(),
    );

    let sampled = sampled_provider();
    let dropping = dropping_provider();
    // A real SDK meter provider whose reader collects only on demand.
    let capture = tracewire_testing::TelemetryCapture::new();
    let meters = capture.meter_provider();
    let cases = |canned: bool| -> Vec<(&str, ClientWithMiddleware, Option<tracing::Dispatch>)> {
        vec![
            ("bare", client(None::<TelemetryMiddleware>, canned), None),
            (
                "tracewire/sampled",
                client(Some(ours(&sampled)), canned),
                None,
            ),
            (
                "tracewire/dropped",
                client(Some(ours(&dropping)), canned),
                None,
            ),
            (
                "tracewire/sampled-metrics",
                client(
                    Some(
                        TelemetryMiddleware::builder()
                            .tracer_provider(&sampled)
                            .meter_provider(meters)
                            .build(),
                    ),
                    canned,
                ),
                None,
            ),
            (
                "tracewire/tracing-world/sampled",
                client(Some(ours(&sampled)), canned),
                Some(tracewire_dispatch(&sampled)),
            ),
            (
                "tracewire/tracing-world/dropped",
                client(Some(ours(&dropping)), canned),
                Some(tracewire_dispatch(&dropping)),
            ),
            (
                "anchor/reqwest-tracing/tracing-world/sampled",
                client(Some(reqwest_tracing::TracingMiddleware::default()), canned),
                Some(anchor_dispatch(true)),
            ),
            (
                "anchor/reqwest-tracing/tracing-world/dropped",
                client(Some(reqwest_tracing::TracingMiddleware::default()), canned),
                Some(anchor_dispatch(false)),
            ),
        ]
    };

    // `canned`: the middleware chain alone (precise); `loopback`: a real request to 127.0.0.1.
    for (group_name, canned) in [("reqwest/canned", true), ("reqwest/loopback", false)] {
        let mut group = c.benchmark_group(group_name);
        for (name, client, dispatch) in &cases(canned) {
            let dispatch = dispatch.clone().unwrap_or_else(tracing::Dispatch::none);
            tracing::dispatcher::with_default(&dispatch, || {
                bench_or_profile(&mut group, group_name, name, || {
                    runtime.block_on(async {
                        let response = client.get(&url).send().await.expect("response");
                        response.bytes().await.expect("body")
                    })
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
