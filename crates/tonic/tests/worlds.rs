//! The two span worlds (`tracing` with the OpenTelemetry bridge, OpenTelemetry only) and the
//! `OTEL_SEMCONV_STABILITY_OPT_IN` modes, set through the builder.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tracewire_core::semconv::stability::StabilityMode;
use tracewire_testing::TelemetryCapture;

#[tokio::test]
async fn tracing_world_nests_handler_events_and_spans() {
    let capture = TelemetryCapture::new();
    // Current-thread runtime: the dispatcher set here is seen by the server and client tasks.
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).target(&target(addr)).build()).await;

    let parent = tracing::info_span!("caller", otel.kind = "internal");
    let reply = {
        use tracing::Instrument;
        client
            .unary(request(Code::Ok))
            .instrument(parent.clone())
            .await
            .unwrap()
            .into_inner()
    };
    drop(parent);

    let spans = capture.spans();
    let caller = spans.single("caller");
    let client_span = only(&spans, UNARY, SpanKind::Client);
    let server = only(&spans, UNARY, SpanKind::Server);
    client_span.assert_child_of(&caller);
    server
        .assert_child_of(&client_span)
        .assert_has_event("handled");
    assert_eq!(reply.message, ids(&server));
    // The spans came through the bridge (its tracer's scope), with typed values.
    assert_eq!(
        server.data().instrumentation_scope.name(),
        "tracewire-testing"
    );
    server
        .assert_attr_i64("server.port", i64::from(addr.port()))
        .assert_attr_str("rpc.status_code", "OK");
}

#[tokio::test]
async fn tracing_world_runs_the_response_stream_inside_the_server_span() {
    let capture = TelemetryCapture::new();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).build()).await;

    let request = pb::EchoRequest {
        count: 4,
        ..Default::default()
    };
    let stream = client.server_stream(request).await.unwrap().into_inner();
    let replies: Vec<_> = stream.map(|reply| reply.unwrap().message).collect().await;

    let spans = wait_for(&capture, SERVER_STREAM, SpanKind::Server).await;
    let server = only(&spans, SERVER_STREAM, SpanKind::Server);
    server.assert_attr_str("rpc.status_code", "OK");
    // Every message, read ahead or not, was produced inside the span: its ids and its event.
    assert_eq!(replies, vec![ids(&server); 4]);
    let streamed = server
        .data()
        .events
        .iter()
        .filter(|event| event.name == "streamed")
        .count();
    assert_eq!(streamed, 4);
}

#[tokio::test]
async fn tracing_world_with_a_filter_hiding_our_spans_still_propagates() {
    let capture = TelemetryCapture::new();
    let _dispatch = tracing::dispatcher::set_default(
        &capture.tracing_dispatch_with_filter(tracing::level_filters::LevelFilter::WARN),
    );
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).build()).await;
    let reply = client.unary(request(Code::Ok)).await.unwrap().into_inner();

    let spans = capture.spans();
    let server = only(&spans, UNARY, SpanKind::Server);
    server.assert_child_of(&only(&spans, UNARY, SpanKind::Client));
    assert_eq!(reply.message, ids(&server));
}

#[tokio::test]
async fn dup_mode_emits_old_and_new_names() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).stability(StabilityMode::Dup).build()).await;
    let mut client = client(
        addr,
        client_layer(&capture).stability(StabilityMode::Dup).build(),
    )
    .await;
    client.unary(request(Code::NotFound)).await.unwrap_err();

    let spans = capture.spans();
    for kind in [SpanKind::Server, SpanKind::Client] {
        only(&spans, UNARY, kind)
            .assert_attr_str("rpc.system.name", "grpc")
            .assert_attr_str("rpc.system", "grpc")
            .assert_attr_str("rpc.method", UNARY)
            .assert_attr_str("rpc.service", "tracewire.test.v1.Echo")
            .assert_attr_str("rpc.status_code", "NOT_FOUND")
            .assert_attr_i64("rpc.grpc.status_code", 5);
    }
    capture
        .metrics()
        .histogram_f64("rpc.server.call.duration")
        .point_with(&[
            KeyValue::new("rpc.system.name", "grpc"),
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.method", UNARY),
            KeyValue::new("rpc.service", "tracewire.test.v1.Echo"),
            KeyValue::new("rpc.status_code", "NOT_FOUND"),
            KeyValue::new("rpc.grpc.status_code", 5_i64),
        ]);
}

#[tokio::test]
async fn old_mode_emits_only_old_names() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).stability(StabilityMode::Old).build()).await;
    let mut client = client(
        addr,
        client_layer(&capture).stability(StabilityMode::Old).build(),
    )
    .await;
    client.unary(request(Code::Internal)).await.unwrap_err();

    let spans = capture.spans();
    for kind in [SpanKind::Server, SpanKind::Client] {
        only(&spans, UNARY, kind)
            .assert_attr_str("rpc.system", "grpc")
            .assert_attr_str("rpc.method", "Unary")
            .assert_attr_str("rpc.service", "tracewire.test.v1.Echo")
            .assert_attr_i64("rpc.grpc.status_code", 13)
            .assert_attr_str("error.type", "INTERNAL")
            .assert_no_attr("rpc.system.name")
            .assert_no_attr("rpc.status_code");
    }
    capture
        .metrics()
        .histogram_f64("rpc.client.call.duration")
        .assert_attr_keys(&[
            "rpc.system",
            "rpc.method",
            "rpc.service",
            "rpc.grpc.status_code",
            "error.type",
        ]);
}
