//! Per-request overhead of `tracewire-axum`, in-process (`oneshot` on a `Router` with one
//! route), next to bare axum (the floor), `opentelemetry-instrumentation-tower` 0.19 and
//! `axum-tracing-opentelemetry` 0.42. Every request carries a W3C `traceparent`; spans export
//! nowhere and metrics go to an idle in-memory reader.
//!
//! - `opentelemetry-instrumentation-tower` reads the global tracer and meter when its layer is
//!   built, so the globals are set to the sampled or dropping provider before building it.
//! - `axum-tracing-opentelemetry` records through `tracing`: its cases run with a subscriber
//!   holding a `tracing-opentelemetry` layer (TRACE enabled, as its spans need), and so does
//!   `ours (tracing world)` for a like-for-like comparison. It records no metrics.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench axum -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Runtime;
use tower::ServiceExt;
use tracewire_axum::TelemetryLayer;
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};
use tracewire_core::propagation::{TraceContextPropagator, install_global};
use tracing_subscriber::layer::SubscriberExt as _;

fn router() -> Router {
    Router::new().route("/users/{id}", axum::routing::get(|| async { "user" }))
}

fn meter_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build()
}

fn ours(tracer: &SdkTracerProvider, meter: &SdkMeterProvider, tracing: bool) -> Router {
    router().layer(
        TelemetryLayer::builder()
            .tracer_provider(tracer)
            .meter_provider(meter)
            // Like the anchor: active requests and body sizes too (Opt-In in the conventions).
            .opt_in_metrics(true)
            .tracing(tracing)
            .build(),
    )
}

fn instrumentation_tower(tracer: &SdkTracerProvider, meter: &SdkMeterProvider) -> Router {
    global::set_tracer_provider(tracer.clone());
    global::set_meter_provider(meter.clone());
    let layer = opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
        .build()
        .expect("instrumentation-tower layer");
    router().layer(layer)
}

fn axum_tracing_otel() -> Router {
    router().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
}

fn tracing_world(tracer: &SdkTracerProvider) -> tracing::Dispatch {
    let layer = tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench"));
    tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(layer)
            .with(tracing_subscriber::filter::LevelFilter::TRACE),
    )
}

fn request() -> Request<Body> {
    Request::get("/users/42")
        .header("host", "example.com:8080")
        .header("user-agent", "bench/1.0")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .expect("request")
}

async fn call(app: &Router) {
    let response = app.clone().oneshot(request()).await.expect("response");
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(body.to_bytes().len(), 4);
}

fn bench(c: &mut Criterion) {
    install_global(TraceContextPropagator::new());
    let runtime: Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let meter = meter_provider();
    let sampled = sampled_provider();
    let dropping = dropping_provider();

    let mut group = c.benchmark_group("axum");
    let mut run = |name: &str, app: Router, dispatch: Option<tracing::Dispatch>| {
        let _world = dispatch.map(|dispatch| tracing::dispatcher::set_default(&dispatch));
        bench_or_profile(&mut group, "axum", name, || runtime.block_on(call(&app)));
    };
    run("bare", router(), None);
    run("tracewire/sampled", ours(&sampled, &meter, true), None);
    run("tracewire/dropped", ours(&dropping, &meter, true), None);
    run(
        "tracewire/metrics-only",
        ours(&sampled, &meter, false),
        None,
    );
    run(
        "tracewire/tracing-world/sampled",
        ours(&sampled, &meter, true),
        Some(tracing_world(&sampled)),
    );
    run(
        "anchor/opentelemetry-instrumentation-tower/sampled",
        instrumentation_tower(&sampled, &meter),
        None,
    );
    run(
        "anchor/opentelemetry-instrumentation-tower/dropped",
        instrumentation_tower(&dropping, &meter),
        None,
    );
    run(
        "anchor/axum-tracing-opentelemetry/tracing-world/sampled",
        axum_tracing_otel(),
        Some(tracing_world(&sampled)),
    );
    run(
        "anchor/axum-tracing-opentelemetry/tracing-world/dropped",
        axum_tracing_otel(),
        Some(tracing_world(&dropping)),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
