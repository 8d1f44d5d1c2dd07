//! The B3 propagator (openzipkin/b3-propagation): the single `b3` header and the multiple
//! `x-b3-*` headers.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

use super::hex;
use super::remote::RemoteTrace;

// Lowercase, so the names also match on case-sensitive carriers such as gRPC metadata and Kafka
// headers; HTTP carriers compare them case-insensitively anyway.
const B3: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

static SINGLE_FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [B3.to_owned()]);
static MULTI_FIELDS: LazyLock<[String; 3]> =
    LazyLock::new(|| [TRACE_ID.to_owned(), SPAN_ID.to_owned(), SAMPLED.to_owned()]);

/// Hex digits of a 64-bit and of a 128-bit id.
const SHORT_ID_LEN: usize = 16;
const LONG_ID_LEN: usize = 32;
/// `{trace id}-{span id}-{sampling state}`, the longest value injected.
const SINGLE_LEN: usize = LONG_ID_LEN + 1 + SHORT_ID_LEN + 2;

/// Which headers injection writes; extraction reads both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Single,
    Multiple,
}

/// A B3 propagator.
///
/// **Extraction** reads the single `b3` header first and the `x-b3-*` headers only when `b3`
/// yields no span context, whichever encoding injection uses:
///
/// - `b3: {trace id}-{span id}[-{sampling state}[-{parent span id}]]`, and `x-b3-traceid`,
///   `x-b3-spanid`, optional `x-b3-parentspanid`, `x-b3-sampled` and `x-b3-flags`;
/// - trace ids are 16 or 32 lowercase hex digits (16 are zero-padded on the left to 128 bits),
///   span ids exactly 16; zero ids and uppercase hex are invalid;
/// - the sampling state is `1` (accept), `0` (deny) or `d` (debug) in `b3`; `x-b3-sampled` is
///   `1`/`0`, or `true`/`false` from older clients; `x-b3-flags` is `1` (debug) or `0`;
/// - any malformed field, including the parent span id, which is otherwise ignored, discards
///   that encoding; when nothing valid is found the input context is returned unchanged;
/// - a sampling state alone (`b3: 0`, `b3: 1`, `b3: d`) carries no span context, so it is
///   ignored, and the local sampler decides as for a new trace.
///
/// OpenTelemetry trace flags have only a sampled bit, so two B3 states are folded into it:
///
/// - debug extracts as sampled, and is injected again as plain accept (`1`);
/// - an absent sampling state ("defer") extracts as *not sampled*, and is injected again as
///   deny (`0`). With the default parent-based sampler the service then records nothing; to let
///   the local sampler decide for such traffic, configure the parent-based sampler's
///   remote-parent-not-sampled delegate.
///
/// Trace flag `0x02` (W3C Level 2 "random trace id") is never set on extraction and never read
/// on injection.
///
/// **Injection** writes nothing for a context without a valid span context. Otherwise the
/// single encoding writes `b3: {32 hex}-{16 hex}-{1|0}`, and the multiple encoding
/// `x-b3-traceid`, `x-b3-spanid` and `x-b3-sampled: {1|0}`. The parent span id is never
/// injected. [`TextMapPropagator::fields`] lists exactly the headers injection writes.
#[derive(Clone, Debug)]
pub(super) struct B3Propagator {
    encoding: Encoding,
}

impl B3Propagator {
    /// Injects the single `b3` header (`OTEL_PROPAGATORS=b3`).
    pub(super) fn single_header() -> Self {
        Self {
            encoding: Encoding::Single,
        }
    }

