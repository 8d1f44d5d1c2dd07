//! [`ResponsePropagation`]: the request's trace written into its response, for support tickets.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracewire_core::propagation::TraceContextPropagator;

/// The `traceresponse` header of W3C Trace Context Level 2.
const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// Which headers carry the server span's trace back to the caller. Off by default.
///
/// - [`traceresponse`](Self::traceresponse): `traceresponse: 00-{trace-id}-{span-id}-{flags}`,
///   the `traceparent` format (W3C Trace Context Level 2), naming the server span;
/// - [`trace_id_header`](Self::trace_id_header): the trace id alone (32 lowercase hex digits)
///   under a name of your choice, such as `x-trace-id`, for users to quote.
///
/// Only the server span's own ids are written: incoming `tracestate` and baggage are never
/// echoed. Nothing is written for a request without a span (filtered out, or tracing off).
///
/// ```
/// use http::HeaderName;
/// use tracewire_axum::{ResponsePropagation, TelemetryLayer};
///
/// let layer = TelemetryLayer::builder()
///     .response_propagation(
///         ResponsePropagation::new()
///             .traceresponse()
///             .trace_id_header(HeaderName::from_static("x-trace-id")),
///     )
///     .build();
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ResponsePropagation {
    traceresponse: bool,
    trace_id_header: Option<HeaderName>,
}

impl ResponsePropagation {
    /// Writes nothing; add headers with the other methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `traceresponse`.
    pub fn traceresponse(mut self) -> Self {
        self.traceresponse = true;
        self
    }

    /// Writes the trace id under `name`.
    pub fn trace_id_header(mut self, name: HeaderName) -> Self {
        self.trace_id_header = Some(name);
        self
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.traceresponse || self.trace_id_header.is_some()
    }

    /// Writes the configured headers for the span of `cx`, replacing any value the handler set.
    pub(crate) fn write(&self, cx: &Context, headers: &mut HeaderMap) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        // The flags trace context sends downstream (the Level 2 random flag included); the
        // reserved bits are always 0.
        if self.traceresponse
            && let Some(value) = TraceContextPropagator::new().traceparent(cx)
            && let Ok(value) = HeaderValue::try_from(value)
        {
            headers.insert(TRACERESPONSE, value);
        }
        if let Some(name) = &self.trace_id_header
            && let Ok(value) = HeaderValue::try_from(span_context.trace_id().to_string())
        {
            headers.insert(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn span(flags: u8, remote: bool) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::new(flags),
            remote,
            TraceState::NONE,
        ))
    }

    #[test]
    fn writes_both_headers_with_reserved_flags_cleared() {
        let mut headers = HeaderMap::new();
        headers.insert("x-trace-id", HeaderValue::from_static("stale"));
        ResponsePropagation::new()
            .traceresponse()
            .trace_id_header(HeaderName::from_static("x-trace-id"))
            .write(&span(0xfd, true), &mut headers);
        assert_eq!(
            headers["traceresponse"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(headers["x-trace-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(headers.get_all("x-trace-id").iter().count(), 1);
    }

    #[test]
    fn a_trace_started_here_is_answered_with_the_random_flag() {
        let mut headers = HeaderMap::new();
        ResponsePropagation::new()
            .traceresponse()
            .write(&span(0x01, false), &mut headers);
        assert_eq!(
            headers["traceresponse"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
    }

    #[test]
    fn writes_nothing_when_off_or_invalid() {
        let mut headers = HeaderMap::new();
        assert!(!ResponsePropagation::new().is_enabled());
        ResponsePropagation::new()
            .traceresponse()
            .write(&Context::new(), &mut headers);
        assert!(headers.is_empty());
    }
}
