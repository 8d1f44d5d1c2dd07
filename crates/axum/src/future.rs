//! [`ResponseFuture`]: the inner service's future, polled with the request's context current.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use tracewire_core::context::InContext;
use tracewire_core::semconv::error::error_type_of_val;

use crate::body::ResponseBody;
use crate::inflight::{End, Inflight};

pin_project_lite::pin_project! {
    /// Response future of [`Telemetry`](crate::Telemetry).
    ///
    /// Every poll of the inner future runs with the request span (or, without one, the incoming
    /// context) current, so handler code, `#[instrument]` functions and outgoing client calls nest
    /// under it. When the response head arrives its status and headers are recorded and the
    /// telemetry moves into the [`ResponseBody`], which ends the span.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{Layer, Service, service_fn};
    /// use tracewire_axum::{ResponseFuture, TelemetryLayer};
    ///
    /// let mut service = TelemetryLayer::new().layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    /// let future: ResponseFuture<_> = service.call(Request::new(String::new()));
    /// # drop(future);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: InContext<F>,
        inflight: Option<Inflight>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: InContext<F>, inflight: Option<Inflight>) -> Self {
        Self { inner, inflight }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let guard = PanicGuard(this.inflight);
        let result = ready!(this.inner.poll(cx));
        let mut inflight = guard.0.take();
        Poll::Ready(match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                if let Some(inflight) = inflight.as_mut() {
                    inflight.on_response(&mut parts);
                }
                // An empty body may never be polled: the request ends with its head.
                if body.is_end_stream()
                    && let Some(inflight) = inflight.take()
                {
                    inflight.finish(End::Complete {
                        response_body_size: 0,
                    });
                }
                Ok(Response::from_parts(
                    parts,
                    ResponseBody::new(body, inflight),
                ))
            }
            Err(error) => {
                if let Some(inflight) = inflight {
                    inflight.finish(End::Failed(error_type_of_val(&error)));
                }
                Err(error)
            }
        })
    }
}

/// Ends the span as panicked when a panic unwinds out of the inner future's poll: a catching
/// layer outside this one keeps the future alive, so its drop would not see the panic.
struct PanicGuard<'a>(&'a mut Option<Inflight>);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(inflight) = self.0.take()
        {
            inflight.finish(End::Dropped);
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("instrumented", &self.inflight.is_some())
            .finish_non_exhaustive()
    }
}