    /// Injects the `x-b3-*` headers (`OTEL_PROPAGATORS=b3multi`).
    pub(super) fn multiple_headers() -> Self {
        Self {
            encoding: Encoding::Multiple,
        }
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let sampling_state = if span_context.is_sampled() { "1" } else { "0" };
        match self.encoding {
            Encoding::Single => {
                let mut value = String::with_capacity(SINGLE_LEN);
                hex::push(&mut value, &span_context.trace_id().to_bytes());
                value.push('-');
                hex::push(&mut value, &span_context.span_id().to_bytes());
                value.push('-');
                value.push_str(sampling_state);
                injector.set(B3, value);
            }
            Encoding::Multiple => {
                let mut trace_id = String::with_capacity(LONG_ID_LEN);
                hex::push(&mut trace_id, &span_context.trace_id().to_bytes());
                injector.set(TRACE_ID, trace_id);
                let mut span_id = String::with_capacity(SHORT_ID_LEN);
                hex::push(&mut span_id, &span_context.span_id().to_bytes());
                injector.set(SPAN_ID, span_id);
                injector.set(SAMPLED, sampling_state.to_owned());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor
            .get(B3)
            .and_then(parse_single)
            .or_else(|| parse_multiple(extractor))
        {
            Some(span_context) => {
                let trace_id = span_context.trace_id();
                RemoteTrace::attach_unknown(cx.with_remote_span_context(span_context), trace_id)
            }
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        match self.encoding {
            Encoding::Single => FieldIter::new(SINGLE_FIELDS.as_slice()),
            Encoding::Multiple => FieldIter::new(MULTI_FIELDS.as_slice()),
        }
    }
}

/// Exactly `len` lowercase hex digits, not all zero.
fn parse_id(field: &str, len: usize) -> Option<u128> {
    if field.len() != len {
        return None;
    }
    hex::parse(field.as_bytes(), hex::lower_digit).filter(|id| *id != 0)
}

/// A 16- or 32-digit trace id; the 16-digit form is the low half of the 128-bit id.
fn parse_trace_id(field: &str) -> Option<TraceId> {
    let len = if field.len() == SHORT_ID_LEN {
        SHORT_ID_LEN
    } else {
        LONG_ID_LEN
    };
    parse_id(field, len).map(TraceId::from)
}

fn parse_span_id(field: &str) -> Option<SpanId> {
    let id = u64::try_from(parse_id(field, SHORT_ID_LEN)?).ok()?;
    Some(SpanId::from(id))
}

fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
    SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::default().with_sampled(sampled),
        true,
        TraceState::NONE,
    )
}

/// Parses a `b3` value; `None` when it is malformed or is a sampling state alone.
fn parse_single(value: &str) -> Option<SpanContext> {
    let mut fields = value.split('-');
    let trace_id = parse_trace_id(fields.next()?)?;
    let span_id = parse_span_id(fields.next()?)?;
    let sampled = match fields.next() {
        // Deferred.
        None => false,
        Some("1" | "d") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    if let Some(parent_span_id) = fields.next() {
        parse_span_id(parent_span_id)?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(remote(trace_id, span_id, sampled))
}

/// Parses the `x-b3-*` headers; `None` when the ids are missing or any field is malformed.
fn parse_multiple(extractor: &dyn Extractor) -> Option<SpanContext> {
    let trace_id = parse_trace_id(extractor.get(TRACE_ID)?)?;
    let span_id = parse_span_id(extractor.get(SPAN_ID)?)?;
    if let Some(parent_span_id) = extractor.get(PARENT_SPAN_ID) {
        parse_span_id(parent_span_id)?;
    }
    let debug = match extractor.get(FLAGS) {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return None,
    };
    let sampled = match extractor.get(SAMPLED) {
        // Deferred.
        None => false,
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        Some(_) => return None,
    };
    Some(remote(trace_id, span_id, debug || sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn trace_ids_are_16_or_32_lower_hex_digits() {
        assert_eq!(
            parse_trace_id("a3ce929d0e0e4736"),
            Some(TraceId::from(0xa3ce_929d_0e0e_4736))
        );
        assert_eq!(
            parse_trace_id(TRACE),
            Some(TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736))
        );
        for invalid in [
            "",
            "1",
            "a3ce929d0e0e473",
            "0a3ce929d0e0e4736",
            "0000000000000000",
            "A3CE929D0E0E4736",
            "+3ce929d0e0e4736",
        ] {
            assert_eq!(parse_trace_id(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn single_sampling_states() {
        for (state, sampled) in [("", false), ("-1", true), ("-d", true), ("-0", false)] {
            let value = [TRACE, "-", SPAN, state].concat();
            let span_context = parse_single(&value).expect("valid");
            assert_eq!(span_context.is_sampled(), sampled, "{value}");
            assert_eq!(span_context.trace_flags().to_u8() & !0x01, 0);
        }
        for state in ["-", "-2", "-10", "-D", "-true"] {
            assert_eq!(parse_single(&[TRACE, "-", SPAN, state].concat()), None);
        }
    }

    #[test]
    fn single_parent_span_id_is_checked_and_ignored() {
        let with_parent = [TRACE, "-", SPAN, "-1-05e3ac9a4f6e3b90"].concat();
        assert_eq!(
            parse_single(&with_parent),
            parse_single(&[TRACE, "-", SPAN, "-1"].concat())
        );
        for parent in [
            "-1-",
            "-1-05e3ac9a4f6e3b9",
            "-1-0000000000000000",
            "-1-05E3AC9A4F6E3B90",
        ] {
            assert_eq!(parse_single(&[TRACE, "-", SPAN, parent].concat()), None);
        }
    }
}
