//! The Jaeger (`uber-trace-id`, `uberctx-*`) propagator.

use std::{borrow::Cow, sync::LazyLock};

use opentelemetry::{
    Context,
    baggage::{Baggage, BaggageExt},
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::hex;
use super::remote::RemoteTrace;

const UBER_TRACE_ID: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";
static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [UBER_TRACE_ID.to_owned()]);

const JAEGER_SAMPLED: u8 = 0x01;
/// Baggage values keep the RFC 3986 unreserved characters and percent-encode the rest, as the
/// Jaeger clients' URL encoding does.
const BAGGAGE_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A propagator for the (deprecated) Jaeger format.
///
/// **Trace context** travels in `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`.
///
/// - On extraction a value without `:` is percent-decoded first (`%3A` form). Exactly four
///   fields are required. The trace id has 1 to 32 hex digits and the span id 1 to 16 (either
///   case; shorter ids are zero-padded on the left, as Jaeger clients send them), neither may be
///   zero; the deprecated parent span id must be 1 to 16 hex digits and is ignored; the flags
///   are 1 or 2 hex digits. Only the sampled bit (`0x01`) is kept: OpenTelemetry has no debug
///   flag, and debug (`0x02`) is only meaningful together with sampled in Jaeger.
/// - Injection writes `{32 hex}:{16 hex}:0:{01|00}` for a valid span context and nothing
///   otherwise.
///
/// **Baggage** travels in `uberctx-{key}: {value}` headers. They map to OpenTelemetry
/// [`Baggage`], which is what they mean (the `opentelemetry-jaeger-propagator` crate puts them
/// in the `TraceState` instead):
///
/// - extraction adds every `uberctx-*` entry (prefix matched in any case, value
///   percent-decoded) to the baggage already in the context, independently of whether
///   `uber-trace-id` is valid;
/// - injection writes every baggage entry as `uberctx-{key}`, with the value percent-encoded.
///   HTTP lowercases header names, so keys with capitals come back lowercased over HTTP.
///
/// [`TextMapPropagator::fields`] lists `uber-trace-id` only, since the `uberctx-*` names depend
/// on the baggage.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::{Context, baggage::BaggageExt, propagation::TextMapPropagator, trace::TraceContextExt};
/// use tracewire_core::propagation::JaegerPropagator;
///
/// let mut incoming = HashMap::new();
/// incoming.insert("uber-trace-id".to_owned(), "a3ce929d0e0e4736:f067aa0ba902b7:0:1".to_owned());
/// incoming.insert("uberctx-user".to_owned(), "ada%20l".to_owned());
/// let cx = JaegerPropagator::new().extract_with_context(&Context::new(), &incoming);
/// assert!(cx.span().span_context().is_sampled());
/// assert_eq!(cx.baggage().get("user").map(|v| v.as_str()), Some("ada l"));
///
/// let mut outgoing = HashMap::new();
/// JaegerPropagator::new().inject_context(&cx, &mut outgoing);
/// assert_eq!(
///     outgoing["uber-trace-id"],
///     "0000000000000000a3ce929d0e0e4736:00f067aa0ba902b7:0:01"
/// );
/// assert_eq!(outgoing["uberctx-user"], "ada%20l");
/// ```
#[derive(Clone, Debug, Default)]
pub struct JaegerPropagator {
    _private: (),
}

