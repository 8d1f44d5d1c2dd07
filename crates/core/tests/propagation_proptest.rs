//! Property tests: arbitrary header values never panic and never produce an invalid context,
//! and inject followed by extract is the identity.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    baggage::BaggageExt,
    propagation::{TextMapCompositePropagator, TextMapPropagator},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use proptest::{prelude::*, strategy::ValueTree};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, JaegerPropagator, PairExtractor, PairInjector, PropagatorKind,
    TraceContextPropagator,
};

const HEADERS: [&str; 12] = [
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "uberctx-key",
    "uberctx-",
];

const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn every_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(
        [
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::B3,
            PropagatorKind::B3Multi,
            PropagatorKind::Jaeger,
        ]
        .into_iter()
        .map(PropagatorKind::build)
        .collect(),
    )
}

fn marker() -> SpanContext {
    SpanContext::new(
        TraceId::from(0xaaaa),
        SpanId::from(0xbbbb),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    )
}

/// Starting from the valid marker, the span context stays valid and remote whatever the input:
/// a propagator either replaces it with a valid extracted one or leaves it alone.
fn assert_sane(cx: &Context) {
    let span = cx.span();
    let span_context = span.span_context();
    assert!(span_context.is_valid(), "{span_context:?}");
    assert!(span_context.is_remote());
    assert!(cx.baggage().len() <= 64);
}

/// Values near the traceparent grammar: mostly well-formed fields, with each field sometimes
/// wrong, so both outcomes and every edge are hit often.
fn near_traceparent() -> impl Strategy<Value = String> {
    let field = |good: &'static str, zero: &'static str, bad: &'static str| prop_oneof![6 => good, 1 => zero, 2 => bad];
    let separator = || prop_oneof![12 => Just("-".to_owned()), 1 => "[_. ]"];
    (
        "[ \t]{0,2}",
        field("[0-9a-f]{2}", "ff|00", "[0-9a-fA-F.+-]{1,3}"),
        separator(),
        field("[0-9a-f]{32}", "0{32}", "[0-9a-fA-F+]{30,33}"),
        separator(),
        field("[0-9a-f]{16}", "0{16}", "[0-9a-fA-F+]{15,17}"),
        separator(),
        field("[0-9a-f]{2}", "00|ff", "[0-9a-fA-F.]{1,3}"),
        prop_oneof![4 => Just(String::new()), 1 => "-[a-z.-]{0,5}", 1 => "[.][a-z]{0,3}"],
        "[ \t]{0,2}",
    )
        .prop_map(
            |(lead, version, s1, trace_id, s2, span_id, s3, flags, rest, trail)| {
                format!("{lead}{version}{s1}{trace_id}{s2}{span_id}{s3}{flags}{rest}{trail}")
            },
        )
}

/// A reference reading of the W3C rules, written independently of the propagator.
fn w3c_accepts(value: &str) -> bool {
    let lower_hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let non_zero = |field: &str| field.bytes().any(|b| b != b'0');
    let mut fields = value.trim_matches([' ', '\t']).split('-');
    let (Some(version), Some(trace_id), Some(span_id), Some(flags)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let has_more_fields = fields.next().is_some();
    lower_hex(version, 2)
        && version != "ff"
        && !(version == "00" && has_more_fields)
        && lower_hex(trace_id, 32)
        && non_zero(trace_id)
        && lower_hex(span_id, 16)
        && non_zero(span_id)
        && lower_hex(flags, 2)
}

fn extract_traceparent(value: &str) -> Option<SpanContext> {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_str(value).ok()?);
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor::new(&headers));
    let span_context = span_context_of(&cx);
    span_context.is_valid().then_some(span_context)
}

fn span_context_of(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}

