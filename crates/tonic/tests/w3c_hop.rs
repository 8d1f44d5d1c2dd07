//! W3C Trace Context Level 2 through a gRPC service: a call arrives at a server behind the
//! `ServerLayer`, whose handler calls a downstream server through a `ClientLayer` client. What the
//! downstream server receives in its metadata is compared with what the service received, in
//! both span worlds.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::pb::echo_client::EchoClient;
use common::pb::echo_server::{Echo, EchoServer};
use common::pb::{EchoReply, EchoRequest};
use common::*;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};
use tracewire_testing::TelemetryCapture;
use tracewire_testing::w3c::{hop_cases, service_capture};
use tracewire_tonic::ClientService;

type Replies =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<EchoReply, Status>> + Send + 'static>>;

/// Unary calls answer with the propagation metadata received, one `name: value` line each;
/// unary relays instead call `downstream` and answer with its reply.
struct Hop {
    downstream: Option<EchoClient<ClientService<Channel>>>,
}

#[tonic::async_trait]
impl Echo for Hop {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let message = match &self.downstream {
            Some(downstream) => {
                let reply = downstream.clone().unary(EchoRequest::default()).await?;
                reply.into_inner().message
            }
            None => ["traceparent", "tracestate"]
                .into_iter()
                .flat_map(|name| {
                    request
                        .metadata()
                        .get_all(name)
                        .iter()
                        .map(move |value| format!("{name}: {}\n", value.to_str().unwrap()))
                })
                .collect(),
        };
        Ok(Response::new(EchoReply { message }))
    }

    type ServerStreamStream = Replies;

    async fn server_stream(&self, _: Request<EchoRequest>) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("unary only"))
    }

    async fn client_stream(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("unary only"))
    }

    type BidiStreamStream = Replies;

    async fn bidi_stream(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("unary only"))
    }
}

async fn serve_hop(hop: Hop, layer: Option<tracewire_tonic::ServerLayer>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = EchoServer::new(hop);
    let incoming = TcpListenerStream::new(listener);
    match layer {
        Some(layer) => tokio::spawn(
            Server::builder()
                .layer(layer)
                .add_service(service)
                .serve_with_incoming(incoming),
        ),
        None => tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        ),
    };
    addr
}

async fn run_cases(capture: &TelemetryCapture) {
    let downstream = serve_hop(Hop { downstream: None }, None).await;
    let relay = Hop {
        downstream: Some(client(downstream, client_layer(capture).build()).await),
    };
    let service = serve_hop(relay, Some(server_layer(capture).build())).await;
    let mut caller = EchoClient::new(channel(service).await);
    for case in hop_cases() {
        let mut request = Request::new(EchoRequest::default());
        for (name, value) in case.incoming_headers() {
            request.metadata_mut().append(name, value.parse().unwrap());
        }
        let echo = caller.unary(request).await.unwrap().into_inner().message;
        let sent = |name: &str| -> Vec<String> {
            echo.lines()
                .filter_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
                .map(str::to_owned)
                .collect()
        };
        case.assert_sent(&sent("traceparent"), &sent("tracestate"));
    }
}

#[tokio::test]
async fn opentelemetry_world_sends_on_what_level_2_requires() {
    run_cases(&service_capture()).await;
}

#[tokio::test]
async fn tracing_world_sends_on_what_level_2_requires() {
    let capture = service_capture();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    run_cases(&capture).await;
}
