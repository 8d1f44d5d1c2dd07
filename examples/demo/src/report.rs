//! What the demo recorded, and how it is printed: one span tree per order, then a metrics
//! summary.

use std::fmt::Write as _;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use opentelemetry_sdk::trace::SpanData;
use tracewire_testing::{Spans, TreeOptions, render_tree};

use crate::gateway::Order;
use crate::telemetry::ServiceReport;

/// The attributes shown on each tree line (span names already say the method, route, RPC
/// method, query summary or topic).
const SHOWN_ATTRIBUTES: [&str; 6] = [
    "http.response.status_code",
    "rpc.status_code",
    "db.system.name",
    "messaging.destination.partition.id",
    "messaging.kafka.offset",
    "error.type",
];

/// How one order went, as the customer saw it.
#[derive(Clone, Debug)]
pub struct OrderOutcome {
    /// What the order shows.
    pub label: &'static str,
    /// The order.
    pub order: Order,
    /// The gateway's HTTP status code.
    pub status: u16,
    /// The trace id the gateway returned in `x-trace-id`.
    pub trace_id: Option<String>,
}

/// Everything the demo recorded.
pub struct Report {
    /// The orders, in the order they were placed.
    pub orders: Vec<OrderOutcome>,
    /// What each service recorded.
    pub services: Vec<ServiceReport>,
}

impl Report {
    /// Every span of every service.
    pub fn spans(&self) -> Spans {
        Spans::new(
            self.services
                .iter()
                .flat_map(|service| service.spans.iter().cloned())
                .collect(),
        )
    }

    /// The spans of one service.
    pub fn service_spans(&self, service: &str) -> Spans {
        Spans::new(
            self.services
                .iter()
                .filter(|report| report.name == service)
                .flat_map(|report| report.spans.iter().cloned())
                .collect(),
        )
    }

    /// One tree per order (each line: service, span name, kind, duration, key attributes,
    /// errors marked `✗`), then any other trace.
    pub fn render_traces(&self) -> String {
        let options = TreeOptions::default().with_attribute_keys(SHOWN_ATTRIBUTES);
        // The renderer shows span names: prefix each with its service (on a copy).
        let spans: Vec<SpanData> = self
            .services
            .iter()
            .flat_map(|service| {
                service.spans.iter().map(|span| {
                    let mut span = span.clone();
                    span.name = format!("{}: {}", service.name, span.name).into();
                    span
                })
            })
            .collect();
        let mut out = String::new();
        for (index, outcome) in self.orders.iter().enumerate() {
            let _ = writeln!(
                out,
                "order {} ({}): {} x{} -> HTTP {}",
                index + 1,
                outcome.label,
                outcome.order.sku,
                outcome.order.quantity,
                outcome.status
            );
            let trace: Vec<SpanData> = spans
                .iter()
                .filter(|span| Some(span.span_context.trace_id().to_string()) == outcome.trace_id)
                .cloned()
                .collect();
            let _ = writeln!(out, "{}", render_tree(&trace, &options));
        }
        let others: Vec<SpanData> = spans
            .into_iter()
            .filter(|span| {
                let id = span.span_context.trace_id().to_string();
                !self
                    .orders
                    .iter()
                    .any(|outcome| outcome.trace_id.as_deref() == Some(id.as_str()))
            })
            .collect();
        if !others.is_empty() {
            let _ = writeln!(out, "other traces\n{}", render_tree(&others, &options));
        }
        out
    }

    /// Per service, each duration histogram (measurements, mean, how many failed) and each
    /// counter total. tracewire-init's own `tracewire.*` metrics and gauges are left out.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        for service in &self.services {
            let Some(metrics) = &service.metrics else {
                continue;
            };
            let mut lines: Vec<(&str, String)> = metrics
                .scope_metrics()
                .flat_map(|scope| scope.metrics())
                .filter(|metric| !metric.name().starts_with("tracewire."))
                .filter_map(|metric| Some((metric.name(), summarize(metric)?)))
                .collect();
            // Scopes come in no particular order: sort for a stable printout.
            lines.sort();
            for (name, summary) in lines {
                let _ = writeln!(out, "  {:<12} {name:<40} {summary}", service.name);
            }
        }
        out
    }
}

fn is_error<'a>(mut attributes: impl Iterator<Item = &'a KeyValue>) -> bool {
    attributes.any(|kv| kv.key.as_str() == "error.type")
}

/// `3 x mean 12.3 ms, 1 failed` for a histogram, the total for a monotonic counter.
fn summarize(metric: &Metric) -> Option<String> {
    match metric.data() {
        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
            let (mut count, mut sum, mut failed) = (0, 0.0, 0);
            for point in histogram.data_points() {
                count += point.count();
                sum += point.sum();
                if is_error(point.attributes()) {
                    failed += point.count();
                }
            }
            if count == 0 {
                return None;
            }
            // Lossless for any realistic count; only used to print a mean.
            #[allow(clippy::cast_precision_loss)]
            let mean = sum / count as f64;
            let mean = match metric.unit() {
                "s" => format!("{:.1} ms", mean * 1e3),
                unit => format!("{mean:.1} {unit}"),
            };
            let failed = match failed {
                0 => String::new(),
                n => format!(", {n} failed"),
            };
            Some(format!("{count} x mean {mean}{failed}"))
        }
        AggregatedMetrics::U64(MetricData::Sum(sum)) if sum.is_monotonic() => {
            let total: u64 = sum.data_points().map(|point| point.value()).sum();
            Some(format!("{total} {}", metric.unit()))
        }
        AggregatedMetrics::I64(MetricData::Sum(sum)) if sum.is_monotonic() => {
            let total: i64 = sum.data_points().map(|point| point.value()).sum();
            Some(format!("{total} {}", metric.unit()))
        }
        _ => None,
    }
}
