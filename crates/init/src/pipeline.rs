//! Exporter and processor wrappers: export on the export runtime with a deadline, count what
//! happens to spans, and warn (rate-limited) when the destination cannot be reached.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::runtime::Handle;

use crate::config::Signal;
use crate::console::Console;
use crate::runtime::{flatten, in_runtime};

/// How often, at most, an unreachable destination is reported.
pub(crate) const FAILURE_NOTICE_INTERVAL: Duration = Duration::from_secs(60);

/// What happened to the spans of one export pipeline so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanCounts {
    /// Spans the destination accepted.
    pub exported: u64,
    /// Spans in batches whose export failed or timed out.
    pub failed: u64,
    /// Spans dropped because the queue was full.
    pub dropped: u64,
    /// Spans waiting in the queue.
    pub queued: u64,
}

impl SpanCounts {
    pub(crate) fn add(&mut self, other: Self) {
        self.exported += other.exported;
        self.failed += other.failed;
        self.dropped += other.dropped;
        self.queued += other.queued;
    }
}

/// Counters shared by a pipeline's queue bound and its exporter.
#[derive(Debug, Default)]
pub(crate) struct SpanStats {
    queued: AtomicUsize,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl SpanStats {
    pub(crate) fn counts(&self) -> SpanCounts {
        SpanCounts {
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed) as u64,
        }
    }

    fn dequeue(&self, n: usize) {
        let _previous = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }
}

type ReadCount = fn(&SpanCounts) -> u64;

/// Registers the self-telemetry instruments of one span pipeline on `meter`.
pub(crate) fn register_span_metrics(meter: &Meter, stats: &Arc<SpanStats>, exporter: &'static str) {
    let instruments: [(&str, &str, ReadCount); 3] = [
        (
            "tracewire.exporter.spans.exported",
            "Spans the destination accepted.",
            |c| c.exported,
        ),
        (
            "tracewire.exporter.spans.failed",
            "Spans in batches whose export failed or timed out.",
            |c| c.failed,
        ),
        (
            "tracewire.exporter.spans.dropped",
            "Spans dropped because the export queue was full.",
            |c| c.dropped,
        ),
    ];
    for (name, description, read) in instruments {
        let stats = Arc::clone(stats);
        let attributes = [KeyValue::new("tracewire.exporter", exporter)];
        let _registered = meter
            .u64_observable_counter(name)
            .with_unit("{span}")
            .with_description(description)
            .with_callback(move |observer| observer.observe(read(&stats.counts()), &attributes))
            .build();
    }
}

/// The export duration histogram, shared by every pipeline.
pub(crate) fn duration_histogram(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram("tracewire.exporter.export.duration")
        .with_unit("s")
        .with_description("Duration of one export call, by signal, exporter and outcome.")
        .with_boundaries(vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ])
        .build()
}

/// Reports an unreachable destination at most once per interval, across all signals.
#[derive(Debug)]
pub(crate) struct FailureNotice {
    last: Mutex<Option<Instant>>,
    interval: Duration,
}

impl FailureNotice {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            last: Mutex::new(None),
            interval,
        }
    }

    fn report(&self, signal: Signal, destination: &str, error: &OTelSdkError, cause: Option<&str>) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < self.interval) {
            return;
        }
        *last = Some(Instant::now());
        drop(last);
        let cause = cause.map(|cause| format!(" ({cause})")).unwrap_or_default();
        crate::report::export_failure(&format!(
            "cannot export {signal} to {destination}: {error}{cause}; the data is dropped and \
             the application is not slowed down (repeated failures are reported at most every \
             {} s)",
            self.interval.as_secs()
        ));
    }
}

/// What every export wrapper shares: where it runs, its deadline, and what it reports to.
pub(crate) struct ExportContext {
    pub(crate) runtime: Handle,
    pub(crate) timeout: Duration,
    pub(crate) signal: Signal,
    pub(crate) exporter: &'static str,
    pub(crate) destination: String,
    pub(crate) stats: Option<Arc<SpanStats>>,
    pub(crate) notice: Arc<FailureNotice>,
    /// Where the transport keeps the cause of a failure its exporter does not report.
    pub(crate) cause: Option<Arc<crate::otlp::FailureCause>>,
    /// Set once the meter provider exists (it is built after its own exporters).
    pub(crate) duration: Arc<OnceLock<Histogram<f64>>>,
}

