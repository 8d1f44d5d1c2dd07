//! The telemetry of one request in flight: started by the service, carried by the response future
//! and then the response body, finished exactly once (at the body's end, on failure, or on drop).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, OriginalUri};
use http::header::{CONTENT_LENGTH, USER_AGENT};
use http::request::Parts;
use http::response::Parts as ResponseParts;
use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter};
use opentelemetry::trace::{Link, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue, StringValue};
use tracewire_core::instrument::{ActiveSpan, Parent, SpanStart};
use tracewire_core::intern::intern_or_own;
use tracewire_core::metrics::{
    AttributeBuffer, BoundCache, ByAddress, HttpServerMetrics, duration_seconds,
};
use tracewire_core::semconv::error::{ERROR_TYPE, OTHER};
use tracewire_core::semconv::http::{
    HTTP_REQUEST_METHOD, HTTP_ROUTE, HostPort, NormalizedMethod, client_address_from_headers,
    normalize_method, protocol_version, response_status_code, server_address_from_headers,
    server_outcome, span_name, url_scheme_from_headers,
};
use tracewire_core::semconv::url::{URL_PATH, URL_QUERY, URL_SCHEME};
use tracewire_core::semconv::{
    CLIENT_ADDRESS, NETWORK_PEER_ADDRESS, NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS,
    USER_AGENT_ORIGINAL, network_peer_port, server_port,
};

use crate::extract::RequestSpan;
use crate::layer::Shared;

/// How the request ended.
pub(crate) enum End {
    /// The response body was sent to its end; it held this many bytes.
    Complete { response_body_size: u64 },
    /// The service or the body failed with an error of this type.
    Failed(&'static str),
    /// Dropped before the end: the client went away, or a panic unwound through the layer.
    Dropped,
}

pub(crate) struct Inflight {
    shared: Arc<Shared>,
    span: Option<ActiveSpan>,
    /// When the request started, for its duration when it has no span (the span keeps its own).
    started: Option<Instant>,
    metrics: Option<MetricValues>,
    status: Option<u16>,
    finished: bool,
}

/// The metric attribute values, shared with the span's start attributes (`'static` when
/// interned), so that recording never copies a string.
struct MetricValues {
    method: &'static str,
    scheme: Cow<'static, str>,
    route: Option<Cow<'static, str>>,
    protocol_version: Option<&'static str>,
    server: Option<(StringValue, Option<u16>)>,
    request_body_size: Option<u64>,
    /// Where the request was counted in `http.server.active_requests` (when opted in).
    active: Option<ActiveSeries>,
}

/// The `http.server.active_requests` series of a request, kept from its start to count it out
/// at its end without a second lookup.
enum ActiveSeries {
    Bound(BoundUpDownCounter<i64>),
    /// Not in the bound cache: counted with its attributes, both ways.
    Unbound,
}

impl Inflight {
    /// Starts the span (when tracing is on) with every sampling-relevant attribute, and counts the
    /// request as active (when metrics are on).
    pub(crate) fn start(shared: &Arc<Shared>, parts: &mut Parts, incoming: &Context) -> Self {
        let method = normalize_method(parts.method.as_str());
        // Interned: the span and every metric point share one copy made once per route.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|route| intern_or_own(route.as_str()));
        let scheme = url_scheme(shared, parts);
        let version = protocol_version(parts.version);
        let server = (shared.tracing || shared.metrics_server_address)
            .then(|| server_address_from_headers(&parts.headers, parts.uri.authority()))
            .flatten();

        let span = shared.tracing.then(|| {
            let attributes = start_attributes(
                shared,
                parts,
                &method,
                &route,
                scheme.clone(),
                version,
                &server,
            );
            let start = span_start(shared, parts, incoming, &method, &route);
            let span = shared.instrumentation.start(start.attributes(attributes));
            if span.is_recording() {
                record_peer(&span, parts);
            }
            span
        });

        let method = method.as_str();
        // Only a recording span is worth an extension (an allocation); the extractors fall back to
        // the current context, which is the request span whenever it exists.
        if let Some(span) = span.as_ref().filter(|span| span.is_recording()) {
            parts
                .extensions
                .insert(RequestSpan::new(span.context().clone()));
        }
        let metrics = shared.metrics().map(|instruments| {
            let mut values = MetricValues {
                method,
                scheme,
                route,
                protocol_version: version,
                // Shared by every point of the request; only copied when opted in.
                server: server
                    .filter(|_| shared.metrics_server_address)
                    .map(|hp| (StringValue::from(Arc::<str>::from(hp.host)), hp.port)),
                request_body_size: content_length(&parts.headers).filter(|_| shared.opt_in_metrics),
                active: None,
            };
            if shared.opt_in_metrics {
                values.active = Some(values.count_in(instruments));
            }
            values
        });

        Self {
            shared: Arc::clone(shared),
            started: span.is_none().then(Instant::now),
            span,
            metrics,
            status: None,
            finished: false,
        }
    }

