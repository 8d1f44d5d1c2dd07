//! [`Telemetry`], the service [`TelemetryLayer`](crate::TelemetryLayer) wraps around its inner
//! service.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower::Service;
use tracewire_core::context::ContextFutureExt;
use tracewire_core::propagation::HeaderExtractor;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::inflight::Inflight;
use crate::layer::Shared;

/// Middleware that instruments an HTTP service; built by
/// [`TelemetryLayer`](crate::TelemetryLayer).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tracewire_axum::TelemetryLayer;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Any tower service of `http::Request<B>` works, not only an axum `Router`.
/// let service = TelemetryLayer::new().layer(service_fn(|_: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hi")))
/// }));
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Telemetry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Telemetry<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, B, ResBody> Service<Request<B>> for Telemetry<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        // Always extracted: filtered-out and untraced requests still continue the caller's trace.
        let incoming = self
            .shared
            .propagator
            .extract(&HeaderExtractor::new(&parts.headers));
        let inflight = self
            .shared
            .instruments(&parts)
            .then(|| Inflight::start(&self.shared, &mut parts, &incoming));
        let request = Request::from_parts(parts, body);
        let future = match inflight.as_ref().and_then(Inflight::span) {
            Some(span) => {
                let future = span.in_scope(|| self.inner.call(request));
                span.instrument(future)
            }
            None => {
                let future = {
                    let _attached = incoming.clone().attach();
                    self.inner.call(request)
                };
                future.in_context(incoming)
            }
        };
        ResponseFuture::new(future, inflight)
    }
}
