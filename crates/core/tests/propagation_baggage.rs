//! Property tests of the W3C Baggage propagator against `opentelemetry_sdk`'s: the same baggage
//! from every valid header, the same header from every baggage both encode alike, and inject
//! followed by extract is the identity.

use std::collections::HashMap;

use opentelemetry::{
    Context, KeyValue,
    baggage::{Baggage, BaggageExt},
    propagation::TextMapPropagator,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use proptest::prelude::*;
use tracewire_core::propagation::BaggagePropagator;

/// What the SDK encodes, plus `%` and `\`, which the W3C grammar also requires to be encoded.
const ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'\\');

type Entries = Vec<(String, String, String)>;

fn entries(cx: &Context) -> Entries {
    let mut entries: Entries = cx
        .baggage()
        .iter()
        .map(|(key, (value, metadata))| {
            (
                key.to_string(),
                value.as_str().to_owned(),
                metadata.as_str().to_owned(),
            )
        })
        .collect();
    entries.sort();
    entries
}

fn extract(propagator: &dyn TextMapPropagator, header: &str) -> Context {
    let carrier = HashMap::from([("baggage".to_owned(), header.to_owned())]);
    propagator.extract(&carrier)
}

fn inject(propagator: &dyn TextMapPropagator, cx: &Context) -> Option<String> {
    let mut carrier = HashMap::new();
    propagator.inject_context(cx, &mut carrier);
    carrier.remove("baggage")
}

/// Keys: tokens without `%` (the SDK percent-decodes keys, the W3C grammar does not).
fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$&'*+.^_`|~-]{1,6}"
}

/// Decoded values with separators, `%`, `\` and non-ASCII characters, without whitespace at
/// either end (the SDK trims decoded values).
fn value() -> impl Strategy<Value = String> {
    "[a-z0-9 %\\\\=;,\"é😀]{0,8}"
        .prop_filter("no whitespace at the ends", |value| value.trim() == value)
}

/// Optional whitespace.
fn ows() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("\t "), Just("  ")]
}

/// A property list as metadata: `p` or `p=v` members joined with `;`.
fn metadata() -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), proptest::option::of("[a-z0-9]{0,4}")), 0..3).prop_map(
        |properties| {
            properties
                .into_iter()
                .map(|(key, value)| match value {
                    Some(value) => format!("{key}={value}"),
                    None => key,
                })
                .collect::<Vec<_>>()
                .join(";")
        },
    )
}

/// A valid list member written with optional whitespace around every separator, and its key.
fn member() -> impl Strategy<Value = (String, String)> {
    (key(), value(), metadata(), ows(), ows(), ows()).prop_map(
        |(key, value, metadata, before, around, after)| {
            let mut member = format!(
                "{before}{key}{around}={around}{}",
                utf8_percent_encode(&value, ENCODED)
            );
            for property in metadata.split(';').filter(|p| !p.is_empty()) {
                member.push_str(&format!("{around};{around}{property}"));
            }
            member.push_str(after);
            (key, member)
        },
    )
}

proptest! {
    #[test]
    fn valid_headers_read_as_the_sdk_reads_them(
        members in proptest::collection::vec(member(), 0..10),
    ) {
        let header = members.iter().map(|(_, member)| member.as_str()).collect::<Vec<_>>().join(",");
        let ours = entries(&extract(&BaggagePropagator::new(), &header));
        let sdk = extract(&opentelemetry_sdk::propagation::BaggagePropagator::new(), &header);
        prop_assert_eq!(&ours, &entries(&sdk), "{:?}", header);
        // Every member is valid: one entry per distinct key.
        let keys: std::collections::BTreeSet<_> = members.iter().map(|(key, _)| key).collect();
        prop_assert_eq!(ours.len(), keys.len());
    }

    #[test]
    fn injected_headers_match_the_sdk_and_read_back(
        list in proptest::collection::vec((key(), value(), metadata()), 0..10),
    ) {
        let baggage: Baggage = list
            .iter()
            .map(|(key, value, metadata)| {
                opentelemetry::baggage::KeyValueMetadata::new(
                    key.clone(),
                    value.clone(),
                    metadata.as_str(),
                )
            })
            .collect();
        let cx = Context::new().with_baggage(baggage);
        let ours = inject(&BaggagePropagator::new(), &cx);
        if !list.iter().any(|(_, value, _)| value.contains(['%', '\\'])) {
            let sdk = inject(&opentelemetry_sdk::propagation::BaggagePropagator::new(), &cx);
            prop_assert_eq!(&ours, &sdk);
        }
        let read = extract(&BaggagePropagator::new(), ours.as_deref().unwrap_or_default());
        prop_assert_eq!(entries(&read), entries(&cx));
    }

    #[test]
    fn arbitrary_headers_keep_only_token_keys(header in "[ -~é]{0,120}") {
        let cx = extract(&BaggagePropagator::new(), &header);
        for (key, _, _) in entries(&cx) {
            prop_assert!(!key.is_empty() && !key.contains([' ', ',', ';', '=', '"', '\\']));
        }
    }
}

#[test]
fn values_with_percent_and_backslash_round_trip_unlike_the_sdk() {
    let cx = Context::new().with_baggage([KeyValue::new("k", "100%41 \\ ok")]);
    let header = inject(&BaggagePropagator::new(), &cx).unwrap_or_default();
    assert_eq!(header, "k=100%2541%20%5C%20ok");
    let read = extract(&BaggagePropagator::new(), &header);
    assert_eq!(
        read.baggage().get("k").map(|v| v.as_str().to_owned()),
        Some("100%41 \\ ok".to_owned())
    );
}

#[test]
fn malformed_members_are_skipped_and_the_rest_kept() {
    let cx = extract(
        &BaggagePropagator::new(),
        "a=1,b c=2,d=x y,,e=\"q\",f=3;bad prop,g=4=5,h=%FF",
    );
    assert_eq!(
        entries(&cx),
        [
            ("a".to_owned(), "1".to_owned(), String::new()),
            ("g".to_owned(), "4=5".to_owned(), String::new()),
            ("h".to_owned(), "\u{fffd}".to_owned(), String::new()),
        ]
    );
}

#[test]
fn limits() {
    let propagator = BaggagePropagator::new();
    let too_long = format!("k={}", "v".repeat(8191));
    assert_eq!(entries(&extract(&propagator, &too_long)), []);
    // 180 members are read; `Baggage` then keeps 64 of them.
    let many: Vec<String> = (0..200).map(|i| format!("k{i}=v")).collect();
    assert_eq!(entries(&extract(&propagator, &many.join(","))).len(), 64);
    // Absent header: the context is returned unchanged; present: its baggage replaces.
    let cx = Context::new().with_baggage([KeyValue::new("old", "1")]);
    let carrier: HashMap<String, String> = HashMap::new();
    assert_eq!(
        entries(&propagator.extract_with_context(&cx, &carrier)).len(),
        1
    );
    let replaced = propagator.extract_with_context(
        &cx,
        &HashMap::from([("baggage".to_owned(), "new=2".to_owned())]),
    );
    assert_eq!(
        entries(&replaced),
        [("new".to_owned(), "2".to_owned(), String::new())]
    );
}
