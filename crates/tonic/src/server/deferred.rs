//! The inner service's call, made on the first poll of the response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::Service;

pin_project_lite::pin_project! {
    /// The inner call of a [`ServerService`](crate::ServerService): the service (already
    /// ready) and the request are kept until the response future is first polled, and the call
    /// is made there.
    ///
    /// A service may run handler code in `call` itself (`tower::service_fn` does), so the span
    /// must be current for it; making the call inside the first poll, which enters the span
    /// anyway, enters it once instead of twice.
    ///
    /// ```
    /// use std::future::Future;
    /// use tracewire_tonic::DeferredCall;
    /// fn is_future<F: Future>() {}
    /// type Inner = tower::util::ServiceFn<fn(()) -> std::future::Ready<Result<(), std::io::Error>>>;
    /// is_future::<DeferredCall<Inner, ()>>();
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct DeferredCall<S: Service<R>, R> {
        pending: Option<(S, R)>,
        #[pin]
        called: Option<S::Future>,
    }
}

impl<S: Service<R>, R> DeferredCall<S, R> {
    /// `service` must be ready (its `poll_ready` returned `Ready(Ok)`).
    #[inline]
    pub(crate) fn new(service: S, request: R) -> Self {
        Self {
            pending: Some((service, request)),
            called: None,
        }
    }
}

impl<S: Service<R>, R> std::fmt::Debug for DeferredCall<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredCall")
            .field("called", &self.called.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Service<R>, R> Future for DeferredCall<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some((mut service, request)) = this.pending.take() {
            this.called.set(Some(service.call(request)));
        }
        this.called
            .as_pin_mut()
            .expect("the call is made before the first poll returns")
            .poll(cx)
    }
}
