//! The response body both layers return: it watches the frames for the trailers (where a
//! streaming call's status is), the end of the stream and errors, and ends the call there or,
//! if dropped first, as cancelled.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};

use crate::call::Call;

pin_project_lite::pin_project! {
    /// A response body that ends its call's span when the call ends; returned by
    /// [`ServerService`](crate::ServerService) and [`ClientService`](crate::ClientService).
    ///
    /// On the server, the span is current while the body is polled, because a streaming
    /// handler's stream runs there.
    ///
    /// ```
    /// use http_body::Body;
    /// use tracewire_tonic::ResponseBody;
    /// fn is_body<B: Body>() {}
    /// is_body::<ResponseBody<tonic::body::Body>>();
    /// ```
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, call: Option<Call>) -> Self {
        Self { inner, call }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: std::error::Error + 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = {
            let _current = this.call.as_ref().and_then(Call::enter);
            ready!(this.inner.poll_frame(cx))
        };
        Poll::Ready(match polled {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = this.call.take()
                {
                    call.trailers(trailers);
                }
                Some(Ok(frame))
            }
            Some(Err(error)) => {
                if let Some(call) = this.call.take() {
                    call.fail(&error);
                }
                Some(Err(error))
            }
            None => {
                if let Some(call) = this.call.take() {
                    call.end_of_stream();
                }
                None
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
