//! The test service, a real server on 127.0.0.1:0 and instrumented clients.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use opentelemetry::trace::SpanKind;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};
use tower::ServiceBuilder;
use tracewire_core::context::current_ids;
use tracewire_core::propagation::{Propagator, TraceContextPropagator};
use tracewire_testing::{SpanView, Spans, TelemetryCapture};
use tracewire_tonic::{ClientLayer, ClientService, ServerLayer};

pub mod pb {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    include!("../generated/tracewire.test.v1.rs");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

pub const UNARY: &str = "tracewire.test.v1.Echo/Unary";
pub const SERVER_STREAM: &str = "tracewire.test.v1.Echo/ServerStream";
pub const CLIENT_STREAM: &str = "tracewire.test.v1.Echo/ClientStream";
pub const BIDI_STREAM: &str = "tracewire.test.v1.Echo/BidiStream";

/// The ids of the span current where handler code runs, as `trace_id-span_id`.
fn current() -> String {
    current_ids()
        .map(|ids| format!("{}-{}", ids.trace_id, ids.span_id))
        .unwrap_or_default()
}

/// The ids of the caller's context stored by `ExtractContextInterceptor`, if any.
fn remote<T>(request: &Request<T>) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let remote = request
        .extensions()
        .get::<tracewire_tonic::RemoteContext>()?;
    let span = remote.0.span();
    let cx = span.span_context();
    Some(format!("remote:{}-{}", cx.trace_id(), cx.span_id()))
}

fn status(code: i32) -> Option<Status> {
    (code != 0).then(|| Status::new(Code::from_i32(code), "requested failure"))
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

/// Replies carry the ids of the span current where they were produced.
#[derive(Default)]
pub struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        tracing::info!("handled");
        let remote = remote(&request);
        let request = request.into_inner();
        tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
        if let Some(status) = status(request.code) {
            return Err(status);
        }
        let message = remote.unwrap_or_else(current);
        let mut response = Response::new(EchoReply { message });
        response
            .metadata_mut()
            .insert("x-served-by", "echo-1".parse().unwrap());
        Ok(response)
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for index in 0..request.count {
                if index == request.fail_after
                    && let Some(status) = status(request.code)
                {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
                if tx.send(Ok(())).await.is_err() {
                    return;
                }
            }
        });
        // `map` runs where the response body is polled: the ids show the span is current there.
        let replies = ReceiverStream::new(rx).map(|item| {
            tracing::info!("streamed");
            item.map(|()| EchoReply { message: current() })
        });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut received = 0;
        while let Some(message) = stream.message().await? {
            if let Some(status) = status(message.code) {
                return Err(status);
            }
            received += 1;
        }
        Ok(Response::new(EchoReply {
            message: received.to_string(),
        }))
    }

    type BidiStreamStream = ReplyStream;

    async fn bidi_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let replies = request.into_inner().map(|message| {
            let message = message?;
            match status(message.code) {
                Some(status) => Err(status),
                None => Ok(EchoReply { message: current() }),
            }
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

pub fn propagator() -> Propagator {
    Propagator::new(TraceContextPropagator::new())
}

/// A server layer reporting to `capture`, with an explicit propagator (no globals).
pub fn server_layer(
    capture: &TelemetryCapture,
) -> tracewire_tonic::Builder<tracewire_tonic::ServerOptions> {
    ServerLayer::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(propagator())
}

/// A client layer reporting to `capture`.
pub fn client_layer(
    capture: &TelemetryCapture,
) -> tracewire_tonic::Builder<tracewire_tonic::ClientOptions> {
    ClientLayer::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(propagator())
}

/// Serves the echo service and the health service behind `layer` on 127.0.0.1:0.
pub async fn serve(layer: ServerLayer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<EchoServer<EchoService>>().await;
    let router = Server::builder()
        .layer(layer)
        .add_service(health)
        .add_service(EchoServer::new(EchoService));
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

pub fn target(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(target(addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A generated client over an instrumented channel.
pub async fn client(addr: SocketAddr, layer: ClientLayer) -> EchoClient<ClientService<Channel>> {
    let channel = ServiceBuilder::new()
        .layer(layer)
        .service(channel(addr).await);
    EchoClient::new(channel)
}

pub fn request(code: Code) -> EchoRequest {
    EchoRequest {
        code: code as i32,
        ..EchoRequest::default()
    }
}

/// Waits until a span named `name` of `kind` has ended (server spans end asynchronously after a
/// cancellation).
pub async fn wait_for(capture: &TelemetryCapture, name: &str, kind: SpanKind) -> Spans {
    for _ in 0..500 {
        let spans = capture.spans();
        if spans.named(name).iter().any(|span| span.kind() == kind) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "no {kind:?} span named {name:?}: {}",
        capture.spans().tree()
    );
}

pub fn only<'a>(spans: &'a Spans, name: &str, kind: SpanKind) -> SpanView<'a> {
    let mut found: Vec<_> = spans
        .named(name)
        .into_iter()
        .filter(|span| span.kind() == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{kind:?} spans named {name:?}: {}",
        spans.tree()
    );
    found.remove(0)
}

/// `trace_id-span_id` of a span, to compare with a reply.
pub fn ids(span: &SpanView<'_>) -> String {
    let cx = span.span_context();
    format!("{}-{}", cx.trace_id(), cx.span_id())
}