fn span_contexts() -> impl Strategy<Value = SpanContext> {
    let key = "[a-z0-9][a-z0-9_*/-]{0,10}(@[a-z][a-z0-9_*/-]{0,8})?";
    let value = "[!-+\\--<>-~]([ !-+\\--<>-~]{0,10}[!-+\\--<>-~])?";
    (
        1..=u128::MAX,
        1..=u64::MAX,
        0u8..=3,
        proptest::collection::btree_map(key, value, 0..=32),
    )
        .prop_map(|(trace_id, span_id, flags, members)| {
            SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                TraceFlags::new(flags),
                true,
                TraceState::from_key_value(members).expect("generated members are valid"),
            )
        })
}

/// Guards a property over `strategy`: it must produce plenty of both accepted and rejected
/// values, as `accepts` reads them.
fn assert_generates_both_outcomes<S: Strategy>(strategy: S, accepts: impl Fn(&S::Value) -> bool) {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let accepted = (0..1000)
        .filter(|_| accepts(&strategy.new_tree(&mut runner).expect("a value").current()))
        .count();
    assert!(
        (100..900).contains(&accepted),
        "{accepted} of 1000 accepted"
    );
}

#[test]
fn near_traceparent_generates_valid_and_invalid_values() {
    assert_generates_both_outcomes(near_traceparent(), |value| w3c_accepts(value));
}

/// The members a `tracestate` value holds as a reference reading of the Level 2 ABNF
/// (`key = ( lcalpha / DIGIT ) 0*255( keychar )`, `keychar = lcalpha / DIGIT / "_" / "-" /
/// "*" / "/" / "@"`, `value = 0*255( chr ) nblk-chr`), written independently of the propagator:
/// `None` when the header is invalid; later duplicates of a key dropped.
fn w3c_tracestate(header: &str) -> Option<Vec<(String, String)>> {
    let is_key_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/@".contains(c);
    let is_nblk = |c: char| matches!(c, '\x21'..='\x2b' | '\x2d'..='\x3c' | '\x3e'..='\x7e');
    let mut members: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    for member in header.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        count += 1;
        let (key, value) = member.split_once('=')?;
        let mut key_chars = key.chars();
        let key_ok = key_chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && key_chars.all(is_key_char)
            && key.len() <= 256;
        let value_ok = value.len() <= 256
            && value.chars().last().is_some_and(is_nblk)
            && value.chars().all(|c| c == ' ' || is_nblk(c));
        if !key_ok || !value_ok || count > 32 {
            return None;
        }
        if members.iter().all(|(seen, _)| seen != key) {
            members.push((key.to_owned(), value.to_owned()));
        }
    }
    Some(members)
}

/// `tracestate` values near the grammar: keys with `@` in every position, long keys, duplicates,
/// optional whitespace, and sometimes a character or member outside the grammar.
fn near_tracestate() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        8 => "[a-z0-9][a-z0-9_*/@-]{0,12}",
        2 => "[a-z][a-z@]{0,3}",
        1 => "[a-z]{240,258}@?[a-z]{0,16}",
        1 => "[A-Z@_. ][a-z]{0,4}",
        1 => Just("dup".to_owned()),
    ];
    let value = prop_oneof![
        8 => "[!-+\\--<>-~]([ !-+\\--<>-~]{0,10}[!-+\\--<>-~])?",
        1 => "[ -~]{0,4}",
    ];
    let member = prop_oneof![
        12 => (key, value).prop_map(|(key, value)| format!("{key}={value}")),
        1 => "[ \t]{0,2}",
        1 => "[a-z]{1,4}",
    ];
    (
        proptest::collection::vec((member, "[ \t]{0,1}"), 1..=8),
        0usize..=34,
    )
        .prop_map(|(members, padding)| {
            let mut list: Vec<String> = members
                .into_iter()
                .map(|(member, ows)| format!("{ows}{member}{ows}"))
                .collect();
            // Now and then, close to the 32-member limit.
            if padding > 24 {
                list.extend((0..padding).map(|i| format!("p{i}=1")));
            }
            list.join(",")
        })
}

#[test]
fn near_tracestate_generates_valid_and_invalid_values() {
    assert_generates_both_outcomes(near_tracestate(), |value| w3c_tracestate(value).is_some());
}

