//! `url.*` keys and URL redaction (semconv §1.8, and credentials beyond it).
//!
//! - `url.full` never contains userinfo: it becomes `REDACTED:REDACTED`.
//! - The values of [`SENSITIVE_QUERY_PARAMETERS`] (the conventions' list) become `REDACTED`;
//!   keys stay. These keys match case-sensitively after percent-decoding, because a server
//!   decodes `X%2DAmz%2DSignature` to the sensitive name.
//! - So do the values of common credential keys ([`DEFAULT_CREDENTIAL_QUERY_KEYS`], matched
//!   case-insensitively after percent-decoding), and OAuth's `code` and `state` when they come
//!   together (an authorization response, RFC 6749 §4.1.2). The conventions' list is a minimum
//!   ("sensitive content SHOULD be scrubbed when instrumentations can identify it"); a password
//!   in a span is a leak whatever it says. [`QueryRedaction`] configures this list in code, and
//!   [`TRACEWIRE_REDACT_QUERY_KEYS`] from the environment.
//! - Both `&` and `;` separate parameters, so a `;`-separated secret is not missed; at worst a
//!   value containing `;sig=` is over-redacted.
//! - The fragment is kept.
//!
//! Nothing is allocated when there is nothing to redact, and no input makes these functions panic.

use std::borrow::Cow;
use std::sync::OnceLock;

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

/// The credential keys whose values [`QueryRedaction::default`] also redacts, matched
/// case-insensitively after percent-decoding. OAuth's `code` and `state` are added when they come
/// together.
pub const DEFAULT_CREDENTIAL_QUERY_KEYS: [&str; 13] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "auth",
    "session",
];

/// The variable that replaces the credential keys: a comma-separated list of keys (matched
/// case-insensitively), where `default` stands for [`DEFAULT_CREDENTIAL_QUERY_KEYS`] with the
/// OAuth rule, and `none` for no credential key. The conventions' keys are always redacted.
/// Unset or empty: `default`.
pub const TRACEWIRE_REDACT_QUERY_KEYS: &str = "TRACEWIRE_REDACT_QUERY_KEYS";

/// Which query values are redacted, beyond the conventions' [`SENSITIVE_QUERY_PARAMETERS`]
/// (always redacted).
///
/// ```
/// use tracewire_core::semconv::url::QueryRedaction;
///
/// let redaction = QueryRedaction::default();
/// assert_eq!(
///     redaction.redact_query("user=ann&Password=hunter2&pass%77d=x&sig=abc"),
///     "user=ann&Password=REDACTED&pass%77d=REDACTED&sig=REDACTED",
/// );
/// // OAuth's authorization response: `code` and `state` together.
/// assert_eq!(
///     redaction.redact_query("code=SplxlOBe&state=xyz"),
///     "code=REDACTED&state=REDACTED"
/// );
/// assert_eq!(redaction.redact_query("state=CA"), "state=CA");
///
/// // Your own keys, beside the defaults.
/// let custom = QueryRedaction::parse("default, X-Tenant-Key");
/// assert_eq!(custom.redact_query("x-tenant-key=k1"), "x-tenant-key=REDACTED");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryRedaction {
    /// Lowercase credential keys.
    keys: Vec<Cow<'static, str>>,
    /// Whether `code` and `state` are redacted when they come together.
    oauth_response: bool,
}

impl Default for QueryRedaction {
    /// [`DEFAULT_CREDENTIAL_QUERY_KEYS`] and the OAuth rule.
    fn default() -> Self {
        Self {
            keys: DEFAULT_CREDENTIAL_QUERY_KEYS
                .iter()
                .map(|key| Cow::Borrowed(*key))
                .collect(),
            oauth_response: true,
        }
    }
}

impl QueryRedaction {
    /// Only the conventions' keys: no credential key, no OAuth rule.
    pub fn conventions_only() -> Self {
        Self {
            keys: Vec::new(),
            oauth_response: false,
        }
    }

