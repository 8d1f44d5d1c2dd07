mod grpc;
mod otlp_http;
mod serve;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::HeaderMap;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A fake OpenTelemetry collector: a real OTLP server on `127.0.0.1` that records every export.
///
/// [`start`](Self::start) serves OTLP/gRPC (the `TraceService`, `MetricsService` and `LogsService`
/// of opentelemetry-proto); [`start_http`](Self::start_http) serves OTLP/HTTP on
/// `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with binary protobuf
/// (`application/x-protobuf`) or OTLP/JSON (`application/json`) bodies, over HTTP/1.1 or HTTP/2.
/// [`builder`](Self::builder) adds TLS and mTLS to either. Compressed payloads are not supported.
/// The server runs in a task of the current tokio runtime and stops when the collector is
/// dropped.
///
/// ```
/// use std::time::Duration;
///
/// use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
/// use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
/// use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
/// use tracewire_testing::FakeCollector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let collector = FakeCollector::start().await?;
///
/// let mut client = TraceServiceClient::connect(collector.endpoint()).await?;
/// let span = Span { name: "GET /".into(), ..Default::default() };
/// let scope_spans = ScopeSpans { spans: vec![span], ..Default::default() };
/// let resource_spans = ResourceSpans { scope_spans: vec![scope_spans], ..Default::default() };
/// client
///     .export(ExportTraceServiceRequest { resource_spans: vec![resource_spans] })
///     .await?;
///
/// let spans = collector.wait_for_spans(1, Duration::from_secs(5)).await;
/// assert_eq!(spans[0].name, "GET /");
/// assert_eq!(collector.requests(), 1);
/// # Ok(())
/// # }
/// ```
pub struct FakeCollector {
    address: SocketAddr,
    protocol: Protocol,
    tls: bool,
    store: Arc<Store>,
    server: JoinHandle<()>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

/// Configures a [`FakeCollector`]: the transport (gRPC by default) and TLS (off by default).
///
/// ```
/// use tracewire_testing::{FakeCollector, TestCertificateAuthority};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let ca = TestCertificateAuthority::new("test CA");
/// let server = ca.server_certificate();
/// let collector = FakeCollector::builder()
///     .http()
///     .tls(server.certificate_pem(), server.private_key_pem())
///     .start()
///     .await?;
/// assert!(collector.endpoint().starts_with("https://127.0.0.1:"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct FakeCollectorBuilder {
    protocol: Protocol,
    certificate: Option<(String, String)>,
    client_ca: Option<String>,
}

// The private key stays out of debug output.
impl fmt::Debug for FakeCollectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCollectorBuilder")
            .field("protocol", &self.protocol)
            .field("tls", &self.certificate.is_some())
            .field("client_auth", &self.client_ca.is_some())
            .finish()
    }
}

impl FakeCollectorBuilder {
    /// Serve OTLP/gRPC (the default).
    pub fn grpc(mut self) -> Self {
        self.protocol = Protocol::Grpc;
        self
    }

    /// Serve OTLP/HTTP (protobuf and JSON bodies).
    pub fn http(mut self) -> Self {
        self.protocol = Protocol::Http;
        self
    }

    /// Serve over TLS with this certificate chain and private key (PEM, e.g. from
    /// [`TestCertificateAuthority::server_certificate`](crate::TestCertificateAuthority::server_certificate)).
    /// The endpoints then start with `https://`.
    pub fn tls(mut self, certificate_chain_pem: &str, private_key_pem: &str) -> Self {
        self.certificate = Some((certificate_chain_pem.to_owned(), private_key_pem.to_owned()));
        self
    }