/// Lowercase hex of one of `lens` digits, not all zero.
fn is_b3_id(field: &str, lens: &[usize]) -> bool {
    lens.contains(&field.len())
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && field.bytes().any(|b| b != b'0')
}

fn b3_trace_id_field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9a-f]{32}",
        2 => "[0-9a-f]{16}",
        1 => "0{16}|0{32}",
        2 => "[0-9a-fA-F+ ]{15,33}",
    ]
}

fn b3_span_id_field() -> impl Strategy<Value = String> {
    prop_oneof![6 => "[0-9a-f]{16}", 1 => "0{16}", 2 => "[0-9a-fA-F]{15,17}"]
}

/// Values near the `b3` grammar, each field sometimes wrong.
fn near_b3() -> impl Strategy<Value = String> {
    let separator = || prop_oneof![12 => Just("-".to_owned()), 1 => "[_. ]"];
    let tail = prop_oneof![
        2 => Just(String::new()),
        4 => "-[01d]",
        1 => "-[01dDx2-]{0,2}",
        2 => "-[01d]-[0-9a-f]{16}",
        1 => "-[01d]-[0-9a-fA-F]{15,17}",
        1 => "-[01d]-[0-9a-f]{16}-[0-9a-z]{0,2}",
    ];
    (b3_trace_id_field(), separator(), b3_span_id_field(), tail).prop_map(
        |(trace_id, separator, span_id, tail)| format!("{trace_id}{separator}{span_id}{tail}"),
    )
}

/// A reference reading of the `b3` grammar, written independently of the propagator:
/// `Some(sampled)` when the value carries a span context.
fn b3_single_reading(value: &str) -> Option<bool> {
    let fields: Vec<&str> = value.split('-').collect();
    let (ids, rest) = fields.split_at_checked(2)?;
    if !is_b3_id(ids[0], &[16, 32]) || !is_b3_id(ids[1], &[16]) {
        return None;
    }
    match rest {
        [] => Some(false),
        [state] | [state, _] if rest.get(1).is_none_or(|parent| is_b3_id(parent, &[16])) => {
            match *state {
                "1" | "d" => Some(true),
                "0" => Some(false),
                _ => None,
            }
        }
        _ => None,
    }
}

#[test]
fn near_b3_generates_valid_and_invalid_values() {
    assert_generates_both_outcomes(near_b3(), |value| b3_single_reading(value).is_some());
}

/// The `x-b3-*` headers, each absent, valid or malformed.
type B3Multi = [Option<String>; 5];
const B3_MULTI_NAMES: [&str; 5] = [
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
];

fn near_b3_multi() -> impl Strategy<Value = B3Multi> {
    let present = |weight, strategy| proptest::option::weighted(weight, strategy);
    (
        present(0.95, b3_trace_id_field().boxed()),
        present(0.95, b3_span_id_field().boxed()),
        present(0.3, b3_span_id_field().boxed()),
        present(
            0.7,
            prop_oneof![6 => "[01]|true|false", 1 => "[a-zA-Z0-9]{0,5}"].boxed(),
        ),
        present(0.3, prop_oneof![6 => "[01]", 1 => "[0-9a-z]{0,2}"].boxed()),
    )
        .prop_map(|(trace_id, span_id, parent, sampled, flags)| {
            [trace_id, span_id, parent, sampled, flags]
        })
}

/// A reference reading of the `x-b3-*` headers: `Some(sampled)` when they carry a span context.
fn b3_multi_reading([trace_id, span_id, parent, sampled, flags]: &B3Multi) -> Option<bool> {
    let ids_valid = is_b3_id(trace_id.as_deref()?, &[16, 32])
        && is_b3_id(span_id.as_deref()?, &[16])
        && parent
            .as_deref()
            .is_none_or(|parent| is_b3_id(parent, &[16]));
    let debug = match flags.as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return None,
    };
    let sampled = match sampled.as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return None,
    };
    ids_valid.then_some(debug || sampled)
}

