//! `http.request.method` normalisation.

use std::sync::{Mutex, OnceLock, PoisonError};

use opentelemetry::KeyValue;

use super::{HTTP_REQUEST_METHOD, HTTP_REQUEST_METHOD_ORIGINAL};
use crate::semconv::error::OTHER;

/// The environment variable that replaces the known-methods list.
pub const OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

/// The default known methods: RFC 9110, `PATCH` (RFC 5789) and `QUERY`.
pub static DEFAULT_KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// The result of [`normalize_method`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NormalizedMethod<'a> {
    /// A known method, recorded as is; `'static` so recording it does not allocate.
    Known(&'static str),
    /// An unknown method: record `_OTHER` and this original value in
    /// `http.request.method_original`.
    Other(&'a str),
}

impl<'a> NormalizedMethod<'a> {
    /// The value of `http.request.method`: the method, or `_OTHER`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Known(method) => method,
            Self::Other(_) => OTHER,
        }
    }

    /// The value of `http.request.method_original`, set only when it differs.
    pub const fn original(&self) -> Option<&'a str> {
        match self {
            Self::Known(_) => None,
            Self::Other(original) => Some(original),
        }
    }

    /// Appends `http.request.method` and, for unknown methods, `http.request.method_original`.
    ///
    /// ```
    /// use tracewire_core::semconv::http::normalize_method;
    /// let mut attrs = Vec::new();
    /// normalize_method("BREW").push_attributes(&mut attrs);
    /// assert_eq!(attrs[0].value.as_str(), "_OTHER");
    /// assert_eq!(attrs[1].value.as_str(), "BREW");
    /// ```
    pub fn push_attributes(&self, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, self.as_str()));
        if let Some(original) = self.original() {
            attributes.push(KeyValue::new(
                HTTP_REQUEST_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
    }
}

/// Normalises a request method against the process-wide [`KnownMethods::global`] list.
///
/// Matching is case-sensitive, as semconv requires: `get` is not `GET`, so it is recorded as
/// `_OTHER` with `get` as the original. The `http` crate also treats methods case-sensitively,
/// so this is what the framework saw. Never allocates.
///
/// ```
/// use tracewire_core::semconv::http::{normalize_method, NormalizedMethod};
/// assert_eq!(normalize_method("GET"), NormalizedMethod::Known("GET"));
/// assert_eq!(normalize_method("get"), NormalizedMethod::Other("get"));
/// assert_eq!(normalize_method("get").as_str(), "_OTHER");
/// ```
pub fn normalize_method(method: &str) -> NormalizedMethod<'_> {
    KnownMethods::global().normalize(method)
}

/// The list of methods recorded as themselves; every other method becomes `_OTHER`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownMethods {
    methods: Vec<&'static str>,
}

impl Default for KnownMethods {
    fn default() -> Self {
        Self {
            methods: DEFAULT_KNOWN_METHODS.to_vec(),
        }
    }
}

impl KnownMethods {
    /// Parses a comma-separated, case-sensitive list that fully replaces the default list.
    ///
    /// Entries are trimmed; empty entries and entries that are not valid method tokens
    /// (RFC 9110 `token`) are skipped. A value with no valid entry gives the default list, because
    /// an empty value means unset and an empty list would turn every method into `_OTHER`.
    ///
    /// Names outside the default list are interned: each distinct name is leaked once per
    /// process so that normalisation can hand out `&'static str` without allocating.
    ///
    /// ```
    /// use tracewire_core::semconv::http::{KnownMethods, NormalizedMethod};
    /// let known = KnownMethods::parse("GET, PROPFIND");
    /// assert_eq!(known.normalize("PROPFIND"), NormalizedMethod::Known("PROPFIND"));
    /// assert_eq!(known.normalize("POST"), NormalizedMethod::Other("POST"));
    /// ```
    pub fn parse(value: &str) -> Self {
        let mut methods: Vec<&'static str> = Vec::new();
        for entry in value.split(',').map(str::trim) {
            if !is_token(entry) || methods.contains(&entry) {
                continue;
            }
            methods.push(intern(entry));
        }
        if methods.is_empty() {
            Self::default()
        } else {
            Self { methods }
        }
    }

