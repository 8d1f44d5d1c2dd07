use std::sync::Arc;

use opentelemetry::KeyValue;
use tower::Layer;
use tracewire_core::semconv::rpc::parse_grpc_target;
use tracewire_core::semconv::{SERVER_ADDRESS, server_port};

use crate::client::ClientService;
use crate::config::{Builder, Common, Side};

/// Instruments a tonic client channel: one CLIENT span per call, parented on the current
/// context and injected into the request metadata, ending when the call ends (the last message
/// of a stream, an error, or the drop of the response); and `rpc.client.call.duration`.
///
/// Put it directly around the `Channel`, so that generated clients work unchanged:
///
/// ```
/// use tonic::transport::Channel;
/// use tower::ServiceBuilder;
/// use tracewire_tonic::ClientLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let target = "http://127.0.0.1:50051";
/// let channel = Channel::from_static(target).connect_lazy();
/// let channel = ServiceBuilder::new()
///     .layer(ClientLayer::builder().target(target).build())
///     .service(channel);
/// let client = tonic_health::pb::health_client::HealthClient::new(channel);
/// # let _ = client;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer {
    common: Arc<Common>,
}

/// The client-only options of [`Builder`]: the channel target.
///
/// A tower layer around a `Channel` cannot see the channel's endpoint, so `server.address` and
/// `server.port` come from the target given here, parsed without any DNS lookup (`dns:///host:port`,
/// `unix:///path`, `http://host:port`, ...). Without a target they come from the request URI's
/// authority when it has one (clients built `with_origin`), else they are not set.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    pub(crate) server: Vec<KeyValue>,
}

impl ClientLayer {
    /// A layer with the default options (see [`Builder`]) and no target.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    ///
    /// ```
    /// use tracewire_tonic::ClientLayer;
    /// let layer = ClientLayer::builder().target("dns:///orders.internal:50051").build();
    /// # let _ = layer;
    /// ```
    pub fn builder() -> Builder<ClientOptions> {
        Builder::new(ClientOptions::default())
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder<ClientOptions> {
    /// The channel target (as given to `Endpoint`/`Channel`, or a gRPC target string), the
    /// source of `server.address` and `server.port`.
    pub fn target(mut self, target: &str) -> Self {
        let target = parse_grpc_target(target);
        let address: Arc<str> = target.address.into();
        // Reference-counted: every call copies these into its span and measurement.
        self.side.server = [KeyValue::new(SERVER_ADDRESS, address)]
            .into_iter()
            .chain(target.port.map(server_port))
            .collect();
        self
    }

    /// Builds the layer.
    pub fn build(mut self) -> ClientLayer {
        let server = std::mem::take(&mut self.side.server);
        ClientLayer {
            common: self.build_common(Side::Client, server),
        }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService::new(inner, self.common.clone())
    }
}
