//! Context helpers: run work with the current context, and read the current trace and span ids.
//!
//! "Current" means the same in both span worlds (see [`instrument`](crate::instrument)): the
//! active OpenTelemetry context, or else the context of the current `tracing` span when a
//! `tracing-opentelemetry` layer records it. Spawned tasks and threads do not inherit either by
//! themselves; `spawn` (feature `tokio`) and [`spawn_thread`] carry both across.
//!
//! ```
//! use tracewire_core::context::{current_trace_id, ContextFutureExt};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! // Outside any span there is no trace id.
//! assert_eq!(current_trace_id(), None);
//! // A future that keeps the caller's context current on every poll, wherever it runs.
//! let work = async { current_trace_id() }.in_current_context();
//! assert_eq!(work.await, None);
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry::{Context, ContextGuard};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The current context in either span world: the attached OpenTelemetry context if it has a
/// span, else the context of the current `tracing` span (which matters when the
/// `tracing-opentelemetry` layer runs without context activation).
pub fn current_context() -> Context {
    let cx = Context::current();
    if cx.has_active_span() {
        return cx;
    }
    let from_tracing = tracing::Span::current().context();
    if from_tracing.has_active_span() {
        from_tracing
    } else {
        cx
    }
}

/// The trace and span ids of the current span, for log lines and response headers.
///
/// Its `Display` is `trace_id=<32 hex> span_id=<16 hex>`, ready for a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace id.
    pub trace_id: TraceId,
    /// The span id.
    pub span_id: SpanId,
    /// Whether the span is sampled.
    pub sampled: bool,
}

impl fmt::Display for TraceIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace_id={} span_id={}", self.trace_id, self.span_id)
    }
}

/// The ids of the current span, or `None` outside any valid span.
pub fn current_ids() -> Option<TraceIds> {
    let cx = current_context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| TraceIds {
        trace_id: sc.trace_id(),
        span_id: sc.span_id(),
        sampled: sc.is_sampled(),
    })
}

/// The current trace id, or `None` outside any valid span.
pub fn current_trace_id() -> Option<TraceId> {
    current_ids().map(|ids| ids.trace_id)
}

/// The current span id, or `None` outside any valid span.
pub fn current_span_id() -> Option<SpanId> {
    current_ids().map(|ids| ids.span_id)
}

pin_project_lite::pin_project! {
    /// A future that makes a context (and, in the `tracing` world, a `tracing` span) current on
    /// every poll; built by [`ContextFutureExt`] and
    /// [`ActiveSpan::instrument`](crate::instrument::ActiveSpan::instrument).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InContext<F> {
        #[pin]
        inner: F,
        cx: Context,
        span: Option<tracing::Span>,
        span_activates_cx: bool,
    }
}

impl<F> InContext<F> {
    pub(crate) fn new(inner: F, cx: Context, span: Option<tracing::Span>) -> Self {
        Self {
            inner,
            cx,
            span,
            span_activates_cx: false,
        }
    }

    /// Like [`InContext::new`], for a `cx` that the `tracing-opentelemetry` layer built for
    /// `span`: entering the span may already have made it current.
    pub(crate) fn of_span(inner: F, cx: Context, span: tracing::Span) -> Self {
        Self {
            inner,
            cx,
            span: Some(span),
            span_activates_cx: true,
        }
    }
}

/// Attaches `cx`, unless `span_activates_cx` and it is current already: the
/// `tracing-opentelemetry` layer activates a span's context when the span is entered (unless
/// configured not to), and attaching it a second time would only cost.
pub(crate) fn attach_once(cx: &Context, span_activates_cx: bool) -> Option<ContextGuard> {
    let current = span_activates_cx
        && Context::map_current(|current| {
            let (current, ours) = (current.span(), cx.span());
            let (current, ours) = (current.span_context(), ours.span_context());
            current.span_id() == ours.span_id() && current.trace_id() == ours.trace_id()
        });
    (!current).then(|| cx.clone().attach())
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        let _attached = attach_once(this.cx, *this.span_activates_cx && _entered.is_some());
        this.inner.poll(task)
    }
}

/// Runs futures in a given context, or in the one current now.
pub trait ContextFutureExt: Future + Sized {
    /// Keeps the caller's current context (both worlds) current on every poll of `self`.
    fn in_current_context(self) -> InContext<Self> {
        let span = tracing::Span::current();
        let span = (!span.is_none()).then_some(span);
        InContext::new(self, current_context(), span)
    }

    /// Keeps `cx` current on every poll of `self`.
    fn in_context(self, cx: Context) -> InContext<Self> {
        InContext::new(self, cx, None)
    }
}

impl<F: Future> ContextFutureExt for F {}

/// Spawns a tokio task that runs in the caller's current context, so spans it starts nest under
/// the caller's span.
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let handle = tracewire_core::context::spawn(async { 1 + 1 });
/// assert_eq!(handle.await.unwrap(), 2);
/// # });
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_context())
}

/// Spawns an OS thread that runs `f` in the caller's current context.
///
/// ```
/// let handle = tracewire_core::context::spawn_thread(|| 40 + 2);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
pub fn spawn_thread<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cx = current_context();
    let span = tracing::Span::current();
    std::thread::spawn(move || {
        let _entered = span.enter();
        let _attached = cx.attach();
        f()
    })
}
