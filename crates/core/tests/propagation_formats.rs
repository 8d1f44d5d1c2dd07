//! B3 and Jaeger through our carriers, and `OTEL_PROPAGATORS` parsing.

mod common;
use common::headers;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, JaegerPropagator, PairExtractor, PairInjector, Propagator,
    PropagatorKind, PropagatorWarning, parse_propagators, propagator_from_env,
};

const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_HEX: &str = "00f067aa0ba902b7";

fn span_context(flags: u8) -> SpanContext {
    SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::new(flags),
        true,
        TraceState::NONE,
    )
}

fn inject(propagator: &dyn TextMapPropagator, cx: &Context) -> HeaderMap {
    let mut map = HeaderMap::new();
    propagator.inject_context(cx, &mut HeaderInjector(&mut map));
    map
}

fn extract(propagator: &dyn TextMapPropagator, map: &HeaderMap) -> Context {
    propagator.extract_with_context(&Context::new(), &HeaderExtractor::new(map))
}

const PARENT_HEX: &str = "05e3ac9a4f6e3b90";

fn b3_single(value: &str) -> HeaderMap {
    headers(&[("b3", value)])
}

fn b3_multi(trace_id: &str, span_id: &str, sampled: Option<&str>) -> HeaderMap {
    let mut pairs = vec![("x-b3-traceid", trace_id), ("x-b3-spanid", span_id)];
    pairs.extend(sampled.map(|sampled| ("x-b3-sampled", sampled)));
    headers(&pairs)
}

/// The span context both B3 propagators extract from `map`, asserting that they agree.
fn extract_b3(map: &HeaderMap) -> Option<SpanContext> {
    let single = extract(PropagatorKind::B3.build().as_ref(), map);
    let multi = extract(PropagatorKind::B3Multi.build().as_ref(), map);
    assert_eq!(single.span().span_context(), multi.span().span_context());
    single
        .has_active_span()
        .then(|| single.span().span_context().clone())
}

#[test]
fn b3_single_round_trip() {
    let b3 = PropagatorKind::B3.build();
    for (flags, sampling) in [(0x01, "1"), (0x00, "0")] {
        let cx = Context::new().with_remote_span_context(span_context(flags));
        let map = inject(b3.as_ref(), &cx);
        assert_eq!(map.len(), 1);
        assert_eq!(
            map["b3"],
            format!("{TRACE_HEX}-{SPAN_HEX}-{sampling}").as_str()
        );
        assert_eq!(
            extract(b3.as_ref(), &map).span().span_context(),
            &span_context(flags)
        );
    }
}

#[test]
fn b3_multi_round_trip() {
    let b3multi = PropagatorKind::B3Multi.build();
    for (flags, sampling) in [(0x01, "1"), (0x00, "0")] {
        let cx = Context::new().with_remote_span_context(span_context(flags));
        let map = inject(b3multi.as_ref(), &cx);
        assert_eq!(map.len(), 3);
        assert_eq!(map["x-b3-traceid"], TRACE_HEX);
        assert_eq!(map["x-b3-spanid"], SPAN_HEX);
        assert_eq!(map["x-b3-sampled"], sampling);
        assert_eq!(
            extract(b3multi.as_ref(), &map).span().span_context(),
            &span_context(flags)
        );
    }

    let mixed_case = headers(&[
        ("X-B3-TraceId", TRACE_HEX),
        ("X-B3-SpanId", SPAN_HEX),
        ("X-B3-ParentSpanId", PARENT_HEX),
        ("X-B3-Sampled", "1"),
    ]);
    assert_eq!(extract_b3(&mixed_case), Some(span_context(0x01)));
}

#[test]
fn b3_never_reads_or_writes_the_random_flag() {
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        let propagator = kind.build();
        for (flags, back) in [(0x02, 0x00), (0x03, 0x01), (0xff, 0x01)] {
            let cx = Context::new().with_remote_span_context(span_context(flags));
            let map = inject(propagator.as_ref(), &cx);
            assert_eq!(
                extract(propagator.as_ref(), &map).span().span_context(),
                &span_context(back),
                "{kind} {flags:#04x}"
            );
        }
    }
}

