mod grpc;
mod http1;

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
/// of opentelemetry-proto); [`start_http`](Self::start_http) serves OTLP/HTTP with protobuf
/// bodies on `POST /v1/traces`, `/v1/metrics` and `/v1/logs`. Compressed and JSON payloads are
/// not supported. The server runs in a task of the current tokio runtime and stops when the
/// collector is dropped.
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
    store: Arc<Store>,
    server: JoinHandle<()>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl FakeCollector {
    /// Starts an OTLP/gRPC collector on `127.0.0.1` and a free port.
    ///
    /// Must be called within a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let store = Arc::new(Store::default());
        let server = tokio::spawn(grpc::serve(listener, Arc::clone(&store)));
        Ok(Self {
            address,
            protocol: Protocol::Grpc,
            store,
            server,
        })
    }

    /// Starts an OTLP/HTTP (binary protobuf) collector on `127.0.0.1` and a free port.
    ///
    /// Must be called within a tokio runtime.
    pub async fn start_http() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let store = Arc::new(Store::default());
        let server = tokio::spawn(http1::serve(listener, Arc::clone(&store)));
        Ok(Self {
            address,
            protocol: Protocol::HttpProtobuf,
            store,
            server,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`: a value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
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
            Protocol::HttpProtobuf => format!("{}/v1/{signal}", self.endpoint()),
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
