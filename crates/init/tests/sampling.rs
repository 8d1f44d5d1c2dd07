//! The samplers `OTEL_TRACES_SAMPLER` selects, through the providers `init` builds: rules, the
//! rate limit and its metric, and consistent ratios that record their threshold.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
use tracewire_init::{EnvSource, Signal, TelemetryGuard};

struct Pipeline {
    guard: TelemetryGuard,
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
}

fn pipeline(sampler: &str, arg: &str) -> Pipeline {
    let spans = InMemorySpanExporter::default();
    let metrics = InMemoryMetricExporter::default();
    let guard = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_TRACES_SAMPLER", sampler),
            ("OTEL_TRACES_SAMPLER_ARG", arg),
        ]))
        .install_globals(false)
        .fmt_layer(false)
        .exporters_without_endpoint(Signal::Traces, [])
        .exporters_without_endpoint(Signal::Metrics, [])
        .exporters_without_endpoint(Signal::Logs, [])
        .span_processor(SimpleSpanProcessor::new(spans.clone()))
        .metric_exporter(metrics.clone())
        .init()
        .expect("init");
    Pipeline {
        guard,
        spans,
        metrics,
    }
}

fn server_span(pipeline: &Pipeline, route: &'static str) -> opentelemetry::Context {
    let tracer = pipeline
        .guard
        .tracer_provider()
        .expect("traces on")
        .tracer("test");
    let span = tracer
        .span_builder(format!("GET {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.route", route)])
        .start(&tracer);
    opentelemetry::Context::new().with_span(span)
}

fn exported_names(pipeline: &Pipeline) -> Vec<String> {
    let mut names: Vec<String> = pipeline
        .spans
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .map(|span| span.name.into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rules_decide_on_start_attributes() {
    let pipeline = pipeline(
        "tracewire_rules",
        "http.route=/health => drop; http.route=/checkout/* => keep; * => drop",
    );
    for route in ["/health", "/checkout/{id}", "/users/{id}"] {
        drop(server_span(&pipeline, route));
    }
    assert_eq!(exported_names(&pipeline), ["GET /checkout/{id}"]);
}

#[test]
fn parent_based_ratio_records_its_threshold() {
    let pipeline = pipeline("parentbased_traceidratio", "0.5");
    let kept: Vec<opentelemetry::Context> = (0..200)
        .map(|_| server_span(&pipeline, "/x"))
        .filter(|cx| cx.span().span_context().is_sampled())
        .collect();
    // 200 random trace ids at one half: far from none and from all.
    assert!((50..=150).contains(&kept.len()), "{}", kept.len());
    for cx in &kept {
        assert_eq!(
            cx.span().span_context().trace_state().get("ot"),
            Some("th:8")
        );
    }
}

#[test]
fn rate_limited_traces_are_counted_in_a_metric() {
    // One trace every five seconds: the first span is kept, the next 49 (made in far less than
    // five seconds) are dropped.
    let pipeline = pipeline("tracewire_rate_limited", "0.2");
    for _ in 0..50 {
        drop(server_span(&pipeline, "/x"));
    }
    assert_eq!(pipeline.spans.get_finished_spans().expect("spans").len(), 1);
    let provider = pipeline.guard.meter_provider().expect("metrics on");
    provider.force_flush().expect("flush");
    let exported = pipeline.metrics.get_finished_metrics().expect("metrics");
    let dropped = exported
        .iter()
        .flat_map(|resource| resource.scope_metrics())
        .flat_map(|scope| scope.metrics())
        .find(|metric| metric.name() == "tracewire.sampler.rate_limited")
        .expect("the rate-limit metric");
    assert_eq!(dropped.unit(), "{trace}");
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = dropped.data() else {
        panic!("a u64 sum: {:?}", dropped.data());
    };
    let value: u64 = sum.data_points().map(|point| point.value()).sum();
    assert_eq!(value, 49);
}
