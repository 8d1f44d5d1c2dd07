//! End-to-end: an instrumented tonic server and client over loopback.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tokio_stream::StreamExt;
use tonic::Code;
use tracewire_core::metrics::RPC_DURATION_BUCKETS;
use tracewire_core::sampling::{Decision, RuleSampler};
use tracewire_core::semconv::rpc::GrpcCode;
use tracewire_testing::{SpanView, TelemetryCapture};

const SERVER_ERRORS: [Code; 6] = [
    Code::Unknown,
    Code::DeadlineExceeded,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
];

fn assert_ok(span: &SpanView<'_>) {
    span.assert_attr_str("rpc.status_code", "OK")
        .assert_status_unset()
        .assert_no_attr("error.type");
}

#[tokio::test]
async fn unary_ok_spans_metrics_and_propagation() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).target(&target(addr)).build()).await;

    let reply = client.unary(request(Code::Ok)).await.unwrap().into_inner();

    let spans = capture.spans();
    let server = only(&spans, UNARY, SpanKind::Server);
    let client_span = only(&spans, UNARY, SpanKind::Client);
    server.assert_child_of(&client_span);
    assert_eq!(
        reply.message,
        ids(&server),
        "handler runs inside the server span"
    );
    let scope = &server.data().instrumentation_scope;
    assert_eq!(scope.name(), "tracewire-tonic");
    assert_eq!(
        scope.schema_url(),
        Some("https://opentelemetry.io/schemas/1.45.0")
    );
    for span in [&server, &client_span] {
        span.assert_attr_str("rpc.system.name", "grpc")
            .assert_attr_str("rpc.method", UNARY)
            .assert_attr_str("server.address", "127.0.0.1")
            .assert_attr_i64("server.port", i64::from(addr.port()))
            .assert_no_attr("rpc.method_original")
            .assert_no_attr("rpc.system")
            .assert_no_attr("rpc.grpc.status_code");
        assert_ok(span);
    }
    server
        .assert_attr_str("network.peer.address", "127.0.0.1")
        .assert_no_attr("rpc.response.metadata.x-served-by");
    assert!(matches!(
        server.attr("network.peer.port"),
        Some(opentelemetry::Value::I64(port)) if *port > 0
    ));

    let metrics = capture.metrics();
    let server_duration = metrics.histogram_f64("rpc.server.call.duration");
    server_duration
        .assert_unit("s")
        .assert_bounds(&RPC_DURATION_BUCKETS)
        .assert_attr_keys(&["rpc.system.name", "rpc.method", "rpc.status_code"]);
    let point = server_duration.point_with(&[
        KeyValue::new("rpc.system.name", "grpc"),
        KeyValue::new("rpc.method", UNARY),
        KeyValue::new("rpc.status_code", "OK"),
    ]);
    assert_eq!(point.count(), 1);
    assert!((point.sum() - server.duration().as_secs_f64()).abs() < 0.01);
    let client_duration = metrics.histogram_f64("rpc.client.call.duration");
    client_duration
        .assert_unit("s")
        .assert_bounds(&RPC_DURATION_BUCKETS)
        .assert_attr_keys(&[
            "rpc.system.name",
            "rpc.method",
            "rpc.status_code",
            "server.address",
            "server.port",
        ]);
    assert_eq!(
        client_duration
            .point_with(&[
                KeyValue::new("rpc.system.name", "grpc"),
                KeyValue::new("rpc.method", UNARY),
                KeyValue::new("rpc.status_code", "OK"),
                KeyValue::new("server.address", "127.0.0.1"),
                KeyValue::new("server.port", i64::from(addr.port())),
            ])
            .count(),
        1
    );
}

