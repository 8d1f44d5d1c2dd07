//! The global path: subscriber, tracer and meter providers and propagator installed for the
//! process. One test in this binary, because globals can be set once per process.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Tracer as _};
use tracewire_core::instrument::{Instrumentation, SpanStart};
use tracewire_core::propagation::Propagator;
use tracewire_init::{EnvSource, InitError, WarningKind};
use tracewire_testing::FakeCollector;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn init_installs_globals_and_filters_never_hide_propagating_spans() -> TestResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let collector = runtime.block_on(FakeCollector::start())?;
    let guard = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_SERVICE_NAME", "global-service"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint().as_str()),
            ("OTEL_PROPAGATORS", "tracecontext,bogus"),
            // Hides INFO spans from the `fmt` output; must not hide tracewire's spans from
            // the bridge.
            ("RUST_LOG", "warn"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .init()?;
    assert_eq!(guard.warnings().len(), 1);
    assert!(matches!(
        guard.warnings()[0].kind,
        WarningKind::Propagator(_)
    ));
    let mut fields = Propagator::global().fields();
    fields.sort();
    assert_eq!(fields, ["traceparent", "tracestate"]);

    // A second initialisation is refused instead of silently doing nothing.
    let second = tracewire_init::builder()
        .env(EnvSource::from_pairs([("OTEL_SDK_DISABLED", "true")]))
        .init();
    assert!(matches!(second, Err(InitError::SubscriberAlreadySet)));

    // The core's span, through the global providers and the global subscriber.
    let instrumentation = Instrumentation::builder("global-test").build();
    let span = instrumentation.start(
        SpanStart::new(SpanKind::Server, "GET /orders")
            .attribute(KeyValue::new("http.request.method", "GET")),
    );
    span.end();
    // A span on target `tracewire` at INFO reaches the bridge although RUST_LOG says `warn`.
    tracing::info_span!(target: "tracewire", "tracewire-target").in_scope(|| {});
    // An application span at INFO is filtered out everywhere, as RUST_LOG asks.
    tracing::info_span!("hidden-app-span").in_scope(|| {});
    // The global tracer provider.
    opentelemetry::global::tracer("global-test").in_span("global-tracer", |_| {});

    let report = guard.shutdown();
    assert!(report.is_clean(), "{report}");
    let spans = runtime.block_on(collector.wait_for_spans(3, Duration::from_secs(10)));
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["GET /orders", "global-tracer", "tracewire-target"]);
    assert_eq!(collector.service_names(), ["global-service"]);
    Ok(())
}
