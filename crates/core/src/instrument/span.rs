use std::borrow::Cow;
use std::future::Future;
use std::ops::Deref;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanId, Status, TraceContextExt, TraceId};
use opentelemetry::{Context, ContextGuard, KeyValue, Value};

use crate::context::{InContext, attach_once};
use crate::semconv::error::ERROR_TYPE;

/// A started span and its context, returned by
/// [`Instrumentation::start`](super::Instrumentation::start).
///
/// It dereferences to a [`SpanHandle`], which reads the ids and records attributes, events and
/// errors: they go straight to the OpenTelemetry span with their types intact, whichever
/// [backend](super::SpanBackend) created it. The `ActiveSpan` adds what only the span's owner
/// does: keep it current ([`enter`](Self::enter), [`instrument`](Self::instrument)) and end it.
/// The span ends when [`ActiveSpan::end`] is called or, failing that, when the `ActiveSpan` is
/// dropped (a cancelled request still ends its span).
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanKind;
/// use tracewire_core::instrument::{Instrumentation, SpanStart};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let instrumentation = Instrumentation::builder("example").build();
/// let span = instrumentation.start(SpanStart::new(SpanKind::Client, "GET"));
/// let status = span.instrument(async { 503_i64 }).await;
/// span.set_attribute(KeyValue::new("http.response.status_code", status));
/// span.set_error("503");
/// span.end();
/// # });
/// ```
#[derive(Debug)]
pub struct ActiveSpan {
    handle: SpanHandle,
    tracing_span: Option<tracing::Span>,
    /// The `tracing-opentelemetry` layer built the context for `tracing_span`.
    span_activates_cx: bool,
    started: Instant,
    ended: bool,
}

/// Keeps an [`ActiveSpan`]'s context current until dropped; see [`ActiveSpan::enter`].
///
/// Not `Send`: hold it within one poll, never across an `.await`.
#[derive(Debug)]
#[must_use = "the span is current only while the guard lives"]
pub struct SpanGuard<'a> {
    // Field order is drop order: detach the OpenTelemetry context, then exit the tracing span.
    _context: Option<ContextGuard>,
    _entered: Option<tracing::span::Entered<'a>>,
}

impl ActiveSpan {
    pub(super) fn new(cx: Context, tracing_span: Option<tracing::Span>) -> Self {
        Self {
            handle: SpanHandle::new(cx),
            tracing_span,
            span_activates_cx: false,
            started: Instant::now(),
            ended: false,
        }
    }

    /// An active span for a `tracing` span whose context the `tracing-opentelemetry` layer built.
    pub(super) fn recorded(cx: Context, tracing_span: tracing::Span) -> Self {
        let mut span = Self::new(cx, Some(tracing_span));
        span.span_activates_cx = true;
        span
    }

    /// Moves the start of [`elapsed`](Self::elapsed) back to `started` (backdated spans).
    pub(super) fn started_at(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    /// Time since the span started: the value duration metrics record, so they equal the span.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Makes the span current until the guard drops: the OpenTelemetry context is attached and,
    /// when the span is also a `tracing` span, that span is entered, so events, `#[instrument]`
    /// functions and OpenTelemetry API spans all nest under it.
    #[inline]
    pub fn enter(&self) -> SpanGuard<'_> {
        let entered = self.tracing_span.as_ref().map(tracing::Span::enter);
        SpanGuard {
            _context: attach_once(&self.handle.cx, self.span_activates_cx && entered.is_some()),
            _entered: entered,
        }
    }

    /// Runs `f` with the span current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Wraps `future` so the span is current on every poll.
    pub fn instrument<F: Future>(&self, future: F) -> InContext<F> {
        match (&self.tracing_span, self.span_activates_cx) {
            (Some(span), true) => InContext::of_span(future, self.handle.cx.clone(), span.clone()),
            _ => InContext::new(future, self.handle.cx.clone(), self.tracing_span.clone()),
        }
    }

    /// Ends the span now.
    #[inline]
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if !self.ended {
            self.ended = true;
            self.handle.cx.span().end();
        }
    }
}

/// A span reached through the context that holds it: read its ids, record attributes, events
/// and errors. Cloning the handle neither copies nor ends the span.
///
/// Every [`ActiveSpan`] dereferences to one; adapters also hand one out for a span they own
/// elsewhere (a web framework's request span extractor, for instance). With no span in the
/// context, the ids are all zeros and recording does nothing.
///
/// ```
/// use opentelemetry::{Context, KeyValue};
/// use opentelemetry::trace::{SpanId, TraceId};
/// use tracewire_core::instrument::SpanHandle;
///
/// let handle = SpanHandle::new(Context::new());
/// handle.set_attribute(KeyValue::new("app.tenant", "acme")); // no span: a no-op
/// assert!(!handle.is_recording());
/// assert_eq!(handle.trace_id(), TraceId::INVALID);
/// assert_eq!(handle.span_id(), SpanId::INVALID);
/// ```
#[derive(Clone, Debug)]
pub struct SpanHandle {
    cx: Context,
}

impl SpanHandle {
    /// A handle to the span `cx` holds.
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }

    /// The context holding the span: pass it to a propagator to inject, or use it as a parent.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The span's trace id (valid even when the span is not sampled).
    pub fn trace_id(&self) -> TraceId {
        self.cx.span().span_context().trace_id()
    }

    /// The span's id.
    pub fn span_id(&self) -> SpanId {
        self.cx.span().span_context().span_id()
    }

    /// A copy of the span's [`SpanContext`].
    pub fn span_context(&self) -> SpanContext {
        self.cx.span().span_context().clone()
    }

    /// Whether the span records anything; when it does not (sampled out), adapters skip work whose
    /// only purpose is attributes.
    pub fn is_recording(&self) -> bool {
        self.cx.span().is_recording()
    }

    /// Sets one attribute.
    #[inline]
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// Sets several attributes.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.cx.span().set_attributes(attributes);
    }

    /// Marks the span failed: status Error with no description and `error.type` set, the pair
    /// the conventions require for every failure.
    pub fn set_error(&self, error_type: impl Into<Value>) {
        self.set_error_with_description(error_type, "");
    }

    /// Marks the span failed with a status description (for example an exception message; never
    /// the status code again, never secrets).
    pub fn set_error_with_description(
        &self,
        error_type: impl Into<Value>,
        description: impl Into<Cow<'static, str>>,
    ) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(ERROR_TYPE, error_type));
        span.set_status(Status::error(description));
    }

    /// Adds an event.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.cx.span().add_event(name, attributes);
    }
}

impl Deref for ActiveSpan {
    type Target = SpanHandle;

    fn deref(&self) -> &SpanHandle {
        &self.handle
    }
}

impl Drop for ActiveSpan {
    fn drop(&mut self) {
        self.finish();
    }
}
