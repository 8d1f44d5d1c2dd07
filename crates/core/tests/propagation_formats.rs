//! B3 and Jaeger through our carriers, and `OTEL_PROPAGATORS` parsing.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, JaegerPropagator, Propagator, PropagatorKind,
    PropagatorWarning, parse_propagators, propagator_from_env,
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

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

fn inject(propagator: &dyn TextMapPropagator, cx: &Context) -> HeaderMap {
    let mut map = HeaderMap::new();
    propagator.inject_context(cx, &mut HeaderInjector(&mut map));
    map
}

fn extract(propagator: &dyn TextMapPropagator, map: &HeaderMap) -> Context {
    propagator.extract_with_context(&Context::new(), &HeaderExtractor::new(map))
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
    let cx = Context::new().with_remote_span_context(span_context(0x01));
    let map = inject(b3multi.as_ref(), &cx);
    assert_eq!(map["x-b3-traceid"], TRACE_HEX);
    assert_eq!(map["x-b3-spanid"], SPAN_HEX);
    assert_eq!(map["x-b3-sampled"], "1");
    assert!(map.get("b3").is_none());
    assert_eq!(
        extract(b3multi.as_ref(), &map).span().span_context(),
        &span_context(0x01)
    );

    let upper = headers(&[
        ("X-B3-TraceId", TRACE_HEX),
        ("X-B3-SpanId", SPAN_HEX),
        ("X-B3-Sampled", "1"),
    ]);
    assert_eq!(
        extract(b3multi.as_ref(), &upper).span().span_context(),
        &span_context(0x01)
    );
}

#[test]
fn b3_accepts_64_bit_trace_ids() {
    let map = headers(&[("b3", "a3ce929d0e0e4736-00f067aa0ba902b7-1")]);
    let cx = extract(PropagatorKind::B3.build().as_ref(), &map);
    assert_eq!(
        cx.span().span_context().trace_id(),
        TraceId::from(0xa3ce_929d_0e0e_4736)
    );
}

#[test]
fn malformed_b3_leaves_the_context_unchanged() {
    let b3 = PropagatorKind::B3.build();
    let b3multi = PropagatorKind::B3Multi.build();
    for value in [
        "0",
        "-",
        "garbage",
        "4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-1",
        "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-x",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00000000000000000000000000000000-00f067aa0ba902b7-1",
        "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-2-3",
    ] {
        let map = headers(&[("b3", value)]);
        assert!(!extract(b3.as_ref(), &map).has_active_span(), "{value}");
    }
    for (trace_id, span_id, sampled) in [
        ("short", SPAN_HEX, "1"),
        (TRACE_HEX, "0", "1"),
        (TRACE_HEX, SPAN_HEX, "maybe"),
    ] {
        let map = headers(&[
            ("x-b3-traceid", trace_id),
            ("x-b3-spanid", span_id),
            ("x-b3-sampled", sampled),
        ]);
        assert!(!extract(b3multi.as_ref(), &map).has_active_span());
    }
}

#[test]
fn b3_injects_nothing_without_a_valid_span_context() {
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        assert!(inject(kind.build().as_ref(), &Context::new()).is_empty());
    }
}

#[test]
fn b3_fields_match_what_is_injected() {
    let cx = Context::new().with_remote_span_context(span_context(0x01));
    for kind in [PropagatorKind::B3, PropagatorKind::B3Multi] {
        let propagator = kind.build();
        let mut fields: Vec<&str> = propagator.fields().collect();
        let map = inject(propagator.as_ref(), &cx);
        for name in map.keys() {
            assert!(
                fields.contains(&name.as_str()),
                "{kind}: {name} not in {fields:?}"
            );
        }
        fields.retain(|field| map.contains_key(*field));
        assert!(!fields.is_empty());
    }
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
