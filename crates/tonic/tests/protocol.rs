//! Peers that break the protocol: statuses in the headers, in a non-200 HTTP status, or missing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use tonic::body::Body;
use tonic::codegen::Bytes;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt, service_fn};
use tracewire_testing::TelemetryCapture;
use tracewire_tonic::{ClientLayer, ResponseBody, ServerLayer};

const PATH: &str = "/tracewire.test.v1.Echo/Unary";

type Peer = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

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
    let peer = move |_| {
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
        std::future::ready(Ok::<_, Infallible>(response))
    };
    let request = Request::builder().uri(PATH).body(Body::empty()).unwrap();
    let response = layer
        .layer(BoxCloneSyncService::new(service_fn(peer)))
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
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(self.0.take().map(|t| Ok(http_body::Frame::trailers(t))))
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

/// One step of a [`Scripted`] body.
#[derive(Clone, Copy, Debug)]
enum Step {
    Data(&'static str),
    /// `Pending` once (the waker is woken at once).
    Pending,
    Trailers(&'static str),
    /// A failed frame, as a broken stream gives.
    Error(tonic::Code),
}

/// A body that plays its steps in order; the test shares the queue to see how far it was read.
struct Scripted(Arc<Mutex<VecDeque<Step>>>);

impl http_body::Body for Scripted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let step = self.0.lock().unwrap().pop_front();
        Poll::Ready(match step {
            None => None,
            Some(Step::Data(data)) => Some(Ok(http_body::Frame::data(Bytes::from_static(
                data.as_bytes(),
            )))),
            Some(Step::Trailers(status)) => {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", status.parse().unwrap());
                Some(Ok(http_body::Frame::trailers(trailers)))
            }
            Some(Step::Error(code)) => Some(Err(tonic::Status::new(code, "stream broke"))),
            Some(Step::Pending) => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        })
    }
}

/// What one poll of a body returned.
type Polled<D, E> = Poll<Option<Result<http_body::Frame<D>, E>>>;

/// Calls, through `server`, a peer whose response body plays `steps`; returns the response and
/// the steps the server has not read yet.
async fn scripted(
    server: ServerLayer,
    steps: &[Step],
) -> (Response<ResponseBody<Scripted>>, Arc<Mutex<VecDeque<Step>>>) {
    let queue = Arc::new(Mutex::new(VecDeque::from(steps.to_vec())));
    let peer = {
        let queue = queue.clone();
        service_fn(move |_: Request<Body>| {
            std::future::ready(Ok::<_, Infallible>(Response::new(Scripted(queue.clone()))))
        })
    };
    let request = Request::builder().uri(PATH).body(Body::empty()).unwrap();
    let response = server.layer(peer).oneshot(request).await.unwrap();
    (response, queue)
}

fn poll_body<B: http_body::Body + Unpin>(body: &mut B) -> Polled<B::Data, B::Error> {
    Pin::new(body).poll_frame(&mut Context::from_waker(Waker::noop()))
}

fn data_of<D: bytes::Buf, E>(polled: Polled<D, E>) -> Vec<u8> {
    let Poll::Ready(Some(Ok(frame))) = polled else {
        panic!("expected a data frame");
    };
    let mut data = frame.into_data().ok().expect("a data frame");
    data.copy_to_bytes(data.remaining()).to_vec()
}

#[tokio::test]
async fn the_server_body_reads_ready_frames_ahead_inside_the_span_entry() {
    let capture = TelemetryCapture::new();
    let (server, _) = layers(&capture);
    let steps = [
        Step::Data("ab"),
        Step::Data("cde"),
        Step::Pending,
        Step::Data("f"),
        Step::Trailers("0"),
    ];
    let (response, queue) = scripted(server, &steps).await;
    let mut body = response.into_body();
    let left = || queue.lock().unwrap().len();

    // Read with the handler's future, in the span's entry: a message and the one after it,
    // counted in the size hint, not yet the end.
    assert_eq!(left(), 3);
    assert_eq!(body.size_hint().lower(), 5);
    assert!(!body.is_end_stream());
    // The frames read ahead come out first without touching the inner body.
    assert_eq!(data_of(poll_body(&mut body)), b"ab");
    assert_eq!(body.size_hint().lower(), 3);
    assert_eq!(data_of(poll_body(&mut body)), b"cde");
    assert_eq!(left(), 3);
    // Not ready: nothing is buffered, the inner body saw the consumer's waker.
    assert!(poll_body(&mut body).is_pending());
    // A message read in its own entry brings the frame after it if that is ready: here the
    // trailers, so the call has ended already.
    assert_eq!(data_of(poll_body(&mut body)), b"f");
    assert_eq!(left(), 0);
    capture
        .spans()
        .single(&PATH[1..])
        .assert_attr_str("rpc.status_code", "OK");
    let Poll::Ready(Some(Ok(trailers))) = poll_body(&mut body) else {
        panic!("expected the trailers");
    };
    assert_eq!(trailers.trailers_ref().unwrap()["grpc-status"], "0");
    assert!(matches!(poll_body(&mut body), Poll::Ready(None)));
}

