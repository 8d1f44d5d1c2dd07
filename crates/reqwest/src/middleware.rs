//! [`TelemetryMiddleware`]: one CLIENT span, context injection and metrics per request attempt.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderMap};
use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter};
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue, StringValue};
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next, Result};
use tracewire_core::context::current_context;
use tracewire_core::instrument::{ActiveSpan, Instrumentation, InstrumentationBuilder, SpanStart};
use tracewire_core::metrics::{BoundCache, HttpClientMetrics, duration_seconds};
use tracewire_core::propagation::{HeaderInjector, Propagator};
use tracewire_core::semconv::error::ERROR_TYPE;
use tracewire_core::semconv::http::{
    HTTP_REQUEST_METHOD, HTTP_REQUEST_METHOD_ORIGINAL, HeaderCapture, client_outcome,
    normalize_method, protocol_version, resend_count, response_status_code, span_name,
};
use tracewire_core::semconv::url::{QueryRedaction, URL_FULL, URL_SCHEME, URL_TEMPLATE};
use tracewire_core::semconv::{
    NETWORK_PROTOCOL_VERSION, Outcome, SERVER_ADDRESS, USER_AGENT_ORIGINAL, server_port,
};

use crate::error::{error_type, root_cause_message};
use crate::extensions::{DisableInjection, UrlTemplate, count_attempt};
use crate::template::PathTemplates;

type Filter = dyn Fn(&Request) -> bool + Send + Sync;
type SpanNamer = dyn Fn(&Request, Option<&str>) -> Cow<'static, str> + Send + Sync;

/// `reqwest-middleware` middleware recording one CLIENT span per request attempt, injecting its
/// context into the request headers, and recording `http.client.request.duration`.
///
/// Where it sits in the chain decides what a span covers (middlewares run in the order they are
/// added):
///
/// - **after** (under) a retrying middleware such as `reqwest-retry`: one span per physical
///   attempt, with `http.request.resend_count` = 1, 2, … on the resends, as the conventions
///   prefer;
/// - **before** (above) it: one span for the logical call, whose outcome is the last attempt's.
///
/// The span ends when the response headers have arrived (or the attempt failed): reading the
/// body is not part of it.
///
/// ```no_run
/// use reqwest_middleware::ClientBuilder;
/// use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
/// use tracewire_reqwest::TelemetryMiddleware;
///
/// let retry = RetryTransientMiddleware::new_with_policy(
///     ExponentialBackoff::builder().build_with_max_retries(2),
/// );
/// // One span per attempt: the telemetry middleware runs inside the retry loop.
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(retry)
///     .with(TelemetryMiddleware::new())
///     .build();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct TelemetryMiddleware {
    shared: Arc<Shared>,
}

struct Shared {
    instrumentation: Instrumentation,
    propagator: Propagator,
    filter: Option<Box<Filter>>,
    span_namer: Option<Box<SpanNamer>>,
    templates: PathTemplates,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    user_agent: bool,
    metrics: bool,
    active_requests: bool,
    query_redaction: Option<QueryRedaction>,
    instruments: OnceLock<ClientInstruments>,
}

impl fmt::Debug for TelemetryMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("TelemetryMiddleware")
            .field("instrumentation", &shared.instrumentation)
            .field("propagator", &shared.propagator)
            .field("filter", &shared.filter.is_some())
            .field("span_namer", &shared.span_namer.is_some())
            .field("templates", &shared.templates)
            .field("request_headers", &shared.request_headers)
            .field("response_headers", &shared.response_headers)
            .field("user_agent", &shared.user_agent)
            .field("metrics", &shared.metrics)
            .field("active_requests", &shared.active_requests)
            .finish()
    }
}