#[test]
fn b3_pads_64_bit_trace_ids() {
    let short = "a3ce929d0e0e4736";
    let padded = TraceId::from(0xa3ce_929d_0e0e_4736);
    let single = extract_b3(&b3_single(&format!("{short}-{SPAN_HEX}-1"))).expect("valid");
    let multi = extract_b3(&b3_multi(short, SPAN_HEX, Some("1"))).expect("valid");
    for span_context in [single, multi] {
        assert_eq!(span_context.trace_id(), padded);
        assert!(span_context.is_sampled());
    }
    let cx = Context::new().with_remote_span_context(SpanContext::new(
        padded,
        SpanId::from(1),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ));
    let map = inject(PropagatorKind::B3.build().as_ref(), &cx);
    assert_eq!(
        map["b3"],
        format!("0000000000000000{short}-0000000000000001-1").as_str()
    );
}

#[test]
fn b3_sampling_states() {
    // Accept, deny, debug (which implies accept), and absent ("defer", extracted as not
    // sampled). The parent span id is accepted and ignored.
    for (suffix, flags) in [
        ("-1", 0x01),
        ("-0", 0x00),
        ("-d", 0x01),
        ("", 0x00),
        (&format!("-1-{PARENT_HEX}"), 0x01),
        (&format!("-d-{PARENT_HEX}"), 0x01),
        (&format!("-0-{PARENT_HEX}"), 0x00),
    ] {
        let value = format!("{TRACE_HEX}-{SPAN_HEX}{suffix}");
        assert_eq!(
            extract_b3(&b3_single(&value)),
            Some(span_context(flags)),
            "{value}"
        );
    }

    for (sampled, flags) in [
        (Some("1"), 0x01),
        (Some("true"), 0x01),
        (Some("0"), 0x00),
        (Some("false"), 0x00),
        (None, 0x00),
    ] {
        let map = b3_multi(TRACE_HEX, SPAN_HEX, sampled);
        assert_eq!(extract_b3(&map), Some(span_context(flags)), "{sampled:?}");
    }
}

#[test]
fn b3_debug_flag_implies_sampled() {
    for sampled in [None, Some("0"), Some("1")] {
        let mut map = b3_multi(TRACE_HEX, SPAN_HEX, sampled);
        map.insert("x-b3-flags", HeaderValue::from_static("1"));
        assert_eq!(extract_b3(&map), Some(span_context(0x01)), "{sampled:?}");
    }
    let mut not_debug = b3_multi(TRACE_HEX, SPAN_HEX, None);
    not_debug.insert("x-b3-flags", HeaderValue::from_static("0"));
    assert_eq!(extract_b3(&not_debug), Some(span_context(0x00)));

    // Debug is not kept: OpenTelemetry trace flags only have "sampled".
    let cx = Context::new().with_remote_span_context(
        extract_b3(&b3_single(&format!("{TRACE_HEX}-{SPAN_HEX}-d"))).expect("valid"),
    );
    let map = inject(PropagatorKind::B3.build().as_ref(), &cx);
    assert_eq!(map["b3"], format!("{TRACE_HEX}-{SPAN_HEX}-1").as_str());
}

#[test]
fn b3_sampling_state_alone_carries_no_span_context() {
    let b3 = PropagatorKind::B3.build();
    let prior = Context::new().with_remote_span_context(span_context(0x01));
    for state in ["0", "1", "d"] {
        let map = b3_single(state);
        assert_eq!(extract_b3(&map), None, "{state}");
        let cx = b3.extract_with_context(&prior, &HeaderExtractor::new(&map));
        assert_eq!(cx.span().span_context(), &span_context(0x01), "{state}");
    }
}

