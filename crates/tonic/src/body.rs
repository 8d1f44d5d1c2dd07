//! The response body both layers return: it watches the frames for the trailers (where a
//! streaming call's status is), the end of the stream and errors, and ends the call there or,
//! if dropped first, as cancelled.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use crate::call::Call;

/// What one poll of a body produced.
type Polled<B> = Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>;

pin_project_lite::pin_project! {
    /// A response body that ends its call's span when the call ends; returned by
    /// [`ServerService`](crate::ServerService) and [`ClientService`](crate::ClientService).
    ///
    /// On the server, the span is current while the body is polled, because a streaming
    /// handler's stream runs there. Entering a `tracing` span costs as much as the rest of a
    /// frame's bookkeeping, so after a message the server's body polls once more in the same
    /// entry and keeps what is already ready (at most one frame): a unary response's trailers
    /// come with its message, and a stream pays one entry per two ready messages.
    ///
    /// ```
    /// use http_body::Body;
    /// use tracewire_tonic::ResponseBody;
    /// fn is_body<B: Body>() {}
    /// is_body::<ResponseBody<tonic::body::Body>>();
    /// ```
    pub struct ResponseBody<B: Body> {
        #[pin]
        inner: B,
        call: Option<Call>,
        ahead: Option<Polled<B>>,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, call: Option<Call>) -> Self {
        Self {
            inner,
            call,
            ahead: None,
        }
    }
}

impl<B: Body + fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("call", &self.call)
            .field("ahead", &self.ahead.is_some())
            .finish()
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
        let mut this = self.project();
        if let Some(ahead) = this.ahead.take() {
            return Poll::Ready(ahead);
        }
        let Some(entered) = this.call.as_ref().and_then(Call::enter) else {
            let polled = ready!(this.inner.poll_frame(cx));
            observe(this.call, &polled);
            return Poll::Ready(polled);
        };
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        let is_data = matches!(&polled, Some(Ok(frame)) if frame.is_data());
        let ahead = match is_data {
            true => match this.inner.poll_frame(cx) {
                Poll::Ready(next) => Some(next),
                Poll::Pending => None,
            },
            false => None,
        };
        drop(entered);
        observe(this.call, &polled);
        if let Some(next) = &ahead {
            observe(this.call, next);
        }
        *this.ahead = ahead;
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &self.ahead {
            Some(ahead) => ahead.is_none(),
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let ahead = match &self.ahead {
            Some(Some(Ok(frame))) => frame.data_ref().map_or(0, Buf::remaining),
            Some(None) => return SizeHint::with_exact(0),
            _ => 0,
        };
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(ahead as u64));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(ahead as u64));
        }
        hint
    }
}

/// Ends the call at a frame that settles it: the trailers, an error, or the end of the body.
fn observe<D, E>(call: &mut Option<Call>, polled: &Option<Result<Frame<D>, E>>)
where
    E: std::error::Error + 'static,
{
    match polled {
        Some(Ok(frame)) => {
            if let Some(trailers) = frame.trailers_ref()
                && let Some(call) = call.take()
            {
                call.trailers(trailers);
            }
        }
        Some(Err(error)) => {
            if let Some(call) = call.take() {
                call.fail(error);
            }
        }
        None => {
            if let Some(call) = call.take() {
                call.end_of_stream();
            }
        }
    }
}