    /// Reads `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`; unset or not UTF-8 gives the default.
    pub fn from_env() -> Self {
        std::env::var(OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS)
            .map(|value| Self::parse(&value))
            .unwrap_or_default()
    }

    /// The process-wide list, read from the environment once on first use.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<KnownMethods> = OnceLock::new();
        GLOBAL.get_or_init(Self::from_env)
    }

    /// The methods in this list.
    pub fn methods(&self) -> &[&'static str] {
        &self.methods
    }

    /// Normalises `method` against this list (case-sensitive, no allocation).
    pub fn normalize<'a>(&self, method: &'a str) -> NormalizedMethod<'a> {
        match self.methods.iter().find(|known| **known == method) {
            Some(known) => NormalizedMethod::Known(known),
            None => NormalizedMethod::Other(method),
        }
    }
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `'static` copy of `method`: the default names are reused, others are leaked once each.
fn intern(method: &str) -> &'static str {
    if let Some(known) = DEFAULT_KNOWN_METHODS.iter().find(|known| **known == method) {
        return known;
    }
    static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(existing) = interned.iter().find(|known| **known == method) {
        return existing;
    }
    let leaked: &'static str = Box::leak(method.to_owned().into_boxed_str());
    interned.push(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_methods_are_known() {
        let known = KnownMethods::default();
        for method in DEFAULT_KNOWN_METHODS {
            assert_eq!(known.normalize(method), NormalizedMethod::Known(method));
        }
        assert_eq!(known.methods().len(), 10);
    }

    #[test]
    fn matching_is_case_sensitive() {
        let known = KnownMethods::default();
        for method in ["get", "Get", "pOST", "patch", "query"] {
            let normalized = known.normalize(method);
            assert_eq!(normalized, NormalizedMethod::Other(method));
            assert_eq!(normalized.as_str(), "_OTHER");
            assert_eq!(normalized.original(), Some(method));
        }
    }

    #[test]
    fn unknown_and_odd_methods() {
        let known = KnownMethods::default();
        for method in ["", "PROPFIND", "GET ", " GET", "GETX", "_OTHER"] {
            assert_eq!(known.normalize(method), NormalizedMethod::Other(method));
        }
        assert_eq!(known.normalize("GET").original(), None);
    }

    #[test]
    fn parse_replaces_the_default_list() {
        let known = KnownMethods::parse("PROPFIND,GET");
        assert_eq!(known.methods(), ["PROPFIND", "GET"]);
        assert_eq!(known.normalize("POST"), NormalizedMethod::Other("POST"));
        assert_eq!(
            known.normalize("PROPFIND"),
            NormalizedMethod::Known("PROPFIND")
        );
    }

    #[test]
    fn parse_trims_dedups_and_skips_invalid_entries() {
        let known = KnownMethods::parse(" GET , ,GET,bad method,A\u{e9},get,POST\t");
        assert_eq!(known.methods(), ["GET", "get", "POST"]);
    }

    #[test]
    fn parse_empty_gives_default() {
        for value in ["", " ", ",,", " , \t", "not valid,\u{1f600}"] {
            assert_eq!(
                KnownMethods::parse(value),
                KnownMethods::default(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn interned_names_are_reused() {
        let a = KnownMethods::parse("MKCOL");
        let b = KnownMethods::parse("MKCOL");
        assert!(std::ptr::eq(a.methods()[0], b.methods()[0]));
        let get = KnownMethods::parse("GET");
        assert!(std::ptr::eq(get.methods()[0], DEFAULT_KNOWN_METHODS[2]));
    }

    #[test]
    fn push_attributes_only_adds_original_for_unknown() {
        let mut attrs = Vec::new();
        KnownMethods::default()
            .normalize("GET")
            .push_attributes(&mut attrs);
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].key.as_str(), "http.request.method");
        assert_eq!(attrs[0].value.as_str(), "GET");
        attrs.clear();
        KnownMethods::default()
            .normalize("get")
            .push_attributes(&mut attrs);
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].key.as_str(), "http.request.method_original");
        assert_eq!(attrs[1].value.as_str(), "get");
    }
}
