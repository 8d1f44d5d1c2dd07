//! The `console` exporters: one compact line per span, metric or log record.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::logs::AnyValue;
use opentelemetry::trace::{SpanKind, Status, TraceId};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Where `console` exporters write: stdout unless the builder gives a writer.
#[derive(Clone)]
pub(crate) struct ConsoleOutput(Arc<Mutex<Box<dyn Write + Send>>>);

impl ConsoleOutput {
    pub(crate) fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    pub(crate) fn new(writer: impl Write + Send + 'static) -> Self {
        Self(Arc::new(Mutex::new(Box::new(writer))))
    }

    /// Renders a batch into one string and writes it at once, so lines never interleave.
    fn emit(
        &self,
        render: impl FnOnce(&mut String) -> fmt::Result,
    ) -> std::future::Ready<OTelSdkResult> {
        let mut lines = String::new();
        let result = render(&mut lines)
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))
            .and_then(|()| self.write_lines(&lines));
        std::future::ready(result)
    }

    fn write_lines(&self, lines: &str) -> OTelSdkResult {
        let mut writer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .write_all(lines.as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))
    }
}

impl fmt::Debug for ConsoleOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleOutput(..)")
    }
}

/// The console exporter of every signal.
#[derive(Debug)]
pub(crate) struct Console {
    output: ConsoleOutput,
    temporality: Temporality,
}

impl Console {
    pub(crate) fn new(output: ConsoleOutput, temporality: Temporality) -> Self {
        Self {
            output,
            temporality,
        }
    }
}

/// The first 8 hex digits: enough to tell traces apart in a terminal.
fn short(trace_id: TraceId) -> String {
    let mut hex = trace_id.to_string();
    hex.truncate(8);
    hex
}

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

fn span_line(out: &mut String, span: &SpanData) -> fmt::Result {
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or(Duration::ZERO);
    write!(
        out,
        "span {} {} {} {:.3}ms ",
        short(span.span_context.trace_id()),
        span.name,
        kind_name(&span.span_kind),
        duration.as_secs_f64() * 1000.0
    )?;
    match &span.status {
        Status::Unset => writeln!(out, "unset"),
        Status::Ok => writeln!(out, "ok"),
        Status::Error { description } => writeln!(out, "error: {description}"),
    }
}

fn metric_shape<T>(data: &MetricData<T>) -> (&'static str, usize) {
    match data {
        MetricData::Gauge(gauge) => ("gauge", gauge.data_points().count()),
        MetricData::Sum(sum) => ("sum", sum.data_points().count()),
        MetricData::Histogram(histogram) => ("histogram", histogram.data_points().count()),
        MetricData::ExponentialHistogram(histogram) => {
            ("exponential_histogram", histogram.data_points().count())
        }
    }
}

impl SpanExporter for Console {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.output
            .emit(|lines| batch.iter().try_for_each(|span| span_line(lines, span)))
    }
}

impl PushMetricExporter for Console {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.output.emit(|lines| {
            metrics
                .scope_metrics()
                .flat_map(|scope| scope.metrics())
                .try_for_each(|metric| {
                    let (shape, points) = match metric.data() {
                        AggregatedMetrics::F64(data) => metric_shape(data),
                        AggregatedMetrics::U64(data) => metric_shape(data),
                        AggregatedMetrics::I64(data) => metric_shape(data),
                    };
                    writeln!(
                        lines,
                        "metric {} [{}] {shape} points={points}",
                        metric.name(),
                        metric.unit()
                    )
                })
        })
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

impl LogExporter for Console {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        self.output.emit(|lines| {
            batch.iter().try_for_each(|(record, _scope)| {
                let trace = record
                    .trace_context()
                    .map_or_else(|| "-".to_owned(), |cx| short(cx.trace_id));
                let severity = record.severity_text().unwrap_or("-");
                let body = match record.body() {
                    Some(AnyValue::String(text)) => text.as_str().to_owned(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                writeln!(lines, "log {trace} {severity} {body}")
            })
        })
    }
}
