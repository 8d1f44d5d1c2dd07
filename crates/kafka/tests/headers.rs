//! Header propagation: replace-on-inject, last-value-wins extraction, bad values never panic.

mod common;

use common::{TRACEPARENT, raw_keys, with_raw_key};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::BaggagePropagator;
use proptest::prelude::*;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracewire_core::propagation::{Propagator, PropagatorKind, TraceContextPropagator};
use tracewire_kafka::headers::{extract, extractor, inject};

fn w3c() -> Propagator {
    Propagator::new(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]))
}

fn span_cx(trace: u128, span: u64) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    ))
}

fn pairs(headers: &OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
    headers
        .iter()
        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
        .collect()
}

fn with(list: &[(&str, Option<&[u8]>)]) -> OwnedHeaders {
    list.iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header { key, value: *value })
        })
}

#[test]
fn inject_replaces_every_propagation_field_and_keeps_the_rest_in_order() {
    let old = with(&[
        ("a", Some(b"1")),
        ("traceparent", Some(b"stale-1")),
        ("b", None),
        ("baggage", Some(b"stale=1")),
        ("traceparent", Some(b"stale-2")),
        ("tracestate", Some(b"x=y")),
        ("c", Some(b"\xff\x00binary")),
    ]);
    let headers = inject(&w3c(), &span_cx(7, 9), Some(old)).expect("headers");
    let got = pairs(&headers);
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    // The context has no baggage or trace state: nothing is written for them, but the stale
    // copies are gone all the same.
    assert_eq!(keys, ["a", "b", "c", "traceparent"]);
    assert_eq!(got[1].1, None, "null values are kept as null");
    assert_eq!(got[2].1.as_deref(), Some(&b"\xff\x00binary"[..]));
    assert_eq!(
        got[3].1.as_deref(),
        // A trace started here: sampled, and random (the SDK's trace ids are).
        Some(&b"00-00000000000000000000000000000007-0000000000000009-03"[..])
    );
    let cx = extract(&w3c(), Some(&headers));
    assert_eq!(cx.span().span_context().span_id(), SpanId::from(9_u64));
}

#[test]
fn inject_appends_in_place_when_nothing_is_stale_and_creates_headers_when_absent() {
    let headers =
        inject(&w3c(), &span_cx(1, 2), Some(with(&[("k", Some(b"v"))]))).expect("headers");
    let keys: Vec<String> = pairs(&headers).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["k", "traceparent"]);

    let fresh = inject(&w3c(), &span_cx(1, 2), None).expect("headers");
    assert_eq!(fresh.count(), 1);
    assert!(inject(&w3c(), &Context::new(), None).is_none());
    // An invalid context still clears stale fields from existing headers.
    let cleared = inject(
        &w3c(),
        &Context::new(),
        Some(with(&[("traceparent", Some(b"x"))])),
    );
    assert_eq!(cleared.map(|h| h.count()), Some(0));
}

#[test]
fn inject_follows_the_configured_propagators_fields() {
    let b3 = Propagator::new(TextMapCompositePropagator::new(vec![
        PropagatorKind::B3Multi.build(),
    ]));
    let old = with(&[
        ("traceparent", Some(b"kept: not a b3 field")),
        ("x-b3-traceid", Some(b"stale")),
        ("x-b3-sampled", Some(b"0")),
    ]);
    let headers = inject(&b3, &span_cx(5, 6), Some(old)).expect("headers");
    let got = pairs(&headers);
    assert_eq!(got[0].0, "traceparent");
    assert_eq!(got.iter().filter(|(k, _)| k == "x-b3-traceid").count(), 1);
    assert_eq!(
        extractor(&headers).get("x-b3-traceid"),
        Some("00000000000000000000000000000005")
    );
}

#[test]
fn extraction_takes_the_last_valid_value() {
    let headers = with(&[
        (
            "traceparent",
            Some(b"00-00000000000000000000000000000001-0000000000000001-01"),
        ),
        ("traceparent", Some(TRACEPARENT.as_bytes())),
        ("traceparent", None),
        ("traceparent", Some(b"\xc3\x28")),
        ("baggage", Some(b"user=1")),
    ]);
    let cx = extract(&w3c(), Some(headers.as_borrowed()));
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(cx.span().span_context().is_remote());
    assert_eq!(
        extractor(&headers).get_all("traceparent").map(|v| v.len()),
        Some(2)
    );
}

