//! Peers that break the protocol: statuses in the headers, in a non-200 HTTP status, or missing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::convert::Infallible;
use std::future::{Ready, poll_fn};
use std::pin::Pin;

use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body as _;
use opentelemetry::trace::SpanKind;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceExt, service_fn};
use tracewire_testing::TelemetryCapture;
use tracewire_tonic::{ClientLayer, ResponseBody, ServerLayer};

const PATH: &str = "/tracewire.test.v1.Echo/Unary";

type Reply = Ready<Result<Response<Body>, Infallible>>;
type Peer = ServiceFn<Box<dyn Fn(Request<Body>) -> Reply + Send + Sync>>;

/// Calls a peer answering `status`, `headers` and a body that ends with `trailers` (or without
/// any) through `layer`, and reads the whole body.
async fn exchange<L>(
    layer: L,
    status: StatusCode,
    headers: &[(&str, &str)],
    trailers: Option<&[(&str, &str)]>,
) where
    L: Layer<Peer>,
    L::Service: Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible>,
{
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let trailers: Option<HeaderMap> = trailers.map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    });
    let peer: Box<dyn Fn(Request<Body>) -> Reply + Send + Sync> = Box::new(move |_| {
        let body = match trailers.clone() {
            Some(trailers) => Body::new(TrailersOnly(Some(trailers))),
            None => Body::empty(),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        for (name, value) in &headers {
            response.headers_mut().insert(
                name.parse::<http::HeaderName>().unwrap(),
                value.parse().unwrap(),
            );
        }
        std::future::ready(Ok(response))
    });
    let request = Request::builder().uri(PATH).body(Body::empty()).unwrap();
    let response = layer
        .layer(service_fn(peer))
        .oneshot(request)
        .await
        .unwrap();
    let mut body = response.into_body();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        frame.unwrap();
    }
}

/// A body made of trailers only.
struct TrailersOnly(Option<HeaderMap>);

impl http_body::Body for TrailersOnly {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|t| Ok(http_body::Frame::trailers(t))))
    }
}

fn layers(capture: &TelemetryCapture) -> (ServerLayer, ClientLayer) {
    (
        ServerLayer::builder()
            .tracer_provider(capture.tracer_provider())
            .meter_provider(capture.meter_provider())
            .build(),
        ClientLayer::builder()
            .tracer_provider(capture.tracer_provider())
            .meter_provider(capture.meter_provider())
            .build(),
    )
}

#[tokio::test]
async fn missing_grpc_status_is_a_protocol_error_on_both_sides() {
    let capture = TelemetryCapture::new();
    let (server, client) = layers(&capture);
    exchange(server, StatusCode::OK, &[], None).await;
    exchange(client, StatusCode::OK, &[], Some(&[("x-other", "1")])).await;

    let spans = capture.spans();
    assert_eq!(spans.len(), 2);
    for span in spans.iter() {
        span.assert_status_error_with_description("response ended without grpc-status")
            .assert_attr_str("error.type", "_OTHER")
            .assert_no_attr("rpc.status_code");
    }
    let metrics = capture.metrics();
    for name in ["rpc.server.call.duration", "rpc.client.call.duration"] {
        metrics.histogram_f64(name).assert_attr_keys(&[
            "rpc.system.name",
            "rpc.method",
            "error.type",
        ]);
    }
}

#[tokio::test]
async fn trailers_only_and_http_statuses() {
    let capture = TelemetryCapture::new();
    let (server, client) = layers(&capture);
    // Trailers-only: the status is in the headers and the body is empty.
    exchange(server, StatusCode::OK, &[("grpc-status", "5")], None).await;
    // No gRPC status, HTTP 404: gRPC clients infer UNIMPLEMENTED.
    exchange(client.clone(), StatusCode::NOT_FOUND, &[], None).await;
    // An unparseable status reads as UNKNOWN.
    exchange(client, StatusCode::OK, &[], Some(&[("grpc-status", "99")])).await;

    let spans = capture.spans();
    let server = spans.by_kind(SpanKind::Server);
    server[0]
        .assert_attr_str("rpc.status_code", "NOT_FOUND")
        .assert_status_unset();
    let client = spans.by_kind(SpanKind::Client);
    client[0]
        .assert_attr_str("rpc.status_code", "UNIMPLEMENTED")
        .assert_attr_str("error.type", "UNIMPLEMENTED");
    client[1]
        .assert_attr_str("rpc.status_code", "UNKNOWN")
        .assert_attr_str("error.type", "UNKNOWN");
}
