//! Propagation-only interceptors over loopback.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use opentelemetry::trace::SpanKind;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Server};
use tracewire_core::instrument::{Instrumentation, SpanStart};
use tracewire_testing::TelemetryCapture;
use tracewire_tonic::{ExtractContextInterceptor, InjectContextInterceptor};

#[tokio::test]
async fn interceptors_carry_the_context_to_the_handler() {
    let mut client = intercepted_echo().await;

    let capture = TelemetryCapture::new();
    let instrumentation = Instrumentation::builder("test")
        .tracer_provider(capture.tracer_provider())
        .build();
    let outer = instrumentation.start(SpanStart::new(SpanKind::Client, "caller"));
    let reply = outer
        .instrument(client.unary(pb::EchoRequest::default()))
        .await
        .unwrap()
        .into_inner();
    outer.end();

    let spans = capture.spans();
    let caller = spans.single("caller");
    assert_eq!(reply.message, format!("remote:{}", ids(&caller)));
}

#[tokio::test]
async fn garbage_metadata_yields_an_empty_remote_context() {
    let mut client = intercepted_echo().await;
    let mut request = tonic::Request::new(pb::EchoRequest::default());
    // No current span, so nothing is injected; the invalid header parses as no parent.
    request
        .metadata_mut()
        .insert("traceparent", "00-garbage".parse().unwrap());
    let reply = client.unary(request).await.unwrap().into_inner();
    assert_eq!(
        reply.message,
        "remote:00000000000000000000000000000000-0000000000000000"
    );
}

/// An echo server behind the extracting interceptor, and a client behind the injecting one.
async fn intercepted_echo()
-> pb::echo_client::EchoClient<InterceptedService<Channel, InjectContextInterceptor>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = pb::echo_server::EchoServer::with_interceptor(
        EchoService,
        ExtractContextInterceptor::new().propagator(propagator()),
    );
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    pb::echo_client::EchoClient::with_interceptor(
        channel(addr).await,
        InjectContextInterceptor::new().propagator(propagator()),
    )
}