#[test]
fn malformed_b3_single_leaves_the_context_unchanged() {
    let b3 = PropagatorKind::B3.build();
    let prior = Context::new().with_remote_span_context(span_context(0x01));
    let upper_trace = TRACE_HEX.to_uppercase();
    let upper_span = SPAN_HEX.to_uppercase();
    let upper_parent = PARENT_HEX.to_uppercase();
    let malformed = [
        String::new(),
        "-".to_owned(),
        "garbage".to_owned(),
        "2".to_owned(),
        TRACE_HEX.to_owned(),
        format!("{TRACE_HEX}-"),
        // Trace id: uppercase, zero, wrong lengths, a sign.
        format!("{upper_trace}-{SPAN_HEX}-1"),
        format!("{}-{SPAN_HEX}-1", "0".repeat(32)),
        format!("{}-{SPAN_HEX}-1", "0".repeat(16)),
        format!("{}-{SPAN_HEX}-1", &TRACE_HEX[1..]),
        format!("0{TRACE_HEX}-{SPAN_HEX}-1"),
        format!("{}-{SPAN_HEX}-1", &TRACE_HEX[..20]),
        format!("+{}-{SPAN_HEX}-1", &TRACE_HEX[1..]),
        // Span id: uppercase, zero, wrong lengths, missing.
        format!("{TRACE_HEX}-{upper_span}-1"),
        format!("{TRACE_HEX}-0000000000000000-1"),
        format!("{TRACE_HEX}-{}-1", &SPAN_HEX[1..]),
        format!("{TRACE_HEX}-0{SPAN_HEX}-1"),
        format!("{TRACE_HEX}--1"),
        // Sampling state: unknown, empty, uppercase, multi-header spellings.
        format!("{TRACE_HEX}-{SPAN_HEX}-x"),
        format!("{TRACE_HEX}-{SPAN_HEX}-"),
        format!("{TRACE_HEX}-{SPAN_HEX}-D"),
        format!("{TRACE_HEX}-{SPAN_HEX}-true"),
        format!("{TRACE_HEX}-{SPAN_HEX}-01"),
        // Parent span id: uppercase, zero, wrong length, empty; then too many fields.
        format!("{TRACE_HEX}-{SPAN_HEX}-1-{upper_parent}"),
        format!("{TRACE_HEX}-{SPAN_HEX}-1-0000000000000000"),
        format!("{TRACE_HEX}-{SPAN_HEX}-1-{}", &PARENT_HEX[1..]),
        format!("{TRACE_HEX}-{SPAN_HEX}-1-"),
        format!("{TRACE_HEX}-{SPAN_HEX}-1-{PARENT_HEX}-1"),
        // Whitespace is not part of the grammar.
        format!(" {TRACE_HEX}-{SPAN_HEX}-1"),
        format!("{TRACE_HEX}-{SPAN_HEX}-1 "),
    ];
    for value in &malformed {
        let map = b3_single(value);
        assert_eq!(extract_b3(&map), None, "{value:?}");
        let cx = b3.extract_with_context(&prior, &HeaderExtractor::new(&map));
        assert_eq!(cx.span().span_context(), &span_context(0x01), "{value:?}");
    }
}

#[test]
fn malformed_b3_multi_leaves_the_context_unchanged() {
    let b3multi = PropagatorKind::B3Multi.build();
    let prior = Context::new().with_remote_span_context(span_context(0x01));
    let upper_trace = TRACE_HEX.to_uppercase();
    let upper_span = SPAN_HEX.to_uppercase();
    let zero_trace = "0".repeat(32);
    let mut malformed: Vec<HeaderMap> = [
        ("", SPAN_HEX, Some("1")),
        ("short", SPAN_HEX, Some("1")),
        (upper_trace.as_str(), SPAN_HEX, Some("1")),
        (zero_trace.as_str(), SPAN_HEX, Some("1")),
        (&TRACE_HEX[1..], SPAN_HEX, Some("1")),
        (TRACE_HEX, "", Some("1")),
        (TRACE_HEX, "0", Some("1")),
        (TRACE_HEX, "0000000000000000", Some("1")),
        (TRACE_HEX, upper_span.as_str(), Some("1")),
        (TRACE_HEX, &SPAN_HEX[1..], Some("1")),
        (TRACE_HEX, SPAN_HEX, Some("maybe")),
        (TRACE_HEX, SPAN_HEX, Some("d")),
        (TRACE_HEX, SPAN_HEX, Some("TRUE")),
        (TRACE_HEX, SPAN_HEX, Some("")),
    ]
    .into_iter()
    .map(|(trace_id, span_id, sampled)| b3_multi(trace_id, span_id, sampled))
    .collect();
    malformed.push(headers(&[("x-b3-traceid", TRACE_HEX)]));
    malformed.push(headers(&[("x-b3-spanid", SPAN_HEX), ("x-b3-sampled", "1")]));
    for (name, value) in [
        ("x-b3-flags", "2"),
        ("x-b3-flags", "true"),
        ("x-b3-flags", ""),
        ("x-b3-parentspanid", "0000000000000000"),
        ("x-b3-parentspanid", "05E3AC9A4F6E3B90"),
        ("x-b3-parentspanid", "5e3ac9a4f6e3b90"),
    ] {
        let mut map = b3_multi(TRACE_HEX, SPAN_HEX, Some("1"));
        map.insert(name, HeaderValue::from_static(value));
        malformed.push(map);
    }
    for map in &malformed {
        assert_eq!(extract_b3(map), None, "{map:?}");
        let cx = b3multi.extract_with_context(&prior, &HeaderExtractor::new(map));
        assert_eq!(cx.span().span_context(), &span_context(0x01), "{map:?}");
    }
}

