//! `url.*` keys and URL redaction (semconv §1.8).
//!
//! - `url.full` never contains userinfo: it becomes `REDACTED:REDACTED`.
//! - The values of [`SENSITIVE_QUERY_PARAMETERS`] become `REDACTED`; keys stay. Keys match
//!   case-sensitively after percent-decoding, because a server decodes `X%2DAmz%2DSignature` to
//!   the sensitive name. Both `&` and `;` separate parameters, so a `;`-separated secret is not
//!   missed; at worst a value containing `;sig=` is over-redacted.
//! - The fragment is kept.
//!
//! Nothing is allocated when there is nothing to redact, and no input makes these functions panic.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

pub use opentelemetry_semantic_conventions::attribute::{
    URL_FULL, URL_PATH, URL_QUERY, URL_SCHEME, URL_TEMPLATE,
};

/// The replacement for redacted userinfo components and query values.
pub const REDACTED: &str = "REDACTED";

/// The query keys whose values are redacted: the union of the v1.40-v1.44 defaults and `main`.
pub const SENSITIVE_QUERY_PARAMETERS: [&str; 7] = [
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];

const REDACTED_USERINFO: &str = "REDACTED:REDACTED";

/// Redacts a full URL for `url.full`: userinfo and sensitive query values.
///
/// ```
/// use tracewire_core::semconv::url::redact_url_full;
/// assert_eq!(
///     redact_url_full("https://user:p@ss@example.com/a?sig=abc&color=blue#top"),
///     "https://REDACTED:REDACTED@example.com/a?sig=REDACTED&color=blue#top",
/// );
/// // Nothing to redact: borrowed, no allocation.
/// assert!(matches!(redact_url_full("https://example.com/?q=1"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn redact_url_full(url: &str) -> Cow<'_, str> {
    let (before_fragment, fragment) = url.find('#').map_or((url, ""), |i| url.split_at(i));
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (before_fragment, None),
    };
    let userinfo = userinfo_span(before_query)
        .filter(|&(start, end)| before_query.get(start..end) != Some(REDACTED_USERINFO));
    let redacted_query = query.map(redact_query);
    let query_changed = matches!(redacted_query, Some(Cow::Owned(_)));
    if userinfo.is_none() && !query_changed {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() + REDACTED_USERINFO.len());
    match userinfo
        .and_then(|(start, end)| Some((before_query.get(..start)?, before_query.get(end..)?)))
    {
        Some((head, tail)) => {
            out.push_str(head);
            out.push_str(REDACTED_USERINFO);
            out.push_str(tail);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = redacted_query {
        out.push('?');
        out.push_str(&query);
    }
    out.push_str(fragment);
    Cow::Owned(out)
}

/// The byte range of the userinfo in `url` (before any `?` or `#`), if it has an authority with
/// an `@`. The last `@` of the authority ends the userinfo, so a password containing `@` is covered.
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let after_scheme = match url.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => scheme.len() + 1,
        _ => 0,
    };
    let authority_start = after_scheme + 2;
    if url.get(after_scheme..authority_start) != Some("//") {
        return None;
    }
    let authority = url.get(authority_start..)?;
    let authority = authority.split('/').next().unwrap_or(authority);
    let at = authority.rfind('@')?;
    Some((authority_start, authority_start + at))
}

fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Redacts the values of sensitive parameters in a query string (without the leading `?`),
/// for `url.query`.
///
/// ```
/// use tracewire_core::semconv::url::redact_query;
/// assert_eq!(redact_query("X-Amz-Signature=abc&b=2"), "X-Amz-Signature=REDACTED&b=2");
/// assert_eq!(redact_query("SIG=abc"), "SIG=abc"); // case-sensitive
/// ```
pub fn redact_query(query: &str) -> Cow<'_, str> {
    let needs_redaction = query
        .split(['&', ';'])
        .any(|pair| sensitive_value(pair).is_some());
    if !needs_redaction {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len() + REDACTED.len());
    for segment in query.split_inclusive(['&', ';']) {
        let pair = segment.trim_end_matches(['&', ';']);
        match sensitive_value(pair) {
            Some(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
                out.push_str(segment.get(pair.len()..).unwrap_or(""));
            }
            None => out.push_str(segment),
        }
    }
    Cow::Owned(out)
}

