//! Heap allocations per request in the dropped-sample path, counted with a counting global
//! allocator. One `#[test]` in this binary, on a current-thread runtime, so nothing else
//! allocates while it counts.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

use std::alloc::System;
use std::borrow::Cow;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::routing::get;
use http_body_util::BodyExt;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;
use tracewire_axum::{Propagator, SpanBackend, TelemetryLayer};
use tracewire_core::propagation::parse_propagators;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARM_UP: usize = 200;
const MEASURED: usize = 2_000;

fn request() -> Request<Body> {
    Request::get("/users/42")
        .header("host", "example.com:8080")
        .header("user-agent", "bench/1.0")
        .body(Body::empty())
        .unwrap()
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// Allocations per call of `run`, after a warm-up (lazy instruments, metric series, caches).
fn per_call(mut run: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        run();
    }
    let region = Region::new(GLOBAL);
    for _ in 0..MEASURED {
        run();
    }
    region.change().allocations as f64 / MEASURED as f64
}

/// Allocations per request through `app`; the request itself is built outside the count.
fn per_request(runtime: &tokio::runtime::Runtime, app: &Router) -> f64 {
    let mut requests: Vec<_> = (0..WARM_UP + MEASURED).map(|_| request()).collect();
    per_call(|| {
        let request = requests.pop().unwrap();
        runtime.block_on(async {
            let response = app.clone().oneshot(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap();
            assert_eq!(body.to_bytes().len(), 4);
        });
    })
}

/// What creating the same dropped server span costs with the OpenTelemetry API directly: the
/// name and the start attributes a sampler must see (owned where they come from the request),
/// the span, and the context that makes it current.
fn sdk_dropped_span<T>(tracer: &T) -> impl FnMut()
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    move || {
        let path = "/users/42";
        let route = "/users/{id}";
        let attributes = vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", path.to_owned()),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("server.address", "example.com".to_owned()),
            KeyValue::new("server.port", 8080_i64),
            KeyValue::new("network.protocol.version", "1.1"),
            KeyValue::new("user_agent.original", "bench/1.0".to_owned()),
        ];
        let name: Cow<'static, str> = format!("GET {route}").into();
        let builder = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes);
        let span = tracer.build_with_context(builder, &Context::new());
        let cx = Context::new().with_span(span);
        assert!(!cx.span().is_recording());
    }
}

#[test]
fn dropped_sample_path_allocates_no_more_than_the_sdk_span_itself() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tracer_provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let meter_provider = SdkMeterProvider::builder()
        // An idle exporter thread: nothing runs beside the test while it counts.
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let layer = |backend, tracing| {
        TelemetryLayer::builder()
            .tracer_provider(&tracer_provider)
            .meter_provider(&meter_provider)
            .propagator(Propagator::new(
                parse_propagators("tracecontext,baggage").build(),
            ))
            .span_backend(backend)
            .tracing(tracing)
            .build()
    };

    let bare = per_request(&runtime, &router());
    // The floor for any middleware that sees the end of the body: `Router::layer` boxes the
    // layered route and its future, and `IntoResponse` boxes a wrapped body.
    let observing = router().layer(tower::util::MapResponseLayer::new(|response: Response| {
        response.map(|body| Body::new(body.map_frame(|frame| frame)))
    }));
    let floor = per_request(&runtime, &observing);
    let ours_auto = per_request(&runtime, &router().layer(layer(SpanBackend::Auto, true)));
    let ours_otel = per_request(
        &runtime,
        &router().layer(layer(SpanBackend::OpenTelemetry, true)),
    );
    let ours_untraced = per_request(&runtime, &router().layer(layer(SpanBackend::Auto, false)));
    let sdk_boxed = per_call(sdk_dropped_span(&BoxedTracer::new(Box::new(
        tracer_provider.tracer("direct"),
    ))));
    let sdk_plain = per_call(sdk_dropped_span(&tracer_provider.tracer("direct")));

    eprintln!(
        "allocations per request: bare router {bare}, body-observing no-op middleware {floor}, \
         ours with a dropping sampler {ours_auto} (Auto) / {ours_otel} (OpenTelemetry backend), \
         ours with tracing off {ours_untraced}; a dropped span made directly with the API: \
         {sdk_boxed} (BoxedTracer, as global tracers are) / {sdk_plain} (SdkTracer)"
    );
    // The span path (name, start attributes, span, context, extension skipped when sampled out)
    // costs no more than the same dropped span made directly with the API.
    for ours in [ours_auto, ours_otel] {
        assert!(
            ours - ours_untraced <= sdk_boxed,
            "the span path adds {} allocations per request; the span alone costs {sdk_boxed}",
            ours - ours_untraced
        );
    }
    // Propagation, metrics, the future and the body: the incoming context the propagation API
    // allocates, and one more box in axum's layered route (see the README).
    assert!(
        ours_untraced - floor <= 2.0,
        "{ours_untraced} vs floor {floor}"
    );
}