    /// These credential keys (matched case-insensitively) added to what `self` redacts.
    ///
    /// ```
    /// use tracewire_core::semconv::url::QueryRedaction;
    /// let redaction = QueryRedaction::conventions_only().with_keys(["otp"]);
    /// assert_eq!(redaction.redact_query("OTP=123456&password=p"), "OTP=REDACTED&password=p");
    /// ```
    #[must_use]
    pub fn with_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        for key in keys {
            let key = key.as_ref().trim().to_ascii_lowercase();
            if !key.is_empty() && !self.keys.iter().any(|known| *known == key) {
                self.keys.push(Cow::Owned(key));
            }
        }
        self
    }

    /// Parses the [`TRACEWIRE_REDACT_QUERY_KEYS`] syntax: comma-separated keys, `default` for the
    /// default list and OAuth rule, `none` for nothing beyond the conventions. Blank entries are
    /// skipped; a value with no entry gives the default.
    pub fn parse(value: &str) -> Self {
        let entries: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        if entries.is_empty() {
            return Self::default();
        }
        let mut redaction = Self::conventions_only();
        for entry in entries {
            if entry.eq_ignore_ascii_case("default") {
                redaction.oauth_response = true;
                redaction = redaction.with_keys(DEFAULT_CREDENTIAL_QUERY_KEYS);
            } else if !entry.eq_ignore_ascii_case("none") {
                redaction = redaction.with_keys([entry]);
            }
        }
        redaction
    }

    /// Reads [`TRACEWIRE_REDACT_QUERY_KEYS`]; unset or not UTF-8 gives the default.
    pub fn from_env() -> Self {
        std::env::var(TRACEWIRE_REDACT_QUERY_KEYS)
            .map(|value| Self::parse(&value))
            .unwrap_or_default()
    }

    /// The process-wide redaction, read from the environment once on first use: what adapters
    /// apply unless configured otherwise.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<QueryRedaction> = OnceLock::new();
        GLOBAL.get_or_init(Self::from_env)
    }

    /// The credential keys (lowercase), without the conventions' keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.as_ref())
    }

    /// Redacts a full URL for `url.full`: userinfo, and the values of sensitive query keys.
    ///
    /// ```
    /// use tracewire_core::semconv::url::QueryRedaction;
    /// assert_eq!(
    ///     QueryRedaction::default().redact_url_full("https://u:p@h/cb?token=t&q=1"),
    ///     "https://REDACTED:REDACTED@h/cb?token=REDACTED&q=1",
    /// );
    /// ```
    pub fn redact_url_full<'a>(&self, url: &'a str) -> Cow<'a, str> {
        let (before_fragment, fragment) = url.find('#').map_or((url, ""), |i| url.split_at(i));
        let (before_query, query) = match before_fragment.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (before_fragment, None),
        };
        let userinfo = userinfo_span(before_query)
            .filter(|&(start, end)| before_query.get(start..end) != Some(REDACTED_USERINFO));
        let redacted_query = query.map(|query| self.redact_query(query));
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

    /// Redacts the values of sensitive keys in a query string (without the leading `?`), for
    /// `url.query`. Borrowed, without allocating, when nothing is redacted.
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let mut sensitive = false;
        let (mut code, mut state) = (false, false);
        for pair in query.split(['&', ';']) {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            if value == REDACTED {
                continue;
            }
            let key = QueryKey::new(key);
            sensitive |= self.is_sensitive(&key);
            if self.oauth_response {
                code |= key.is("code", true);
                state |= key.is("state", true);
            }
        }
        let oauth_response = code && state;
        if !sensitive && !oauth_response {
            return Cow::Borrowed(query);
        }
        let redacts = |key: &str| {
            let key = QueryKey::new(key);
            self.is_sensitive(&key)
                || (oauth_response && (key.is("code", true) || key.is("state", true)))
        };
        let mut out = String::with_capacity(query.len() + REDACTED.len());
        for segment in query.split_inclusive(['&', ';']) {
            let pair = segment.trim_end_matches(['&', ';']);
            match pair.split_once('=') {
                Some((key, value)) if value != REDACTED && redacts(key) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                    out.push_str(segment.get(pair.len()..).unwrap_or(""));
                }
                _ => out.push_str(segment),
            }
        }
        Cow::Owned(out)
    }

    fn is_sensitive(&self, key: &QueryKey<'_>) -> bool {
        SENSITIVE_QUERY_PARAMETERS
            .iter()
            .any(|sensitive| key.is(sensitive, false))
            || self.keys.iter().any(|sensitive| key.is(sensitive, true))
    }
}