#[test]
fn b3_single_wins_over_multi() {
    let other_span = "1111111111111111";
    let both = headers(&[
        ("b3", &format!("{TRACE_HEX}-{SPAN_HEX}-1")),
        ("x-b3-traceid", TRACE_HEX),
        ("x-b3-spanid", other_span),
        ("x-b3-sampled", "0"),
    ]);
    assert_eq!(extract_b3(&both), Some(span_context(0x01)));

    // A `b3` header without a span context (malformed, or a sampling state alone) falls back
    // to the `x-b3-*` headers.
    for single in ["garbage", "0", "1"] {
        let mut map = b3_multi(TRACE_HEX, SPAN_HEX, Some("0"));
        map.insert("b3", HeaderValue::from_static(single));
        assert_eq!(extract_b3(&map), Some(span_context(0x00)), "{single}");
    }
}

#[test]
fn b3_reads_the_first_of_repeated_headers() {
    let map = headers(&[
        ("b3", &format!("{TRACE_HEX}-{SPAN_HEX}-1")),
        ("b3", &format!("{TRACE_HEX}-1111111111111111-0")),
    ]);
    assert_eq!(extract_b3(&map), Some(span_context(0x01)));
}

#[test]
fn b3_uses_lowercase_names_on_case_sensitive_carriers() {
    let cx = Context::new().with_remote_span_context(span_context(0x01));
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        let propagator = kind.build();
        let mut injector = PairInjector::new();
        propagator.inject_context(&cx, &mut injector);
        let pairs = injector.into_pairs();
        assert!(
            pairs.iter().all(|(key, _)| *key == key.to_lowercase()),
            "{pairs:?}"
        );
        let extractor = PairExtractor::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        let back = propagator.extract_with_context(&Context::new(), &extractor);
        assert_eq!(back.span().span_context(), &span_context(0x01), "{kind}");
    }
}

#[test]
fn b3_injects_nothing_without_a_valid_span_context() {
    let invalid = SpanContext::new(
        TraceId::INVALID,
        SpanId::from(1),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        let propagator = kind.build();
        assert!(inject(propagator.as_ref(), &Context::new()).is_empty());
        let cx = Context::new().with_remote_span_context(invalid.clone());
        assert!(inject(propagator.as_ref(), &cx).is_empty());
    }
}

#[test]
fn b3_fields_are_exactly_what_is_injected() {
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        let propagator = kind.build();
        let mut fields: Vec<&str> = propagator.fields().collect();
        fields.sort_unstable();
        for flags in [0x00, 0x01] {
            let cx = Context::new().with_remote_span_context(span_context(flags));
            let map = inject(propagator.as_ref(), &cx);
            let mut injected: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
            injected.sort_unstable();
            assert_eq!(injected, fields, "{kind}");
        }
    }
    let names = |kind: PropagatorKind| {
        let mut fields: Vec<String> = kind.build().fields().map(str::to_owned).collect();
        fields.sort_unstable();
        fields
    };
    assert_eq!(names(PropagatorKind::B3), ["b3"]);
    assert_eq!(
        names(PropagatorKind::B3Multi),
        ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]
    );
}

