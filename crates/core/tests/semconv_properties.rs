//! Property tests of the semconv parsers through the public API: no input panics, and the
//! documented invariants hold for every input.

use std::borrow::Cow;
use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use tracewire_core::semconv::http::{
    DEFAULT_KNOWN_METHODS, KnownMethods, NormalizedMethod, client_address_from_headers,
    server_address_from_headers, url_scheme_from_headers,
};
use tracewire_core::semconv::stability::{StabilityMode, StabilityOptIn};
use tracewire_core::semconv::url::{SENSITIVE_QUERY_PARAMETERS, redact_query, redact_url_full};

const HEADER_NAMES: [&str; 5] = [
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "host",
];

/// Header maps with arbitrary (valid-header) values for the proxy headers.
fn proxy_headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((0..HEADER_NAMES.len(), "[ -~]{0,40}"), 0..6).prop_map(|entries| {
        let mut headers = HeaderMap::new();
        for (index, value) in entries {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(HEADER_NAMES[index], value);
            }
        }
        headers
    })
}

/// A secret that cannot appear by accident in the generated URLs (which use no `Z`).
fn secret() -> impl Strategy<Value = String> {
    "ZZ[0-9A-Y]{6,12}"
}

fn stability_token() -> impl Strategy<Value = String> {
    let domains = prop_oneof![
        Just("http"),
        Just("database"),
        Just("rpc"),
        Just("messaging"),
        Just("k8s"),
        Just("db"),
    ];
    let suffixes = prop_oneof![
        Just(""),
        Just("/dup"),
        Just("/old"),
        Just("/DUP"),
        Just("/x")
    ];
    (domains, suffixes, " {0,2}").prop_map(|(d, s, pad)| format!("{pad}{d}{s}{pad}"))
}

