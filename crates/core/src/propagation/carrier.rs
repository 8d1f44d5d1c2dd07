//! Carriers: adapters between propagators and the places headers live.

use std::sync::OnceLock;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The pre-built name of a header propagators write on every request, so `set` skips parsing
/// and allocating the name. Propagators pass these keys in lowercase, which an exact match
/// finds without a case-insensitive comparison per candidate.
fn well_known(key: &str) -> Option<HeaderName> {
    match key {
        "traceparent" => Some(TRACEPARENT),
        "tracestate" => Some(TRACESTATE),
        "baggage" => Some(BAGGAGE),
        _ => [TRACEPARENT, TRACESTATE, BAGGAGE]
            .into_iter()
            .find(|name| key.eq_ignore_ascii_case(name.as_str())),
    }
}

/// Several lines of a list-valued header joined with `,` in order (RFC 9110, section 5.3);
/// `None` when a line is not visible ASCII, which makes the combined field invalid.
fn join_lines(lines: http::header::GetAll<'_, HeaderValue>) -> Option<String> {
    let mut joined = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            joined.push(',');
        }
        joined.push_str(line.to_str().ok()?);
    }
    Some(joined)
}

/// Reads propagation headers from an [`http::HeaderMap`].
///
/// - Lookups are case-insensitive, as HTTP header names are.
/// - A value that is not visible ASCII reads as absent, never as a panic.
/// - `traceparent` sent more than once reads as absent: the W3C test suite treats duplicates as
///   invalid and expects a new trace.
/// - `tracestate` and `baggage` sent on several lines read as one value, the lines joined with
///   `,` in order (RFC 9110). The joined string is built on the first read, and only when the
///   header actually repeats: construction does no work, and the common single-line case does
///   not allocate.
/// - Any other header sent more than once reads as its first value.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::propagation::Extractor;
/// use tracewire_core::propagation::HeaderExtractor;
///
/// let mut headers = HeaderMap::new();
/// headers.append("baggage", "a=1".parse()?);
/// headers.append("baggage", "b=2".parse()?);
/// let extractor = HeaderExtractor::new(&headers);
/// assert_eq!(extractor.get("Baggage"), Some("a=1,b=2"));
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
#[derive(Debug)]
pub struct HeaderExtractor<'a> {
    headers: &'a HeaderMap,
    tracestate: OnceLock<Option<String>>,
    baggage: OnceLock<Option<String>>,
}

impl<'a> HeaderExtractor<'a> {
    /// Wraps `headers`.
    pub fn new(headers: &'a HeaderMap) -> Self {
        Self {
            headers,
            tracestate: OnceLock::new(),
            baggage: OnceLock::new(),
        }
    }

    fn list<'s>(
        &'s self,
        name: HeaderName,
        joined: &'s OnceLock<Option<String>>,
    ) -> Option<&'s str> {
        let mut lines = self.headers.get_all(&name).iter();
        let first = lines.next()?;
        if lines.next().is_none() {
            return first.to_str().ok();
        }
        joined
            .get_or_init(|| join_lines(self.headers.get_all(name)))
            .as_deref()
    }
}

impl<'a> From<&'a HeaderMap> for HeaderExtractor<'a> {
    fn from(headers: &'a HeaderMap) -> Self {
        Self::new(headers)
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let Some(name) = well_known(key) else {
            return self.headers.get(key)?.to_str().ok();
        };
        if name == TRACEPARENT {
            let mut values = self.headers.get_all(TRACEPARENT).iter();
            let first = values.next()?;
            return if values.next().is_some() {
                None
            } else {
                first.to_str().ok()
            };
        }
        if name == TRACESTATE {
            return self.list(TRACESTATE, &self.tracestate);
        }
        self.list(BAGGAGE, &self.baggage)
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .headers
            .get_all(key)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes propagation headers into an [`http::HeaderMap`].
///
/// `set` replaces every existing value of the header, so a reused map never carries a stale
/// context next to the new one. A name that is not a valid header name, or a value that is not
/// visible ASCII (which [`HeaderExtractor`] could not read back), is skipped without a panic.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::propagation::Injector;
/// use tracewire_core::propagation::HeaderInjector;
///
/// let mut headers = HeaderMap::new();
/// headers.append("traceparent", "stale".parse()?);
/// headers.append("traceparent", "stale too".parse()?);
/// let mut injector = HeaderInjector(&mut headers);
/// injector.set("traceparent", "fresh".to_owned());
/// injector.set("bad name", "skipped".to_owned());
/// assert_eq!(headers.get_all("traceparent").iter().count(), 1);
/// assert_eq!(headers["traceparent"], "fresh");
/// assert_eq!(headers.len(), 1);
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // `HeaderValue` rejects control characters itself; non-ASCII would not read back as text.
        if !value.is_ascii() {
            return;
        }
        let name = match well_known(key) {
            Some(name) => name,
            None => match HeaderName::from_bytes(key.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            self.0.insert(name, value);
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

/// Reads propagation fields from a list of `(key, value)` pairs, such as Kafka record headers
/// or gRPC metadata.
///
/// - Lookups are **exact-case**: Kafka header keys are case-sensitive, and propagators use
///   lowercase keys.
/// - When a key repeats, the **last** value wins, following the Kafka convention that a later
///   header overrides an earlier one.
/// - Values that are not UTF-8 are skipped when the extractor is built, so they neither read as
///   a value nor hide an earlier valid value of the same key.
///
/// The extractor borrows keys and values; building it allocates one vector of borrowed pairs.
///
/// # Example
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// use tracewire_core::propagation::PairExtractor;
///
/// let headers: [(&str, &[u8]); 3] = [
///     ("traceparent", b"first"),
///     ("traceparent", b"last"),
///     ("baggage", b"\xff\xfe"),
/// ];
/// let extractor = PairExtractor::new(headers);
/// assert_eq!(extractor.get("traceparent"), Some("last"));
/// assert_eq!(extractor.get("TRACEPARENT"), None);
/// assert_eq!(extractor.get("baggage"), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct PairExtractor<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> PairExtractor<'a> {
    /// Collects the pairs whose value is UTF-8, in carrier order.
    pub fn new<I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        pairs.into_iter().collect()
    }
}

impl<'a> FromIterator<(&'a str, &'a [u8])> for PairExtractor<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a [u8])>>(iter: I) -> Self {
        let pairs = iter
            .into_iter()
            .filter_map(|(key, value)| Some((key, std::str::from_utf8(value).ok()?)))
            .collect();
        Self { pairs }
    }
}

