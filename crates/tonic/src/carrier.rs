//! Propagation carriers over gRPC metadata.
//!
//! gRPC metadata is an HTTP/2 header map, so the core's header carriers do the work; these
//! wrappers add the one gRPC rule: keys ending in `-bin` hold base64-encoded binary values, which
//! text propagators neither read nor write.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracewire_core::propagation::{HeaderExtractor, HeaderInjector};

fn is_binary(key: &str) -> bool {
    let key = key.as_bytes();
    key.len() >= 4 && key[key.len() - 4..].eq_ignore_ascii_case(b"-bin")
}

/// Reads propagation fields from gRPC metadata, ignoring binary (`-bin`) keys.
pub(crate) struct MetadataExtractor<'a>(HeaderExtractor<'a>);

impl<'a> MetadataExtractor<'a> {
    pub(crate) fn new(headers: &'a HeaderMap) -> Self {
        Self(HeaderExtractor::new(headers))
    }
}

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if is_binary(key) {
            return None;
        }
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = self.0.keys();
        keys.retain(|key| !is_binary(key));
        keys
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        if is_binary(key) {
            return None;
        }
        self.0.get_all(key)
    }
}

/// Writes propagation fields into gRPC metadata: binary (`-bin`) keys are skipped, and invalid
/// names or values are dropped by the core's [`HeaderInjector`] instead of panicking.
pub(crate) struct MetadataInjector<'a>(HeaderInjector<'a>);

impl<'a> MetadataInjector<'a> {
    pub(crate) fn new(headers: &'a mut HeaderMap) -> Self {
        Self(HeaderInjector(headers))
    }
}

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !is_binary(key) {
            self.0.set(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    #[test]
    fn binary_keys_are_neither_read_nor_written() {
        let mut headers = HeaderMap::new();
        headers.insert("trace-bin", HeaderValue::from_static("AAEC"));
        headers.insert("traceparent", HeaderValue::from_static("00-x"));
        let extractor = MetadataExtractor::new(&headers);
        assert_eq!(extractor.get("trace-bin"), None);
        assert_eq!(extractor.get("TRACE-BIN"), None);
        assert_eq!(extractor.get_all("trace-bin"), None);
        assert_eq!(extractor.get("traceparent"), Some("00-x"));
        assert_eq!(extractor.keys(), ["traceparent"]);

        let mut headers = HeaderMap::new();
        let mut injector = MetadataInjector::new(&mut headers);
        injector.set("grpc-trace-bin", "AAEC".to_owned());
        injector.set("bad key", "v".to_owned());
        injector.set("k", "caf\u{e9}".to_owned());
        injector.set("x-ok", "v".to_owned());
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-ok"], "v");
    }

    proptest! {
        #[test]
        fn any_key_and_value_is_handled_without_panic(key in ".{0,12}", value in ".{0,12}") {
            let mut headers = HeaderMap::new();
            MetadataInjector::new(&mut headers).set(&key, value);
            let extractor = MetadataExtractor::new(&headers);
            let _ = extractor.get(&key);
            prop_assert!(headers.len() <= 1);
            prop_assert!(headers.keys().all(|name| !is_binary(name.as_str())));
        }
    }
}
