//! The options both layers share: the builder, the request view given to filters and span
//! namers, and the per-layer state calls read.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderMap};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Histogram};
use tracewire_core::instrument::{Instrumentation, InstrumentationBuilder};
use tracewire_core::metrics::{BoundCache, ByAddress, RpcClientMetrics, RpcServerMetrics};
use tracewire_core::propagation::Propagator;
use tracewire_core::semconv::http::HeaderCapture;
use tracewire_core::semconv::rpc::{GrpcCode, RpcAttributeNames, split_method_path};
use tracewire_core::semconv::stability::{StabilityMode, StabilityOptIn};

/// The services the [default filter](default_filter) leaves untraced (all in the `grpc.`
/// package).
pub const UNTRACED_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// What filters and span namers see of a call: its path, metadata and extensions.
///
/// ```
/// use tracewire_tonic::RequestView;
/// let request = http::Request::builder().uri("/pkg.Svc/Do").body(()).unwrap();
/// let view = RequestView::new(&request);
/// assert_eq!(view.service_method(), Some(("pkg.Svc", "Do")));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    path: &'a str,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestView<'a> {
    /// A view of `request`.
    pub fn new<B>(request: &'a http::Request<B>) -> Self {
        Self {
            path: request.uri().path(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The request path, `/package.Service/Method` for a well-formed call.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The service and method, when the path is well-formed.
    pub fn service_method(&self) -> Option<(&'a str, &'a str)> {
        split_method_path(self.path)
    }

    /// The request metadata (HTTP/2 headers).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (e.g. tonic's `GrpcMethod` on the client, `TcpConnectInfo` on the
    /// server).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// The default filter: every call is traced except health checks and server reflection
/// ([`UNTRACED_SERVICES`]). Filtered calls still propagate the context.
///
/// ```
/// use tracewire_tonic::{default_filter, RequestView};
/// let health = http::Request::builder().uri("/grpc.health.v1.Health/Check").body(()).unwrap();
/// assert!(!default_filter(&RequestView::new(&health)));
/// ```
pub fn default_filter(request: &RequestView<'_>) -> bool {
    // Every untraced service is in the `grpc.` package: other paths need no split.
    !request.path().starts_with("/grpc.")
        || request
            .service_method()
            .is_none_or(|(service, _)| !UNTRACED_SERVICES.contains(&service))
}

type Filter = Arc<dyn Fn(&RequestView<'_>) -> bool + Send + Sync>;
type SpanNamer = Arc<dyn Fn(&RequestView<'_>) -> Cow<'static, str> + Send + Sync>;

/// Which side of the call a layer instruments; selects the status rule and the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// The per-layer state every call of that layer shares.
pub(crate) struct Common {
    pub(crate) side: Side,
    pub(crate) instrumentation: Instrumentation,
    pub(crate) propagator: Propagator,
    pub(crate) names: RpcAttributeNames,
    filter: Option<Filter>,
    span_name: Option<SpanNamer>,
    pub(crate) request_metadata: Vec<HeaderCapture>,
    pub(crate) response_metadata: Vec<HeaderCapture>,
    /// `server.address` / `server.port` of every call (a client's target), reference-counted.
    pub(crate) fixed_address: Vec<KeyValue>,
    call_duration: OnceLock<Histogram<f64>>,
    /// The duration histogram bound per (method, status).
    pub(crate) series: BoundCache<(ByAddress, Option<GrpcCode>), BoundHistogram<f64>>,
}

impl Common {
    /// Whether the call gets a span and a measurement (propagation happens either way).
    pub(crate) fn traces(&self, request: &RequestView<'_>) -> bool {
        self.filter.as_ref().is_none_or(|filter| filter(request))
    }

    /// The custom span name, if a namer was configured.
    pub(crate) fn custom_span_name(&self, request: &RequestView<'_>) -> Option<Cow<'static, str>> {
        self.span_name.as_ref().map(|name| name(request))
    }

    /// `rpc.{server,client}.call.duration`, created on first use.
    pub(crate) fn call_duration(&self) -> &Histogram<f64> {
        self.call_duration.get_or_init(|| {
            let meter = self.instrumentation.meter();
            match self.side {
                Side::Server => RpcServerMetrics::new(meter).call_duration,
                Side::Client => RpcClientMetrics::new(meter).call_duration,
            }
        })
    }
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("side", &self.side)
            .field("instrumentation", &self.instrumentation)
            .field("mode", &self.names.mode)
            .field("filter", &self.filter.is_some())
            .field("span_name", &self.span_name.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ServerLayer`](crate::ServerLayer) or a [`ClientLayer`](crate::ClientLayer); `S`
/// holds the options of one side.
///
/// Defaults: global tracer, meter and propagator;
/// [`SpanBackend::Auto`](tracewire_core::instrument::SpanBackend::Auto); the RPC names selected
/// by `OTEL_SEMCONV_STABILITY_OPT_IN`; the [`default_filter`]; span name `{rpc.method}`; no
/// metadata captured.
///
/// ```
/// use tracewire_core::semconv::stability::StabilityMode;
/// use tracewire_testing::TelemetryCapture;
/// use tracewire_tonic::ServerLayer;
///
/// let capture = TelemetryCapture::new();
/// let layer = ServerLayer::builder()
///     .tracer_provider(capture.tracer_provider())
///     .meter_provider(capture.meter_provider())
///     .stability(StabilityMode::Dup)
///     .request_metadata(["x-tenant"])
///     .span_name(|request| format!("rpc {}", request.path()))
///     .build();
/// # let _ = layer;
/// ```
#[must_use]
pub struct Builder<S> {
    instrumentation: InstrumentationBuilder,
    propagator: Propagator,
    mode: StabilityMode,
    filter: Option<Filter>,
    span_name: Option<SpanNamer>,
    request_metadata: Vec<String>,
    response_metadata: Vec<String>,
    pub(crate) side: S,
}

impl<S: fmt::Debug> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("mode", &self.mode)
            .field("filter", &self.filter.is_some())
            .field("request_metadata", &self.request_metadata)
            .field("response_metadata", &self.response_metadata)
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl<S> Builder<S> {
    pub(crate) fn new(side: S) -> Self {
        Self {
            instrumentation: Instrumentation::builder(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION")),
            propagator: Propagator::global(),
            mode: StabilityOptIn::global().rpc,
            filter: Some(Arc::new(default_filter)),
            span_name: None,
            request_metadata: Vec::new(),
            response_metadata: Vec::new(),
            side,
        }
    }

    tracewire_core::adapter_builder_options!(
        instrumentation: instrumentation,
        propagator: propagator,
    );

    /// Which RPC attribute names to emit, overriding `OTEL_SEMCONV_STABILITY_OPT_IN`
    /// (`rpc` = [`StabilityMode::New`], `rpc/dup` = `Dup`, `rpc/old` = `Old`).
    pub fn stability(mut self, mode: StabilityMode) -> Self {
        self.mode = mode;
        self
    }

    /// Traces only the calls for which `filter` returns `true`, replacing the
    /// [`default_filter`] (call it from `filter` to keep its rule). Calls filtered out get no
    /// span and no measurement, but the context still propagates.
    pub fn filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&RequestView<'_>) -> bool + Send + Sync + 'static,
    {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Traces every call, health checks included.
    pub fn trace_all(mut self) -> Self {
        self.filter = None;
        self
    }

    /// Names spans with `name` instead of `{rpc.method}`. Span names must stay low-cardinality.
    pub fn span_name<F, N>(mut self, name: F) -> Self
    where
        F: Fn(&RequestView<'_>) -> N + Send + Sync + 'static,
        N: Into<Cow<'static, str>>,
    {
        self.span_name = Some(Arc::new(move |request| name(request).into()));
        self
    }

    /// Records these request metadata keys as `rpc.request.metadata.<key>` string arrays.
    /// `authorization`, `proxy-authorization`, `cookie` and `set-cookie` are never recorded.
    pub fn request_metadata<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.request_metadata
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// Records these response metadata keys (headers and trailers) as
    /// `rpc.response.metadata.<key>` string arrays, with the same deny list.
    pub fn response_metadata<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.response_metadata
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// The state calls share; `fixed_address` goes on every call's span and measurement.
    pub(crate) fn build_common(self, side: Side, fixed_address: Vec<KeyValue>) -> Arc<Common> {
        let names = RpcAttributeNames::new(self.mode);
        let captures = |prefixes: tracewire_core::semconv::stability::Renamed, keys: &[String]| {
            if keys.is_empty() {
                return Vec::new();
            }
            prefixes
                .keys(self.mode)
                .map(|prefix| HeaderCapture::new(prefix, keys))
                .collect()
        };
        let common = Common {
            side,
            request_metadata: captures(names.request_metadata, &self.request_metadata),
            response_metadata: captures(names.response_metadata, &self.response_metadata),
            instrumentation: self.instrumentation.build(),
            propagator: self.propagator,
            names,
            filter: self.filter,
            span_name: self.span_name,
            fixed_address,
            call_duration: OnceLock::new(),
            series: BoundCache::default(),
        };
        Arc::new(common)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(path: &str) -> bool {
        let request = http::Request::builder()
            .uri(path)
            .body(())
            .unwrap_or_default();
        default_filter(&RequestView::new(&request))
    }

    #[test]
    fn the_default_filter_drops_exactly_the_untraced_services() {
        for service in UNTRACED_SERVICES {
            // The filter skips the split for paths outside the `grpc.` package.
            assert!(service.starts_with("grpc."), "{service}");
            assert!(!traced(&format!("/{service}/Any")));
        }
        assert!(traced("/grpc.other.v1.Service/Call"));
        assert!(traced("/pkg.Echo/Unary"));
        assert!(traced("/grpc.health.v1.Health"));
    }
}
