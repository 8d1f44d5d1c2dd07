use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::in_memory_exporter::LogDataWithResource;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracer, SdkTracerProvider, ShouldSample,
};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use crate::metrics::Metrics;
use crate::spans::Spans;

/// The instrumentation scope name of the tracer used by [`TelemetryCapture::tracing_dispatch`].
const TRACING_SCOPE: &str = "tracewire-testing";

/// In-memory telemetry capture for one test.
///
/// Each capture owns its own tracer, meter and logger providers and never touches the global
/// ones, so tests running in parallel never see each other's data. Hand the providers (or
/// [`tracing_dispatch`](Self::tracing_dispatch)) to the code under test, then read back what it
/// produced with [`spans`](Self::spans), [`metrics`](Self::metrics) and [`logs`](Self::logs).
///
/// Spans are exported synchronously when they end. Metrics use cumulative temporality, so every
/// call to [`metrics`](Self::metrics) returns the totals since the capture was created.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::metrics::MeterProvider;
/// use tracewire_testing::TelemetryCapture;
///
/// let capture = TelemetryCapture::new();
/// let meter = capture.meter_provider().meter("example");
/// let active = meter.i64_up_down_counter("http.server.active_requests").build();
/// let route = [KeyValue::new("http.route", "/users")];
/// active.add(2, &route);
/// active.add(-1, &route);
///
/// let metrics = capture.metrics();
/// assert_eq!(metrics.sum_i64("http.server.active_requests").value_with(&route), 1);
/// ```
pub struct TelemetryCapture {
    span_exporter: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metric_exporter: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    log_exporter: InMemoryLogExporter,
    logger_provider: SdkLoggerProvider,
}

impl TelemetryCapture {
    /// A capture whose tracer provider samples every span.
    pub fn new() -> Self {
        Self::with_sampler(Sampler::AlwaysOn)
    }

    /// A capture whose tracer provider uses `sampler`, e.g. to test how instrumentation behaves
    /// when its spans are sampled out or when a parent-based sampler follows a remote decision.
    pub fn with_sampler(sampler: impl ShouldSample + 'static) -> Self {
        let span_exporter = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(span_exporter.clone())
            .build();

        // Cumulative is the in-memory exporter's default temporality: each collection then holds
        // the full state, which is what `metrics()` promises.
        let metric_exporter = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metric_exporter.clone()).build())
            .build();

        let log_exporter = InMemoryLogExporter::default();
        let logger_provider = SdkLoggerProvider::builder()
            .with_simple_exporter(log_exporter.clone())
            .build();

        Self {
            span_exporter,
            tracer_provider,
            metric_exporter,
            meter_provider,
            log_exporter,
            logger_provider,
        }
    }

    /// The tracer provider; its spans go through a simple (synchronous) processor into memory.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider; collected into memory with cumulative temporality.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The logger provider; records go through a simple (synchronous) processor into memory.
    pub fn logger_provider(&self) -> &SdkLoggerProvider {
        &self.logger_provider
    }

    /// A `tracing` dispatcher that turns `tracing` spans into OpenTelemetry spans of this capture.
    ///
    /// It is a [`Registry`] with a `tracing-opentelemetry` layer (context activation on, so
    /// `opentelemetry::Context::current()` inside an entered `tracing` span sees that span).
    /// Install it for one test with [`tracing::dispatcher::with_default`] or
    /// [`tracing::dispatcher::set_default`]; nothing global is touched.
    ///
    /// ```
    /// use opentelemetry::trace::SpanKind;
    /// use tracewire_testing::TelemetryCapture;
    ///
    /// let capture = TelemetryCapture::new();
    /// tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
    ///     let _request = tracing::info_span!("request", otel.name = "GET /", otel.kind = "server")
    ///         .entered();
    /// });
    /// capture.spans().single("GET /").assert_kind(SpanKind::Server);
    /// ```
    pub fn tracing_dispatch(&self) -> tracing::Dispatch {
        tracing::Dispatch::new(Registry::default().with(self.otel_layer()))
    }

    /// Like [`tracing_dispatch`](Self::tracing_dispatch), with a level filter on the whole
    /// subscriber, as an application's global filter would be: spans and events above `filter`
    /// are disabled entirely. Use it to prove that instrumentation keeps propagating context when
    /// the application hides its spans.
    pub fn tracing_dispatch_with_filter(&self, filter: LevelFilter) -> tracing::Dispatch {
        tracing::Dispatch::new(Registry::default().with(self.otel_layer()).with(filter))
    }

    fn otel_layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer: SdkTracer = self.tracer_provider.tracer(TRACING_SCOPE);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_context_activation(true)
    }

    /// Every span that has ended so far, in the order they ended.
    pub fn spans(&self) -> Spans {
        // The simple processor exports each span as it ends, so this flush is cheap; it keeps the
        // "everything ended so far" promise independent of that processor detail.
        if let Err(error) = self.tracer_provider.force_flush() {
            panic!("flushing the capture's tracer provider failed: {error}");
        }
        let spans = self
            .span_exporter
            .get_finished_spans()
            .unwrap_or_else(|error| panic!("reading captured spans failed: {error}"));
        Spans::new(spans)
    }

    /// Collects the meter provider now and returns the resulting (cumulative) metrics.
    pub fn metrics(&self) -> Metrics {
        if let Err(error) = self.meter_provider.force_flush() {
            panic!("collecting the capture's metrics failed: {error}");
        }
        let mut collected = self
            .metric_exporter
            .get_finished_metrics()
            .unwrap_or_else(|error| panic!("reading captured metrics failed: {error}"));
        // Each collection is cumulative, so only the newest one matters; dropping the older ones
        // keeps repeated calls from growing the exporter's buffer.
        self.metric_exporter.reset();
        Metrics::new(collected.pop())
    }

    /// Every log record emitted so far, with its scope and resource.
    pub fn logs(&self) -> Vec<LogDataWithResource> {
        if let Err(error) = self.logger_provider.force_flush() {
            panic!("flushing the capture's logger provider failed: {error}");
        }
        self.log_exporter
            .get_emitted_logs()
            .unwrap_or_else(|error| panic!("reading captured logs failed: {error}"))
    }

    /// Forgets the spans, log records and metric collections captured so far.
    ///
    /// Metric instruments keep their cumulative state (the SDK cannot rewind it): after a reset,
    /// [`metrics`](Self::metrics) still reports totals since the capture was created.
    pub fn reset(&self) {
        self.span_exporter.reset();
        self.metric_exporter.reset();
        self.log_exporter.reset();
    }
}

impl Default for TelemetryCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TelemetryCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryCapture").finish_non_exhaustive()
    }
}