impl ExportContext {
    async fn run(
        &self,
        items: usize,
        export: impl Future<Output = OTelSdkResult> + Send,
    ) -> OTelSdkResult {
        let started = Instant::now();
        let result = flatten(in_runtime(&self.runtime, self.timeout, export).await);
        let outcome = if result.is_ok() { "success" } else { "failure" };
        if let Some(duration) = self.duration.get() {
            duration.record(
                started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("tracewire.signal", self.signal.name()),
                    KeyValue::new("tracewire.exporter", self.exporter),
                    KeyValue::new("tracewire.outcome", outcome),
                ],
            );
        }
        let count = items as u64;
        // Counted as queued until here, so a batch abandoned mid-export is never lost from the counts.
        if let Some(stats) = &self.stats {
            stats.dequeue(items);
        }
        match &result {
            Ok(()) => {
                if let Some(stats) = &self.stats {
                    stats.exported.fetch_add(count, Ordering::Relaxed);
                }
            }
            Err(error) => {
                if let Some(stats) = &self.stats {
                    stats.failed.fetch_add(count, Ordering::Relaxed);
                }
                let cause = self.cause.as_ref().and_then(|cause| cause.take());
                self.notice
                    .report(self.signal, &self.destination, error, cause.as_deref());
            }
        }
        result
    }

    fn shut_down(&self, shutdown: impl FnOnce() -> OTelSdkResult) -> OTelSdkResult {
        // Some exporters touch their client on shutdown; give them the runtime they were built in.
        let _entered = self.runtime.enter();
        shutdown()
    }
}

/// Any exporter, run on the export runtime with a deadline and counted.
pub(crate) struct Exporting<E> {
    pub(crate) inner: E,
    pub(crate) context: ExportContext,
}

impl<E> fmt::Debug for Exporting<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporting")
            .field("signal", &self.context.signal)
            .field("exporter", &self.context.exporter)
            .field("destination", &self.context.destination)
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter> SpanExporter for Exporting<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let items = batch.len();
        self.context.run(items, self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.context
            .shut_down(|| self.inner.shutdown_with_timeout(timeout))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Exporting<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.context.run(0, self.inner.export(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.context
            .shut_down(|| self.inner.shutdown_with_timeout(timeout))
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: LogExporter> LogExporter for Exporting<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let items = batch.iter().count();
        self.context.run(items, self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.context
            .shut_down(|| self.inner.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The destination of one pipeline: an OTLP exporter or the console.
#[derive(Debug)]
pub(crate) enum Sink<E> {
    Otlp(E),
    Console(Console),
}

impl<E: SpanExporter> SpanExporter for Sink<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.export(batch).await,
            Self::Console(console) => SpanExporter::export(console, batch).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.shutdown_with_timeout(timeout),
            Self::Console(console) => SpanExporter::shutdown_with_timeout(console, timeout),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            Self::Otlp(exporter) => exporter.set_resource(resource),
            Self::Console(console) => SpanExporter::set_resource(console, resource),
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Sink<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.export(metrics).await,
            Self::Console(console) => PushMetricExporter::export(console, metrics).await,
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.force_flush(),
            Self::Console(console) => PushMetricExporter::force_flush(console),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.shutdown_with_timeout(timeout),
            Self::Console(console) => PushMetricExporter::shutdown_with_timeout(console, timeout),
        }
    }

    fn temporality(&self) -> Temporality {
        match self {
            Self::Otlp(exporter) => exporter.temporality(),
            Self::Console(console) => PushMetricExporter::temporality(console),
        }
    }
}

impl<E: LogExporter> LogExporter for Sink<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.export(batch).await,
            Self::Console(console) => LogExporter::export(console, batch).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.shutdown_with_timeout(timeout),
            Self::Console(console) => LogExporter::shutdown_with_timeout(console, timeout),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            Self::Otlp(exporter) => exporter.set_resource(resource),
            Self::Console(console) => LogExporter::set_resource(console, resource),
        }
    }
}

/// Holds the queue bound itself, so drops are counted exactly: the SDK's batch processor drops
/// silently (its counter is private) once its channel is full. Spans count as queued from
/// `on_end` until their batch's export finishes, so the bound covers every span held in memory;
/// beyond `max_queue_size` they are dropped here, which also keeps the SDK's channel (of the same
/// capacity) from ever filling up.
#[derive(Debug)]
pub(crate) struct BoundedSpanProcessor<P> {
    pub(crate) inner: P,
    pub(crate) stats: Arc<SpanStats>,
    pub(crate) max_queue_size: usize,
}

impl<P: SpanProcessor> SpanProcessor for BoundedSpanProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // The batch processor ignores unsampled spans; so must the accounting.
        if !span.span_context.is_sampled() {
            return;
        }
        if self.stats.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queue_size {
            self.stats.dequeue(1);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