proptest! {
    #[test]
    fn normalize_method_is_total(method in ".*") {
        let known = KnownMethods::default();
        match known.normalize(&method) {
            NormalizedMethod::Known(m) => {
                prop_assert_eq!(m, method.as_str());
                prop_assert!(DEFAULT_KNOWN_METHODS.contains(&m));
            }
            NormalizedMethod::Other(original) => {
                prop_assert_eq!(original, method.as_str());
                prop_assert!(!DEFAULT_KNOWN_METHODS.contains(&original));
            }
        }
    }

    #[test]
    fn known_methods_parse_never_panics(value in ".*") {
        let known = KnownMethods::parse(&value);
        prop_assert!(!known.methods().is_empty());
        for (i, method) in known.methods().iter().enumerate() {
            prop_assert!(!method.is_empty());
            prop_assert!(!method.contains([',', ' ']));
            prop_assert!(!known.methods()[..i].contains(method));
            prop_assert_eq!(known.normalize(method), NormalizedMethod::Known(method));
        }
    }

    #[test]
    fn known_methods_roundtrip(methods in proptest::collection::vec("[A-Za-z][A-Za-z0-9-]{0,8}", 1..6)) {
        let known = KnownMethods::parse(&methods.join(" , "));
        let mut expected: Vec<&str> = Vec::new();
        for method in &methods {
            if !expected.contains(&method.as_str()) {
                expected.push(method);
            }
        }
        prop_assert_eq!(known.methods(), expected.as_slice());
    }

    #[test]
    fn stability_parse_never_panics(value in ".*") {
        StabilityOptIn::parse(&value);
    }

    #[test]
    fn stability_is_order_independent(tokens in proptest::collection::vec(stability_token(), 0..8)) {
        let forward = StabilityOptIn::parse(&tokens.join(","));
        let mut reversed = tokens.clone();
        reversed.reverse();
        prop_assert_eq!(forward, StabilityOptIn::parse(&reversed.join(",")));
    }

    #[test]
    fn dup_always_wins(tokens in proptest::collection::vec(stability_token(), 0..8), at in 0usize..8) {
        let mut tokens = tokens;
        tokens.insert(at.min(tokens.len()), "rpc/dup".to_owned());
        tokens.push("Messaging/Dup".to_owned());
        let parsed = StabilityOptIn::parse(&tokens.join(","));
        prop_assert_eq!(parsed.rpc, StabilityMode::Dup);
        prop_assert_eq!(parsed.messaging, StabilityMode::Dup);
    }

    #[test]
    fn redact_url_never_panics_and_is_idempotent(url in ".*") {
        let once = redact_url_full(&url);
        let twice = redact_url_full(&once);
        prop_assert!(matches!(twice, Cow::Borrowed(_)), "{:?} -> {:?}", once, twice);
        prop_assert_eq!(once.as_ref(), twice.as_ref());
    }

    #[test]
    fn redact_query_never_panics_and_is_idempotent(query in ".*") {
        let once = redact_query(&query);
        let twice = redact_query(&once);
        prop_assert!(matches!(twice, Cow::Borrowed(_)));
        prop_assert_eq!(twice.as_ref(), once.as_ref());
    }

    #[test]
    fn redacted_url_never_contains_secrets(
        scheme in "(http|https|s3)",
        user in secret(),
        password_head in "[a-y0-9!$@]{0,6}",
        password_secret in secret(),
        host in "[a-y0-9.-]{1,12}",
        port in proptest::option::of(any::<u16>()),
        path in "(/[a-y0-9@]{0,6}){0,3}",
        key_index in 0..SENSITIVE_QUERY_PARAMETERS.len(),
        query_secret in secret(),
        other in "[a-y0-9]{0,6}",
        fragment in proptest::option::of("[a-y0-9?=&]{0,8}"),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let key = SENSITIVE_QUERY_PARAMETERS[key_index];
        let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
        let url = format!(
            "{scheme}://{user}:{password_head}{password_secret}@{host}{port}{path}?a={other}&{key}={query_secret}&b=1{fragment}"
        );
        let redacted = redact_url_full(&url);
        for secret in [&user, &password_secret, &query_secret] {
            prop_assert!(!redacted.contains(secret.as_str()), "{} leaked in {}", secret, redacted);
        }
        let expected_tail = format!("@{host}{port}{path}?a={other}&{key}=REDACTED&b=1{fragment}");
        prop_assert_eq!(redacted.as_ref(), format!("{scheme}://REDACTED:REDACTED{expected_tail}"));
    }

    #[test]
    fn urls_without_secrets_are_borrowed(
        host in "[a-z0-9.-]{1,12}",
        path in "(/[a-z0-9]{0,6}){0,3}",
        query in "([a-z]{1,4}=[a-z0-9]{0,4}&){0,3}",
    ) {
        let url = format!("https://{host}{path}?{query}#frag");
        prop_assert!(matches!(redact_url_full(&url), Cow::Borrowed(_)));
    }

    #[test]
    fn server_address_invariants(headers in proxy_headers(), authority in proptest::option::of("[ -~]{0,30}")) {
        let authority = authority.and_then(|a| a.parse::<http::uri::Authority>().ok());
        if let Some(parsed) = server_address_from_headers(&headers, authority.as_ref()) {
            prop_assert!(!parsed.host.is_empty());
            prop_assert!(!parsed.host.contains(['[', ']', '@', '/', ' ', '"']));
            if parsed.host.contains(':') {
                prop_assert!(parsed.host.parse::<std::net::Ipv6Addr>().is_ok());
            }
        }
    }

    #[test]
    fn client_address_is_always_an_ip(headers in proxy_headers()) {
        if let Some(address) = client_address_from_headers(&headers) {
            prop_assert!(address.parse::<IpAddr>().is_ok(), "{}", address);
        }
        if let Some(scheme) = url_scheme_from_headers(&headers) {
            prop_assert!(!scheme.is_empty() && !scheme.contains([' ', ',', ';', '"']));
        }
    }
}