impl JaegerPropagator {
    /// A new propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            injector.set(UBER_TRACE_ID, format_uber_trace_id(span_context));
        }
        for (key, (value, _metadata)) in cx.baggage() {
            let value = utf8_percent_encode(value.as_str(), BAGGAGE_VALUE).to_string();
            injector.set(&format!("{BAGGAGE_PREFIX}{}", key.as_str()), value);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let baggage = extract_baggage(cx, extractor);
        let cx = match extractor.get(UBER_TRACE_ID).and_then(parse_uber_trace_id) {
            Some(span_context) => {
                let trace_id = span_context.trace_id();
                RemoteTrace::attach_unknown(cx.with_remote_span_context(span_context), trace_id)
            }
            None => cx.clone(),
        };
        match baggage {
            Some(baggage) => cx.with_baggage(baggage),
            None => cx,
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

/// Parses `hex`, 1 to `max` digits of either case, as a non-zero id.
fn parse_id(hex: &str, max: usize) -> Option<u128> {
    if hex.len() > max {
        return None;
    }
    hex::parse(hex.as_bytes(), hex::any_case_digit).filter(|id| *id != 0)
}

fn parse_uber_trace_id(value: &str) -> Option<SpanContext> {
    let value = value.trim();
    let value = if value.contains(':') {
        Cow::Borrowed(value)
    } else {
        percent_decode_str(value).decode_utf8().ok()?
    };
    let mut fields = value.split(':');
    let (trace_id, span_id, parent_id, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() || parent_id.len() > 16 || flags.len() > 2 {
        return None;
    }
    hex::parse(parent_id.as_bytes(), hex::any_case_digit)?;
    let flags = hex::parse(flags.as_bytes(), hex::any_case_digit)?;
    let trace_id = parse_id(trace_id, 32)?;
    let span_id = u64::try_from(parse_id(span_id, 16)?).ok()?;
    let sampled = u8::try_from(flags).ok()? & JAEGER_SAMPLED;
    Some(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(sampled),
        true,
        TraceState::NONE,
    ))
}

fn format_uber_trace_id(span_context: &SpanContext) -> String {
    let mut value = String::with_capacity(54);
    hex::push(&mut value, &span_context.trace_id().to_bytes());
    value.push(':');
    hex::push(&mut value, &span_context.span_id().to_bytes());
    value.push_str(if span_context.is_sampled() {
        ":0:01"
    } else {
        ":0:00"
    });
    value
}

/// The context's baggage plus every `uberctx-*` entry, or `None` when there is no such entry.
fn extract_baggage(cx: &Context, extractor: &dyn Extractor) -> Option<Baggage> {
    let mut baggage: Option<Baggage> = None;
    for header in extractor.keys() {
        let Some(key) = strip_prefix_ignore_case(header, BAGGAGE_PREFIX) else {
            continue;
        };
        let Some(value) = extractor.get(header) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let value = percent_decode_str(value.trim()).decode_utf8_lossy();
        baggage
            .get_or_insert_with(|| {
                cx.baggage()
                    .iter()
                    .map(|(key, entry)| (key.clone(), entry.clone()))
                    .collect()
            })
            .insert(key.to_owned(), value.into_owned());
    }
    baggage
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_zero_padded() {
        let span_context = parse_uber_trace_id("1:2:0:1").expect("valid");
        assert_eq!(span_context.trace_id(), TraceId::from(1));
        assert_eq!(span_context.span_id(), SpanId::from(2));
        assert!(span_context.is_sampled());
    }

    #[test]
    fn debug_flag_keeps_only_sampled() {
        let flags = |value| parse_uber_trace_id(value).map(|sc| sc.trace_flags().to_u8());
        assert_eq!(flags("1:2:0:3"), Some(0x01));
        assert_eq!(flags("1:2:0:2"), Some(0x00));
        assert_eq!(flags("1:2:0:0b"), Some(0x01));
        assert_eq!(flags("1:2:0:100"), None);
    }

    #[test]
    fn malformed_values_are_rejected() {
        for value in [
            "",
            "1:2:0",
            "1:2:0:1:5",
            "0:2:0:1",
            "1:0:0:1",
            "x:2:0:1",
            "1:2::1",
            "1:2:0:",
            "+1:2:0:1",
            "123456789012345678901234567890123:2:0:1",
            "1:12345678901234567:0:1",
            "1:2:12345678901234567:1",
            "1%3A2%3A0",
            "%ff%3A2%3A0%3A1",
        ] {
            assert!(parse_uber_trace_id(value).is_none(), "{value:?}");
        }
    }

    #[test]
    fn prefix_match_ignores_case_and_never_panics_on_char_boundaries() {
        assert_eq!(
            strip_prefix_ignore_case("UberCtx-Key", "uberctx-"),
            Some("Key")
        );
        assert_eq!(strip_prefix_ignore_case("uberctx", "uberctx-"), None);
        assert_eq!(strip_prefix_ignore_case("ééééé", "uberctx-"), None);
    }
}