#[test]
fn near_b3_multi_generates_valid_and_invalid_values() {
    assert_generates_both_outcomes(near_b3_multi(), |headers| {
        b3_multi_reading(headers).is_some()
    });
}

/// The trace id a valid B3 trace id field stands for, as 32 hex digits.
fn padded_trace_id(field: &str) -> String {
    format!("{field:0>32}")
}

/// What B3 extraction left in `cx`, in the terms of the reference readings: `Some(sampled)` for
/// a valid span context (which must be remote and carry no flag besides sampled), with its ids
/// as hex.
fn b3_outcome(cx: &Context) -> Option<(bool, String, String)> {
    let span_context = span_context_of(cx);
    if !span_context.is_valid() {
        return None;
    }
    assert!(span_context.is_remote());
    assert_eq!(span_context.trace_flags().to_u8() & !0x01, 0);
    Some((
        span_context.is_sampled(),
        format!("{:032x}", span_context.trace_id()),
        format!("{:016x}", span_context.span_id()),
    ))
}

/// An extractor over the pairs a [`PairInjector`] collected.
fn extractor_of(pairs: &[(String, String)]) -> PairExtractor<'_> {
    PairExtractor::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
}

proptest! {
    #[test]
    fn arbitrary_bytes_through_every_carrier_and_propagator(
        header in 0..HEADERS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let propagator = every_propagator();
        let prior = Context::new().with_remote_span_context(marker());
        let name = HEADERS[header];

        let pairs: [(&str, &[u8]); 2] = [("traceparent", VALID.as_bytes()), (name, &bytes)];
        for extractor in [PairExtractor::new(pairs), PairExtractor::new([(name, bytes.as_slice())])] {
            assert_sane(&propagator.extract_with_context(&prior, &extractor));
        }

        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut headers = HeaderMap::new();
            headers.append(HeaderName::from_static(name), value.clone());
            assert_sane(&propagator.extract_with_context(&prior, &HeaderExtractor::new(&headers)));
            headers.append(HeaderName::from_static(name), value);
            assert_sane(&propagator.extract_with_context(&prior, &HeaderExtractor::new(&headers)));
        }
    }

    #[test]
    fn arbitrary_strings_as_every_header(header in 0..HEADERS.len(), value in "\\PC{0,80}") {
        let propagator = every_propagator();
        let prior = Context::new().with_remote_span_context(marker());
        let extractor = PairExtractor::new([(HEADERS[header], value.as_bytes())]);
        assert_sane(&propagator.extract_with_context(&prior, &extractor));
    }

    #[test]
    fn traceparent_is_accepted_exactly_when_the_w3c_rules_allow(value in near_traceparent()) {
        let extracted = extract_traceparent(&value);
        prop_assert_eq!(extracted.is_some(), w3c_accepts(&value), "{:?}", value);
        if let Some(span_context) = extracted {
            let trimmed = value.trim_matches([' ', '\t']);
            prop_assert_eq!(format!("{:032x}", span_context.trace_id()), &trimmed[3..35]);
            prop_assert_eq!(format!("{:016x}", span_context.span_id()), &trimmed[36..52]);
        }
    }

    #[test]
    fn invalid_tracestate_never_invalidates_traceparent(value in "[ -~]{0,300}") {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(VALID));
        headers.insert("tracestate", HeaderValue::from_str(&value).expect("printable ASCII"));
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor::new(&headers));
        let span = cx.span();
        prop_assert!(span.span_context().is_valid());
        let members = span.span_context().trace_state().into_iter().count();
        prop_assert!(members <= 32);
    }

    #[test]
    fn tracestate_is_sent_on_exactly_as_the_grammar_allows(value in near_tracestate()) {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(VALID));
        headers.insert("tracestate", HeaderValue::from_str(&value).expect("printable ASCII"));
        let propagator = TraceContextPropagator::new();
        let cx = propagator.extract(&HeaderExtractor::new(&headers));
        let mut sent = HeaderMap::new();
        propagator.inject_context(&cx, &mut HeaderInjector(&mut sent));
        let sent = sent.get("tracestate").map(|value| value.to_str().expect("ASCII").to_owned());
        let expected = w3c_tracestate(&value)
            .filter(|members| !members.is_empty())
            .map(|members| {
                members
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        prop_assert_eq!(sent, expected, "{:?}", value);
    }

    #[test]
    fn trace_context_round_trip_is_the_identity(span_context in span_contexts()) {
        let propagator = TraceContextPropagator::new();
        let cx = Context::new().with_remote_span_context(span_context.clone());

        let mut headers = HeaderMap::new();
        propagator.inject_context(&cx, &mut HeaderInjector(&mut headers));
        let back = propagator.extract(&HeaderExtractor::new(&headers));
        prop_assert_eq!(span_context_of(&back), span_context.clone());

        let mut injector = PairInjector::new();
        propagator.inject_context(&cx, &mut injector);
        let back = propagator.extract(&extractor_of(&injector.into_pairs()));
        prop_assert_eq!(span_context_of(&back), span_context);
    }

    #[test]
    fn b3_single_is_accepted_exactly_when_the_grammar_allows(value in near_b3()) {
        let extractor = PairExtractor::new([("b3", value.as_bytes())]);
        let expected = b3_single_reading(&value).and_then(|sampled| {
            let mut fields = value.split('-');
            Some((sampled, padded_trace_id(fields.next()?), fields.next()?.to_owned()))
        });
        for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
            let cx = kind.build().extract_with_context(&Context::new(), &extractor);
            prop_assert_eq!(b3_outcome(&cx), expected.clone(), "{}: {:?}", kind, value);
        }
    }

    #[test]
    fn b3_multi_is_accepted_exactly_when_the_grammar_allows(headers in near_b3_multi()) {
        let extractor: PairExtractor<'_> = B3_MULTI_NAMES
            .iter()
            .zip(&headers)
            .filter_map(|(name, value)| Some((*name, value.as_deref()?.as_bytes())))
            .collect();
        let expected = match (b3_multi_reading(&headers), &headers) {
            (Some(sampled), [Some(trace_id), Some(span_id), ..]) => {
                Some((sampled, padded_trace_id(trace_id), span_id.clone()))
            }
            _ => None,
        };
        for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
            let cx = kind.build().extract_with_context(&Context::new(), &extractor);
            prop_assert_eq!(b3_outcome(&cx), expected.clone(), "{}: {:?}", kind, headers);
        }
    }

    /// Only the sampled bit crosses Jaeger and B3: the W3C random flag (`0x02`) and reserved bits
    /// are neither written nor read back.
    #[test]
    fn jaeger_and_b3_round_trip_the_ids_and_sampled_flag(
        trace_id in 1..=u128::MAX,
        span_id in 1..=u64::MAX,
        flags in any::<u8>(),
    ) {
        let span_context = |flags| {
            SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                TraceFlags::new(flags),
                true,
                TraceState::NONE,
            )
        };
        let cx = Context::new().with_remote_span_context(span_context(flags));
        let expected = span_context(flags & 0x01);
        let propagators: [Box<dyn TextMapPropagator + Send + Sync>; 3] = [
            Box::new(JaegerPropagator::new()),
            PropagatorKind::B3.build(),
            PropagatorKind::B3Multi.build(),
        ];
        for propagator in propagators {
            let mut headers = HeaderMap::new();
            propagator.inject_context(&cx, &mut HeaderInjector(&mut headers));
            let back = propagator.extract(&HeaderExtractor::new(&headers));
            prop_assert_eq!(span_context_of(&back), expected.clone(), "{:?}", propagator);

            let mut injector = PairInjector::new();
            propagator.inject_context(&cx, &mut injector);
            let back = propagator.extract(&extractor_of(&injector.into_pairs()));
            prop_assert_eq!(span_context_of(&back), expected.clone(), "{:?}", propagator);
        }
    }
}