#[test]
fn jaeger_round_trip_with_baggage() {
    let jaeger = JaegerPropagator::new();
    for (flags, suffix) in [(0x01, "01"), (0x00, "00")] {
        let cx = Context::new()
            .with_remote_span_context(span_context(flags))
            .with_baggage([KeyValue::new("user", "ada lovelace, 1815")]);
        let map = inject(&jaeger, &cx);
        assert_eq!(
            map["uber-trace-id"],
            format!("{TRACE_HEX}:{SPAN_HEX}:0:{suffix}").as_str()
        );
        assert_eq!(map["uberctx-user"], "ada%20lovelace%2C%201815");
        let back = extract(&jaeger, &map);
        assert_eq!(back.span().span_context(), &span_context(flags));
        assert_eq!(
            back.baggage().get("user").map(|v| v.as_str()),
            Some("ada lovelace, 1815")
        );
    }
}

#[test]
fn jaeger_reads_url_encoded_short_and_debug_forms() {
    let jaeger = JaegerPropagator::new();
    for (value, flags) in [
        (format!("{TRACE_HEX}%3A{SPAN_HEX}%3A0%3A1"), 0x01),
        (format!("{TRACE_HEX}%3a{SPAN_HEX}%3a0%3a3"), 0x01),
        (
            format!("{}:{}:0:1", TRACE_HEX.to_uppercase(), SPAN_HEX),
            0x01,
        ),
        (format!("{TRACE_HEX}:f067aa0ba902b7:5:0"), 0x00),
        (format!(" {TRACE_HEX}:{SPAN_HEX}:0:2 "), 0x00),
    ] {
        let map = headers(&[("uber-trace-id", &value)]);
        assert_eq!(
            extract(&jaeger, &map).span().span_context(),
            &span_context(flags),
            "{value}"
        );
    }
}

#[test]
fn malformed_jaeger_leaves_the_context_unchanged() {
    let jaeger = JaegerPropagator::new();
    let prior = Context::new()
        .with_remote_span_context(span_context(0x01))
        .with_baggage([KeyValue::new("kept", "yes")]);
    for value in [
        "",
        "garbage",
        "1:2:3",
        "1:2:3:4:5",
        "0:1:0:1",
        "1:0:0:1",
        "g:1:0:1",
        "1:1:0:123",
        "1%3A1%3A0",
        "123456789012345678901234567890123:1:0:1",
    ] {
        let map = headers(&[("uber-trace-id", value)]);
        let cx = jaeger.extract_with_context(&prior, &HeaderExtractor::new(&map));
        assert_eq!(cx.span().span_context(), &span_context(0x01), "{value}");
        assert_eq!(cx.baggage().len(), 1);
    }
}

#[test]
fn jaeger_baggage_merges_into_existing_baggage() {
    let prior = Context::new().with_baggage([KeyValue::new("w3c", "1")]);
    let map = headers(&[
        ("UberCtx-Tenant", "acme"),
        ("uberctx-", "ignored"),
        ("uberctx-broken", "%ff%fe"),
    ]);
    let cx = JaegerPropagator::new().extract_with_context(&prior, &HeaderExtractor::new(&map));
    assert!(!cx.has_active_span());
    let baggage = cx.baggage();
    assert_eq!(baggage.get("w3c").map(|v| v.as_str()), Some("1"));
    assert_eq!(baggage.get("tenant").map(|v| v.as_str()), Some("acme"));
    assert_eq!(
        baggage.get("broken").map(|v| v.as_str()),
        Some("\u{fffd}\u{fffd}")
    );
    assert_eq!(baggage.len(), 3);
}

#[test]
fn jaeger_injects_nothing_for_an_empty_context() {
    let jaeger = JaegerPropagator::new();
    assert!(inject(&jaeger, &Context::new()).is_empty());
    let fields: Vec<&str> = jaeger.fields().collect();
    assert_eq!(fields, ["uber-trace-id"]);
}

