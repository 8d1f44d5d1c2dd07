//! The header and pair carriers, and W3C Baggage through them.

use http::{HeaderMap, HeaderValue};
use opentelemetry::{
    Context,
    baggage::BaggageExt,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::propagation::BaggagePropagator;
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, PairExtractor, PairInjector, TraceContextPropagator,
};

const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("test header value")
}

#[test]
fn header_extractor_is_case_insensitive() {
    let mut headers = HeaderMap::new();
    headers.insert("x-custom", value(b"1"));
    headers.insert("traceparent", value(VALID.as_bytes()));
    let extractor = HeaderExtractor::new(&headers);
    assert_eq!(extractor.get("X-Custom"), Some("1"));
    assert_eq!(extractor.get("TRACEPARENT"), Some(VALID));
    assert_eq!(extractor.get("missing"), None);
}

#[test]
fn header_extractor_reads_non_ascii_values_as_absent() {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", value(b"00-\xc3\xa9"));
    headers.insert("x-other", value(b"\xff"));
    let extractor = HeaderExtractor::new(&headers);
    assert_eq!(extractor.get("traceparent"), None);
    assert_eq!(extractor.get("x-other"), None);
    assert_eq!(extractor.get_all("x-other"), None);
}

#[test]
fn header_extractor_never_panics_on_invalid_lookup_names() {
    let headers = HeaderMap::new();
    let extractor = HeaderExtractor::new(&headers);
    assert_eq!(extractor.get("bad name"), None);
    assert_eq!(extractor.get(""), None);
    assert_eq!(extractor.get_all("bad\nname"), None);
}

#[test]
fn header_extractor_rejects_duplicate_traceparent() {
    let mut headers = HeaderMap::new();
    headers.append("traceparent", value(VALID.as_bytes()));
    headers.append("traceparent", value(VALID.as_bytes()));
    let extractor = HeaderExtractor::new(&headers);
    assert_eq!(extractor.get("traceparent"), None);
    assert_eq!(extractor.get_all("traceparent"), Some(vec![VALID, VALID]));
}

#[test]
fn header_extractor_joins_list_headers_and_returns_the_first_of_others() {
    let mut headers = HeaderMap::new();
    headers.append("tracestate", value(b"a=1"));
    headers.append("TraceState", value(b"b=2, c=3"));
    headers.append("baggage", value(b"k=v"));
    headers.append("baggage", value(b""));
    headers.append("baggage", value(b"l=w"));
    headers.append("x-b3-sampled", value(b"1"));
    headers.append("x-b3-sampled", value(b"0"));
    let extractor = HeaderExtractor::from(&headers);
    assert_eq!(extractor.get("tracestate"), Some("a=1,b=2, c=3"));
    assert_eq!(extractor.get("Baggage"), Some("k=v,,l=w"));
    assert_eq!(extractor.get("x-b3-sampled"), Some("1"));
}

#[test]
fn header_extractor_lists_each_header_name_once() {
    let mut headers = HeaderMap::new();
    headers.append("Baggage", value(b"a=1"));
    headers.append("baggage", value(b"b=2"));
    headers.append("uberctx-user", value(b"x"));
    let extractor = HeaderExtractor::new(&headers);
    let mut keys = extractor.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["baggage", "uberctx-user"]);
}

#[test]
fn header_injector_replaces_stale_values() {
    let mut headers = HeaderMap::new();
    headers.append("traceparent", value(b"stale-1"));
    headers.append("traceparent", value(b"stale-2"));
    headers.append("x-keep", value(b"kept"));
    let mut injector = HeaderInjector(&mut headers);
    injector.set("TraceParent", VALID.to_owned());
    injector.set("x-b3-traceid", "abc".to_owned());
    injector.set("x-b3-traceid", "def".to_owned());
    let values: Vec<_> = headers.get_all("traceparent").iter().collect();
    assert_eq!(values, [VALID]);
    assert_eq!(headers["x-b3-traceid"], "def");
    assert_eq!(headers.get_all("x-b3-traceid").iter().count(), 1);
    assert_eq!(headers["x-keep"], "kept");
}

#[test]
fn header_injector_skips_invalid_names_and_values() {
    let mut headers = HeaderMap::new();
    let mut injector = HeaderInjector(&mut headers);
    injector.set("bad name", "v".to_owned());
    injector.set("", "v".to_owned());
    injector.set("uberctx-ünïcode", "v".to_owned());
    injector.set("x-newline", "a\r\nb".to_owned());
    injector.set("x-non-ascii", "é".to_owned());
    injector.set("x-nul", "\0".to_owned());
    injector.reserve(4);
    assert!(headers.is_empty(), "{headers:?}");
    HeaderInjector(&mut headers).set("x-tab", "a\tb".to_owned());
    assert_eq!(headers["x-tab"], "a\tb");
}

