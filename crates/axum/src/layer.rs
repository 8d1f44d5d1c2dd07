//! [`TelemetryLayer`] and its builder.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use http::request::Parts;
use tower::Layer;
use tracewire_core::instrument::{Instrumentation, InstrumentationBuilder};
use tracewire_core::metrics::HttpServerMetrics;
use tracewire_core::propagation::Propagator;
use tracewire_core::semconv::http::HeaderCapture;
use tracewire_core::semconv::url::QueryRedaction;

use crate::inflight::ServerInstruments;
use crate::response_propagation::ResponsePropagation;
use crate::service::Telemetry;

type RequestPredicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;
type SpanNamer = Arc<dyn Fn(&Parts) -> Cow<'static, str> + Send + Sync>;

/// A tower [`Layer`] that gives every HTTP request a server span, HTTP server metrics and context
/// propagation; see the [crate documentation](crate) for what is recorded.
///
/// Add it with [`Router::layer`](axum::Router::layer) so that it runs after routing and sees the
/// matched route, or wrap any `Service<http::Request<B>>` with it.
///
/// ```
/// use axum::{Router, routing::get};
/// use tracewire_axum::TelemetryLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .layer(TelemetryLayer::new());
/// ```
#[derive(Clone)]
pub struct TelemetryLayer {
    shared: Arc<Shared>,
}

impl TelemetryLayer {
    /// A layer with the defaults: global tracer, meter and propagator, spans and metrics on, no
    /// filter, no header capture, no response propagation, callers trusted as parents, proxies not
    /// trusted.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    pub fn builder() -> TelemetryLayerBuilder {
        TelemetryLayerBuilder {
            instrumentation: Instrumentation::builder(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION")),
            propagator: Propagator::global(),
            tracing: true,
            metrics: true,
            metrics_server_address: false,
            opt_in_metrics: false,
            filter: None,
            span_name: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            public_endpoint: None,
            response_propagation: ResponsePropagation::default(),
            trusted_proxies: false,
            query_redaction: None,
        }
    }
}

impl Default for TelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Telemetry::new(inner, Arc::clone(&self.shared))
    }
}

impl fmt::Debug for TelemetryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

/// Builds a [`TelemetryLayer`]. Every option has a default, listed on its method.
///
/// ```
/// use http::HeaderName;
/// use tracewire_axum::{ResponsePropagation, TelemetryLayer};
///
/// let layer = TelemetryLayer::builder()
///     .filter(|request| request.uri.path() != "/health")
///     .capture_request_headers(["x-request-id"])
///     .response_propagation(
///         ResponsePropagation::new().trace_id_header(HeaderName::from_static("x-trace-id")),
///     )
///     .build();
/// # let _ = layer;
/// ```
#[must_use]
pub struct TelemetryLayerBuilder {
    instrumentation: InstrumentationBuilder,
    propagator: Propagator,
    tracing: bool,
    metrics: bool,
    metrics_server_address: bool,
    opt_in_metrics: bool,
    filter: Option<RequestPredicate>,
    span_name: Option<SpanNamer>,
    request_headers: Vec<String>,
    response_headers: Vec<String>,
    public_endpoint: Option<RequestPredicate>,
    response_propagation: ResponsePropagation,
    trusted_proxies: bool,
    query_redaction: Option<QueryRedaction>,
}

impl TelemetryLayerBuilder {
    tracewire_core::adapter_builder_options!(
        instrumentation: instrumentation,
        propagator: propagator,
    );

    /// Whether to create spans. Default: `true`. When off, the incoming context is still made
    /// current for the handler, so outgoing calls continue the caller's trace.
    pub fn tracing(mut self, enabled: bool) -> Self {
        self.tracing = enabled;
        self
    }

    /// Whether to record the HTTP server metrics. Default: `true`.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Whether to also record the metrics the conventions mark Opt-In:
    /// `http.server.active_requests` and `http.server.{request,response}.body.size`. Default:
    /// `false`, as the conventions require; `http.server.request.duration` is always recorded
    /// when [`metrics`](Self::metrics) is on.
    ///
    /// ```
    /// let layer = tracewire_axum::TelemetryLayer::builder().opt_in_metrics(true).build();
    /// # let _ = layer;
    /// ```
    pub fn opt_in_metrics(mut self, enabled: bool) -> Self {
        self.opt_in_metrics = enabled;
        self
    }

    /// Whether metrics carry `server.address` and `server.port`. Default: `false`, because they
    /// come from request headers and a client could blow up the metric's cardinality.
    pub fn metrics_server_address(mut self, enabled: bool) -> Self {
        self.metrics_server_address = enabled;
        self
    }

    /// Instrument only the requests for which `filter` returns `true`. Default: every request.
    ///
    /// A rejected request gets no span and no metrics, but the incoming context is still made
    /// current, so propagation through it keeps working.
    pub fn filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Names spans with `name` instead of `"{method} {route}"`. Return a low-cardinality name:
    /// never the raw path.
    pub fn span_name<F, N>(mut self, name: F) -> Self
    where
        F: Fn(&Parts) -> N + Send + Sync + 'static,
        N: Into<Cow<'static, str>>,
    {
        self.span_name = Some(Arc::new(move |parts| name(parts).into()));
        self
    }

