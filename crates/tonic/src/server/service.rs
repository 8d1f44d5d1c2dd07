use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tonic::server::NamedService;
use tonic::transport::server::TcpConnectInfo;
use tower::Service;
use tracewire_core::instrument::{Parent, SpanStart};
use tracewire_core::semconv::http::HostPort;
use tracewire_core::semconv::rpc::{GRPC_TIMEOUT_HEADER, parse_grpc_timeout};
use tracewire_core::semconv::{
    NETWORK_PEER_ADDRESS, SERVER_ADDRESS, network_peer_port, server_port,
};

use crate::body::ResponseBody;
use crate::call::{Call, Series, grpc_header};
use crate::carrier::MetadataExtractor;
use crate::config::{Common, RequestView};
use crate::future::{ResponseFuture, Scope};
use crate::server::{DeferredCall, ServerOptions};

/// The service [`ServerLayer`](crate::ServerLayer) wraps around a tonic server or service.
///
/// It keeps the inner service's error type and name, so one service can be instrumented alone:
///
/// ```
/// use tower::Layer;
/// use tracewire_tonic::ServerLayer;
/// let (_, health) = tonic_health::server::health_reporter();
/// let router = tonic::transport::Server::builder().add_service(ServerLayer::new().layer(health));
/// # let _ = router;
/// ```
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    common: Arc<Common>,
    options: Arc<ServerOptions>,
}

impl<S> ServerService<S> {
    pub(crate) fn new(inner: S, common: Arc<Common>, options: Arc<ServerOptions>) -> Self {
        Self {
            inner,
            common,
            options,
        }
    }
}

/// Keeps the wrapped service routable when it is layered alone
/// (`Server::builder().add_service(ServerLayer::new().layer(service))`).
impl<S: NamedService> NamedService for ServerService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: std::error::Error + 'static,
    ResBody: http_body::Body,
    ResBody::Error: std::error::Error + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<DeferredCall<S, Request<ReqBody>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let common = &self.common;
        let remote = common
            .propagator
            .extract(&MetadataExtractor::new(request.headers()));
        let view = RequestView::new(&request);
        if !common.traces(&view) {
            let call = DeferredCall::new(take_ready(&mut self.inner), request);
            return ResponseFuture::new(call, Scope::Context(remote));
        }

        let method = self.options.resolve(view.path());
        let mut attributes = Vec::with_capacity(8);
        let default_name = method.push_attributes(common, &mut attributes);
        let series = Series::new(&method, default_name.clone(), Vec::new());
        attributes.extend(method.original());
        // The address the client dialled (`:authority`), not the socket's.
        if let Some(authority) = request.uri().authority()
            && let Some(server) = HostPort::parse(authority.as_str())
        {
            attributes.push(KeyValue::new(SERVER_ADDRESS, server.host.to_owned()));
            attributes.extend(server.port.map(server_port));
        }
        if let Some(peer) = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
        {
            attributes.push(KeyValue::new(NETWORK_PEER_ADDRESS, peer.ip().to_string()));
            attributes.push(network_peer_port(peer.port()));
        }
        for capture in &common.request_metadata {
            attributes.extend(capture.capture(request.headers()));
        }
        let name = common.custom_span_name(&view).unwrap_or(default_name);
        let deadline = grpc_header(request.headers(), &GRPC_TIMEOUT_HEADER)
            .and_then(|value| parse_grpc_timeout(value.as_bytes()))
            .and_then(|timeout| Instant::now().checked_add(timeout));

        let span = common.instrumentation.start(
            SpanStart::new(SpanKind::Server, name)
                .tracing_callsite(common.names.server_callsite())
                .attributes(attributes)
                .parent(Parent::Context(remote)),
        );
        let call = Call::new(common.clone(), span, series, deadline);
        let inner = DeferredCall::new(take_ready(&mut self.inner), request);
        ResponseFuture::new(inner, Scope::Call(call))
    }
}

/// The ready `service`, for a call; a clone, which must be made ready again, takes its place.
fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}
