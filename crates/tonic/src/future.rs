//! The response future both layers return.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use opentelemetry::ContextGuard;
use tracewire_core::instrument::SpanGuard;

use crate::body::ResponseBody;
use crate::call::{Call, head_status};

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`](crate::ServerService) and
    /// [`ClientService`](crate::ClientService).
    ///
    /// The call's span is current on every poll (the propagated context, for a call left
    /// untraced). When the response head arrives, a trailers-only response ends the call;
    /// otherwise the call moves into the [`ResponseBody`], which ends it at the trailers (the
    /// server reads the body's ready frames before the poll leaves the span, so a unary call
    /// ends right there). An error ends it with the error's code, and dropping the future ends
    /// it as cancelled.
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
        inner: F,
        scope: Scope,
    }
}

/// What a response future keeps current while it runs.
#[derive(Debug)]
pub(crate) enum Scope {
    /// An instrumented call, whose span is current.
    Call(Call),
    /// A call left untraced: the context it propagates is current.
    Context(opentelemetry::Context),
    /// The response has been handed out.
    Done,
}

impl Scope {
    /// Makes the scope current until the guards drop.
    fn make_current(&self) -> (Option<SpanGuard<'_>>, Option<ContextGuard>) {
        match self {
            Scope::Call(call) => (call.enter(), None),
            Scope::Context(cx) => (None, Some(cx.clone().attach())),
            Scope::Done => (None, None),
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, scope: Scope) -> Self {
        Self { inner, scope }
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
        let (mut result, head) = {
            let _current = this.scope.make_current();
            match ready!(this.inner.poll(cx)) {
                Ok(response) => {
                    let (head, read_ahead) = match &*this.scope {
                        Scope::Call(call) => {
                            let head = head_status(response.status(), response.headers());
                            (head, head.is_none() && call.reads_ahead())
                        }
                        _ => (None, false),
                    };
                    // A server body still to be read is read now, in this entry of the span.
                    let response = response.map(|body| {
                        if read_ahead {
                            ResponseBody::read_ahead(body, cx)
                        } else {
                            ResponseBody::new(body)
                        }
                    });
                    (Ok(response), head)
                }
                Err(error) => (Err(error), None),
            }
        };
        // The call's bookkeeping runs no application code: it needs no span current.
        if let Scope::Call(call) = std::mem::replace(this.scope, Scope::Done) {
            match &mut result {
                Ok(response) => call.respond(response, head),
                Err(error) => call.fail(error),
            }
        }
        Poll::Ready(result)
    }
}
