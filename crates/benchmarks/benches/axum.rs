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
//! - `direct/*` writes the same telemetry by hand with the OpenTelemetry API (see [`Direct`]):
//!   the least any instrumentation of this route pays, so its ratio to an anchor is the lowest
//!   ratio reachable.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench axum -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response};
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{HOST, USER_AGENT};
use http_body::Body as _;
use http_body_util::BodyExt;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter, MeterProvider as _};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};
use tracewire_axum::TelemetryLayer;
use tracewire_benchmarks::{
    bench_or_profile, dropping_provider, idle_meter_provider, sampled_provider,
};
use tracewire_core::metrics::HttpServerMetrics;
use tracewire_core::propagation::{HeaderExtractor, TraceContextPropagator, install_global};
use tracing_subscriber::layer::SubscriberExt as _;

fn router() -> Router {
    Router::new().route("/users/{id}", axum::routing::get(|| async { "user" }))
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

/// The telemetry of `tracewire/<sampling>` for this one route, written by hand against the
/// OpenTelemetry API: the trace context extracted from the request, a SERVER span with the same
/// start attributes (the request's path, host and user agent copied, everything else `'static`)
/// current while the handler runs, the status code, and the same metrics on instruments bound
/// once for the route's only series. It ends at the response head instead of the body's end and
/// handles no other route, method, failure or panic: a floor, not an equal.
#[derive(Clone)]
struct Direct<S> {
    inner: S,
    telemetry: Arc<DirectTelemetry>,
}

struct DirectTelemetry {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    duration: BoundHistogram<f64>,
    response_body_size: BoundHistogram<u64>,
    active_requests: BoundUpDownCounter<i64>,
}

fn direct(tracer: &SdkTracerProvider, meter: &SdkMeterProvider) -> Router {
    let metrics = HttpServerMetrics::new(&meter.meter("direct"));
    let series = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("http.response.status_code", 200_i64),
    ];
    let telemetry = Arc::new(DirectTelemetry {
        tracer: tracer.tracer("direct"),
        propagator: TraceContextPropagator::new(),
        duration: metrics.request_duration.bind(&series),
        response_body_size: metrics.response_body_size.bind(&series),
        active_requests: metrics.active_requests.bind(&series[..2]),
    });
    router().layer(tower::layer::layer_fn(move |inner| Direct {
        inner,
        telemetry: Arc::clone(&telemetry),
    }))
}

impl<S, B> Service<Request<B>> for Direct<S>
where
    S: Service<Request<B>, Response = Response<axum::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = DirectFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let telemetry = &self.telemetry;
        let headers = request.headers();
        let parent = telemetry.propagator.extract(&HeaderExtractor::new(headers));
        let host = headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default();
        let (address, port) = host
            .rsplit_once(':')
            .map_or((host, None), |(address, port)| {
                (address, port.parse::<i64>().ok())
            });
        let mut attributes = Vec::with_capacity(9);
        if request.method() == Method::GET {
            attributes.push(KeyValue::new("http.request.method", "GET"));
        }
        attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
        attributes.push(KeyValue::new("url.scheme", "http"));
        attributes.push(KeyValue::new("http.route", "/users/{id}"));
        attributes.push(KeyValue::new("server.address", address.to_owned()));
        attributes.extend(port.map(|port| KeyValue::new("server.port", port)));
        attributes.push(KeyValue::new("network.protocol.version", "1.1"));
        if let Some(agent) = headers
            .get(USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        let span = telemetry.tracer.build_with_context(
            SpanBuilder::from_name("GET /users/{id}")
                .with_kind(SpanKind::Server)
                .with_attributes(attributes),
            &parent,
        );
        let cx = parent.with_span(span);
        telemetry.active_requests.add(1);
        DirectFuture {
            inner: self.inner.call(request).with_context(cx.clone()),
            cx,
            telemetry: Arc::clone(telemetry),
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    struct DirectFuture<F> {
        #[pin]
        inner: WithContext<F>,
        cx: Context,
        telemetry: Arc<DirectTelemetry>,
        started: Instant,
    }
}

impl<F, E> Future for DirectFuture<F>
where
    F: Future<Output = Result<Response<axum::body::Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let span = this.cx.span();
        if let Ok(response) = &result {
            if span.is_recording() {
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(response.status().as_u16()),
                ));
            }
            if let Some(size) = response.body().size_hint().exact() {
                this.telemetry.response_body_size.record(size);
            }
        }
        span.end();
        let telemetry = this.telemetry;
        telemetry
            .duration
            .record(this.started.elapsed().as_secs_f64());
        telemetry.active_requests.add(-1);
        Poll::Ready(result)
    }
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
    let meter = idle_meter_provider();
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
    run("direct/sampled", direct(&sampled, &meter), None);
    run("direct/dropped", direct(&dropping, &meter), None);
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
