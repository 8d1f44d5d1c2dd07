//! End to end: the OpenTelemetry SDK's own OTLP exporters against the fake collector.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{
    MetricExporter, SpanExporter, WithExportConfig as _, WithHttpConfig as _,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoSpanKind;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter as _};
use tracewire_testing::{FakeCollector, TelemetryCapture};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(10);

/// A capture holding one server span and one histogram point.
fn recorded() -> TelemetryCapture {
    let capture = TelemetryCapture::new();
    let tracer = capture.tracer_provider().tracer("e2e");
    tracer
        .span_builder("GET /users/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.response.status_code", 200_i64)])
        .start(&tracer);
    capture
        .meter_provider()
        .meter("e2e")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .record(0.3, &[KeyValue::new("http.route", "/users/{id}")]);
    capture
}

/// Exports the capture's spans and metrics with `spans` and `metrics`, then checks that the
/// collector decoded them intact.
async fn export_and_check(
    collector: &FakeCollector,
    spans: SpanExporter,
    metrics: MetricExporter,
) -> TestResult {
    let capture = recorded();
    spans.export(capture.spans().as_slice().to_vec()).await?;
    let collected = capture.metrics();
    metrics
        .export(collected.resource_metrics().ok_or("no metrics collected")?)
        .await?;

    let received = collector.wait_for_spans(1, WAIT).await;
    let span = received.first().ok_or("no span received")?;
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, ProtoSpanKind::Server as i32);
    let status = span
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(status, Some(any_value::Value::IntValue(200)));

    let metric = collector
        .wait_for_metric("http.server.request.duration", WAIT)
        .await
        .ok_or("no metric received")?;
    assert_eq!(metric.unit, "s");
    let Some(metric::Data::Histogram(histogram)) = metric.data else {
        return Err("not a histogram".into());
    };
    assert_eq!(histogram.data_points[0].explicit_bounds, [0.1, 1.0]);
    assert_eq!(histogram.data_points[0].count, 1);
    assert_eq!(collector.requests(), 2);
    Ok(())
}

#[tokio::test]
async fn grpc_exporters_reach_the_collector() -> TestResult {
    let collector = FakeCollector::start().await?;
    let spans = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(collector.traces_endpoint())
        .build()?;
    let metrics = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(collector.metrics_endpoint())
        .build()?;
    export_and_check(&collector, spans, metrics).await
}

#[tokio::test]
async fn http_protobuf_exporters_reach_the_collector() -> TestResult {
    let collector = FakeCollector::start_http().await?;
    let headers = HashMap::from([("x-api-key".to_owned(), "secret".to_owned())]);
    let spans = SpanExporter::builder()
        .with_http()
        .with_endpoint(collector.traces_endpoint())
        .with_headers(headers.clone())
        .build()?;
    let metrics = MetricExporter::builder()
        .with_http()
        .with_endpoint(collector.metrics_endpoint())
        .with_headers(headers)
        .build()?;
    export_and_check(&collector, spans, metrics).await?;
    let last = collector.last_headers().ok_or("no headers recorded")?;
    assert_eq!(
        last.get("x-api-key").map(|value| value.as_bytes()),
        Some(&b"secret"[..])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batching_tracer_provider_exports_over_grpc() -> TestResult {
    let collector = FakeCollector::start().await?;
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(collector.endpoint())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("e2e-service").build())
        .with_batch_exporter(exporter)
        .build();
    provider.tracer("e2e").in_span("work", |_cx| {});
    // The batch processor blocks its caller until its own thread has exported; keep that off
    // the runtime's workers, which drive the gRPC connection.
    let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await?;
    flushed?;

    let spans = collector.wait_for_spans(1, WAIT).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "work");
    assert_eq!(collector.service_names(), ["e2e-service"]);
    Ok(())
}
