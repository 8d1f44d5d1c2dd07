//! A strict W3C Trace Context (`traceparent`, `tracestate`) propagator.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

use super::hex;
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
/// The W3C limit on `tracestate` list members.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A W3C Trace Context propagator that follows the specification and its test suite strictly.
///
/// Unlike `opentelemetry_sdk::propagation::TraceContextPropagator`, it
///
/// - requires exactly two lowercase hex digits per version and flags field and the exact field
///   lengths (32 and 16 lowercase hex digits; no sign, no short ids);
/// - requires exactly 55 characters for version `00` (`…-01-` and `…-01.` are invalid) and
///   rejects version `ff`;
/// - parses higher versions forward-compatibly: at least 55 characters, the flags followed by
///   the end or `-`, unknown trailing fields ignored; it always injects version `00`;
/// - keeps the Level 2 random-trace-id flag (`0x02`) next to the sampled flag (`0x01`), and
///   clears the reserved bits on extraction and injection;
/// - discards a `tracestate` with more than 32 members, a duplicated key, a key outside the
///   Level 1 grammar (`foo@`, `@foo`, `a@b@c`, a tenant longer than 241 or a system id longer
///   than 14 characters) or a value that is empty or not printable ASCII. A discarded
///   `tracestate` never invalidates `traceparent`, and `tracestate` is read only when
///   `traceparent` is valid.
///
/// Spaces and tabs around the `traceparent` value are tolerated. Extracted span contexts are
/// remote. When nothing valid is found, extraction returns the input context unchanged, and
/// injecting an invalid span context writes nothing. `tracestate` is injected only when it has
/// members.
///
/// Keys are stored in [`TraceState`], which (in opentelemetry 0.33) also rejects a system id of
/// exactly 14 characters, so such a `tracestate` is discarded too.
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
/// let cx = propagator.extract_with_context(&Context::new(), &incoming);
/// let span = cx.span();
/// assert!(span.span_context().is_remote());
/// assert_eq!(span.span_context().trace_flags().to_u8(), 0x03);
///
/// let mut outgoing = HashMap::new();
/// propagator.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
/// assert!(!outgoing.contains_key("tracestate"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TraceContextPropagator {
    _private: (),
}

impl TraceContextPropagator {
    /// A new propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        injector.set(TRACEPARENT, format_traceparent(span_context));
        if let Some(trace_state) = format_tracestate(span_context.trace_state()) {
            injector.set(TRACESTATE, trace_state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some((trace_id, span_id, flags)) =
            extractor.get(TRACEPARENT).and_then(parse_traceparent)
        else {
            return cx.clone();
        };
        let trace_state = extractor
            .get(TRACESTATE)
            .and_then(parse_tracestate)
            .unwrap_or_default();
        cx.with_remote_span_context(SpanContext::new(
            trace_id,
            span_id,
            flags,
            true,
            trace_state,
        ))
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

fn format_traceparent(span_context: &SpanContext) -> String {
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex::encode(&span_context.trace_id().to_bytes(), &mut value[3..35]);
    hex::encode(&span_context.span_id().to_bytes(), &mut value[36..52]);
    hex::encode(
        &[span_context.trace_flags().to_u8() & KNOWN_FLAGS],
        &mut value[53..],
    );
    // Only hex digits and dashes: always UTF-8, never the empty default.
    String::from_utf8(value.to_vec()).unwrap_or_default()
}

/// The `tracestate` header for `trace_state`, or `None` when it has no members.
fn format_tracestate(trace_state: &TraceState) -> Option<String> {
    let mut members = trace_state.into_iter();
    let (key, value) = members.next()?;
    let mut header = String::with_capacity(64);
    header.push_str(key);
    header.push('=');
    header.push_str(value);
    for (key, value) in members {
        header.push(',');
        header.push_str(key);
        header.push('=');
        header.push_str(value);
    }
    Some(header)
}

/// Non-empty list members of a `tracestate` value, split at their first `=`; `None` for a member
/// without `=`.
fn members(header: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    ascii::split(header, b',')
        .map(ascii::trim_ows)
        .filter(|member| !member.is_empty())
        .map(|member| ascii::split_once(member, b'='))
}

/// Parses a `tracestate` value; `None` when the whole header must be discarded.
fn parse_tracestate(header: &str) -> Option<TraceState> {
    let mut keys = [""; MAX_TRACESTATE_MEMBERS];
    for (index, member) in members(header).enumerate() {
        let (key, value) = member?;
        if index == MAX_TRACESTATE_MEMBERS
            || !valid_key(key)
            || !valid_value(value)
            || keys[..index].contains(&key)
        {
            return None;
        }
        keys[index] = key;
    }
    // Every member was checked above, so the `flatten` drops nothing.
    TraceState::from_key_value(members(header).flatten()).ok()
}

fn is_key_char(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-' | b'*' | b'/')
}

/// A key of the W3C Level 1 grammar, also allowing a digit first (Level 2).
fn valid_key(key: &str) -> bool {
    let starts_alphanumeric = |part: &str| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let all_key_chars = |part: &str| part.bytes().all(is_key_char);
    match key.split_once('@') {
        None => key.len() <= 256 && starts_alphanumeric(key) && all_key_chars(key),
        Some((tenant, system)) => {
            tenant.len() <= 241
                && starts_alphanumeric(tenant)
                && all_key_chars(tenant)
                && system.len() <= 14
                && system
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase())
                && all_key_chars(system)
        }
    }
}

/// 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
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
    fn keys_follow_the_level_1_grammar() {
        for valid in ["foo", "0foo", "a_-*/9", "t@v", "foo@bar-1"] {
            assert!(valid_key(valid), "{valid}");
        }
        let too_long = "k".repeat(257);
        for invalid in [
            "", "Foo", "_foo", "foo bar", "foo.bar", "foo@", "@foo", "foo@@bar", "a@b@c", "a@1b",
            &too_long,
        ] {
            assert!(!valid_key(invalid), "{invalid}");
        }
        assert!(valid_key(&format!(
            "{}@{}",
            "t".repeat(241),
            "v".repeat(14)
        )));
        assert!(!valid_key(&format!("{}@v", "t".repeat(242))));
        assert!(!valid_key(&format!("t@{}", "v".repeat(15))));
    }

    #[test]
    fn values_are_printable_ascii_without_separators() {
        assert!(valid_value(" leading space is part of the value"));
        assert!(valid_value(&"v".repeat(256)));
        for invalid in ["", "a=b", "a,b", "tab\there", "trailing ", "é"] {
            assert!(!valid_value(invalid), "{invalid:?}");
        }
        assert!(!valid_value(&"v".repeat(257)));
    }

    #[test]
    fn format_tracestate_joins_members_in_order() {
        let state = TraceState::from_key_value([("b", "2"), ("a", "1")]).expect("valid");
        assert_eq!(format_tracestate(&state).as_deref(), Some("b=2,a=1"));
        assert_eq!(format_tracestate(&TraceState::NONE), None);
    }
}
