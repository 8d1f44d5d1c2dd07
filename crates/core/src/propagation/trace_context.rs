//! A strict W3C Trace Context (`traceparent`, `tracestate`) propagator.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

use super::remote::RemoteTrace;
use super::{hex, tracestate};
use crate::ascii;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
static FIELDS: LazyLock<[String; 2]> =
    LazyLock::new(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]);

/// Length of a version-00 `traceparent`; later versions are at least this long.
const TRACEPARENT_LEN: usize = 55;
/// The sampled bit (0x01) and the Level 2 random-trace-id bit (0x02); the others are reserved
/// and must be sent as zero.
const KNOWN_FLAGS: u8 = 0x03;
/// The Level 2 flag saying the rightmost 7 bytes of the trace id are random.
const RANDOM: u8 = 0x02;

/// A W3C Trace Context (Level 2) propagator that follows the specification and its test suite
/// strictly.
///
/// Unlike `opentelemetry_sdk::propagation::TraceContextPropagator`, it
///
/// - requires exactly two lowercase hex digits per version and flags field and the exact field
///   lengths (32 and 16 lowercase hex digits; no sign, no short ids);
/// - requires exactly 55 characters for version `00` (`…-01-` and `…-01.` are invalid) and
///   rejects version `ff`;
/// - parses higher versions forward-compatibly: at least 55 characters, the flags followed by
///   the end or `-`, unknown trailing fields ignored; it always injects version `00`;
/// - keeps the Level 2 random-trace-id flag (`0x02`) for the whole trace: a child the sampler
///   dropped still sends it, and a trace started in this process sends it (the SDK's id
///   generator is random; see [`random_local_trace_ids`](Self::random_local_trace_ids)). The
///   reserved bits are cleared on extraction and injection;
/// - reads `tracestate` keys with the current grammar
///   (`key = ( lcalpha / DIGIT ) 0*255( keychar )`, `keychar` also allowing `@`), including the
///   keys opentelemetry's `TraceState` refuses (`foo@`, `a@@b`, `a@b@c`, long system ids): those
///   travel beside the span context in the extracted [`Context`] and are sent on, in place, for
///   the same trace. Members the application sets or removes through `TraceState` win; a
///   mutated header keeps the 32-member and 512-character limits;
/// - keeps the first of duplicated `tracestate` keys and discards the later ones; discards a
///   `tracestate` with more than 32 members, a key outside the grammar or a value that is empty
///   or not printable ASCII. A discarded `tracestate` never invalidates `traceparent`, and
///   `tracestate` is read only when `traceparent` is valid.
///
/// Spaces and tabs around the `traceparent` value are tolerated. Extracted span contexts are
/// remote. When nothing valid is found, extraction returns the input context unchanged, and
/// injecting an invalid span context writes nothing. `tracestate` is injected only when it has
/// members.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::{Context, propagation::TextMapPropagator, trace::TraceContextExt};
/// use tracewire_core::propagation::TraceContextPropagator;
///
/// let propagator = TraceContextPropagator::new();
/// let mut incoming = HashMap::new();
/// incoming.insert(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_owned(),
/// );
/// incoming.insert("tracestate".to_owned(), "vendor@@x=1,congo=t61".to_owned());
/// let cx = propagator.extract_with_context(&Context::new(), &incoming);
/// let span = cx.span();
/// assert!(span.span_context().is_remote());
/// assert_eq!(span.span_context().trace_flags().to_u8(), 0x03);
/// // `TraceState` cannot hold `vendor@@x`; the propagator keeps it for the same trace.
/// assert_eq!(span.span_context().trace_state().header(), "congo=t61");
///
/// let mut outgoing = HashMap::new();
/// propagator.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
/// assert_eq!(outgoing["tracestate"], "vendor@@x=1,congo=t61");
/// ```
#[derive(Clone, Debug)]
pub struct TraceContextPropagator {
    random_local_trace_ids: bool,
}

impl Default for TraceContextPropagator {
    fn default() -> Self {
        Self {
            random_local_trace_ids: true,
        }
    }
}