impl Extractor for PairExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(candidate, _)| *candidate == key)
            .map(|(_, value)| *value)
    }

    /// Every key in carrier order; a key that repeats in the carrier repeats here.
    fn keys(&self) -> Vec<&str> {
        self.pairs.iter().map(|(key, _)| *key).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(candidate, _)| *candidate == key)
            .map(|(_, value)| *value)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Collects propagation fields as owned `(key, value)` pairs, for carriers such as Kafka record
/// headers or gRPC metadata that the caller then writes itself.
///
/// `set` replaces the value of an earlier pair with the same (exact-case) key, so each key
/// appears once. Keys keep the case the propagator used. Take the pairs with
/// [`PairInjector::into_pairs`] or iterate them, and merge them into the real carrier in one pass;
/// strip stale copies first using [`Propagator::fields`](super::Propagator::fields).
///
/// # Example
///
/// ```
/// use opentelemetry::propagation::Injector;
/// use tracewire_core::propagation::PairInjector;
///
/// let mut injector = PairInjector::new();
/// injector.set("traceparent", "old".to_owned());
/// injector.set("baggage", "a=1".to_owned());
/// injector.set("traceparent", "new".to_owned());
/// assert_eq!(
///     injector.into_pairs(),
///     vec![
///         ("traceparent".to_owned(), "new".to_owned()),
///         ("baggage".to_owned(), "a=1".to_owned()),
///     ]
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairInjector {
    pairs: Vec<(String, String)>,
}

impl PairInjector {
    /// An empty injector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pairs collected so far, in the order their keys were first set.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// Iterates the pairs collected so far, in the order their keys were first set.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether nothing was injected.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl Injector for PairInjector {
    fn set(&mut self, key: &str, value: String) {
        match self.pairs.iter_mut().find(|(existing, _)| existing == key) {
            Some((_, existing)) => *existing = value,
            None => self.pairs.push((key.to_owned(), value)),
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.pairs.reserve(additional);
    }
}

impl IntoIterator for PairInjector {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_names_match_any_case_and_nothing_else() {
        assert_eq!(well_known("TraceParent"), Some(TRACEPARENT));
        assert_eq!(well_known("TRACESTATE"), Some(TRACESTATE));
        assert_eq!(well_known("baggage"), Some(BAGGAGE));
        assert_eq!(well_known("trace-parent"), None);
        assert_eq!(well_known("b3"), None);
    }

    #[test]
    fn single_list_lines_are_not_copied() {
        let mut headers = HeaderMap::new();
        headers.insert("tracestate", HeaderValue::from_static("a=1"));
        let extractor = HeaderExtractor::new(&headers);
        assert_eq!(extractor.get("tracestate"), Some("a=1"));
        assert_eq!(extractor.get("baggage"), None);
        assert_eq!(extractor.tracestate.get(), None);
        assert_eq!(extractor.baggage.get(), None);
    }

    #[test]
    fn repeated_list_lines_are_joined_once() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_static("b=2"));
        let extractor = HeaderExtractor::new(&headers);
        let first = extractor.get("tracestate").expect("joined");
        let second = extractor.get("TRACESTATE").expect("joined");
        assert_eq!(first, "a=1,b=2");
        assert!(std::ptr::eq(first, second));
    }

    #[test]
    fn repeated_list_lines_with_a_non_ascii_line_are_invalid() {
        let mut headers = HeaderMap::new();
        headers.append("baggage", HeaderValue::from_static("a=1"));
        headers.append(
            "baggage",
            HeaderValue::from_bytes(b"b=\xc3\xa9").expect("obs-text is a valid header value"),
        );
        let extractor = HeaderExtractor::new(&headers);
        assert_eq!(extractor.get("baggage"), None);
        assert_eq!(extractor.baggage.get(), Some(&None));
    }
}