/// A query key as written, and whether it has percent escapes to decode (checked once, not for
/// every name it is compared with).
struct QueryKey<'a> {
    raw: &'a str,
    encoded: bool,
}

impl<'a> QueryKey<'a> {
    fn new(raw: &'a str) -> Self {
        Self {
            raw,
            encoded: raw.contains('%'),
        }
    }

    /// Whether the key, percent-decoded, is `expected` (lowercase when `ignore_case`), without
    /// allocating.
    fn is(&self, expected: &str, ignore_case: bool) -> bool {
        if !self.encoded {
            return if ignore_case {
                self.raw.eq_ignore_ascii_case(expected)
            } else {
                self.raw == expected
            };
        }
        let decoded = percent_decode_str(self.raw);
        if ignore_case {
            decoded.map(|b| b.to_ascii_lowercase()).eq(expected.bytes())
        } else {
            decoded.eq(expected.bytes())
        }
    }
}

const REDACTED_USERINFO: &str = "REDACTED:REDACTED";

/// Redacts a full URL for `url.full` with [`QueryRedaction::global`]: userinfo and sensitive
/// query values.
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
    QueryRedaction::global().redact_url_full(url)
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
/// for `url.query`, with [`QueryRedaction::global`].
///
/// ```
/// use tracewire_core::semconv::url::redact_query;
/// assert_eq!(redact_query("X-Amz-Signature=abc&b=2"), "X-Amz-Signature=REDACTED&b=2");
/// assert_eq!(redact_query("SIG=abc"), "SIG=abc"); // the conventions' keys are case-sensitive
/// assert_eq!(redact_query("API_KEY=abc"), "API_KEY=REDACTED"); // credentials are not
/// ```
pub fn redact_query(query: &str) -> Cow<'_, str> {
    QueryRedaction::global().redact_query(query)
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

    #[test]
    fn every_default_credential_key_is_redacted_whatever_its_case() {
        let redaction = QueryRedaction::default();
        for key in DEFAULT_CREDENTIAL_QUERY_KEYS {
            for spelled in [key.to_owned(), key.to_ascii_uppercase(), mixed_case(key)] {
                let query = format!("keep=1&{spelled}=s3cret");
                assert_eq!(
                    redaction.redact_query(&query),
                    format!("keep=1&{spelled}=REDACTED"),
                    "{spelled}"
                );
            }
        }
    }

    fn mixed_case(key: &str) -> String {
        key.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn the_issue_example_is_fully_redacted() {
        assert_eq!(
            QueryRedaction::default()
                .redact_query("token=tok123&password=hunter2&sig=xyz&api_key=k1"),
            "token=REDACTED&password=REDACTED&sig=REDACTED&api_key=REDACTED"
        );
    }

    #[test]
    fn repeated_and_encoded_credential_keys() {
        let redaction = QueryRedaction::default();
        assert_eq!(
            redaction.redact_query("token=a&token=b;TOKEN=c"),
            "token=REDACTED&token=REDACTED;TOKEN=REDACTED"
        );
        assert_eq!(
            redaction.redact_query("access%5Ftoken=a&%50assword=b&api%5fkey=c"),
            "access%5Ftoken=REDACTED&%50assword=REDACTED&api%5fkey=REDACTED"
        );
        // Only whole keys match.
        for unchanged in [
            "tokens=1",
            "my_password=1",
            "passwords=1",
            "xauth=1",
            "password",
        ] {
            assert!(
                matches!(redaction.redact_query(unchanged), Cow::Borrowed(_)),
                "{unchanged}"
            );
        }
    }

    #[test]
    fn oauth_code_and_state_are_redacted_together_only() {
        let redaction = QueryRedaction::default();
        assert_eq!(
            redaction.redact_query("state=af0ifjsldkj&code=SplxlOBeZQQYbYS6WxSbIA"),
            "state=REDACTED&code=REDACTED"
        );
        assert_eq!(
            redaction.redact_query("Code=a&STATE=b&page=2"),
            "Code=REDACTED&STATE=REDACTED&page=2"
        );
        for alone in ["code=404", "state=CA&country=US", "code=1&states=2"] {
            assert!(
                matches!(redaction.redact_query(alone), Cow::Borrowed(_)),
                "{alone}"
            );
        }
        assert!(matches!(
            QueryRedaction::conventions_only().redact_query("code=a&state=b"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn conventions_only_keeps_credentials_but_not_signatures() {
        let redaction = QueryRedaction::conventions_only();
        assert_eq!(
            redaction.redact_query("password=p&sig=s"),
            "password=p&sig=REDACTED"
        );
    }

    #[test]
    fn the_variable_syntax() {
        assert_eq!(QueryRedaction::parse(""), QueryRedaction::default());
        assert_eq!(QueryRedaction::parse(" , "), QueryRedaction::default());
        assert_eq!(QueryRedaction::parse("default"), QueryRedaction::default());
        assert_eq!(
            QueryRedaction::parse("none"),
            QueryRedaction::conventions_only()
        );
        let custom = QueryRedaction::parse("OTP, pin,otp");
        assert_eq!(custom.keys().collect::<Vec<_>>(), ["otp", "pin"]);
        assert_eq!(
            custom.redact_query("password=p&Pin=1"),
            "password=p&Pin=REDACTED"
        );
        assert!(matches!(
            custom.redact_query("code=a&state=b"),
            Cow::Borrowed(_)
        ));
        let extended = QueryRedaction::parse("default,otp");
        assert_eq!(
            extended.redact_query("otp=1&pwd=2&code=a&state=b"),
            "otp=REDACTED&pwd=REDACTED&code=REDACTED&state=REDACTED"
        );
    }

    #[test]
    fn url_full_applies_the_credential_keys() {
        assert_eq!(
            QueryRedaction::default()
                .redact_url_full("https://api.example/v1?client_secret=s&scope=read#Token=x"),
            "https://api.example/v1?client_secret=REDACTED&scope=read#Token=x"
        );
    }

    proptest::proptest! {
        #[test]
        fn redaction_keeps_every_key_and_every_other_value(
            pairs in proptest::collection::vec(
                ("(token|Password|sig|code|state|q|%70wd|[a-z%]{0,6})", "[a-zA-Z0-9%=]{0,6}"),
                0..6,
            ),
            separators in proptest::collection::vec("[&;]", 6),
        ) {
            let query: String = pairs
                .iter()
                .zip(&separators)
                .map(|((key, value), separator)| format!("{key}={value}{separator}"))
                .collect();
            let redaction = QueryRedaction::default();
            let redacted = redaction.redact_query(&query);
            let before: Vec<&str> = query.split(['&', ';']).collect();
            let after: Vec<&str> = redacted.split(['&', ';']).collect();
            proptest::prop_assert_eq!(before.len(), after.len());
            for (old, new) in before.iter().zip(&after) {
                let (old_key, old_value) = old.split_once('=').unwrap_or((old, ""));
                let (new_key, new_value) = new.split_once('=').unwrap_or((new, ""));
                proptest::prop_assert_eq!(old_key, new_key);
                if redaction.is_sensitive(&QueryKey::new(old_key)) {
                    proptest::prop_assert_eq!(new_value, REDACTED);
                } else if new_value != old_value {
                    proptest::prop_assert_eq!(new_value, REDACTED);
                    proptest::prop_assert!(
                        ["code", "state"].iter().any(|oauth| QueryKey::new(old_key).is(oauth, true))
                    );
                }
            }
            proptest::prop_assert_eq!(matches!(redacted, Cow::Borrowed(_)), redacted == query.as_str());
        }
    }
}