/// The key of `pair` if it is sensitive and its value is not already redacted.
fn sensitive_value(pair: &str) -> Option<&str> {
    let (key, value) = pair.split_once('=')?;
    (value != REDACTED && is_sensitive_key(key)).then_some(key)
}

fn is_sensitive_key(key: &str) -> bool {
    SENSITIVE_QUERY_PARAMETERS
        .iter()
        .any(|sensitive| percent_decode_str(key).eq(sensitive.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_replaced() {
        let cases = [
            (
                "https://user:pass@example.com/",
                "https://REDACTED:REDACTED@example.com/",
            ),
            (
                "https://user@example.com",
                "https://REDACTED:REDACTED@example.com",
            ),
            (
                "https://user:p@ss@example.com:8443/x",
                "https://REDACTED:REDACTED@example.com:8443/x",
            ),
            (
                "https://:@example.com",
                "https://REDACTED:REDACTED@example.com",
            ),
            (
                "//user:pass@example.com/x",
                "//REDACTED:REDACTED@example.com/x",
            ),
            (
                "http://u:p@[::1]:80?a=1#f",
                "http://REDACTED:REDACTED@[::1]:80?a=1#f",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url_full(input), expected, "{input}");
        }
    }

    #[test]
    fn at_signs_outside_the_authority_are_not_userinfo() {
        for url in [
            "https://example.com/users/@me",
            "https://example.com?email=a@b.c",
            "https://example.com#a@b",
            "mailto:someone@example.com",
            "example.com/@x",
        ] {
            assert!(matches!(redact_url_full(url), Cow::Borrowed(_)), "{url}");
        }
    }

    #[test]
    fn sensitive_query_values_are_replaced() {
        let url = "https://s3.example/o?X-Amz-Credential=AKIA&X-Amz-Signature=ab12&X-Amz-Security-Token=tok\
                   &AWSAccessKeyId=id&Signature=s&sig=x&X-Goog-Signature=g&keep=1#frag?sig=f";
        assert_eq!(
            redact_url_full(url),
            "https://s3.example/o?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED\
             &X-Amz-Security-Token=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED\
             &X-Goog-Signature=REDACTED&keep=1#frag?sig=f"
        );
    }

    #[test]
    fn query_edge_cases() {
        assert_eq!(redact_query("sig=a&sig=b"), "sig=REDACTED&sig=REDACTED");
        assert_eq!(redact_query("a=1;sig=secret;b=2"), "a=1;sig=REDACTED;b=2");
        assert_eq!(redact_query("sig=a=b&"), "sig=REDACTED&");
        assert_eq!(redact_query("sig="), "sig=REDACTED");
        assert_eq!(
            redact_query("X%2DAmz%2DSignature=abc"),
            "X%2DAmz%2DSignature=REDACTED"
        );
        assert_eq!(redact_query("%73ig=abc"), "%73ig=REDACTED");
        for unchanged in [
            "",
            "sig",
            "Sig=1",
            "SIG=1",
            "x-amz-signature=1",
            "sig=REDACTED",
            "a=sig",
            "&&;",
            "%zz=1",
        ] {
            assert!(
                matches!(redact_query(unchanged), Cow::Borrowed(_)),
                "{unchanged}"
            );
        }
    }

    #[test]
    fn both_redactions_together() {
        assert_eq!(
            redact_url_full("https://a:b@h/p?Signature=xyz"),
            "https://REDACTED:REDACTED@h/p?Signature=REDACTED"
        );
    }

    #[test]
    fn already_redacted_is_borrowed() {
        let url = "https://REDACTED:REDACTED@h/p?sig=REDACTED#x";
        assert!(matches!(redact_url_full(url), Cow::Borrowed(_)));
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(
            redact_url_full("x://\u{e9}:\u{e9}@\u{e9}/?sig=\u{e9}#\u{e9}"),
            "x://REDACTED:REDACTED@\u{e9}/?sig=REDACTED#\u{e9}"
        );
        // Not a valid scheme, so there is no authority and no userinfo.
        assert_eq!(redact_url_full("h\u{e9}://a@b"), "h\u{e9}://a@b");
    }
}