impl Default for TelemetryMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryMiddleware {
    /// The middleware with every default: global providers and propagator, metrics on.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder; see [`TelemetryMiddlewareBuilder`] for the options and their defaults.
    pub fn builder() -> TelemetryMiddlewareBuilder {
        TelemetryMiddlewareBuilder {
            instrumentation: Instrumentation::builder(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION")),
            propagator: Propagator::global(),
            filter: None,
            span_namer: None,
            templates: PathTemplates::default(),
            request_headers: HeaderCapture::default(),
            response_headers: HeaderCapture::default(),
            user_agent: false,
            metrics: true,
            active_requests: false,
            query_redaction: None,
        }
    }
}

/// Builds a [`TelemetryMiddleware`].
///
/// | option | default |
/// |---|---|
/// | [`tracer_provider`](Self::tracer_provider) / [`meter_provider`](Self::meter_provider) | the global providers, read on first use |
/// | [`span_backend`](Self::span_backend) | [`SpanBackend::Auto`](tracewire_core::instrument::SpanBackend::Auto) |
/// | [`propagator`](Self::propagator) | [`Propagator::global`] |
/// | [`filter`](Self::filter) | every request is recorded |
/// | [`span_name`](Self::span_name) | `{method}` or `{method} {url.template}` |
/// | [`path_templates`](Self::path_templates) | none |
/// | [`capture_request_headers`](Self::capture_request_headers) / [`capture_response_headers`](Self::capture_response_headers) | none |
/// | [`capture_user_agent`](Self::capture_user_agent) | off |
/// | [`metrics`](Self::metrics) | on |
/// | [`active_requests`](Self::active_requests) | off |
/// | [`query_redaction`](Self::query_redaction) | [`QueryRedaction::global`] |
///
/// ```
/// use tracewire_reqwest::{PathTemplates, TelemetryMiddleware};
///
/// let middleware = TelemetryMiddleware::builder()
///     .path_templates(PathTemplates::new(["/users/{id}"])?)
///     .filter(|request| request.url().path() != "/health")
///     .capture_response_headers(["x-request-id"])
///     .active_requests(true)
///     .build();
/// # drop(middleware);
/// # Ok::<(), tracewire_reqwest::InvalidTemplate>(())
/// ```
#[must_use]
pub struct TelemetryMiddlewareBuilder {
    instrumentation: InstrumentationBuilder,
    propagator: Propagator,
    filter: Option<Box<Filter>>,
    span_namer: Option<Box<SpanNamer>>,
    templates: PathTemplates,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    user_agent: bool,
    metrics: bool,
    active_requests: bool,
    query_redaction: Option<QueryRedaction>,
}

impl fmt::Debug for TelemetryMiddlewareBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryMiddlewareBuilder")
            .field("instrumentation", &self.instrumentation)
            .field("propagator", &self.propagator)
            .field("templates", &self.templates)
            .finish_non_exhaustive()
    }
}

impl TelemetryMiddlewareBuilder {
    tracewire_core::adapter_builder_options!(
        instrumentation: instrumentation,
        propagator: propagator,
    );

    /// Record only the requests for which `filter` returns `true`. A skipped request gets no span
    /// and no metric, but the caller's context is still injected so the trace stays connected.
    pub fn filter(mut self, filter: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Name spans with `name(request, url_template)` instead of `{method} {url.template}`.
    /// Keep the name low-cardinality: never put the raw path or query in it.
    pub fn span_name<F, S>(mut self, name: F) -> Self
    where
        F: Fn(&Request, Option<&str>) -> S + Send + Sync + 'static,
        S: Into<Cow<'static, str>>,
    {
        self.span_namer = Some(Box::new(move |request, template| {
            name(request, template).into()
        }));
        self
    }

    /// Known path templates, matched when a request has no [`UrlTemplate`] extension.
    pub fn path_templates(mut self, templates: PathTemplates) -> Self {
        self.templates = templates;
        self
    }

    /// Record these request headers as `http.request.header.<name>` (credentials headers such as
    /// `authorization` and `cookie` are never recorded, even when listed).
    ///
    /// Only headers set on the request are visible: the client's default headers are added by
    /// `reqwest` after the middleware chain.
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = HeaderCapture::request(names);
        self
    }

