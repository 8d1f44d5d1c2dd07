//! The W3C Trace Context test suite (`w3c/trace-context` `test/test.py`) against
//! `TraceContextPropagator`, through `HeaderExtractor` so header-level cases (casing, duplicates,
//! several `tracestate` lines) are covered too.

mod common;
use common::headers;

use http::{HeaderMap, HeaderName};
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracewire_core::propagation::{HeaderExtractor, HeaderInjector, TraceContextPropagator};

const TRACE_ID: &str = "12345678901234567890123456789012";
const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

/// A context that already carries a span context, to show that failures keep it.
fn prior() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0xaaaa),
        SpanId::from(0xbbbb),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ))
}

fn extract(pairs: &[(&str, &str)]) -> SpanContext {
    let map = headers(pairs);
    TraceContextPropagator::new()
        .extract_with_context(&prior(), &HeaderExtractor::new(&map))
        .span()
        .span_context()
        .clone()
}

fn assert_rejected(pairs: &[(&str, &str)]) {
    assert_eq!(
        extract(pairs),
        prior().span().span_context().clone(),
        "expected {pairs:?} to leave the context unchanged"
    );
}

fn assert_accepted(pairs: &[(&str, &str)]) -> SpanContext {
    let span_context = extract(pairs);
    assert_eq!(
        format!("{:032x}", span_context.trace_id()),
        TRACE_ID,
        "expected {pairs:?} to be accepted"
    );
    assert!(span_context.is_remote());
    span_context
}

fn inject(span_context: &SpanContext) -> HeaderMap {
    let mut map = HeaderMap::new();
    TraceContextPropagator::new().inject_context(
        &Context::new().with_remote_span_context(span_context.clone()),
        &mut HeaderInjector(&mut map),
    );
    map
}

/// The `tracestate` sent on (empty when none) after extracting a valid `traceparent` and the
/// given `tracestate` lines: what the service inherits.
fn tracestate(lines: &[&str]) -> String {
    let mut pairs = vec![("traceparent", VALID)];
    pairs.extend(lines.iter().map(|line| ("tracestate", *line)));
    let map = headers(&pairs);
    let propagator = TraceContextPropagator::new();
    let cx = propagator.extract_with_context(&prior(), &HeaderExtractor::new(&map));
    assert_eq!(
        format!("{:032x}", cx.span().span_context().trace_id()),
        TRACE_ID
    );
    let mut sent = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut sent));
    sent.get("tracestate")
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .unwrap_or_default()
}

#[test]
fn valid_traceparent_is_extracted_as_remote() {
    let span_context = assert_accepted(&[("traceparent", VALID)]);
    assert_eq!(span_context.span_id(), SpanId::from(0x1234_5678_9012_3456));
    assert!(span_context.is_sampled());
}

#[test]
fn header_name_casing_is_ignored_and_wrong_names_are_not_read() {
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        assert_accepted(&[(name, VALID)]);
    }
    for name in ["trace-parent", "trace.parent"] {
        assert_rejected(&[(name, VALID)]);
    }
}

#[test]
fn duplicated_traceparent_is_invalid() {
    assert_rejected(&[
        (
            "traceparent",
            "00-12345678901234567890123456789011-1234567890123456-01",
        ),
        ("traceparent", VALID),
    ]);
}