impl TraceContextPropagator {
    /// A new propagator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether traces started in this process have random trace ids, so that their
    /// `traceparent` carries the Level 2 random flag (default: `true`, as the SDK's default id
    /// generator draws all 128 bits at random). Turn it off with an id generator whose ids are
    /// not random in their rightmost 7 bytes.
    ///
    /// A trace extracted by one of tracewire's propagators (trace context, B3, Jaeger) keeps
    /// what it arrived with, whatever this says.
    ///
    /// ```
    /// use opentelemetry::{Context, propagation::TextMapPropagator, trace::*};
    /// use std::collections::HashMap;
    /// use tracewire_core::propagation::TraceContextPropagator;
    ///
    /// let local = SpanContext::new(
    ///     TraceId::from(1),
    ///     SpanId::from(2),
    ///     TraceFlags::SAMPLED,
    ///     false,
    ///     TraceState::NONE,
    /// );
    /// let cx = Context::new().with_remote_span_context(local);
    /// let mut sent = HashMap::new();
    /// TraceContextPropagator::new()
    ///     .random_local_trace_ids(false)
    ///     .inject_context(&cx, &mut sent);
    /// assert!(sent["traceparent"].ends_with("-01"));
    /// ```
    #[must_use]
    pub fn random_local_trace_ids(mut self, random: bool) -> Self {
        self.random_local_trace_ids = random;
        self
    }
}

impl TraceContextPropagator {
    /// The `traceparent` value [`inject_context`](TextMapPropagator::inject_context) sends for
    /// `cx` (flags included), for other places that name a span in that format, such as a
    /// `traceresponse` header; `None` when `cx` has no valid span.
    ///
    /// ```
    /// use opentelemetry::{Context, trace::*};
    /// use tracewire_core::propagation::TraceContextPropagator;
    ///
    /// let local = SpanContext::new(
    ///     TraceId::from(1),
    ///     SpanId::from(2),
    ///     TraceFlags::SAMPLED,
    ///     false,
    ///     TraceState::NONE,
    /// );
    /// let cx = Context::new().with_remote_span_context(local);
    /// assert_eq!(
    ///     TraceContextPropagator::new().traceparent(&cx).as_deref(),
    ///     Some("00-00000000000000000000000000000001-0000000000000002-03"),
    /// );
    /// ```
    pub fn traceparent(&self, cx: &Context) -> Option<String> {
        let span = cx.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| {
            let remote = RemoteTrace::of(cx, span_context.trace_id());
            let flags = self.sent_flags(remote, span_context);
            format_traceparent(span_context.trace_id(), span_context.span_id(), flags)
        })
    }

    /// The trace flags sent for `span_context`: its own, and the random flag when the trace
    /// arrived with it (`remote`), or was started here.
    fn sent_flags(&self, remote: Option<&RemoteTrace>, span_context: &SpanContext) -> u8 {
        let random = match remote {
            Some(remote) => remote.random,
            None => self.random_local_trace_ids && !span_context.is_remote(),
        };
        span_context.trace_flags().to_u8() | if random { RANDOM } else { 0 }
    }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let remote = RemoteTrace::of(cx, span_context.trace_id());
        injector.set(
            TRACEPARENT,
            format_traceparent(
                span_context.trace_id(),
                span_context.span_id(),
                self.sent_flags(remote, span_context),
            ),
        );
        let trace_state = span_context.trace_state();
        let header = match remote.and_then(|remote| remote.tracestate.as_ref()) {
            Some(received) => received.header_for(trace_state),
            None => format_tracestate(trace_state),
        };
        if let Some(header) = header {
            injector.set(TRACESTATE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some((trace_id, span_id, flags)) =
            extractor.get(TRACEPARENT).and_then(parse_traceparent)
        else {
            return cx.clone();
        };
        let (trace_state, received) = extractor
            .get(TRACESTATE)
            .and_then(tracestate::parse)
            .unwrap_or_default();
        let cx = cx.with_remote_span_context(SpanContext::new(
            trace_id,
            span_id,
            flags,
            true,
            trace_state,
        ));
        RemoteTrace::attach(cx, trace_id, flags.to_u8() & RANDOM != 0, received)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

/// The value of one lowercase hex byte written as two digits.
fn hex_byte(high: u8, low: u8) -> Option<u8> {
    Some(hex::lower_digit(high)? << 4 | hex::lower_digit(low)?)
}

/// Parses a `traceparent` value; `None` when it is invalid.
fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let bytes = ascii::trim_ows(value).as_bytes();
    if bytes.len() < TRACEPARENT_LEN || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let version = hex_byte(bytes[0], bytes[1])?;
    // Version 00 has exactly four fields; later versions may append `-`-separated fields.
    match bytes.get(TRACEPARENT_LEN) {
        None => {}
        Some(b'-') if version != 0 => {}
        Some(_) => return None,
    }
    if version == 0xff {
        return None;
    }
    let mut trace_id = [0; 16];
    let mut span_id = [0; 8];
    let mut flags = [0];
    if !(hex::decode_lower(&bytes[3..35], &mut trace_id)
        && hex::decode_lower(&bytes[36..52], &mut span_id)
        && hex::decode_lower(&bytes[53..55], &mut flags))
    {
        return None;
    }
    let (trace_id, span_id) = (TraceId::from_bytes(trace_id), SpanId::from_bytes(span_id));
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags[0] & KNOWN_FLAGS)))
}

