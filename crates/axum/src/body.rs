//! [`ResponseBody`]: the response body, which ends the request's span when it is done.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use bytes::Buf as _;
use http_body::{Body, Frame, SizeHint};
use tracewire_core::semconv::error::error_type_of_val;

use crate::inflight::{End, Inflight};

pin_project_lite::pin_project! {
    /// Response body of [`Telemetry`](crate::Telemetry).
    ///
    /// The request's span ends and its duration is recorded when this body has been sent to its
    /// end, when it fails (`error.type` = the error's type name) or when it is dropped early
    /// (the client went away): the duration covers a streamed body, not just the response head.
    /// Its frames are polled with the span current.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use tracewire_axum::{ResponseBody, TelemetryLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let service = TelemetryLayer::new().layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, Infallible>(Response::new(String::from("body")))
    /// }));
    /// let response = service.oneshot(Request::new(String::new())).await.unwrap();
    /// let body: &ResponseBody<String> = response.body();
    /// # let _ = body;
    /// # });
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        inflight: Option<Inflight>,
        sent: u64,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, inflight: Option<Inflight>) -> Self {
        Self {
            inner,
            inflight,
            sent: 0,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _current = this
                .inflight
                .as_ref()
                .and_then(Inflight::span)
                .map(|span| span.enter());
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        let end = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.sent += u64::try_from(data.remaining()).unwrap_or(u64::MAX);
                }
                this.inner.is_end_stream().then_some(End::Complete {
                    response_body_size: *this.sent,
                })
            }
            Some(Err(error)) => Some(End::Failed(error_type_of_val(error))),
            None => Some(End::Complete {
                response_body_size: *this.sent,
            }),
        };
        if let Some(end) = end
            && let Some(inflight) = this.inflight.take()
        {
            inflight.finish(end);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("in_flight", &self.inflight.is_some())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}