    /// Records these request headers as `http.request.header.<name>` (string arrays) at span
    /// start, where samplers see them. Default: none. `authorization`, `proxy-authorization`,
    /// `cookie` and `set-cookie` are never recorded, even if listed.
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        self
    }

    /// Records these response headers as `http.response.header.<name>`. Default: none. The
    /// same never-captured list applies.
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        self
    }

    /// Treats every caller as untrusted. Default: `false`. See
    /// [`public_endpoint_if`](Self::public_endpoint_if).
    pub fn public_endpoint(self, enabled: bool) -> Self {
        if enabled {
            self.public_endpoint_if(|_| true)
        } else {
            Self {
                public_endpoint: None,
                ..self
            }
        }
    }

    /// Treats the callers of the requests for which `untrusted` returns `true` as untrusted:
    /// their incoming trace becomes a link of a new root span instead of its parent, and their
    /// baggage is dropped, so an outside client can neither choose your sampling decision nor
    /// inject baggage your internal services will trust.
    pub fn public_endpoint_if<F>(mut self, untrusted: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.public_endpoint = Some(Arc::new(untrusted));
        self
    }

    /// Writes the trace of each request into its response. Default: off.
    pub fn response_propagation(mut self, propagation: ResponsePropagation) -> Self {
        self.response_propagation = propagation;
        self
    }

    /// Whether the proxies in front of the service are trusted. Default: `false`.
    ///
    /// When trusted, `client.address` comes from `Forwarded: for` / `X-Forwarded-For` and
    /// `url.scheme` from `Forwarded: proto` / `X-Forwarded-Proto`; otherwise from the socket
    /// (`ConnectInfo`) and from this hop, so a client cannot forge them.
    pub fn trusted_proxies(mut self, trusted: bool) -> Self {
        self.trusted_proxies = trusted;
        self
    }

    /// Which query values `url.query` redacts. Default: [`QueryRedaction::global`], the
    /// conventions' signature keys and common credential keys (`password`, `token`, `api_key`,
    /// ...), or the list in `TRACEWIRE_REDACT_QUERY_KEYS`.
    ///
    /// ```
    /// use tracewire_core::semconv::url::QueryRedaction;
    ///
    /// let layer = tracewire_axum::TelemetryLayer::builder()
    ///     .query_redaction(QueryRedaction::default().with_keys(["otp"]))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn query_redaction(mut self, redaction: QueryRedaction) -> Self {
        self.query_redaction = Some(redaction);
        self
    }

    /// Builds the layer.
    pub fn build(self) -> TelemetryLayer {
        TelemetryLayer {
            shared: Arc::new(Shared {
                instrumentation: self.instrumentation.build(),
                propagator: self.propagator,
                tracing: self.tracing,
                metrics: self.metrics.then(OnceLock::new),
                metrics_server_address: self.metrics_server_address,
                opt_in_metrics: self.opt_in_metrics,
                filter: self.filter,
                span_name: self.span_name,
                request_headers: HeaderCapture::request(&self.request_headers),
                response_headers: HeaderCapture::response(&self.response_headers),
                public_endpoint: self.public_endpoint,
                response_propagation: self.response_propagation,
                trusted_proxies: self.trusted_proxies,
                query_redaction: self.query_redaction,
            }),
        }
    }
}

impl fmt::Debug for TelemetryLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryLayerBuilder")
            .field("instrumentation", &self.instrumentation)
            .field("tracing", &self.tracing)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// The configuration every request of one layer reads.
pub(crate) struct Shared {
    pub(crate) instrumentation: Instrumentation,
    pub(crate) propagator: Propagator,
    pub(crate) tracing: bool,
    /// `None` when metrics are off; the instruments are created on first use.
    metrics: Option<OnceLock<ServerInstruments>>,
    pub(crate) metrics_server_address: bool,
    pub(crate) opt_in_metrics: bool,
    filter: Option<RequestPredicate>,
    span_name: Option<SpanNamer>,
    pub(crate) request_headers: HeaderCapture,
    pub(crate) response_headers: HeaderCapture,
    public_endpoint: Option<RequestPredicate>,
    pub(crate) response_propagation: ResponsePropagation,
    pub(crate) trusted_proxies: bool,
    query_redaction: Option<QueryRedaction>,
}

impl Shared {
    /// Whether the request gets a span or metrics at all.
    pub(crate) fn instruments(&self, parts: &Parts) -> bool {
        (self.tracing || self.metrics.is_some())
            && self.filter.as_ref().is_none_or(|filter| filter(parts))
    }

    /// The instruments, created on the first call; `None` when metrics are off.
    pub(crate) fn metrics(&self) -> Option<&ServerInstruments> {
        self.metrics.as_ref().map(|metrics| {
            metrics.get_or_init(|| {
                ServerInstruments::new(HttpServerMetrics::new(self.instrumentation.meter()))
            })
        })
    }

    pub(crate) fn custom_span_name(&self, parts: &Parts) -> Option<Cow<'static, str>> {
        self.span_name.as_ref().map(|name| name(parts))
    }

    /// What `url.query` redacts: the layer's own list, else the process-wide one.
    pub(crate) fn query_redaction(&self) -> &QueryRedaction {
        match &self.query_redaction {
            Some(redaction) => redaction,
            None => QueryRedaction::global(),
        }
    }

    pub(crate) fn is_public(&self, parts: &Parts) -> bool {
        self.public_endpoint
            .as_ref()
            .is_some_and(|untrusted| untrusted(parts))
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("instrumentation", &self.instrumentation)
            .field("propagator", &self.propagator)
            .field("tracing", &self.tracing)
            .field("metrics", &self.metrics.is_some())
            .field("metrics_server_address", &self.metrics_server_address)
            .field("opt_in_metrics", &self.opt_in_metrics)
            .field("filter", &self.filter.is_some())
            .field("span_name", &self.span_name.is_some())
            .field("request_headers", &self.request_headers)
            .field("response_headers", &self.response_headers)
            .field("public_endpoint", &self.public_endpoint.is_some())
            .field("response_propagation", &self.response_propagation)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("query_redaction", &self.query_redaction)
            .finish()
    }
}