    pub(crate) fn span(&self) -> Option<&ActiveSpan> {
        self.span.as_ref()
    }

    /// Records what the response head tells: status code, captured headers, and writes the
    /// response propagation headers.
    pub(crate) fn on_response(&mut self, response: &mut ResponseParts) {
        self.status = Some(response.status.as_u16());
        let Some(span) = &self.span else { return };
        if self.shared.response_propagation.is_enabled() {
            self.shared
                .response_propagation
                .write(span.context(), &mut response.headers);
        }
        if span.is_recording() {
            span.set_attribute(response_status_code(response.status.as_u16()));
            span.set_attributes(self.shared.response_headers.capture(&response.headers));
        }
    }

    /// Ends the span and records the metrics.
    pub(crate) fn finish(mut self, end: End) {
        self.record(end);
    }

    fn record(&mut self, end: End) {
        if self.finished {
            return;
        }
        self.finished = true;
        let panicked = matches!(end, End::Dropped) && std::thread::panicking();
        let error_type = match end {
            End::Failed(error_type) => Some(error_type),
            _ if panicked => Some(OTHER),
            _ => self
                .status
                .and_then(|code| server_outcome(code).error_type()),
        };
        let elapsed = self
            .span
            .as_ref()
            .map(ActiveSpan::elapsed)
            .or_else(|| self.started.map(|started| started.elapsed()))
            .unwrap_or_default();
        if let Some(span) = self.span.take() {
            if let Some(error_type) = error_type
                && span.is_recording()
            {
                if panicked {
                    span.set_error_with_description(error_type, "panicked");
                } else {
                    span.set_error(error_type);
                }
            }
            span.end();
        }
        let (Some(values), Some(instruments)) = (&self.metrics, self.shared.metrics()) else {
            return;
        };
        let point = Point {
            seconds: duration_seconds(elapsed),
            request_body_size: values.request_body_size,
            response_body_size: match end {
                End::Complete { response_body_size } if self.shared.opt_in_metrics => {
                    Some(response_body_size)
                }
                _ => None,
            },
        };
        let key = values.series_key(self.status, error_type);
        let bound = key.and_then(|key| {
            instruments
                .series
                .with(
                    key,
                    |_| {
                        let attributes = values.duration_attributes(self.status, error_type);
                        ServerSeries::bind(
                            &instruments.metrics,
                            attributes.as_slice(),
                            self.shared.opt_in_metrics,
                        )
                    },
                    |series| point.record_bound(series),
                )
                .ok()
        });
        if bound.is_none() {
            let attributes = values.duration_attributes(self.status, error_type);
            point.record(&instruments.metrics, attributes.as_slice());
        }
        if let Some(active) = &values.active {
            values.count_out(instruments, active);
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.record(End::Dropped);
    }
}

/// `url.scheme`: from trusted proxy headers, else this hop (`:scheme` or an absolute URI), else
/// `http`. `http`/`https` are `'static`, so only an unusual proxied scheme is copied.
fn url_scheme(shared: &Shared, parts: &Parts) -> Cow<'static, str> {
    let scheme = shared
        .trusted_proxies
        .then(|| url_scheme_from_headers(&parts.headers))
        .flatten()
        .or_else(|| parts.uri.scheme_str());
    match scheme {
        None | Some("http") => Cow::Borrowed("http"),
        Some("https") => Cow::Borrowed("https"),
        Some(other) => Cow::Owned(other.to_owned()),
    }
}

fn span_start(
    shared: &Shared,
    parts: &Parts,
    incoming: &Context,
    method: &NormalizedMethod<'_>,
    route: &Option<Cow<'static, str>>,
) -> SpanStart {
    let name = shared
        .custom_span_name(parts)
        .unwrap_or_else(|| span_name(method, route.as_deref()));
    let start = SpanStart::new(SpanKind::Server, name);
    if !shared.is_public(parts) {
        return start.parent(Parent::Context(incoming.clone()));
    }
    let start = start.parent(Parent::Root);
    let remote = incoming.span().span_context().clone();
    if remote.is_valid() {
        start.link(Link::with_context(remote))
    } else {
        start
    }
}

/// The attributes samplers see: everything known before the handler runs.
fn start_attributes(
    shared: &Shared,
    parts: &Parts,
    method: &NormalizedMethod<'_>,
    route: &Option<Cow<'static, str>>,
    scheme: Cow<'static, str>,
    version: Option<&'static str>,
    server: &Option<HostPort<'_>>,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(12 + shared.request_headers.keys().count());
    method.push_attributes(&mut attributes);
    // Under `nest`, axum strips the prefix from the URI; the original is what the client sent.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    attributes.push(KeyValue::new(URL_PATH, uri.path().to_owned()));
    if let Some(query) = uri.query() {
        attributes.push(KeyValue::new(
            URL_QUERY,
            shared.query_redaction().redact_query(query).into_owned(),
        ));
    }
    attributes.push(KeyValue::new(URL_SCHEME, scheme));
    if let Some(route) = route {
        attributes.push(KeyValue::new(HTTP_ROUTE, route.clone()));
    }
    if let Some(server) = server {
        attributes.push(KeyValue::new(SERVER_ADDRESS, server.host.to_owned()));
        if let Some(port) = server.port {
            attributes.push(server_port(port));
        }
    }
    if let Some(version) = version {
        attributes.push(KeyValue::new(NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(agent) = parts
        .headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        attributes.push(KeyValue::new(USER_AGENT_ORIGINAL, agent.to_owned()));
    }
    if let Some(client) = client_address(shared, parts) {
        attributes.push(KeyValue::new(CLIENT_ADDRESS, client));
    }
    attributes.extend(shared.request_headers.capture(&parts.headers));
    attributes
}

/// `client.address`: from proxy headers only when they are trusted, else the socket peer.
fn client_address(shared: &Shared, parts: &Parts) -> Option<String> {
    shared
        .trusted_proxies
        .then(|| client_address_from_headers(&parts.headers))
        .flatten()
        .map(str::to_owned)
        .or_else(|| peer(parts).map(|peer| peer.ip().to_string()))
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// `network.peer.*`: not sampling-relevant, so only recorded on spans that record.
fn record_peer(span: &ActiveSpan, parts: &Parts) {
    if let Some(peer) = peer(parts) {
        span.set_attributes([
            KeyValue::new(NETWORK_PEER_ADDRESS, peer.ip().to_string()),
            network_peer_port(peer.port()),
        ]);
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl MetricValues {
    /// The key of this request's duration and body-size series, when every part of it is
    /// `'static` (an interned route, `http`/`https`, no opted-in server address).
    fn series_key(
        &self,
        status: Option<u16>,
        error_type: Option<&'static str>,
    ) -> Option<SeriesKey> {
        if self.server.is_some() {
            return None;
        }
        Some(SeriesKey {
            method: ByAddress(self.method),
            scheme: ByAddress::of(&self.scheme)?,
            route: match &self.route {
                Some(route) => Some(ByAddress::of(route)?),
                None => None,
            },
            protocol_version: self.protocol_version.map(ByAddress),
            status,
            error_type: error_type.map(ByAddress),
        })
    }

    /// Adds the request to `http.server.active_requests`, on a bound counter when the series
    /// has a `'static` key.
    fn count_in(&self, instruments: &ServerInstruments) -> ActiveSeries {
        let key = ByAddress::of(&self.scheme)
            .filter(|_| self.server.is_none())
            .map(|scheme| (ByAddress(self.method), scheme));
        let bound = key.and_then(|key| {
            instruments
                .active
                .with(
                    key,
                    |_| {
                        let attributes = self.active_attributes();
                        instruments
                            .metrics
                            .active_requests
                            .bind(attributes.as_slice())
                    },
                    |counter| {
                        counter.add(1);
                        counter.clone()
                    },
                )
                .ok()
        });
        match bound {
            Some(counter) => ActiveSeries::Bound(counter),
            None => {
                instruments
                    .metrics
                    .active_requests
                    .add(1, self.active_attributes().as_slice());
                ActiveSeries::Unbound
            }
        }
    }

    /// Takes the request out of `http.server.active_requests`, from the series it was counted in.
    fn count_out(&self, instruments: &ServerInstruments, active: &ActiveSeries) {
        match active {
            ActiveSeries::Bound(counter) => counter.add(-1),
            ActiveSeries::Unbound => instruments
                .metrics
                .active_requests
                .add(-1, self.active_attributes().as_slice()),
        }
    }

    /// `http.server.active_requests`: method, scheme and the opted-in server address.
    fn active_attributes(&self) -> MetricAttributes {
        let mut attributes = MetricAttributes::new();
        attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, self.method));
        attributes.push(KeyValue::new(URL_SCHEME, self.scheme.clone()));
        self.push_server(&mut attributes);
        attributes
    }

    /// The duration and body-size histograms: the conventions' list, never the raw path.
    fn duration_attributes(
        &self,
        status: Option<u16>,
        error_type: Option<&'static str>,
    ) -> MetricAttributes {
        let mut attributes = MetricAttributes::new();
        attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, self.method));
        attributes.push(KeyValue::new(URL_SCHEME, self.scheme.clone()));
        if let Some(route) = &self.route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.clone()));
        }
        if let Some(version) = self.protocol_version {
            attributes.push(KeyValue::new(NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(status) = status {
            attributes.push(response_status_code(status));
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(ERROR_TYPE, error_type));
        }
        self.push_server(&mut attributes);
        attributes
    }

    fn push_server(&self, attributes: &mut MetricAttributes) {
        if let Some((host, port)) = &self.server {
            attributes.push(KeyValue::new(SERVER_ADDRESS, host.clone()));
            if let Some(port) = port {
                attributes.push(server_port(*port));
            }
        }
    }
}

/// The attributes of one metric point: at most method, scheme, route, version, status, error
/// type, server address and port.
type MetricAttributes = AttributeBuffer<8>;

/// What identifies a duration / body-size series when all of its attributes are `'static`
/// (literals and interned routes, compared by address).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesKey {
    method: ByAddress,
    scheme: ByAddress,
    route: Option<ByAddress>,
    protocol_version: Option<ByAddress>,
    status: Option<u16>,
    error_type: Option<ByAddress>,
}