#[test]
fn pair_extractor_is_exact_case_with_the_last_value_winning() {
    let pairs: [(&str, &[u8]); 5] = [
        ("traceparent", b"first"),
        ("Traceparent", b"other-case"),
        ("traceparent", b"last"),
        ("baggage", b"a=1"),
        ("baggage", b"\xff"),
    ];
    let extractor = PairExtractor::new(pairs);
    assert_eq!(extractor.get("traceparent"), Some("last"));
    assert_eq!(extractor.get("Traceparent"), Some("other-case"));
    assert_eq!(extractor.get("TRACEPARENT"), None);
    assert_eq!(
        extractor.get("baggage"),
        Some("a=1"),
        "non-UTF-8 values are skipped"
    );
    assert_eq!(
        extractor.get_all("traceparent"),
        Some(vec!["first", "last"])
    );
    assert_eq!(extractor.get_all("missing"), None);
    assert_eq!(
        extractor.keys(),
        ["traceparent", "Traceparent", "traceparent", "baggage"]
    );
}

#[test]
fn pair_injector_replaces_an_earlier_pair_with_the_same_key() {
    let mut injector = PairInjector::new();
    assert!(injector.is_empty());
    injector.set("traceparent", "one".to_owned());
    injector.set("baggage", "a=1".to_owned());
    injector.set("Traceparent", "case-sensitive".to_owned());
    injector.set("traceparent", "two".to_owned());
    assert_eq!(injector.len(), 3);
    let borrowed: Vec<(&str, &str)> = injector.iter().collect();
    assert_eq!(
        borrowed,
        [
            ("traceparent", "two"),
            ("baggage", "a=1"),
            ("Traceparent", "case-sensitive")
        ]
    );
    let owned: Vec<(String, String)> = injector.clone().into_iter().collect();
    assert_eq!(owned, injector.into_pairs());
}

fn span_context() -> SpanContext {
    SpanContext::new(
        TraceId::from(0x1234_5678_9012_3456_7890_1234_5678_9012),
        SpanId::from(0x1234_5678_9012_3456),
        TraceFlags::new(0x03),
        true,
        TraceState::from_key_value([("rojo", "1")]).expect("valid"),
    )
}

#[test]
fn pair_carriers_round_trip_a_context() {
    let propagator = TraceContextPropagator::new();
    let mut injector = PairInjector::new();
    propagator.inject_context(
        &Context::new().with_remote_span_context(span_context()),
        &mut injector,
    );
    let pairs = injector.into_pairs();
    let extractor = PairExtractor::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let cx = propagator.extract(&extractor);
    assert_eq!(cx.span().span_context(), &span_context());
}

/// 64 members in exactly 8192 bytes, the W3C minimum every platform must propagate.
fn baggage_at_the_limit() -> String {
    let members: Vec<String> = (0..64)
        .map(|i| {
            let value_len = if i == 63 { 124 } else { 123 };
            format!("k{i:02}={}", "v".repeat(value_len))
        })
        .collect();
    let header = members.join(",");
    assert_eq!(header.len(), 8192);
    header
}

fn extract_baggage(headers: &HeaderMap) -> Context {
    BaggagePropagator::new().extract(&HeaderExtractor::new(headers))
}

#[test]
fn baggage_at_the_w3c_limit_passes_through_our_carriers() {
    let mut headers = HeaderMap::new();
    headers.insert("baggage", value(baggage_at_the_limit().as_bytes()));
    let cx = extract_baggage(&headers);
    assert_eq!(cx.baggage().len(), 64);
    assert_eq!(cx.baggage().get("k63").map(|v| v.as_str().len()), Some(124));

    let mut outgoing = HeaderMap::new();
    BaggagePropagator::new().inject_context(&cx, &mut HeaderInjector(&mut outgoing));
    assert_eq!(outgoing["baggage"].len(), 8192);
    assert_eq!(extract_baggage(&outgoing).baggage().len(), 64);
}

#[test]
fn baggage_lines_are_combined() {
    let header = baggage_at_the_limit();
    let comma = header[..header.len() / 2]
        .rfind(',')
        .expect("a member boundary");
    let mut headers = HeaderMap::new();
    headers.append("baggage", value(&header.as_bytes()[..comma]));
    headers.append("baggage", value(&header.as_bytes()[comma + 1..]));
    let cx = extract_baggage(&headers);
    assert_eq!(cx.baggage().len(), 64);

    let mut headers = HeaderMap::new();
    headers.append("baggage", value(b"a=1"));
    headers.append("baggage", value(b"b=2;prop"));
    let cx = extract_baggage(&headers);
    assert_eq!(cx.baggage().get("a").map(|v| v.as_str()), Some("1"));
    assert_eq!(cx.baggage().get("b").map(|v| v.as_str()), Some("2"));
}

#[test]
fn oversized_and_malformed_baggage_does_not_panic() {
    let sixty_five: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let too_long = format!("k={}", "v".repeat(8200));
    for header in [
        sixty_five.join(","),
        too_long,
        "=,;;,a,%zz=1,k=%ff,=v,k=,;=;".to_owned(),
        ",,,".to_owned(),
        "k=v;;;p=%;q".to_owned(),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("baggage", value(header.as_bytes()));
        let cx = extract_baggage(&headers);
        assert!(cx.baggage().len() <= 64);
    }
}
