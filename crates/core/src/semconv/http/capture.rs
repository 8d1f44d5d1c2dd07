//! Opt-in capture of HTTP headers (and gRPC metadata) as string-array attributes.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};

use super::{HTTP_REQUEST_HEADER, HTTP_RESPONSE_HEADER};

/// Headers never captured, even when listed: they carry credentials.
pub const SENSITIVE_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// An allow-list of headers to record as `<prefix>.<lowercased name>` string arrays.
///
/// Built once per layer: names are lowercased, validated and deduplicated, and the attribute keys
/// are computed up front so that capturing does not format keys per request. Names that are not
/// valid header names and the [`SENSITIVE_HEADERS`] are dropped silently.
#[derive(Clone, Debug, Default)]
pub struct HeaderCapture {
    entries: Vec<(HeaderName, Key)>,
}

impl HeaderCapture {
    /// An allow-list whose attributes are `<prefix>.<name>`, e.g. prefix `rpc.request.metadata`.
    pub fn new<I, S>(prefix: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries: Vec<(HeaderName, Key)> = Vec::new();
        for name in names {
            let lowercase = name.as_ref().trim().to_ascii_lowercase();
            if SENSITIVE_HEADERS.contains(&lowercase.as_str()) {
                continue;
            }
            let Ok(header) = HeaderName::from_bytes(lowercase.as_bytes()) else {
                continue;
            };
            if entries.iter().any(|(existing, _)| *existing == header) {
                continue;
            }
            let key = Key::from(Arc::<str>::from(format!("{prefix}.{lowercase}")));
            entries.push((header, key));
        }
        Self { entries }
    }

    /// Request headers, recorded as `http.request.header.<name>`.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use opentelemetry::{Array, Value};
    /// use tracewire_core::semconv::http::HeaderCapture;
    ///
    /// let capture = HeaderCapture::request(["X-Request-Id", "Authorization"]);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-request-id", HeaderValue::from_static("abc"));
    /// headers.insert("authorization", HeaderValue::from_static("Bearer secret"));
    /// let attrs: Vec<_> = capture.capture(&headers).collect();
    /// assert_eq!(attrs.len(), 1);
    /// assert_eq!(attrs[0].key.as_str(), "http.request.header.x-request-id");
    /// assert_eq!(attrs[0].value, Value::Array(Array::String(vec!["abc".into()])));
    /// ```
    pub fn request<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(HTTP_REQUEST_HEADER, names)
    }

    /// Response headers, recorded as `http.response.header.<name>`.
    pub fn response<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(HTTP_RESPONSE_HEADER, names)
    }

    /// Whether nothing is captured, so callers can skip the work entirely.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attribute keys, in allow-list order.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|(_, key)| key)
    }

    /// One attribute per listed header present in `headers`, holding every value in order.
    ///
    /// Values that are not valid UTF-8 are converted lossily.
    pub fn capture<'a>(&'a self, headers: &'a HeaderMap) -> impl Iterator<Item = KeyValue> + 'a {
        self.entries.iter().filter_map(move |(name, key)| {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .map(|value| {
                    String::from_utf8_lossy(value.as_bytes())
                        .into_owned()
                        .into()
                })
                .collect();
            (!values.is_empty())
                .then(|| KeyValue::new(key.clone(), Value::Array(Array::String(values))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn strings(values: &[&'static str]) -> Value {
        Value::Array(Array::String(values.iter().map(|v| (*v).into()).collect()))
    }

    #[test]
    fn sensitive_headers_are_never_captured() {
        let capture = HeaderCapture::request([
            "Authorization",
            "proxy-authorization",
            " COOKIE ",
            "Set-Cookie",
        ]);
        assert!(capture.is_empty());
    }

    #[test]
    fn names_are_lowercased_deduplicated_and_validated() {
        let capture = HeaderCapture::response(["X-Trace", "x-trace", "bad header", "", "accept"]);
        let keys: Vec<_> = capture.keys().map(Key::as_str).collect();
        assert_eq!(
            keys,
            [
                "http.response.header.x-trace",
                "http.response.header.accept"
            ]
        );
    }

    #[test]
    fn captures_all_values_in_order() {
        let capture = HeaderCapture::request(["accept", "x-missing", "x-bin"]);
        let mut headers = HeaderMap::new();
        headers.append("accept", HeaderValue::from_static("text/html"));
        headers.append("accept", HeaderValue::from_static("application/json"));
        headers.append("cookie", HeaderValue::from_static("secret"));
        headers.append("x-bin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let attrs: Vec<_> = capture.capture(&headers).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].key.as_str(), "http.request.header.accept");
        assert_eq!(attrs[0].value, strings(&["text/html", "application/json"]));
        assert_eq!(attrs[1].key.as_str(), "http.request.header.x-bin");
        assert_eq!(attrs[1].value, strings(&["caf\u{fffd}"]));
    }

    #[test]
    fn custom_prefix() {
        let capture = HeaderCapture::new("rpc.request.metadata", ["X-User"]);
        let keys: Vec<_> = capture.keys().map(Key::as_str).collect();
        assert_eq!(keys, ["rpc.request.metadata.x-user"]);
    }
}