    /// Record these response headers as `http.response.header.<name>` (never `set-cookie`).
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = HeaderCapture::response(names);
        self
    }

    /// Record the request's `User-Agent` header as `user_agent.original` (opt-in on clients).
    pub fn capture_user_agent(mut self, capture: bool) -> Self {
        self.user_agent = capture;
        self
    }

    /// Record `http.client.request.duration`.
    pub fn metrics(mut self, record: bool) -> Self {
        self.metrics = record;
        self
    }

    /// Also record `http.client.active_requests` (opt-in in the conventions).
    pub fn active_requests(mut self, record: bool) -> Self {
        self.active_requests = record;
        self
    }

    /// Which query values `url.full` redacts (userinfo always is). Default:
    /// [`QueryRedaction::global`], the conventions' signature keys and common credential keys
    /// (`password`, `token`, `api_key`, ...), or the list in `TRACEWIRE_REDACT_QUERY_KEYS`.
    ///
    /// ```
    /// use tracewire_core::semconv::url::QueryRedaction;
    ///
    /// let middleware = tracewire_reqwest::TelemetryMiddleware::builder()
    ///     .query_redaction(QueryRedaction::default().with_keys(["otp"]))
    ///     .build();
    /// # drop(middleware);
    /// ```
    pub fn query_redaction(mut self, redaction: QueryRedaction) -> Self {
        self.query_redaction = Some(redaction);
        self
    }

    /// Builds the middleware.
    pub fn build(self) -> TelemetryMiddleware {
        TelemetryMiddleware {
            shared: Arc::new(Shared {
                instrumentation: self.instrumentation.build(),
                propagator: self.propagator,
                filter: self.filter,
                span_namer: self.span_namer,
                templates: self.templates,
                request_headers: self.request_headers,
                response_headers: self.response_headers,
                user_agent: self.user_agent,
                metrics: self.metrics,
                active_requests: self.active_requests,
                query_redaction: self.query_redaction,
                instruments: OnceLock::new(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for TelemetryMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let shared = &*self.shared;
        let resends = count_attempt(extensions);
        let inject = extensions.get::<DisableInjection>().is_none();
        if shared
            .filter
            .as_ref()
            .is_some_and(|filter| !filter(&request))
        {
            if inject {
                shared.inject(&current_context(), request.headers_mut());
            }
            return next.run(request, extensions).await;
        }
        let template = extensions
            .get::<UrlTemplate>()
            .map(UrlTemplate::value)
            .or_else(|| shared.templates.find_value(request.url().path()))
            .cloned();
        let attempt = shared.start(&request, template, resends);
        if inject {
            shared.inject(attempt.span.context(), request.headers_mut());
        }
        let result = attempt.span.instrument(next.run(request, extensions)).await;
        attempt.finish(&result);
        result
    }
}

impl Shared {
    /// What `url.full` redacts: the middleware's own list, else the process-wide one.
    fn query_redaction(&self) -> &QueryRedaction {
        match &self.query_redaction {
            Some(redaction) => redaction,
            None => QueryRedaction::global(),
        }
    }

    /// Replaces every field the propagator writes, so a stale `traceparent` (or `tracestate`,
    /// `baggage`) set by the caller is neither kept nor duplicated.
    fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        self.propagator.for_each_field(|field| {
            headers.remove(field);
        });
        self.propagator
            .inject_context(cx, &mut HeaderInjector(headers));
    }

    fn start(&self, request: &Request, template: Option<StringValue>, resends: u32) -> Attempt<'_> {
        let url = request.url();
        let method = normalize_method(request.method().as_str());
        // What the duration metric is keyed by; the span gets the same attributes and more.
        let endpoint = Endpoint {
            method: method.as_str(),
            address: server_address(url),
            port: url.port_or_known_default(),
            scheme: scheme_value(url.scheme()),
            template,
        };

        let template = endpoint.template.as_ref().map(StringValue::as_str);
        let name = match &self.span_namer {
            Some(namer) => namer(request, template),
            None => span_name(&method, template),
        };
        let mut attributes = endpoint.attributes();
        if let Some(original) = method.original() {
            attributes.push(KeyValue::new(
                HTTP_REQUEST_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
        attributes.push(KeyValue::new(
            URL_FULL,
            self.query_redaction()
                .redact_url_full(url.as_str())
                .into_owned(),
        ));
        if resends > 0 {
            attributes.push(resend_count(resends));
        }
        if self.user_agent
            && let Some(agent) = request
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
        {
            attributes.push(KeyValue::new(USER_AGENT_ORIGINAL, agent.to_owned()));
        }

        let span = self
            .instrumentation
            .start(SpanStart::new(SpanKind::Client, name).attributes(attributes));
        if !self.request_headers.is_empty() && span.is_recording() {
            span.set_attributes(self.request_headers.capture(request.headers()));
        }

        let metrics = self.metrics.then(|| {
            let instruments = self.instruments();
            if self.active_requests {
                instruments.count_active(&endpoint, 1);
            }
            AttemptMetrics {
                instruments,
                endpoint,
                active_requests: self.active_requests,
            }
        });
        Attempt {
            span,
            metrics,
            response_headers: &self.response_headers,
        }
    }

    fn instruments(&self) -> &ClientInstruments {
        self.instruments.get_or_init(|| ClientInstruments {
            metrics: HttpClientMetrics::new(self.instrumentation.meter()),
            durations: BoundCache::default(),
            active: BoundCache::default(),
        })
    }
}

/// One attempt in flight. Dropped without [`Attempt::finish`] (the caller dropped the future:
/// a deliberate cancellation), it still ends the span, with status Unset, and records the
/// duration without `error.type` or a status code.
struct Attempt<'a> {
    span: ActiveSpan,
    metrics: Option<AttemptMetrics<'a>>,
    response_headers: &'a HeaderCapture,
}

struct AttemptMetrics<'a> {
    instruments: &'a ClientInstruments,
    endpoint: Endpoint,
    active_requests: bool,
}

impl Attempt<'_> {
    fn finish(mut self, result: &Result<Response>) {
        let mut ending = Ending::default();
        ending.error = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                ending.status = Some(status);
                ending.protocol_version = protocol_version(response.version());
                self.span.set_attributes(ending.response_attributes());
                if !self.response_headers.is_empty() && self.span.is_recording() {
                    self.span
                        .set_attributes(self.response_headers.capture(response.headers()));
                }
                match client_outcome(status) {
                    Outcome::Error(error) => {
                        self.span.set_error(error);
                        Some(error)
                    }
                    Outcome::Success => None,
                }
            }
            Err(error) => {
                let kind = error_type(error);
                match root_cause_message(error) {
                    Some(message) => self.span.set_error_with_description(kind, message),
                    None => self.span.set_error(kind),
                }
                Some(kind)
            }
        };
        self.record(ending);
    }

    fn record(&mut self, ending: Ending) {
        let Some(metrics) = self.metrics.take() else {
            return;
        };
        let AttemptMetrics {
            instruments,
            endpoint,
            active_requests,
        } = metrics;
        if active_requests {
            instruments.count_active(&endpoint, -1);
        }
        let seconds = duration_seconds(self.span.elapsed());
        let series = Series { endpoint, ending };
        let unbound = instruments.durations.with(
            series,
            |series| {
                instruments
                    .metrics
                    .request_duration
                    .bind(&series.attributes())
            },
            |duration| duration.record(seconds),
        );
        if let Err(series) = unbound {
            instruments
                .metrics
                .request_duration
                .record(seconds, &series.attributes());
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.record(Ending::default());
    }
}