fn format_traceparent(trace_id: TraceId, span_id: SpanId, flags: u8) -> String {
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex::encode(&trace_id.to_bytes(), &mut value[3..35]);
    hex::encode(&span_id.to_bytes(), &mut value[36..52]);
    hex::encode(&[flags & KNOWN_FLAGS], &mut value[53..]);
    // Only hex digits and dashes: always UTF-8, never the empty default.
    String::from_utf8(value.to_vec()).unwrap_or_default()
}

/// The `tracestate` header for `trace_state`, or `None` when it has no members.
fn format_tracestate(trace_state: &TraceState) -> Option<String> {
    let mut members = trace_state.into_iter().peekable();
    members.peek()?;
    Some(tracestate::join(members))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    #[test]
    fn parses_a_valid_traceparent() {
        let (trace_id, span_id, flags) = parse_traceparent(VALID).expect("valid");
        assert_eq!(
            trace_id,
            TraceId::from(0x1234_5678_9012_3456_7890_1234_5678_9012)
        );
        assert_eq!(span_id, SpanId::from(0x1234_5678_9012_3456));
        assert_eq!(flags, TraceFlags::SAMPLED);
    }

    #[test]
    fn reserved_flags_are_cleared_but_random_is_kept() {
        let value = "00-12345678901234567890123456789012-1234567890123456-ff";
        let (_, _, flags) = parse_traceparent(value).expect("valid");
        assert_eq!(flags.to_u8(), 0x03);
    }

    #[test]
    fn format_tracestate_joins_members_in_order() {
        let state = TraceState::from_key_value([("b", "2"), ("a", "1")]).expect("valid");
        assert_eq!(format_tracestate(&state).as_deref(), Some("b=2,a=1"));
        assert_eq!(format_tracestate(&TraceState::NONE), None);
    }

    fn injected(propagator: &TraceContextPropagator, cx: &Context) -> String {
        let mut sent = std::collections::HashMap::new();
        propagator.inject_context(cx, &mut sent);
        sent.remove(TRACEPARENT).unwrap_or_default()
    }

    fn span_context(flags: u8, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(0x1234_5678_9012_3456_7890_1234_5678_9012),
            SpanId::from(1),
            TraceFlags::new(flags),
            remote,
            TraceState::NONE,
        )
    }

    #[test]
    fn the_random_flag_follows_the_trace() {
        let propagator = TraceContextPropagator::new();
        let extract = |flags: &str| {
            let mut headers = std::collections::HashMap::new();
            headers.insert(
                TRACEPARENT.to_owned(),
                format!("00-12345678901234567890123456789012-1234567890123456-{flags}"),
            );
            propagator.extract_with_context(&Context::new(), &headers)
        };
        // A dropped child: the SDK gives it flags 00, the trace keeps its random flag.
        let child = extract("02").with_remote_span_context(span_context(0x00, false));
        assert!(injected(&propagator, &child).ends_with("-02"));
        let child = extract("03").with_remote_span_context(span_context(0x01, false));
        assert!(injected(&propagator, &child).ends_with("-03"));
        // A remote trace without the flag does not gain it.
        let child = extract("01").with_remote_span_context(span_context(0x01, false));
        assert!(injected(&propagator, &child).ends_with("-01"));
        // Another trace than the one extracted: started here.
        let other = SpanContext::new(
            TraceId::from(7),
            SpanId::from(1),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        assert!(
            injected(&propagator, &extract("01").with_remote_span_context(other)).ends_with("-03")
        );
    }

    #[test]
    fn traces_started_here_are_random_unless_configured_otherwise() {
        let local = Context::new().with_remote_span_context(span_context(0x01, false));
        assert!(injected(&TraceContextPropagator::new(), &local).ends_with("-03"));
        let plain = TraceContextPropagator::new().random_local_trace_ids(false);
        assert!(injected(&plain, &local).ends_with("-01"));
        // A remote span context that none of our propagators extracted keeps its flags.
        let foreign = Context::new().with_remote_span_context(span_context(0x01, true));
        assert!(injected(&TraceContextPropagator::new(), &foreign).ends_with("-01"));
    }
}