/// The instruments of one layer, and their bound series.
pub(crate) struct ServerInstruments {
    pub(crate) metrics: HttpServerMetrics,
    series: BoundCache<SeriesKey, ServerSeries>,
    active: BoundCache<(ByAddress, ByAddress), BoundUpDownCounter<i64>>,
}

impl ServerInstruments {
    pub(crate) fn new(metrics: HttpServerMetrics) -> Self {
        Self {
            metrics,
            series: BoundCache::default(),
            active: BoundCache::default(),
        }
    }
}

/// The histograms of one attribute set, bound; the body sizes only when opted in (a bound
/// instrument is exported even before its first measurement).
#[derive(Clone)]
struct ServerSeries {
    duration: BoundHistogram<f64>,
    body_sizes: Option<(BoundHistogram<u64>, BoundHistogram<u64>)>,
}

impl ServerSeries {
    fn bind(metrics: &HttpServerMetrics, attributes: &[KeyValue], opt_in: bool) -> Self {
        Self {
            duration: metrics.request_duration.bind(attributes),
            body_sizes: opt_in.then(|| {
                (
                    metrics.request_body_size.bind(attributes),
                    metrics.response_body_size.bind(attributes),
                )
            }),
        }
    }
}

/// The values one finished request records.
struct Point {
    seconds: f64,
    request_body_size: Option<u64>,
    response_body_size: Option<u64>,
}

impl Point {
    fn record_bound(&self, series: &ServerSeries) {
        series.duration.record(self.seconds);
        let Some((request, response)) = &series.body_sizes else {
            return;
        };
        if let Some(size) = self.request_body_size {
            request.record(size);
        }
        if let Some(size) = self.response_body_size {
            response.record(size);
        }
    }

    fn record(&self, metrics: &HttpServerMetrics, attributes: &[KeyValue]) {
        metrics.request_duration.record(self.seconds, attributes);
        if let Some(size) = self.request_body_size {
            metrics.request_body_size.record(size, attributes);
        }
        if let Some(size) = self.response_body_size {
            metrics.response_body_size.record(size, attributes);
        }
    }
}
