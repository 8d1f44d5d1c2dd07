//! Builder hooks for development defaults and extra pipelines: exporters used only when no
//! endpoint is configured, and span processors / metric readers added next to the exporters.
//! Globals stay off, so these tests run in parallel.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
use tracewire_init::{Config, EnvSource, ExporterKind, Signal};

/// Resolves `vars` with console traces and metrics and no logs as the endpoint-less defaults.
fn resolve(vars: &[(&str, &str)]) -> Config {
    tracewire_init::builder()
        .env(EnvSource::from_pairs(vars.iter().copied()))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Logs, [])
        .resolve()
        .0
}

fn exporters(config: &Config) -> [&[ExporterKind]; 3] {
    [Signal::Traces, Signal::Metrics, Signal::Logs].map(|signal| config.exporters(signal))
}

#[test]
fn without_an_endpoint_the_fallback_exporters_are_used() {
    let config = resolve(&[]);
    assert_eq!(
        exporters(&config),
        [&[ExporterKind::Console][..], &[ExporterKind::Console], &[]]
    );
}

#[test]
fn the_generic_endpoint_restores_otlp_for_every_signal() {
    let config = resolve(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    let otlp = &[ExporterKind::Otlp][..];
    assert_eq!(exporters(&config), [otlp, otlp, otlp]);
}

#[test]
fn a_signal_endpoint_restores_otlp_for_that_signal_only() {
    let config = resolve(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://collector:4318/v1/traces",
    )]);
    assert_eq!(
        exporters(&config),
        [&[ExporterKind::Otlp][..], &[ExporterKind::Console], &[]]
    );
}

#[test]
fn an_explicit_exporter_variable_wins_over_the_fallback() {
    let config = resolve(&[
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "console"),
    ]);
    assert_eq!(
        exporters(&config),
        [&[][..], &[ExporterKind::Console], &[ExporterKind::Console]]
    );
}

#[test]
fn builder_endpoint_and_builder_exporters_win_over_the_fallback() {
    let (config, _) = tracewire_init::builder()
        .env(EnvSource::from_pairs::<&str, &str>([]))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters(Signal::Metrics, [])
        .otlp_endpoint("http://collector:4318")
        .resolve();
    assert_eq!(config.traces_exporters, [ExporterKind::Otlp]);
    assert!(config.metrics_exporters.is_empty());
    // Without a fallback for logs the specification's default applies.
    assert_eq!(config.logs_exporters, [ExporterKind::Otlp]);
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn added_processor_and_exporter_see_everything_next_to_the_exporters() {
    let console = Buffer::default();
    let spans = InMemorySpanExporter::default();
    let metrics = InMemoryMetricExporter::default();
    let guard = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_SERVICE_NAME", "inventory"),
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .install_globals(false)
        .fmt_layer(false)
        .console_writer(console.clone())
        .span_processor(SimpleSpanProcessor::new(spans.clone()))
        .metric_exporter(metrics.clone())
        .init()
        .expect("init");

    let provider = guard.tracer_provider().expect("tracer provider");
    provider.tracer("test").in_span("reserve", |_| {});
    let meter = guard
        .meter_provider()
        .expect("meter provider")
        .meter("test");
    meter.u64_counter("items.reserved").build().add(3, &[]);
    guard.force_flush().expect("flush");

    let finished = spans.get_finished_spans().expect("spans");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].name, "reserve");
    let printed = String::from_utf8(console.0.lock().expect("buffer").clone()).expect("utf-8");
    assert!(
        printed.contains("reserve"),
        "the console exporter still gets the span: {printed}"
    );

    let collected = metrics.get_finished_metrics().expect("metrics");
    let last = collected.last().expect("one collection");
    let service = last
        .resource()
        .get(&opentelemetry::Key::new("service.name"))
        .expect("service.name");
    assert_eq!(service.as_str(), "inventory");
    let names: Vec<&str> = last
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| metric.name())
        .collect();
    assert!(names.contains(&"items.reserved"), "{names:?}");
    assert!(guard.shutdown().errors.is_empty());
}