#[tokio::test]
async fn unary_errors_follow_the_client_and_server_rules() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).target(&target(addr)).build()).await;

    for number in 1..=16 {
        let code = Code::from_i32(number);
        let status = client.unary(request(code)).await.unwrap_err();
        assert_eq!(status.code(), code);
    }

    let spans = capture.spans();
    let metrics = capture.metrics();
    let server_duration = metrics.histogram_f64("rpc.server.call.duration");
    for span in spans.named(UNARY) {
        let Some(opentelemetry::Value::String(name)) = span.attr("rpc.status_code") else {
            panic!("no status code on {}", span.name());
        };
        let name = name.as_str().to_owned();
        let code = GrpcCode::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap();
        let server_error = SERVER_ERRORS.contains(&Code::from_i32(code.as_i32()));
        if span.kind() == SpanKind::Client || server_error {
            span.assert_status_error()
                .assert_attr_str("error.type", &name);
        } else {
            span.assert_status_unset().assert_no_attr("error.type");
        }
        if span.kind() == SpanKind::Server {
            let mut attributes = vec![
                KeyValue::new("rpc.system.name", "grpc"),
                KeyValue::new("rpc.method", UNARY),
                KeyValue::new("rpc.status_code", name.clone()),
            ];
            if server_error {
                attributes.push(KeyValue::new("error.type", name.clone()));
            }
            assert_eq!(server_duration.point_with(&attributes).count(), 1, "{name}");
        }
    }
    assert_eq!(spans.by_kind(SpanKind::Server).len(), 16);
    assert_eq!(spans.by_kind(SpanKind::Client).len(), 16);
}

#[tokio::test]
async fn server_stream_failing_midway_reads_the_trailers_and_covers_the_stream() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).build()).await;

    let request = pb::EchoRequest {
        code: Code::Internal as i32,
        count: 5,
        fail_after: 3,
        delay_ms: 60,
        ..Default::default()
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    let mut replies = Vec::new();
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(reply) => replies.push(reply.message),
            Err(status) => break status,
        }
    };
    assert_eq!((replies.len(), error.code()), (3, Code::Internal));

    let spans = wait_for(&capture, SERVER_STREAM, SpanKind::Server).await;
    let server = only(&spans, SERVER_STREAM, SpanKind::Server);
    let client_span = only(&spans, SERVER_STREAM, SpanKind::Client);
    server.assert_child_of(&client_span);
    for span in [&server, &client_span] {
        span.assert_attr_str("rpc.status_code", "INTERNAL")
            .assert_attr_str("error.type", "INTERNAL")
            .assert_status_error();
        // The response head arrived at once; the span lasts until the trailers (3 x 60 ms).
        assert!(
            span.duration() >= Duration::from_millis(180),
            "{:?}",
            span.duration()
        );
    }
    for reply in replies {
        assert_eq!(
            reply,
            ids(&server),
            "the stream is polled inside the server span"
        );
    }
    // No `server.address` without a target or an origin: the channel's URI is added below us.
    client_span.assert_no_attr("server.address");
}

