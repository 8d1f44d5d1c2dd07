//! End to end through the fake collector, over gRPC and HTTP, with globals off so the tests of
//! this binary can run in parallel.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracewire_init::{EnvSource, TelemetryGuard};
use tracewire_testing::FakeCollector;

mod support;

use support::{TestResult, WAIT, builder, check_collector, emit, init, shutdown, vars};

/// An OTLP/gRPC endpoint on loopback where nothing listens.
fn dead_endpoint() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(format!(
        "http://127.0.0.1:{}",
        listener.local_addr()?.port()
    ))
}

/// Settings that make a dead endpoint fail fast and often: a small queue and short batches.
fn dead_endpoint_vars(endpoint: &str) -> Vec<(String, String)> {
    vars(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "256"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
}

/// Ends `count` spans through the guard's subscriber, off the async runtime.
async fn end_spans(guard: &TelemetryGuard, count: u64) -> TestResult {
    let dispatch = guard.dispatch().ok_or("no dispatch")?.clone();
    tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..count {
                let _span = tracing::info_span!("operation", i).entered();
            }
        });
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_signal_over_grpc_with_headers() -> TestResult {
    let collector = FakeCollector::start().await?;
    let guard = init(vars(&[
        ("OTEL_SERVICE_NAME", "e2e-service"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=se%2Ccret,x-team=core",
        ),
    ]))?;
    assert!(guard.warnings().is_empty(), "{:?}", guard.warnings());
    let trace_id = emit(&guard)?;
    let report = shutdown(guard).await?;
    assert!(report.errors.is_empty(), "{report}");
    assert_eq!(report.spans.exported, 1, "{report}");
    check_collector(&collector, &trace_id).await?;
    let headers = collector.last_headers().ok_or("no headers")?;
    assert_eq!(
        headers.get("x-api-key").map(|v| v.as_bytes()),
        Some(&b"se,cret"[..])
    );
    assert_eq!(
        headers.get("x-team").map(|v| v.as_bytes()),
        Some(&b"core"[..])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_signal_over_http_protobuf() -> TestResult {
    let collector = FakeCollector::start_http().await?;
    let guard = init(vars(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=e2e-service,team=core",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken"),
    ]))?;
    let trace_id = emit(&guard)?;
    let report = shutdown(guard).await?;
    assert!(report.is_clean(), "{report}");
    check_collector(&collector, &trace_id).await?;
    let headers = collector.last_headers().ok_or("no headers")?;
    assert_eq!(
        headers.get("authorization").map(|v| v.as_bytes()),
        Some(&b"Bearer t0ken"[..])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_everything_queued() -> TestResult {
    let collector = FakeCollector::start().await?;
    // A schedule delay far beyond the test: only the shutdown flush can export these.
    let guard = init(vars(&[
        ("OTEL_SERVICE_NAME", "e2e-service"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]))?;
    let dispatch = guard.dispatch().ok_or("no dispatch")?.clone();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..300 {
            let _span = tracing::info_span!("queued", i).entered();
        }
    });
    assert_eq!(collector.spans().len(), 0);
    assert_eq!(guard.span_counts().queued, 300);
    let report = shutdown(guard).await?;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.spans.exported, 300);
    assert_eq!(collector.wait_for_spans(300, WAIT).await.len(), 300);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_never_blocks_and_the_queue_bound_holds() -> TestResult {
    let guard = init(dead_endpoint_vars(&dead_endpoint()?))?;
    end_spans(&guard, 10_000).await?;
    let during = guard.span_counts();
    assert!(during.queued <= 256, "{during:?}");
    assert!(during.dropped > 0, "{during:?}");
    let report = shutdown(guard).await?;
    let spans = report.spans;
    assert_eq!(spans.exported, 0, "{report}");
    assert!(spans.failed > 0, "{report}");
    assert_eq!(
        spans.exported + spans.failed + spans.dropped + spans.queued,
        10_000,
        "{report}"
    );
    assert!(!report.is_clean());
    Ok(())
}

/// A shutdown that stops waiting while a batch is being exported leaves that export to finish in
/// the background (stopping the export runtime under it would panic the SDK's worker) and still
/// accounts for every span: the abandoned batch counts as never exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_that_gives_up_still_accounts_for_every_span() -> TestResult {
    let guard = builder(dead_endpoint_vars(&dead_endpoint()?))
        .shutdown_timeout(Duration::from_millis(10))
        .init()?;
    end_spans(&guard, 1_000).await?;
    let report = shutdown(guard).await?;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.starts_with("traces: gave up")),
        "{report}"
    );
    let spans = report.spans;
    assert_eq!(
        spans.exported + spans.failed + spans.dropped + spans.queued,
        1_000,
        "{report}"
    );
    assert!(
        spans.queued > 0,
        "the batch in flight is never exported: {report}"
    );
    Ok(())
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn console_exporters_print_one_compact_line_per_item() -> TestResult {
    let buffer = Buffer::default();
    let guard = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_LOGS_EXPORTER", "console"),
            ("OTEL_METRICS_EXPORTER", "console"),
        ]))
        .install_globals(false)
        .fmt_layer(false)
        .console_writer(buffer.clone())
        .init()?;
    let trace_id = emit(&guard)?;
    let report = guard.shutdown();
    assert!(report.is_clean(), "{report}");
    let output = String::from_utf8(
        buffer
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )?;
    let short = &trace_id[..8];
    let span_line = output
        .lines()
        .find(|l| l.starts_with("span "))
        .ok_or("no span line")?;
    assert!(
        span_line.starts_with(&format!("span {short} checkout internal ")),
        "{output}"
    );
    assert!(span_line.ends_with("ms unset"), "{output}");
    assert!(
        output.contains(&format!("log {short} INFO order placed")),
        "{output}"
    );
    assert!(
        output.contains("metric orders.placed [] sum points=1"),
        "{output}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_disabled_exports_nothing_but_keeps_propagation() -> TestResult {
    let collector = FakeCollector::start().await?;
    let guard = init(vars(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
        ("OTEL_PROPAGATORS", "b3"),
    ]))?;
    assert!(guard.tracer_provider().is_none());
    assert!(guard.meter_provider().is_none());
    assert!(guard.logger_provider().is_none());
    assert_eq!(guard.propagator().fields(), ["b3"]);
    let dispatch = guard.dispatch().ok_or("no dispatch")?.clone();
    tracing::dispatcher::with_default(&dispatch, || {
        let _span = tracing::info_span!("ignored").entered();
        tracing::info!("ignored too");
    });
    let report = shutdown(guard).await?;
    assert!(report.is_clean(), "{report}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(collector.requests(), 0);
    Ok(())
}