    /// Require a client certificate signed by this CA (PEM): mutual TLS. Needs
    /// [`tls`](Self::tls); a handshake without an acceptable certificate is refused and
    /// counted by [`FakeCollector::tls_failures`].
    pub fn client_auth(mut self, ca_certificate_pem: &str) -> Self {
        self.client_ca = Some(ca_certificate_pem.to_owned());
        self
    }

    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// Must be called within a tokio runtime. Fails on invalid PEM (kind
    /// [`InvalidInput`](std::io::ErrorKind::InvalidInput)), on client authentication without a
    /// server certificate, and when the port cannot be bound.
    pub async fn start(self) -> std::io::Result<FakeCollector> {
        // gRPC is HTTP/2 only; OTLP/HTTP exporters may negotiate either version.
        let alpn: &[&[u8]] = match self.protocol {
            Protocol::Grpc => &[b"h2"],
            Protocol::Http => &[b"h2", b"http/1.1"],
        };
        let tls = match (&self.certificate, &self.client_ca) {
            (Some((chain, key)), client_ca) => {
                Some(serve::acceptor(chain, key, client_ca.as_deref(), alpn)?)
            }
            (None, Some(_)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "client authentication needs a server certificate (`tls`)",
                ));
            }
            (None, None) => None,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let store = Arc::new(Store::default());
        let handler = match self.protocol {
            Protocol::Grpc => serve::Handler::Grpc(grpc::routes(Arc::clone(&store))),
            Protocol::Http => serve::Handler::Http,
        };
        let server = tokio::spawn(serve::serve(
            listener,
            tls.clone(),
            handler,
            Arc::clone(&store),
        ));
        Ok(FakeCollector {
            address,
            protocol: self.protocol,
            tls: tls.is_some(),
            store,
            server,
        })
    }
}

impl FakeCollector {
    /// A builder for a collector with TLS or another transport; [`start`](Self::start) and
    /// [`start_http`](Self::start_http) are its plain-text shortcuts.
    pub fn builder() -> FakeCollectorBuilder {
        FakeCollectorBuilder {
            protocol: Protocol::Grpc,
            certificate: None,
            client_ca: None,
        }
    }