#[tokio::test]
async fn client_streaming_and_bidirectional_calls() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).build()).await;

    let messages = tokio_stream::iter(vec![pb::EchoRequest::default(); 3]);
    let reply = client.client_stream(messages).await.unwrap().into_inner();
    assert_eq!(reply.message, "3");

    let messages = tokio_stream::iter(vec![pb::EchoRequest::default(); 3]);
    let replies: Vec<_> = client
        .bidi_stream(messages)
        .await
        .unwrap()
        .into_inner()
        .map(|reply| reply.unwrap().message)
        .collect()
        .await;

    let failing = tokio_stream::iter(vec![pb::EchoRequest::default(), request(Code::Aborted)]);
    let status = client.client_stream(failing).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);

    let spans = wait_for(&capture, BIDI_STREAM, SpanKind::Server).await;
    let client_streams = spans.named(CLIENT_STREAM);
    assert_eq!(client_streams.len(), 4);
    let bidi_server = only(&spans, BIDI_STREAM, SpanKind::Server);
    let bidi_client = only(&spans, BIDI_STREAM, SpanKind::Client);
    bidi_server.assert_child_of(&bidi_client);
    assert_ok(&bidi_server);
    assert_ok(&bidi_client);
    assert_eq!(replies, vec![ids(&bidi_server); 3]);
    let aborted: Vec<_> = client_streams
        .iter()
        .filter(|span| {
            span.attr("rpc.status_code")
                .is_some_and(|v| v.as_str() == "ABORTED")
        })
        .collect();
    assert_eq!(aborted.len(), 2);
    for span in aborted {
        match span.kind() {
            SpanKind::Server => span.assert_status_unset().assert_no_attr("error.type"),
            _ => span
                .assert_status_error()
                .assert_attr_str("error.type", "ABORTED"),
        };
    }
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_call_on_both_sides() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = client(addr, client_layer(&capture).build()).await;

    let request = pb::EchoRequest {
        count: 1000,
        delay_ms: 20,
        ..Default::default()
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    let spans = capture.spans();
    only(&spans, SERVER_STREAM, SpanKind::Client)
        .assert_attr_str("rpc.status_code", "CANCELLED")
        .assert_attr_str("error.type", "CANCELLED")
        .assert_status_error();
    let spans = wait_for(&capture, SERVER_STREAM, SpanKind::Server).await;
    let server = only(&spans, SERVER_STREAM, SpanKind::Server);
    server
        .assert_attr_str("rpc.status_code", "CANCELLED")
        .assert_status_unset()
        .assert_no_attr("error.type");
    assert!(server.duration() < Duration::from_secs(10));
}

#[tokio::test]
async fn client_deadline_is_deadline_exceeded() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    // A client-side timeout only: the server is not told, and sees a cancellation.
    let channel = tonic::transport::Endpoint::from_shared(target(addr))
        .unwrap()
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let channel = tower::ServiceBuilder::new()
        .layer(client_layer(&capture).build())
        .service(channel);
    let mut client = pb::echo_client::EchoClient::new(channel);
    let slow = pb::EchoRequest {
        delay_ms: 3_000,
        ..Default::default()
    };
    client.unary(slow).await.unwrap_err();

    let spans = wait_for(&capture, UNARY, SpanKind::Server).await;
    only(&spans, UNARY, SpanKind::Client)
        .assert_attr_str("rpc.status_code", "DEADLINE_EXCEEDED")
        .assert_attr_str("error.type", "DEADLINE_EXCEEDED")
        .assert_status_error();
    only(&spans, UNARY, SpanKind::Server)
        .assert_attr_str("rpc.status_code", "CANCELLED")
        .assert_status_unset();
}

#[tokio::test]
async fn server_deadline_is_deadline_exceeded() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    // A raw HTTP/2 client sends `grpc-timeout` but does not enforce it: the server's timer fires.
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let mut client = pb::echo_client::EchoClient::with_origin(http2, target(addr).parse().unwrap());
    let mut slow = tonic::Request::new(pb::EchoRequest {
        delay_ms: 3_000,
        ..Default::default()
    });
    slow.set_timeout(Duration::from_millis(100));
    let status = client.unary(slow).await.unwrap_err();
    // tonic answers an expired deadline with CANCELLED; the server span says what happened.
    assert_eq!(status.code(), Code::Cancelled);

    let spans = wait_for(&capture, UNARY, SpanKind::Server).await;
    only(&spans, UNARY, SpanKind::Server)
        .assert_attr_str("rpc.status_code", "DEADLINE_EXCEEDED")
        .assert_attr_str("error.type", "DEADLINE_EXCEEDED")
        .assert_status_error();
}

