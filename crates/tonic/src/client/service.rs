use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tonic::GrpcMethod;
use tower::Service;
use tracewire_core::context::current_context;
use tracewire_core::instrument::{Parent, SpanStart};
use tracewire_core::intern::intern_or_own;
use tracewire_core::semconv::http::client_server_address;
use tracewire_core::semconv::rpc::{fully_qualified_method, method_name, split_method_path};
use tracewire_core::semconv::{SERVER_ADDRESS, server_port};

use crate::body::ResponseBody;
use crate::call::{Call, Method, Series};
use crate::carrier::MetadataInjector;
use crate::config::{Common, RequestView};
use crate::future::{ResponseFuture, Scope};

/// The service [`ClientLayer`](crate::ClientLayer) wraps around a channel.
///
/// ```
/// use tower::Layer;
/// use tracewire_tonic::{ClientLayer, ClientService};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let channel = tonic::transport::Channel::from_static("http://[::1]:50051").connect_lazy();
/// let service: ClientService<_> = ClientLayer::new().layer(channel);
/// # let _ = service;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    common: Arc<Common>,
}

impl<S> ClientService<S> {
    pub(crate) fn new(inner: S, common: Arc<Common>) -> Self {
        Self { inner, common }
    }
}

/// The method of an outgoing call: the generated client names it (`GrpcMethod`); a call made
/// without generated code is recognised when its path is well-formed.
fn resolve<B>(request: &Request<B>) -> Method<'_> {
    let path = request.uri().path();
    if let Some(grpc) = request.extensions().get::<GrpcMethod<'static>>() {
        let (service, method) = (grpc.service(), grpc.method());
        // The path generated code sends is the name, already joined.
        let name = match path
            .strip_prefix('/')
            .and_then(|name| name.strip_prefix(service))
        {
            Some(rest) if rest.strip_prefix('/') == Some(method) => intern_or_own(&path[1..]),
            _ => method_name(service, method),
        };
        return Method::Known {
            service,
            method,
            name,
        };
    }
    match split_method_path(path) {
        Some((service, method)) => Method::Known {
            service,
            method,
            name: intern_or_own(&path[1..]),
        },
        None => Method::Unknown {
            original: fully_qualified_method(path).unwrap_or(path),
        },
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::error::Error + 'static,
    ResBody: http_body::Body,
    ResBody::Error: std::error::Error + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let common = &self.common;
        if !common.traces(&RequestView::new(&request)) {
            let cx = current_context();
            common
                .propagator
                .inject_context(&cx, &mut MetadataInjector::new(request.headers_mut()));
            return ResponseFuture::new(self.inner.call(request), Scope::Context(cx));
        }

        let method = resolve(&request);
        let mut attributes = Vec::with_capacity(8);
        let default_name = method.push_attributes(common, &mut attributes);
        let mut address = Vec::new();
        if common.fixed_address.is_empty() {
            if let Some(server) = client_server_address(request.uri()) {
                address.push(KeyValue::new(SERVER_ADDRESS, server.host.to_owned()));
                address.extend(server.port.map(server_port));
                attributes.extend_from_slice(&address);
            }
        } else {
            attributes.extend_from_slice(&common.fixed_address);
        }
        let series = Series::new(&method, default_name.clone(), address);
        attributes.extend(method.original());
        for capture in &common.request_metadata {
            attributes.extend(capture.capture(request.headers()));
        }
        let name = common
            .custom_span_name(&RequestView::new(&request))
            .unwrap_or(default_name);

        let span = common.instrumentation.start(
            SpanStart::new(SpanKind::Client, name)
                .attributes(attributes)
                .parent(Parent::Current),
        );
        common.propagator.inject_context(
            span.context(),
            &mut MetadataInjector::new(request.headers_mut()),
        );
        let call = Call::new(common.clone(), span, series, None);
        ResponseFuture::new(self.inner.call(request), Scope::Call(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(path: &str, grpc: Option<GrpcMethod<'static>>) -> Option<String> {
        let mut request = Request::builder().uri(path).body(()).unwrap();
        if let Some(grpc) = grpc {
            request.extensions_mut().insert(grpc);
        }
        match resolve(&request) {
            Method::Known { name, .. } => Some(name.into_owned()),
            Method::Unknown { .. } => None,
        }
    }

    #[test]
    fn the_generated_method_names_the_call_whatever_the_path() {
        let grpc = || Some(GrpcMethod::new("pkg.Svc", "Do"));
        assert_eq!(
            name_of("/pkg.Svc/Do", grpc()).as_deref(),
            Some("pkg.Svc/Do")
        );
        // A path rewritten below the generated client does not rename the method.
        for path in ["/pkg.Svc/DoMore", "/pkg.SvcX/Do", "/other/Do", "/"] {
            assert_eq!(
                name_of(path, grpc()).as_deref(),
                Some("pkg.Svc/Do"),
                "{path}"
            );
        }
        assert_eq!(name_of("/pkg.Svc/Do", None).as_deref(), Some("pkg.Svc/Do"));
        assert_eq!(name_of("/nonsense", None), None);
    }
}