/// The instruments of one middleware, and their bound series.
struct ClientInstruments {
    metrics: HttpClientMetrics,
    durations: BoundCache<Series, BoundHistogram<f64>>,
    active: BoundCache<Endpoint, BoundUpDownCounter<i64>>,
}

impl ClientInstruments {
    /// Adds `delta` to `http.client.active_requests`, on the counter bound to `endpoint`.
    fn count_active(&self, endpoint: &Endpoint, delta: i64) {
        let unbound = self.active.with(
            endpoint.clone(),
            |endpoint| self.metrics.active_requests.bind(&endpoint.attributes()),
            |counter| counter.add(delta),
        );
        if let Err(endpoint) = unbound {
            self.metrics
                .active_requests
                .add(delta, &endpoint.attributes());
        }
    }
}

/// What the metric attributes known before the response are made of; a cheap key to the
/// instruments bound to them (the values are `'static` or reference-counted).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Endpoint {
    method: &'static str,
    address: Option<StringValue>,
    port: Option<u16>,
    scheme: StringValue,
    template: Option<StringValue>,
}

impl Endpoint {
    fn attributes(&self) -> Vec<KeyValue> {
        // Room for what the span (4 more) or a duration series (3 more) appends.
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, self.method));
        if let Some(address) = &self.address {
            attributes.push(KeyValue::new(SERVER_ADDRESS, address.clone()));
        }
        if let Some(port) = self.port {
            attributes.push(server_port(port));
        }
        attributes.push(KeyValue::new(URL_SCHEME, self.scheme.clone()));
        if let Some(template) = &self.template {
            attributes.push(KeyValue::new(URL_TEMPLATE, template.clone()));
        }
        attributes
    }
}

/// How an attempt ended: nothing is known when the caller dropped it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
struct Ending {
    status: Option<u16>,
    protocol_version: Option<&'static str>,
    error: Option<&'static str>,
}

impl Ending {
    /// `http.response.status_code` and `network.protocol.version`, span and metric alike.
    fn response_attributes(&self) -> impl Iterator<Item = KeyValue> {
        let status = self.status.map(response_status_code);
        let version = self
            .protocol_version
            .map(|version| KeyValue::new(NETWORK_PROTOCOL_VERSION, version));
        status.into_iter().chain(version)
    }
}

/// One `http.client.request.duration` series.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Series {
    endpoint: Endpoint,
    ending: Ending,
}

impl Series {
    fn attributes(&self) -> Vec<KeyValue> {
        let mut attributes = self.endpoint.attributes();
        attributes.extend(self.ending.response_attributes());
        if let Some(error) = self.ending.error {
            attributes.push(KeyValue::new(ERROR_TYPE, error));
        }
        attributes
    }
}

/// `server.address`: the URL host, IPv6 brackets removed, shared between span and metric.
fn server_address(url: &Url) -> Option<StringValue> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    Some(StringValue::from(Arc::<str>::from(host)))
}

/// `url.scheme`, without allocating for `http` and `https` (the URL parser lowercases schemes).
fn scheme_value(scheme: &str) -> StringValue {
    match scheme {
        "http" => StringValue::from("http"),
        "https" => StringValue::from("https"),
        other => StringValue::from(Arc::<str>::from(other)),
    }
}