#[tokio::test]
async fn unknown_methods() {
    let capture = TelemetryCapture::new();
    let strict = serve(
        server_layer(&capture)
            .known_services([pb::echo_server::SERVICE_NAME])
            .build(),
    )
    .await;
    let lenient_capture = TelemetryCapture::new();
    let lenient = serve(server_layer(&lenient_capture).build()).await;

    for (addr, capture) in [(strict, &capture), (lenient, &lenient_capture)] {
        let mut grpc = tonic::client::Grpc::new(
            tower::ServiceBuilder::new()
                .layer(client_layer(capture).build())
                .service(channel(addr).await),
        );
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<pb::EchoRequest, pb::EchoReply>::default();
        let path = "/tracewire.test.v1.Other/Missing".parse().unwrap();
        let status = grpc
            .unary(tonic::Request::new(pb::EchoRequest::default()), path, codec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }

    // With a list of known services, a made-up path is `_OTHER` and the span is named `grpc`.
    let spans = capture.spans();
    only(&spans, "grpc", SpanKind::Server)
        .assert_attr_str("rpc.method", "_OTHER")
        .assert_attr_str("rpc.method_original", "tracewire.test.v1.Other/Missing")
        .assert_attr_str("rpc.status_code", "UNIMPLEMENTED")
        .assert_attr_str("error.type", "UNIMPLEMENTED")
        .assert_status_error();
    // The client chose the path itself: it is the method it called.
    only(&spans, "tracewire.test.v1.Other/Missing", SpanKind::Client)
        .assert_attr_str("rpc.method", "tracewire.test.v1.Other/Missing")
        .assert_attr_str("error.type", "UNIMPLEMENTED");
    capture
        .metrics()
        .histogram_f64("rpc.server.call.duration")
        .point_with(&[
            KeyValue::new("rpc.system.name", "grpc"),
            KeyValue::new("rpc.method", "_OTHER"),
            KeyValue::new("rpc.status_code", "UNIMPLEMENTED"),
            KeyValue::new("error.type", "UNIMPLEMENTED"),
        ]);
    // Without a list (the default), every well-formed path is taken as recognised.
    let spans = lenient_capture.spans();
    only(&spans, "tracewire.test.v1.Other/Missing", SpanKind::Server)
        .assert_attr_str("rpc.method", "tracewire.test.v1.Other/Missing")
        .assert_no_attr("rpc.method_original");
}

#[tokio::test]
async fn health_checks_are_not_traced_by_default() {
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let channel = tower::ServiceBuilder::new()
        .layer(client_layer(&capture).build())
        .service(channel(addr).await);
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: pb::echo_server::SERVICE_NAME.to_owned(),
    };
    health.check(request).await.unwrap();

    // A traced call afterwards proves the pipeline works.
    let mut client = client(addr, client_layer(&capture).build()).await;
    client.unary(request_ok()).await.unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "{}", spans.tree());
    assert!(spans.iter().all(|span| span.name() == UNARY));
    let metrics = capture.metrics();
    for name in ["rpc.server.call.duration", "rpc.client.call.duration"] {
        for point in metrics.histogram_f64(name).points() {
            assert_eq!(point.attr("rpc.method").unwrap().as_str(), UNARY);
        }
    }
}

fn request_ok() -> pb::EchoRequest {
    request(Code::Ok)
}

#[tokio::test]
async fn filtered_calls_still_propagate() {
    let capture = TelemetryCapture::new();
    // The server traces nothing, the client traces everything.
    let addr = serve(server_layer(&capture).filter(|_| false).build()).await;
    let mut traced = client(addr, client_layer(&capture).build()).await;
    let reply = traced.unary(request_ok()).await.unwrap().into_inner();

    let spans = capture.spans();
    assert_eq!(spans.len(), 1);
    let client_span = only(&spans, UNARY, SpanKind::Client);
    // The handler ran in the caller's context even though the server made no span.
    assert_eq!(reply.message, ids(&client_span));

    // The client traces nothing: the server span is parented on the caller's current span.
    let capture = TelemetryCapture::new();
    let addr = serve(server_layer(&capture).build()).await;
    let mut untraced = client(addr, client_layer(&capture).filter(|_| false).build()).await;
    let provider = capture.tracer_provider().clone();
    let instrumentation = tracewire_core::instrument::Instrumentation::builder("test")
        .tracer_provider(&provider)
        .build();
    let outer = instrumentation.start(tracewire_core::instrument::SpanStart::new(
        SpanKind::Internal,
        "outer",
    ));
    outer
        .instrument(untraced.unary(request_ok()))
        .await
        .unwrap();
    outer.end();
    let spans = capture.spans();
    assert_eq!(spans.by_kind(SpanKind::Client).len(), 0);
    only(&spans, UNARY, SpanKind::Server).assert_child_of(&spans.single("outer"));
}