#[test]
fn version_00_with_trailing_data_is_invalid() {
    for value in [
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "00-12345678901234567890123456789012-1234567890123456-01-",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn future_versions_parse_forward_compatibly_and_reinject_as_00() {
    for value in [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ] {
        let span_context = assert_accepted(&[("traceparent", value)]);
        assert_eq!(inject(&span_context)["traceparent"], VALID);
    }
    assert_rejected(&[(
        "traceparent",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
    )]);
    assert_rejected(&[(
        "traceparent",
        "cc-12345678901234567890123456789012-1234567890123456-1",
    )]);
}

#[test]
fn invalid_versions_are_rejected() {
    for value in [
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "0A-12345678901234567890123456789012-1234567890123456-01",
        "+0-12345678901234567890123456789012-1234567890123456-01",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn invalid_trace_ids_are_rejected() {
    for value in [
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-1234567890ABCDEF7890123456789012-1234567890123456-01",
        "00-+2345678901234567890123456789012-1234567890123456-01",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn invalid_parent_ids_are_rejected() {
    for value in [
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-123456789012345F-01",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn invalid_flags_are_rejected() {
    for value in [
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-12345678901234567890123456789012-1234567890123456-0A",
        "00-12345678901234567890123456789012-1234567890123456-+1",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn bad_delimiters_are_rejected() {
    for value in [
        "00_12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012_1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456_01",
        "00 12345678901234567890123456789012 1234567890123456 01",
        "",
        "  ",
    ] {
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn surrounding_spaces_and_tabs_are_tolerated() {
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_accepted(&[("traceparent", value)]);
    }
}

#[test]
fn random_flag_is_preserved_and_reserved_flags_are_cleared() {
    for (incoming, outgoing) in [("00", "00"), ("01", "01"), ("02", "02"), ("03", "03")] {
        let value = format!("00-{TRACE_ID}-1234567890123456-{incoming}");
        let span_context = assert_accepted(&[("traceparent", &value)]);
        assert_eq!(
            span_context.trace_flags().to_u8(),
            incoming.parse::<u8>().expect("digits")
        );
        let expected = format!("00-{TRACE_ID}-1234567890123456-{outgoing}");
        assert_eq!(inject(&span_context)["traceparent"], expected.as_str());
    }
    let span_context = assert_accepted(&[(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-fe",
    )]);
    assert_eq!(span_context.trace_flags().to_u8(), 0x02);
}

#[test]
fn reserved_flags_set_locally_are_not_injected() {
    let span_context = SpanContext::new(
        TraceId::from(1),
        SpanId::from(2),
        TraceFlags::new(0xff),
        false,
        TraceState::NONE,
    );
    assert_eq!(
        inject(&span_context)["traceparent"],
        "00-00000000000000000000000000000001-0000000000000002-03"
    );
}

#[test]
fn stock_sdk_propagator_accepts_what_we_reject() {
    let stock = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    for value in [
        // Trailing `-` after version 00.
        "00-12345678901234567890123456789012-1234567890123456-01-",
        // A 31-digit trace id.
        "00-1234567890123456789012345678901-1234567890123456-01",
        // A sign, accepted by `from_str_radix`.
        "00-+2345678901234567890123456789012-1234567890123456-01",
        // One-digit flags.
        "00-12345678901234567890123456789012-1234567890123456-1",
    ] {
        let map = headers(&[("traceparent", value)]);
        let stock_cx = stock.extract_with_context(&Context::new(), &HeaderExtractor::new(&map));
        assert!(
            stock_cx.span().span_context().is_valid(),
            "stock rejected {value}"
        );
        assert_rejected(&[("traceparent", value)]);
    }
}

#[test]
fn stock_sdk_propagator_drops_the_random_flag_and_we_keep_it() {
    let value = "00-12345678901234567890123456789012-1234567890123456-02";
    let map = headers(&[("traceparent", value)]);
    let stock = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    let stock_cx = stock.extract_with_context(&Context::new(), &HeaderExtractor::new(&map));
    assert_eq!(stock_cx.span().span_context().trace_flags().to_u8(), 0x00);
    assert_eq!(
        assert_accepted(&[("traceparent", value)])
            .trace_flags()
            .to_u8(),
        0x02
    );
}

#[test]
fn tracestate_without_traceparent_is_discarded() {
    assert_rejected(&[("tracestate", "foo=1")]);
    assert_rejected(&[("tracestate", "foo=1,bar=2")]);
    let map = headers(&[("tracestate", "foo=1")]);
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor::new(&map));
    assert!(!cx.has_active_span());
}

#[test]
fn tracestate_with_invalid_traceparent_is_not_read() {
    assert_rejected(&[
        (
            "traceparent",
            "00-00000000000000000000000000000000-1234567890123456-01",
        ),
        ("tracestate", "foo=1"),
    ]);
}

#[test]
fn tracestate_is_inherited() {
    assert_eq!(tracestate(&["foo=1,bar=2"]), "foo=1,bar=2");
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let span_context = assert_accepted(&[("traceparent", VALID), (name, "foo=1")]);
        assert_eq!(span_context.trace_state().get("foo"), Some("1"));
    }
}

#[test]
fn tracestate_under_wrong_names_is_not_read() {
    for name in ["trace-state", "trace.state"] {
        let span_context = assert_accepted(&[("traceparent", VALID), (name, "foo=1")]);
        assert_eq!(span_context.trace_state(), &TraceState::NONE);
    }
}

#[test]
fn empty_tracestate_lines_are_harmless() {
    assert_eq!(tracestate(&[""]), "");
    assert_eq!(tracestate(&["foo=1", ""]), "foo=1");
    assert_eq!(tracestate(&["", "foo=1"]), "foo=1");
}

#[test]
fn tracestate_lines_are_combined_in_order() {
    assert_eq!(
        tracestate(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]),
        "foo=1,bar=2,rojo=1,congo=2,baz=3"
    );
}

#[test]
fn duplicated_tracestate_keys_keep_the_first() {
    assert_eq!(tracestate(&["foo=1,foo=1"]), "foo=1");
    assert_eq!(tracestate(&["foo=1,foo=2"]), "foo=1");
    assert_eq!(tracestate(&["foo=1", "foo=1"]), "foo=1");
    assert_eq!(tracestate(&["foo=1", "foo=2"]), "foo=1");
    assert_eq!(
        tracestate(&["foo=1,bar=2", "foo=3,baz=4"]),
        "foo=1,bar=2,baz=4"
    );
}

#[test]
fn all_allowed_tracestate_characters_are_kept() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x2b)
        .chain(0x2d..=0x3c)
        .chain(0x3e..=0x7e)
        .map(char::from)
        .collect();
    for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let span_context = assert_accepted(&[
            ("traceparent", VALID),
            ("tracestate", &format!("{key}={value}")),
        ]);
        assert_eq!(span_context.trace_state().get(&key), Some(value.as_str()));
    }
}

#[test]
fn optional_whitespace_in_tracestate_is_ignored() {
    for line in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        assert_eq!(tracestate(&[line]), "foo=1,bar=2,baz=3");
    }
    for line in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(tracestate(&[line]), "foo=1");
    }
}

#[test]
fn illegal_tracestate_keys_discard_the_tracestate() {
    for line in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "@foo=1,bar=2",
        "bar=2,@foo=1",
    ] {
        assert_eq!(tracestate(&[line]), "", "{line}");
    }
}

#[test]
fn keys_with_at_signs_of_the_current_grammar_are_inherited_whole() {
    for line in [
        "foo@=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
        "bar=2,foo@@bar=1,baz=3",
    ] {
        assert_eq!(tracestate(&[line]), line);
    }
}

#[test]
fn illegal_tracestate_values_discard_the_tracestate() {
    let too_long = format!("foo={}", "v".repeat(257));
    for line in ["foo=bar=baz", "foo=", "foo=1,bar", "foo=a\tb", &too_long] {
        assert_eq!(tracestate(&[line, "ok=1"]), "", "{line:?}");
    }
    assert_eq!(
        tracestate(&[&format!("foo={}", "v".repeat(256))]).len(),
        4 + 256
    );
}

fn members(range: std::ops::RangeInclusive<u32>) -> String {
    range
        .map(|i| format!("bar{i:02}={i:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn tracestate_member_count_limit() {
    let lines = [members(1..=10), members(11..=20), members(21..=30)];
    let thirty_two = tracestate(&[&lines[0], &lines[1], &lines[2], &members(31..=32)]);
    assert_eq!(thirty_two, members(1..=32));
    let thirty_three = tracestate(&[&lines[0], &lines[1], &lines[2], &members(31..=33)]);
    assert_eq!(thirty_three, "");
}

#[test]
fn tracestate_key_length_limits() {
    let longest = format!("{}=1", "z".repeat(256));
    assert_eq!(tracestate(&["foo=1", &longest]), format!("foo=1,{longest}"));
    assert_eq!(
        tracestate(&["foo=1", &format!("{}=1", "z".repeat(257))]),
        ""
    );
    for key in [
        format!("{}@{}", "t".repeat(241), "v".repeat(13)),
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        format!("{}@v", "t".repeat(242)),
        format!("t@{}", "v".repeat(15)),
    ] {
        assert_eq!(
            tracestate(&["foo=1", &format!("{key}=1")]),
            format!("foo=1,{key}=1"),
            "{key}"
        );
    }
}

#[test]
fn inject_writes_lowercase_headers_and_tracestate_only_when_present() {
    let mut span_context = SpanContext::new(
        TraceId::from(0x1234_5678_9012_3456_7890_1234_5678_9012),
        SpanId::from(0x1234_5678_9012_3456),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let map = inject(&span_context);
    assert_eq!(map.len(), 1);
    // Started here (a local span context): the SDK's trace ids are random, so the flag is sent.
    assert_eq!(
        map["traceparent"],
        "00-12345678901234567890123456789012-1234567890123456-03"
    );

    span_context = SpanContext::new(
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags(),
        false,
        TraceState::from_key_value([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")])
            .expect("valid"),
    );
    let map = inject(&span_context);
    assert_eq!(map["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
    assert_eq!(names, ["traceparent", "tracestate"]);
}

#[test]
fn invalid_span_context_injects_nothing() {
    let mut map = HeaderMap::new();
    let propagator = TraceContextPropagator::new();
    propagator.inject_context(&Context::new(), &mut HeaderInjector(&mut map));
    propagator.inject_context(
        &Context::new().with_remote_span_context(SpanContext::new(
            TraceId::INVALID,
            SpanId::from(1),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("foo", "1")]).expect("valid"),
        )),
        &mut HeaderInjector(&mut map),
    );
    assert!(map.is_empty());
}

#[test]
fn fields_are_the_two_headers() {
    let propagator = TraceContextPropagator::new();
    let fields: Vec<&str> = propagator.fields().collect();
    assert_eq!(fields, ["traceparent", "tracestate"]);
}
