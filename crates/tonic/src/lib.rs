//! OpenTelemetry instrumentation for [tonic](https://docs.rs/tonic) 0.14 gRPC servers and
//! clients, following the RPC semantic conventions (stable in semconv v1.45).
//!
//! - [`ServerLayer`] and [`ClientLayer`]: a SERVER or CLIENT span per call named
//!   `{rpc.method}` (`package.Service/Method`), and `rpc.server.call.duration` /
//!   `rpc.client.call.duration`. The span covers the whole call, streaming included: it ends at
//!   the trailers (where a streaming call's status is), on an error, or when the response is
//!   dropped (cancellation), and the measured duration is the span's.
//! - [`InjectContextInterceptor`] and [`ExtractContextInterceptor`]: propagation only, as
//!   `tonic::service::Interceptor`s.
//!
//! Status rules: the status comes from the response headers for trailers-only responses and
//! from the trailers otherwise; a response that ends without `grpc-status` is a protocol error
//! (status Error, `error.type = "_OTHER"`, no status code attribute), never OK. On the client
//! every code but `OK` is an error; on the server only `UNKNOWN`, `DEADLINE_EXCEEDED`,
//! `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS` are. The span status is never set
//! to Ok. Attribute names follow `OTEL_SEMCONV_STABILITY_OPT_IN` (`rpc`, `rpc/dup`, `rpc/old`).
//!
//! ```
//! use tonic::transport::{Channel, Server};
//! use tower::ServiceBuilder;
//! use tracewire_tonic::{ClientLayer, ServerLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Server: every service behind the router.
//! let router = Server::builder()
//!     .layer(ServerLayer::new())
//!     .add_service(tonic_health::server::health_reporter().1);
//!
//! // Client: around the channel, under the generated client.
//! let target = "http://127.0.0.1:50051";
//! let channel = ServiceBuilder::new()
//!     .layer(ClientLayer::builder().target(target).build())
//!     .service(Channel::from_static(target).connect_lazy());
//! let client = tonic_health::pb::health_client::HealthClient::new(channel);
//! # let _ = (router, client);
//! # }
//! ```

mod body;
mod call;
mod carrier;
mod client;
mod config;
mod future;
mod interceptor;
mod server;

pub use body::ResponseBody;
pub use client::{ClientLayer, ClientOptions, ClientService};
pub use config::{Builder, RequestView, UNTRACED_SERVICES, default_filter};
pub use future::ResponseFuture;
pub use interceptor::{ExtractContextInterceptor, InjectContextInterceptor, RemoteContext};
pub use server::{DeferredCall, ServerLayer, ServerOptions, ServerService};
