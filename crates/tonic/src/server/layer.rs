use std::collections::HashSet;
use std::sync::Arc;

use tower::Layer;
use tracewire_core::intern::intern_or_own;
use tracewire_core::semconv::rpc::{fully_qualified_method, split_method_path};

use crate::call::Method;
use crate::config::{Builder, Common, Side};
use crate::server::ServerService;

/// Instruments a tonic server: one SERVER span per call, parented on the caller's propagated
/// context and current while the handler (and its response stream) runs, ending when the call
/// ends; and `rpc.server.call.duration`.
///
/// Works on `tonic::transport::Server::builder().layer(..)` (every service) and on a single
/// service.
///
/// ```
/// use tonic::transport::Server;
/// use tracewire_tonic::ServerLayer;
///
/// let router = Server::builder()
///     .layer(ServerLayer::new())
///     .add_service(tonic_health::server::health_reporter().1);
/// # let _ = router;
/// ```
#[derive(Clone, Debug)]
pub struct ServerLayer {
    common: Arc<Common>,
    options: Arc<ServerOptions>,
}

/// The server-only options of [`Builder`]: which methods the server recognises.
///
/// By default every well-formed path (`/package.Service/Method`) counts as recognised: tonic's
/// router cannot be asked which methods exist, and its `UNIMPLEMENTED` answer cannot be told
/// apart from a handler's, while `rpc.method` must be known when the span starts (samplers see
/// it). Servers open to untrusted clients should list their services or methods, so that made-up
/// paths become `_OTHER` (with `rpc.method_original`) and cannot inflate metric cardinality.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    services: HashSet<Box<str>>,
    methods: HashSet<Box<str>>,
}

impl ServerOptions {
    pub(crate) fn resolve<'a>(&self, path: &'a str) -> Method<'a> {
        match split_method_path(path) {
            Some((service, method)) if self.recognises(service, &path[1..]) => Method::Known {
                service,
                method,
                name: intern_or_own(&path[1..]),
            },
            _ => Method::Unknown {
                original: fully_qualified_method(path).unwrap_or(path),
            },
        }
    }

    fn recognises(&self, service: &str, full_method: &str) -> bool {
        (self.services.is_empty() && self.methods.is_empty())
            || self.services.contains(service)
            || self.methods.contains(full_method)
    }
}

impl ServerLayer {
    /// A layer with the default options (see [`Builder`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    ///
    /// ```
    /// use tracewire_tonic::ServerLayer;
    /// let layer = ServerLayer::builder()
    ///     .known_services(["tracewire.test.v1.Echo"])
    ///     .known_methods(["grpc.health.v1.Health/Check"])
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn builder() -> Builder<ServerOptions> {
        Builder::new(ServerOptions::default())
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder<ServerOptions> {
    /// Recognises every method of these services (fully qualified names, e.g. the generated
    /// `SERVICE_NAME` constants). Once a service or method is listed, other paths are `_OTHER`.
    pub fn known_services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let services = services.into_iter().map(|s| s.as_ref().into());
        self.side.services.extend(services);
        self
    }

    /// Recognises these methods, given as `package.Service/Method` (a leading `/` is allowed).
    pub fn known_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let methods = methods.into_iter().map(|m| {
            let m = m.as_ref();
            m.strip_prefix('/').unwrap_or(m).into()
        });
        self.side.methods.extend(methods);
        self
    }

    /// Builds the layer.
    pub fn build(mut self) -> ServerLayer {
        let options = Arc::new(std::mem::take(&mut self.side));
        ServerLayer {
            common: self.build_common(Side::Server, Vec::new()),
            options,
        }
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService::new(inner, self.common.clone(), self.options.clone())
    }
}
