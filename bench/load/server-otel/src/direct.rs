//! `direct`: the telemetry `tracewire-readme` records for this route, written by hand against the
//! OpenTelemetry API. The trace context extracted from `traceparent`, a SERVER span with the same
//! start attributes (path, host and user agent copied, the rest `'static`) current while the
//! handler runs, the status code, and `http.server.request.duration` on an instrument bound once
//! to the route's only series. It ends at the response head rather than the body's end and
//! handles no other route, method, failure or panic: a floor, not an equal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::http::header::{HOST, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, Request, Response};
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::metrics::{BoundHistogram, MeterProvider as _};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{
    SpanBuilder, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tower::Service;

/// The semantic conventions' bucket boundaries for `http.server.request.duration`, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

struct Telemetry {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    duration: BoundHistogram<f64>,
}

/// The layer that adds the direct telemetry to the benchmark's router.
pub(crate) fn layer(tracer: &SdkTracerProvider, meter: &SdkMeterProvider) -> DirectLayer {
    let duration = meter
        .meter("direct")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Duration of HTTP server requests.")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
        .bind(&[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("network.protocol.version", "1.1"),
            KeyValue::new("http.response.status_code", 200_i64),
        ]);
    DirectLayer(Arc::new(Telemetry {
        tracer: tracer.tracer("direct"),
        propagator: TraceContextPropagator::new(),
        duration,
    }))
}

/// Wraps each route in [`Direct`].
#[derive(Clone)]
pub(crate) struct DirectLayer(Arc<Telemetry>);

impl<S> tower::Layer<S> for DirectLayer {
    type Service = Direct<S>;

    fn layer(&self, inner: S) -> Direct<S> {
        Direct {
            inner,
            telemetry: Arc::clone(&self.0),
        }
    }
}

/// The direct telemetry around the router's route.
#[derive(Clone)]
pub(crate) struct Direct<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

impl<S> Service<Request<Body>> for Direct<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = DirectFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let telemetry = &self.telemetry;
        let parent = telemetry.propagator.extract(&Headers(request.headers()));
        let span = telemetry.tracer.build_with_context(
            SpanBuilder::from_name("GET /users/{id}")
                .with_kind(SpanKind::Server)
                .with_attributes(start_attributes(&request)),
            &parent,
        );
        let cx = parent.with_span(span);
        DirectFuture {
            inner: self.inner.call(request).with_context(cx.clone()),
            cx,
            telemetry: Arc::clone(telemetry),
            started: Instant::now(),
        }
    }
}

/// What a sampler sees at span start: the request's path, host and user agent copied (the API
/// takes owned strings), the rest `'static` for this one route.
fn start_attributes(request: &Request<Body>) -> Vec<KeyValue> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let host = header(HOST).unwrap_or_default();
    let (address, port) = match host.rsplit_once(':') {
        Some((address, port)) => (address, port.parse::<i64>().ok()),
        None => (host, None),
    };
    let mut attributes = Vec::with_capacity(8);
    attributes.extend([
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.path", request.uri().path().to_owned()),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("server.address", address.to_owned()),
        KeyValue::new("network.protocol.version", "1.1"),
    ]);
    attributes.extend(port.map(|port| KeyValue::new("server.port", port)));
    attributes.extend(
        header(USER_AGENT).map(|agent| KeyValue::new("user_agent.original", agent.to_owned())),
    );
    attributes
}

pin_project_lite::pin_project! {
    /// The route's future, with the request span current while it runs.
    pub(crate) struct DirectFuture<F> {
        #[pin]
        inner: WithContext<F>,
        cx: Context,
        telemetry: Arc<Telemetry>,
        started: Instant,
    }
}

impl<F, E> Future for DirectFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let span = this.cx.span();
        if let Ok(response) = &result {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(response.status().as_u16()),
            ));
        }
        span.end();
        this.telemetry
            .duration
            .record(this.started.elapsed().as_secs_f64());
        Poll::Ready(result)
    }
}
