//! Unary gRPC call overhead, in process: a generated tonic client calling a tonic server service
//! directly (no socket), so the floor is tonic's own encode / route / decode work.
//!
//! - `bare`: no instrumentation (the floor);
//! - `tracewire/*`: our `ClientLayer` + `ServerLayer`, OpenTelemetry-only world (sampled with
//!   metrics, sampled spans only, sampled out) and `tracing` world (sampled, through the bridge);
//! - `anchor/*`: `tonic-tracing-opentelemetry` client + server layers in the `tracing` world,
//!   which is the only world it supports;
//! - `direct/tracing-world/sampled`: the same spans written by hand (see [`direct_client`] and
//!   [`direct_server`]), the least any instrumentation of this call pays in that world.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench tonic -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, unreachable_pub)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Builder;
use tonic::body::Body;
use tower::{Layer, ServiceExt as _};
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};
use tracewire_core::instrument::SpanBackend;
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, TraceContextPropagator, install_global,
};
use tracewire_tonic::{ClientLayer, ServerLayer};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

mod pb {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    include!("../../tonic/tests/generated/tracewire.test.v1.rs");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

struct Service;

#[tonic::async_trait]
impl Echo for Service {
    async fn unary(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoReply>, tonic::Status> {
        Ok(tonic::Response::new(EchoReply {
            message: request.into_inner().message,
        }))
    }

    type ServerStreamStream = tokio_stream_shim::Empty;

    async fn server_stream(
        &self,
        _: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<Self::ServerStreamStream>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }

    async fn client_stream(
        &self,
        _: tonic::Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<tonic::Response<EchoReply>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }

    type BidiStreamStream = tokio_stream_shim::Empty;

    async fn bidi_stream(
        &self,
        _: tonic::Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<tonic::Response<Self::BidiStreamStream>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
}

/// The streaming methods are not benchmarked; an empty stream type satisfies the trait.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Empty;

    impl tonic::codegen::tokio_stream::Stream for Empty {
        type Item = Result<super::EchoReply, tonic::Status>;

        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(None)
        }
    }
}

fn request() -> EchoRequest {
    EchoRequest {
        message: "hello".to_owned(),
        ..EchoRequest::default()
    }
}

/// A `tracing` subscriber with the OpenTelemetry bridge on `provider`, enabling every level (the
/// anchor's spans are at TRACE).
fn bridged(provider: &SdkTracerProvider) -> tracing::Dispatch {
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

fn ours(
    tracer: &SdkTracerProvider,
    meter: Option<&SdkMeterProvider>,
    backend: SpanBackend,
) -> (ClientLayer, ServerLayer) {
    let client = ClientLayer::builder()
        .tracer_provider(tracer)
        .span_backend(backend)
        .target("http://127.0.0.1:50051");
    let server = ServerLayer::builder()
        .tracer_provider(tracer)
        .span_backend(backend);
    match meter {
        Some(meter) => (
            client.meter_provider(meter).build(),
            server.meter_provider(meter).build(),
        ),
        None => (client.build(), server.build()),
    }
}

/// The benchmarked method, named once: a hand-written instrumentation knows its one method.
const METHOD: &str = "tracewire.test.v1.Echo/Unary";

/// The client side of `direct/tracing-world/sampled`: an OpenTelemetry API span (as ours makes
/// client spans in that world) parented on the current `tracing` span, with the same start
/// attributes, its context injected into the request, ended with the response head. No status
/// from the trailers, no metrics: a floor, not an equal.
fn direct_client<S>(
    inner: S,
    provider: &SdkTracerProvider,
) -> impl tower::Service<Request<Body>, Response = S::Response, Error = S::Error> + Clone
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone,
{
    let tracer = provider.tracer("direct");
    let propagator = TraceContextPropagator::new();
    tower::service_fn(move |mut request: Request<Body>| {
        let mut inner = inner.clone();
        let parent = tracing::Span::current().context();
        let span = tracer.build_with_context(
            SpanBuilder::from_name(METHOD)
                .with_kind(SpanKind::Client)
                .with_attributes([
                    KeyValue::new("rpc.system.name", "grpc"),
                    KeyValue::new("rpc.method", METHOD),
                    KeyValue::new("server.address", "127.0.0.1"),
                    KeyValue::new("server.port", 50051_i64),
                ]),
            &parent,
        );
        let cx = parent.with_span(span);
        propagator.inject_context(&cx, &mut HeaderInjector(request.headers_mut()));
        async move {
            let response = inner
                .ready()
                .await?
                .call(request)
                .with_context(cx.clone())
                .await;
            cx.span().end();
            response
        }
    })
}

/// The server side of `direct/tracing-world/sampled`: the caller's context extracted, a
/// `tracing` SERVER span with the same start attributes (the address copied from the request)
/// parented on it and current while the handler runs, ended with the response head.
fn direct_server<S>(
    inner: S,
) -> impl tower::Service<Request<Body>, Response = S::Response, Error = S::Error> + Clone
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone,
{
    let propagator = TraceContextPropagator::new();
    tower::service_fn(move |request: Request<Body>| {
        let mut inner = inner.clone();
        let parent = propagator.extract(&HeaderExtractor::new(request.headers()));
        let (address, port) = request.uri().authority().map_or(("", None), |authority| {
            (authority.host(), authority.port_u16().map(i64::from))
        });
        let span = tracing::info_span!(
            "server",
            otel.name = METHOD,
            otel.kind = "server",
            rpc.system.name = "grpc",
            rpc.method = METHOD,
            server.address = address,
            server.port = port,
        );
        let _ = span.set_parent(parent);
        async move { inner.ready().await?.call(request).instrument(span).await }
    })
}

/// Runs `routine` as benchmark `id` with `dispatch` (a `tracing` subscriber) as the default.
fn in_tracing_world<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    dispatch: &tracing::Dispatch,
    id: &str,
    routine: impl FnMut() -> R,
) {
    let _world = tracing::dispatcher::set_default(dispatch);
    bench_or_profile(group, "tonic_unary", id, routine);
}

fn unary(c: &mut Criterion) {
    install_global(TraceContextPropagator::new());
    // One thread: the handler runs inside the client's future, under the bench's dispatcher.
    let rt = Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("tonic_unary");

    let mut bare = EchoClient::new(EchoServer::new(Service));
    bench_or_profile(&mut group, "tonic_unary", "bare", || {
        rt.block_on(bare.unary(request())).unwrap()
    });

    let sampled = sampled_provider();
    // An SDK meter provider that aggregates in memory (collected only if asked).
    let capture = tracewire_testing::TelemetryCapture::new();
    let meter = capture.meter_provider();
    let cases = [
        ("tracewire/sampled-metrics", &sampled, Some(meter)),
        ("tracewire/sampled", &sampled, None),
        ("tracewire/dropped", &dropping_provider(), None),
    ];
    for (name, tracer, meter) in cases {
        let (client, server) = ours(tracer, meter, SpanBackend::OpenTelemetry);
        let mut client = EchoClient::new(client.layer(server.layer(EchoServer::new(Service))));
        bench_or_profile(&mut group, "tonic_unary", name, || {
            rt.block_on(client.unary(request())).unwrap()
        });
    }

    let dispatch = bridged(&sampled);
    let (client, server) = ours(&sampled, None, SpanBackend::Auto);
    let mut client = EchoClient::new(client.layer(server.layer(EchoServer::new(Service))));
    in_tracing_world(
        &mut group,
        &dispatch,
        "tracewire/tracing-world/sampled",
        || rt.block_on(client.unary(request())).unwrap(),
    );

    let mut client = EchoClient::new(direct_client(
        direct_server(EchoServer::new(Service)),
        &sampled,
    ));
    in_tracing_world(
        &mut group,
        &dispatch,
        "direct/tracing-world/sampled",
        || rt.block_on(client.unary(request())).unwrap(),
    );

    use tonic_tracing_opentelemetry::middleware::{
        client as anchor_client, server as anchor_server,
    };
    let server = anchor_server::OtelGrpcLayer::default()
        .filter(tonic_tracing_opentelemetry::middleware::filters::reject_healthcheck);
    let mut client =
        EchoClient::new(anchor_client::OtelGrpcLayer.layer(server.layer(EchoServer::new(Service))));
    in_tracing_world(
        &mut group,
        &dispatch,
        "anchor/tonic-tracing-opentelemetry/tracing-world/sampled",
        || rt.block_on(client.unary(request())).unwrap(),
    );
    group.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
