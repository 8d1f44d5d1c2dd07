//! The response future both layers return.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use tracewire_core::context::InContext;

use crate::body::ResponseBody;
use crate::call::Call;

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`](crate::ServerService) and
    /// [`ClientService`](crate::ClientService).
    ///
    /// The call's context is current on every poll. When the response head arrives, a
    /// trailers-only response ends the call; otherwise the call moves into the
    /// [`ResponseBody`], which ends it at the trailers (the server reads the body's ready frames
    /// before the poll leaves the span, so a unary call ends right there). An error ends it with
    /// the error's code, and dropping the future ends it as cancelled.
    ///
    /// ```
    /// use std::future::{Future, Ready};
    /// use tracewire_tonic::ResponseFuture;
    /// fn is_future<F: Future>() {}
    /// is_future::<ResponseFuture<Ready<Result<http::Response<tonic::body::Body>, std::io::Error>>>>();
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: InContext<F>,
        call: Option<Call>,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new(inner: InContext<F>, call: Option<Call>) -> Self {
        Self { inner, call }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    B::Error: std::error::Error + 'static,
    E: std::error::Error + 'static,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let call = this.call;
        // The head is handled in the poll's context: the server reads the body's first frames.
        this.inner.poll_then(cx, |result, cx| match result {
            Ok(response) => Ok(match call.take() {
                Some(call) => call.respond(response, cx),
                None => response.map(|body| ResponseBody::new(body, None)),
            }),
            Err(error) => {
                if let Some(call) = call.take() {
                    call.fail(&error);
                }
                Err(error)
            }
        })
    }
}
