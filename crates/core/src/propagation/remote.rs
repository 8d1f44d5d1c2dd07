//! What an extracted trace carried that a [`SpanContext`](opentelemetry::trace::SpanContext)
//! cannot hold, kept in the [`Context`] beside it.
//!
//! The SDK builds a child's trace flags from its sampling decision (a dropped child loses the
//! W3C random flag) and its trace state from `TraceState`, which refuses keys of the current
//! grammar. Contexts are built from their parent's (`parent_cx.with_span(...)`, in the SDK and in
//! `tracing-opentelemetry` alike), so a value stored here at extraction reaches every span of the
//! request, and the trace-context propagator puts it back when it injects the same trace.

use opentelemetry::{Context, trace::TraceId};

use super::tracestate::Received;

/// The remote trace a propagator of ours extracted.
#[derive(Debug)]
pub(super) struct RemoteTrace {
    trace_id: TraceId,
    /// The W3C Level 2 random flag as received; `false` from formats that cannot say.
    pub(super) random: bool,
    /// The received `tracestate`, when `TraceState` could not hold all of it.
    pub(super) tracestate: Option<Received>,
}

impl RemoteTrace {
    /// Marks `cx`, which now carries the remote span context of `trace_id`.
    pub(super) fn attach(
        cx: Context,
        trace_id: TraceId,
        random: bool,
        tracestate: Option<Received>,
    ) -> Context {
        cx.with_value(Self {
            trace_id,
            random,
            tracestate,
        })
    }

    /// Marks `cx` as carrying the remote trace `trace_id` from a format that cannot say whether
    /// its id is random; what a W3C header already said of the same trace is kept.
    pub(super) fn attach_unknown(cx: Context, trace_id: TraceId) -> Context {
        if Self::of(&cx, trace_id).is_some() {
            return cx;
        }
        Self::attach(cx, trace_id, false, None)
    }

    /// What was extracted for `trace_id` into `cx` or a context it was built from.
    pub(super) fn of(cx: &Context, trace_id: TraceId) -> Option<&Self> {
        cx.get::<Self>()
            .filter(|remote| remote.trace_id == trace_id)
    }
}

/// The random flag a propagator of ours extracted for `trace_id` into `cx` (or a context built
/// from it); `None` when the trace was not extracted by one.
pub(crate) fn remote_random(cx: &Context, trace_id: TraceId) -> Option<bool> {
    RemoteTrace::of(cx, trace_id).map(|remote| remote.random)
}