#[tokio::test]
async fn metadata_capture_never_records_credentials() {
    let capture = TelemetryCapture::new();
    let keys = ["x-tenant", "Authorization", "cookie"];
    let addr = serve(
        server_layer(&capture)
            .request_metadata(keys)
            .response_metadata(["x-served-by"])
            .build(),
    )
    .await;
    let mut client = client(
        addr,
        client_layer(&capture)
            .request_metadata(keys)
            .response_metadata(["x-served-by"])
            .build(),
    )
    .await;
    let mut request = tonic::Request::new(request_ok());
    request
        .metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    request
        .metadata_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    request
        .metadata_mut()
        .insert("cookie", "s=1".parse().unwrap());
    client.unary(request).await.unwrap();

    let spans = capture.spans();
    for kind in [SpanKind::Server, SpanKind::Client] {
        let span = only(&spans, UNARY, kind);
        span.assert_attr_str_array("rpc.request.metadata.x-tenant", &["acme"])
            .assert_attr_str_array("rpc.response.metadata.x-served-by", &["echo-1"])
            .assert_no_attr("rpc.request.metadata.authorization")
            .assert_no_attr("rpc.request.metadata.cookie");
        assert!(
            span.data()
                .attributes
                .iter()
                .all(|kv| !kv.value.as_str().contains("secret")),
        );
    }
}

#[tokio::test]
async fn span_name_formatter() {
    let capture = TelemetryCapture::new();
    let addr = serve(
        server_layer(&capture)
            .span_name(|request| format!("rpc {}", request.service_method().unwrap().1))
            .build(),
    )
    .await;
    let mut client = client(addr, client_layer(&capture).build()).await;
    client.unary(request_ok()).await.unwrap();
    capture
        .spans()
        .single("rpc Unary")
        .assert_kind(SpanKind::Server)
        .assert_attr_str("rpc.method", UNARY);
}

#[tokio::test]
async fn a_single_service_can_be_instrumented_alone() {
    use tokio_stream::wrappers::TcpListenerStream;
    use tower::Layer;

    let capture = TelemetryCapture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = server_layer(&capture)
        .build()
        .layer(pb::echo_server::EchoServer::new(EchoService));
    let (_, health) = tonic_health::server::health_reporter();
    let router = tonic::transport::Server::builder()
        .add_service(echo)
        .add_service(health);
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));

    let mut client = client(addr, client_layer(&capture).build()).await;
    client.unary(request_ok()).await.unwrap();
    let spans = capture.spans();
    only(&spans, UNARY, SpanKind::Server).assert_child_of(&only(&spans, UNARY, SpanKind::Client));
}

#[tokio::test]
async fn sampling_rules_see_the_rpc_method_at_span_start() {
    let sampler = RuleSampler::parse(
        "kind=server, rpc.method=tracewire.test.v1.Echo/Unary => drop; * => keep",
        Decision::Drop,
    )
    .expect("valid rules");
    let capture = TelemetryCapture::with_sampler(sampler);
    let addr = serve(server_layer(&capture).build()).await;
    let mut client = pb::echo_client::EchoClient::new(channel(addr).await);
    client.unary(request(Code::Ok)).await.unwrap();
    let mut replies = client
        .server_stream(pb::EchoRequest {
            count: 1,
            ..pb::EchoRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replies.message().await.unwrap().is_some());
    assert!(replies.message().await.unwrap().is_none());
    let spans = wait_for(&capture, SERVER_STREAM, SpanKind::Server).await;
    assert!(spans.find(UNARY).is_none(), "{}", spans.tree());
    only(&spans, SERVER_STREAM, SpanKind::Server).assert_attr_str("rpc.method", SERVER_STREAM);
}