#[test]
fn garbage_missing_or_null_headers_give_an_empty_context() {
    for headers in [
        with(&[]),
        with(&[("traceparent", None)]),
        with(&[("traceparent", Some(b"00-zz-zz-01"))]),
        with(&[("traceparent", Some(b"\xff\xfe\xfd"))]),
        with(&[("TRACEPARENT", Some(TRACEPARENT.as_bytes()))]),
    ] {
        assert!(!extract(&w3c(), Some(&headers)).has_active_span());
    }
    assert!(!extract::<OwnedHeaders>(&w3c(), None).has_active_span());
}

#[test]
fn a_key_that_is_not_utf8_is_skipped_by_extraction_and_kept_by_injection() {
    let headers =
        with_raw_key(with(&[("app", Some(b"1"))]), b"\xff\xfe-key", b"binary").insert(Header {
            key: "traceparent",
            value: Some(TRACEPARENT),
        });
    for cx in [
        extract(&w3c(), Some(&headers)),
        extract(&w3c(), Some(headers.as_borrowed())),
    ] {
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
    let pairs = extractor(headers.as_borrowed());
    assert_eq!(pairs.keys(), ["app", "traceparent"]);
    assert_eq!(pairs.get("traceparent"), Some(TRACEPARENT));

    let injected = inject(&w3c(), &span_cx(3, 4), Some(headers)).expect("headers");
    assert_eq!(
        raw_keys(injected.as_borrowed()),
        [&b"app"[..], b"\xff\xfe-key", b"traceparent"]
    );
    let cx = extract(&w3c(), Some(&injected));
    assert_eq!(cx.span().span_context().span_id(), SpanId::from(4_u64));
}

fn header_list() -> impl Strategy<Value = Vec<(String, Option<Vec<u8>>)>> {
    let key = prop_oneof![
        Just("traceparent".to_owned()),
        Just("tracestate".to_owned()),
        Just("baggage".to_owned()),
        "[a-z-]{1,12}",
        "\\PC{0,8}",
    ];
    let value = proptest::option::of(prop_oneof![
        Just(TRACEPARENT.as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
        "\\PC{0,40}".prop_map(String::into_bytes),
    ]);
    proptest::collection::vec((key, value), 0..16)
}

fn build(list: &[(String, Option<Vec<u8>>)]) -> OwnedHeaders {
    list.iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: value.as_deref(),
            })
        })
}

proptest! {
    #[test]
    fn inject_then_extract_round_trips_and_keeps_other_headers(list in header_list()) {
        let propagator = w3c();
        let fields = ["traceparent", "tracestate", "baggage"];
        let headers = inject(&propagator, &span_cx(11, 12), Some(build(&list))).expect("headers");
        let got = pairs(&headers);
        let kept: Vec<_> = list.iter().filter(|(k, _)| !fields.contains(&k.as_str())).cloned().collect();
        prop_assert_eq!(&got[..kept.len()], &kept[..]);
        prop_assert_eq!(got.len(), kept.len() + 1);
        prop_assert_eq!(got.iter().filter(|(k, _)| k == "traceparent").count(), 1);
        let cx = extract(&propagator, Some(&headers));
        prop_assert_eq!(cx.span().span_context().span_id(), SpanId::from(12_u64));
    }

    #[test]
    fn extraction_never_panics_and_matches_the_last_utf8_value(list in header_list()) {
        let headers = build(&list);
        let _ = extract(&w3c(), Some(&headers));
        let expected = list
            .iter()
            .rev()
            .filter(|(k, _)| k == "traceparent")
            .find_map(|(_, v)| v.as_deref().and_then(|v| std::str::from_utf8(v).ok()));
        let extracted = extractor(&headers);
        prop_assert_eq!(extracted.get("traceparent"), expected);
    }
}