#[tokio::test]
async fn the_server_span_is_current_in_the_inner_services_call() {
    let capture = TelemetryCapture::new();
    let (server, _) = layers(&capture);
    let seen = Arc::new(Mutex::new(None));
    let peer = {
        let seen = seen.clone();
        service_fn(move |_: Request<Body>| {
            // Code in `call` itself, before any future: `tower::service_fn` handlers run here.
            let current = opentelemetry::Context::current();
            *seen.lock().unwrap() = Some(current.span().span_context().span_id());
            let trailers = HeaderMap::from_iter([(
                http::HeaderName::from_static("grpc-status"),
                http::HeaderValue::from_static("0"),
            )]);
            std::future::ready(Ok::<_, Infallible>(Response::new(TrailersOnly(Some(
                trailers,
            )))))
        })
    };
    let request = Request::builder().uri(PATH).body(Body::empty()).unwrap();
    let response = server.layer(peer).oneshot(request).await.unwrap();
    let mut body = response.into_body();
    while let Poll::Ready(Some(frame)) = poll_body(&mut body) {
        frame.unwrap();
    }
    let spans = capture.spans();
    let span = spans.single(&PATH[1..]);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(span.data().span_context.span_id())
    );
}

#[tokio::test]
async fn a_unary_response_is_read_whole_with_the_handlers_future() {
    let capture = TelemetryCapture::new();
    let (server, _) = layers(&capture);
    let (response, queue) = scripted(server, &[Step::Data("reply"), Step::Trailers("5")]).await;
    // Both frames were read in the future's span entry, and the call ended at the trailers.
    assert_eq!(queue.lock().unwrap().len(), 0);
    capture
        .spans()
        .single(&PATH[1..])
        .assert_attr_str("rpc.status_code", "NOT_FOUND");
    let mut body = response.into_body();
    assert_eq!(data_of(poll_body(&mut body)), b"reply");
    assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(frame))) if frame.is_trailers()));
    assert!(matches!(poll_body(&mut body), Poll::Ready(None)));
}

#[tokio::test]
async fn repeated_calls_record_on_one_series_per_method_and_status() {
    let capture = TelemetryCapture::new();
    let (server, _) = layers(&capture);
    for status in ["0", "0", "5", "0"] {
        exchange(
            server.clone(),
            StatusCode::OK,
            &[("grpc-status", status)],
            None,
        )
        .await;
    }
    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("rpc.server.call.duration");
    let point = |status: &'static str| {
        duration
            .point_with(&[
                opentelemetry::KeyValue::new("rpc.system.name", "grpc"),
                opentelemetry::KeyValue::new("rpc.method", &PATH[1..]),
                opentelemetry::KeyValue::new("rpc.status_code", status),
            ])
            .count()
    };
    assert_eq!((point("OK"), point("NOT_FOUND")), (3, 1));
}

#[tokio::test]
async fn an_error_read_ahead_ends_the_call_and_reaches_the_consumer_in_order() {
    let capture = TelemetryCapture::new();
    let (server, _) = layers(&capture);
    let steps = [Step::Data("partial"), Step::Error(tonic::Code::DataLoss)];
    let (response, _) = scripted(server, &steps).await;
    capture
        .spans()
        .single(&PATH[1..])
        .assert_attr_str("rpc.status_code", "DATA_LOSS")
        .assert_attr_str("error.type", "DATA_LOSS")
        .assert_status_error();
    let mut body = response.into_body();
    assert_eq!(data_of(poll_body(&mut body)), b"partial");
    let Poll::Ready(Some(Err(status))) = poll_body(&mut body) else {
        panic!("expected the error after the message");
    };
    assert_eq!(status.code(), tonic::Code::DataLoss);
}