#[test]
fn otel_propagators_is_case_insensitive_trimmed_and_deduplicated() {
    let parsed = parse_propagators(" B3 ,tracecontext,\tJaeger,b3, BAGGAGE ,b3multi,TraceContext");
    assert_eq!(
        parsed.kinds(),
        [
            PropagatorKind::B3,
            PropagatorKind::TraceContext,
            PropagatorKind::Jaeger,
            PropagatorKind::Baggage,
            PropagatorKind::B3Multi,
        ]
    );
    assert!(parsed.warnings().is_empty());
}

#[test]
fn otel_propagators_empty_means_the_default() {
    for value in ["", "  ", ",", " , ,"] {
        let parsed = parse_propagators(value);
        assert_eq!(
            parsed.kinds(),
            [PropagatorKind::TraceContext, PropagatorKind::Baggage],
            "{value:?}"
        );
        assert!(parsed.warnings().is_empty());
    }
}

#[test]
fn otel_propagators_unknown_values_warn_and_are_ignored() {
    let parsed = parse_propagators("xray,tracecontext,OTTrace,garbage,b3 multi");
    assert_eq!(parsed.kinds(), [PropagatorKind::TraceContext]);
    assert_eq!(
        parsed.warnings(),
        [
            PropagatorWarning::Unsupported("xray".to_owned()),
            PropagatorWarning::Unsupported("OTTrace".to_owned()),
            PropagatorWarning::Unknown("garbage".to_owned()),
            PropagatorWarning::Unknown("b3 multi".to_owned()),
        ]
    );
    assert!(parsed.warnings()[2].to_string().contains("garbage"));

    let only_unknown = parse_propagators("xray");
    assert!(only_unknown.kinds().is_empty());
    assert_eq!(only_unknown.warnings().len(), 1);
}

#[test]
fn otel_propagators_none_disables_propagation() {
    let parsed = parse_propagators("None");
    assert!(parsed.kinds().is_empty());
    assert!(parsed.warnings().is_empty());
    let (propagator, warnings) = parsed.into_parts();
    assert!(warnings.is_empty());
    assert_eq!(propagator.fields().count(), 0);
    let cx = Context::new().with_remote_span_context(span_context(0x01));
    let mut map = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut map));
    assert!(map.is_empty());

    let combined = parse_propagators("tracecontext,none,b3");
    assert!(combined.kinds().is_empty());
    assert_eq!(
        combined.warnings(),
        [PropagatorWarning::NoneWithOthers(vec![
            "tracecontext".to_owned(),
            "b3".to_owned()
        ])]
    );
}

#[test]
fn otel_propagators_builds_the_selected_propagators_in_order() {
    let propagator = parse_propagators("tracecontext,baggage,jaeger").build();
    let mut fields: Vec<&str> = propagator.fields().collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["baggage", "traceparent", "tracestate", "uber-trace-id"]
    );

    let cx = Context::new()
        .with_remote_span_context(span_context(0x01))
        .with_baggage([KeyValue::new("k", "v")]);
    let map = inject(&propagator, &cx);
    assert_eq!(
        map["traceparent"],
        format!("00-{TRACE_HEX}-{SPAN_HEX}-01").as_str()
    );
    assert_eq!(map["baggage"], "k=v");
    assert_eq!(map["uberctx-k"], "v");
    assert!(map.contains_key("uber-trace-id"));
}

#[test]
fn propagator_from_env_agrees_with_parse_propagators() {
    let value = std::env::var("OTEL_PROPAGATORS").unwrap_or_default();
    let expected = parse_propagators(&value);
    let sorted = |mut fields: Vec<String>| {
        fields.sort_unstable();
        fields
    };
    let expected_fields = sorted(expected.build().fields().map(str::to_owned).collect());

    let (propagator, warnings) = propagator_from_env();
    assert_eq!(warnings, expected.warnings());
    assert_eq!(
        sorted(propagator.fields().map(str::to_owned).collect()),
        expected_fields
    );
    assert_eq!(sorted(Propagator::from_env().fields()), expected_fields);
}