    /// Starts an OTLP/gRPC collector on `127.0.0.1` and a free port.
    ///
    /// Must be called within a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().grpc().start().await
    }

    /// Starts an OTLP/HTTP (protobuf and JSON) collector on `127.0.0.1` and a free port.
    ///
    /// Must be called within a tokio runtime.
    pub async fn start_http() -> std::io::Result<Self> {
        Self::builder().http().start().await
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` with TLS): a value for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The URL a trace exporter should be given as its own endpoint
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): the base URL for gRPC, `…/v1/traces` for HTTP.
    pub fn traces_endpoint(&self) -> String {
        self.signal_endpoint("traces")
    }

    /// The URL a metric exporter should be given as its own endpoint: the base URL for gRPC,
    /// `…/v1/metrics` for HTTP.
    pub fn metrics_endpoint(&self) -> String {
        self.signal_endpoint("metrics")
    }

    /// The URL a log exporter should be given as its own endpoint: the base URL for gRPC,
    /// `…/v1/logs` for HTTP.
    pub fn logs_endpoint(&self) -> String {
        self.signal_endpoint("logs")
    }

    fn signal_endpoint(&self, signal: &str) -> String {
        match self.protocol {
            Protocol::Grpc => self.endpoint(),
            Protocol::Http => format!("{}/v1/{signal}", self.endpoint()),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Every received `ResourceSpans`, in arrival order.
    pub fn resource_spans(&self) -> Vec<ResourceSpans> {
        self.store.lock().traces.clone()
    }

    /// Every received span, flattened out of their resources and scopes, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        flatten_spans(&self.store.lock().traces)
    }

    /// The distinct `service.name` values of the resources that sent spans, in first-seen order.
    pub fn service_names(&self) -> Vec<String> {
        let received = self.store.lock();
        let mut names = Vec::new();
        for name in received
            .traces
            .iter()
            .filter_map(|resource_spans| service_name(resource_spans.resource.as_ref()))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Every received `ResourceMetrics`, in arrival order (one per export and resource).
    pub fn metrics(&self) -> Vec<ResourceMetrics> {
        self.store.lock().metrics.clone()
    }

    /// Every received `ResourceLogs`, in arrival order.
    pub fn logs(&self) -> Vec<ResourceLogs> {
        self.store.lock().logs.clone()
    }

    /// Every received log record, flattened out of their resources and scopes.
    pub fn log_records(&self) -> Vec<LogRecord> {
        flatten_log_records(&self.store.lock().logs)
    }

    /// The number of export requests received, all signals together.
    pub fn requests(&self) -> usize {
        self.store.lock().requests
    }

    /// The headers (gRPC metadata) of the most recent export request, e.g. to check
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub fn last_headers(&self) -> Option<HeaderMap> {
        self.store.lock().last_headers.clone()
    }

    /// The HTTP version of the most recent request, accepted or not: HTTP/2 for gRPC, and for
    /// OTLP/HTTP whatever the client chose (over TLS, ALPN offers `h2` first).
    pub fn last_http_version(&self) -> Option<http::Version> {
        self.store.lock().last_version
    }

    /// The number of TLS handshakes the server refused or that failed (e.g. a client that does
    /// not trust the server's CA, or one without an acceptable certificate under mTLS).
    pub fn tls_failures(&self) -> usize {
        self.store.lock().tls_failures
    }

    /// Waits until at least `n` TLS handshakes have failed or `timeout` has passed, then returns
    /// the count so far.
    pub async fn wait_for_tls_failures(&self, n: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |received| received.tls_failures >= n)
            .await;
        self.tls_failures()
    }

    /// Forgets everything received so far.
    pub fn reset(&self) {
        *self.store.lock() = Received::default();
    }

    /// Waits until at least `n` spans have arrived or `timeout` has passed, then returns the
    /// spans received so far (possibly fewer than `n`: assert on the result).
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<Span> {
        self.wait_until(timeout, |received| {
            received
                .traces
                .iter()
                .flat_map(|resource| &resource.scope_spans)
                .map(|scope| scope.spans.len())
                .sum::<usize>()
                >= n
        })
        .await;
        self.spans()
    }

    /// Waits until at least `n` log records have arrived or `timeout` has passed, then returns
    /// the records received so far.
    pub async fn wait_for_log_records(&self, n: usize, timeout: Duration) -> Vec<LogRecord> {
        self.wait_until(timeout, |received| {
            received
                .logs
                .iter()
                .flat_map(|resource| &resource.scope_logs)
                .map(|scope| scope.log_records.len())
                .sum::<usize>()
                >= n
        })
        .await;
        self.log_records()
    }

    /// Waits until a metric called `name` has arrived or `timeout` has passed, then returns its
    /// most recent export, if any.
    pub async fn wait_for_metric(&self, name: &str, timeout: Duration) -> Option<Metric> {
        self.wait_until(timeout, |received| {
            latest_metric(&received.metrics, name).is_some()
        })
        .await;
        latest_metric(&self.store.lock().metrics, name)
    }

    async fn wait_until(&self, timeout: Duration, ready: impl Fn(&Received) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so an export landing in between still wakes us.
            let changed = self.store.changed.notified();
            if ready(&self.store.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl fmt::Debug for FakeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCollector")
            .field("address", &self.address)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

/// One decoded export request, whichever the transport.
enum Export {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

#[derive(Default)]
struct Received {
    traces: Vec<ResourceSpans>,
    metrics: Vec<ResourceMetrics>,
    logs: Vec<ResourceLogs>,
    requests: usize,
    last_headers: Option<HeaderMap>,
    last_version: Option<http::Version>,
    tls_failures: usize,
}

/// What the servers share with the collector handle.
#[derive(Default)]
struct Store {
    received: Mutex<Received>,
    changed: Notify,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Received> {
        // A panic while holding the lock cannot leave `Received` half-updated in a way that
        // matters to a test, so keep serving the data.
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, headers: HeaderMap, export: Export) {
        {
            let mut received = self.lock();
            received.requests += 1;
            received.last_headers = Some(headers);
            match export {
                Export::Traces(request) => received.traces.extend(request.resource_spans),
                Export::Metrics(request) => received.metrics.extend(request.resource_metrics),
                Export::Logs(request) => received.logs.extend(request.resource_logs),
            }
        }
        self.changed.notify_waiters();
    }

    fn request(&self, version: http::Version) {
        self.lock().last_version = Some(version);
    }

    fn tls_failure(&self) {
        self.lock().tls_failures += 1;
        self.changed.notify_waiters();
    }
}

fn flatten_spans(traces: &[ResourceSpans]) -> Vec<Span> {
    traces
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| scope.spans.iter().cloned())
        .collect()
}

fn flatten_log_records(logs: &[ResourceLogs]) -> Vec<LogRecord> {
    logs.iter()
        .flat_map(|resource| &resource.scope_logs)
        .flat_map(|scope| scope.log_records.iter().cloned())
        .collect()
}

fn latest_metric(metrics: &[ResourceMetrics], name: &str) -> Option<Metric> {
    metrics
        .iter()
        .rev()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .find(|metric| metric.name == name)
        .cloned()
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(name) => Some(name.clone()),
            _ => None,
        })
}
