//! Helpers shared by the propagation test binaries.

use http::{HeaderMap, HeaderName, HeaderValue};

/// A header map with `pairs` appended in order (repeated names stay repeated).
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}
