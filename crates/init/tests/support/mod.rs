//! What the end-to-end test binaries share: initialising with an injected environment, emitting
//! one of each signal, and checking that all of it reached the fake collector.

use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_proto::tonic::common::v1::any_value;
use tracewire_init::{EnvSource, TelemetryGuard};
use tracewire_testing::FakeCollector;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn builder(vars: Vec<(String, String)>) -> tracewire_init::Builder {
    tracewire_init::builder()
        .env(EnvSource::from_pairs(vars))
        .install_globals(false)
        .fmt_layer(false)
}

pub(crate) fn init(
    vars: Vec<(String, String)>,
) -> Result<TelemetryGuard, tracewire_init::InitError> {
    builder(vars).init()
}

pub(crate) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Emits a span with a log event inside it and one counter increment; returns the trace id.
pub(crate) fn emit(guard: &TelemetryGuard) -> Result<String, Box<dyn std::error::Error>> {
    let dispatch = guard.dispatch().ok_or("no dispatch")?;
    let trace_id = tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("checkout", order = 7);
        let _entered = span.enter();
        tracing::info!(items = 3, "order placed");
        tracewire_core::context::current_trace_id()
    })
    .ok_or("no current trace id")?;
    guard
        .meter_provider()
        .ok_or("no meter provider")?
        .meter("e2e")
        .u64_counter("orders.placed")
        .build()
        .add(1, &[]);
    Ok(trace_id.to_string())
}

/// Shuts the guard down off the runtime's workers (the SDK blocks while exporting).
pub(crate) async fn shutdown(
    guard: TelemetryGuard,
) -> Result<tracewire_init::ShutdownReport, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || guard.shutdown()).await
}

pub(crate) async fn check_collector(collector: &FakeCollector, trace_id: &str) -> TestResult {
    let spans = collector.wait_for_spans(1, WAIT).await;
    let span = spans
        .iter()
        .find(|s| s.name == "checkout")
        .ok_or("no checkout span")?;
    assert_eq!(hex(&span.trace_id), trace_id);
    assert_eq!(
        collector.service_names().first().map(String::as_str),
        Some("e2e-service")
    );

    let records = collector.wait_for_log_records(1, WAIT).await;
    let record = records
        .iter()
        .find(|r| {
            matches!(
                r.body.as_ref().and_then(|b| b.value.as_ref()),
                Some(any_value::Value::StringValue(text)) if text == "order placed"
            )
        })
        .ok_or("no log record")?;
    assert_eq!(hex(&record.trace_id), trace_id);
    assert_eq!(record.span_id, span.span_id);

    collector
        .wait_for_metric("orders.placed", WAIT)
        .await
        .ok_or("no orders.placed metric")?;
    collector
        .wait_for_metric("tracewire.exporter.spans.exported", WAIT)
        .await
        .ok_or("no self-telemetry metric")?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
