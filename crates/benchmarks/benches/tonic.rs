//! Unary gRPC call overhead, in process: a generated tonic client calling a tonic server service
//! directly (no socket), so the floor is tonic's own encode / route / decode work.
//!
//! - `bare`: no instrumentation (the floor);
//! - `tracewire/*`: our `ClientLayer` + `ServerLayer`, OpenTelemetry-only world (sampled with
//!   metrics, sampled spans only, sampled out) and `tracing` world (sampled, through the bridge);
//! - `anchor/*`: `tonic-tracing-opentelemetry` client + server layers in the `tracing` world,
//!   which is the only world it supports.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench tonic -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, unreachable_pub)]

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Builder;
use tower::Layer;
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};
use tracewire_core::instrument::SpanBackend;
use tracewire_core::propagation::{TraceContextPropagator, install_global};
use tracewire_tonic::{ClientLayer, ServerLayer};
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
    {
        let _world = tracing::dispatcher::set_default(&dispatch);
        bench_or_profile(
            &mut group,
            "tonic_unary",
            "tracewire/tracing-world/sampled",
            || rt.block_on(client.unary(request())).unwrap(),
        );
    }

    use tonic_tracing_opentelemetry::middleware::{
        client as anchor_client, server as anchor_server,
    };
    let server = anchor_server::OtelGrpcLayer::default()
        .filter(tonic_tracing_opentelemetry::middleware::filters::reject_healthcheck);
    let mut client =
        EchoClient::new(anchor_client::OtelGrpcLayer.layer(server.layer(EchoServer::new(Service))));
    {
        let _world = tracing::dispatcher::set_default(&dispatch);
        bench_or_profile(
            &mut group,
            "tonic_unary",
            "anchor/tonic-tracing-opentelemetry/tracing-world/sampled",
            || rt.block_on(client.unary(request())).unwrap(),
        );
    }
    group.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
