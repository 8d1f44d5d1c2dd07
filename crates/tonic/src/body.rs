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
    /// frame's bookkeeping, so the server reads frames that are already ready while the span is
    /// entered anyway, and keeps them (at most two) until they are asked for:
    ///
    /// - when the handler's future completes, the server boxes the body and reads up to a
    ///   message and what follows it, so a unary response is read whole in that entry;
    /// - after a message read in its own entry, it reads one more if ready, so a stream pays
    ///   one entry per two ready messages.
    ///
    /// ```
    /// use http_body::Body;
    /// use tracewire_tonic::ResponseBody;
    /// fn is_body<B: Body>() {}
    /// is_body::<ResponseBody<tonic::body::Body>>();
    /// ```
    pub struct ResponseBody<B: Body> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project_lite::pin_project! {
    /// The consumer's body polled in place (the client's, and calls already ended), or the
    /// server's, boxed with its call and the frames read ahead: the box the read-ahead needs
    /// anyway holds them, so the response tonic moves around stays small.
    #[project = InnerProj]
    enum Inner<B: Body> {
        InPlace { #[pin] body: B, call: Option<Call> },
        ReadAhead { state: Pin<Box<ReadAhead<B>>> },
    }
}

pin_project_lite::pin_project! {
    /// A server body, its call, and the frames read ahead of the consumer.
    struct ReadAhead<B: Body> {
        #[pin]
        body: B,
        call: Option<Call>,
        ahead: Ahead<Polled<B>>,
    }
}

/// Frames read ahead of the consumer, oldest first.
struct Ahead<T> {
    first: Option<T>,
    second: Option<T>,
}

impl<T> Ahead<T> {
    const fn new() -> Self {
        Self {
            first: None,
            second: None,
        }
    }

    fn push(&mut self, item: T) {
        match self.first {
            None => self.first = Some(item),
            Some(_) => self.second = Some(item),
        }
    }

    /// Puts `item` before the one held (of which there is at most one).
    fn push_front(&mut self, item: T) {
        self.second = self.first.replace(item);
    }

    fn pop(&mut self) -> Option<T> {
        let first = self.first.take();
        self.first = self.second.take();
        first
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(&self.second)
    }
}

impl<B: Body> ResponseBody<B> {
    /// A body the consumer polls first (the client's, and calls already ended).
    pub(crate) fn new(body: B) -> Self {
        Self {
            inner: Inner::InPlace { body, call: None },
        }
    }

    /// The server's body, read ahead now with `cx` while the caller has the span entered.
    pub(crate) fn read_ahead(body: B, cx: &mut Context<'_>) -> Self {
        let mut state = Box::pin(ReadAhead {
            body,
            call: None,
            ahead: Ahead::new(),
        });
        let this = state.as_mut().project();
        let (mut body, ahead) = (this.body, this.ahead);
        if let Poll::Ready(first) =
            poll_in_one_entry::<B>(|cx| body.as_mut().poll_frame(cx), cx, ahead)
        {
            ahead.push_front(first);
        }
        Self {
            inner: Inner::ReadAhead { state },
        }
    }

    /// Gives the body its call, to end at the frame that settles it: one already read ahead
    /// ends it now.
    pub(crate) fn hand_over(&mut self, call: Call)
    where
        B::Error: std::error::Error + 'static,
    {
        let mut call = Some(call);
        match &mut self.inner {
            Inner::InPlace { call: slot, .. } => *slot = call,
            Inner::ReadAhead { state } => {
                let this = state.as_mut().project();
                for polled in this.ahead.iter() {
                    observe(&mut call, polled);
                }
                *this.call = call;
            }
        }
    }
}

impl<B: Body + fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (body, call, ahead): (&dyn fmt::Debug, _, _) = match &self.inner {
            Inner::InPlace { body, call } => (body, call, 0),
            Inner::ReadAhead { state } => (&state.body, &state.call, state.ahead.iter().count()),
        };
        f.debug_struct("ResponseBody")
            .field("inner", body)
            .field("call", call)
            .field("frames_ahead", &ahead)
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
        let (mut body, call, ahead) = match self.project().inner.project() {
            InnerProj::InPlace { body, call } => {
                let polled = ready!(body.poll_frame(cx));
                observe(call, &polled);
                return Poll::Ready(polled);
            }
            InnerProj::ReadAhead { state } => {
                let this = state.as_mut().project();
                (this.body, this.call, this.ahead)
            }
        };
        if let Some(ahead) = ahead.pop() {
            return Poll::Ready(ahead);
        }
        let Some(entered) = call.as_ref().and_then(Call::enter) else {
            let polled = ready!(body.poll_frame(cx));
            observe(call, &polled);
            return Poll::Ready(polled);
        };
        let polled = ready!(poll_in_one_entry::<B>(
            |cx| body.as_mut().poll_frame(cx),
            cx,
            ahead,
        ));
        drop(entered);
        observe(call, &polled);
        if let Some(next) = &ahead.first {
            observe(call, next);
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::InPlace { body, .. } => body.is_end_stream(),
            Inner::ReadAhead { state } => match &state.ahead.first {
                Some(first) => first.is_none(),
                None => state.body.is_end_stream(),
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        let state = match &self.inner {
            Inner::InPlace { body, .. } => return body.size_hint(),
            Inner::ReadAhead { state } => state,
        };
        let mut ahead = 0_u64;
        for polled in state.ahead.iter() {
            match polled {
                Some(Ok(frame)) => {
                    let len = frame.data_ref().map_or(0, Buf::remaining);
                    ahead = ahead.saturating_add(len as u64);
                }
                Some(Err(_)) => {}
                None => return SizeHint::with_exact(ahead),
            }
        }
        let inner = state.body.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(ahead));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(ahead));
        }
        hint
    }
}

/// What one span entry reads: a frame and, after a message, the next one if it is ready (at
/// most: a stream is read as it is consumed), which is left in `ahead` (empty on entry).
fn poll_in_one_entry<B: Body>(
    mut poll_frame: impl FnMut(&mut Context<'_>) -> Poll<Polled<B>>,
    cx: &mut Context<'_>,
    ahead: &mut Ahead<Polled<B>>,
) -> Poll<Polled<B>> {
    let polled = ready!(poll_frame(cx));
    if matches!(&polled, Some(Ok(frame)) if frame.is_data())
        && let Poll::Ready(next) = poll_frame(cx)
    {
        ahead.push(next);
    }
    Poll::Ready(polled)
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
