//! Span status and `error.type` from an HTTP status code, and `network.protocol.version`.

use crate::semconv::Outcome;
use crate::semconv::error::OTHER;

/// The decimal text of every code in 100..=599, three bytes each, built at compile time.
const STATUS_DIGITS: [u8; 1500] = {
    let mut digits = [0u8; 1500];
    let mut i = 0;
    while i < 500 {
        let code = i + 100;
        digits[i * 3] = b'0' + (code / 100) as u8;
        digits[i * 3 + 1] = b'0' + (code / 10 % 10) as u8;
        digits[i * 3 + 2] = b'0' + (code % 10) as u8;
        i += 1;
    }
    digits
};

/// [`STATUS_DIGITS`] as text, so slices of it are `&'static str`.
static STATUS_TEXT: &str = match std::str::from_utf8(&STATUS_DIGITS) {
    Ok(text) => text,
    Err(_) => panic!("status digits are ASCII"),
};

/// The status code as a `'static` string (`"404"`), for codes in 100..=599.
///
/// ```
/// use tracewire_core::semconv::http::status_code_str;
/// assert_eq!(status_code_str(503), Some("503"));
/// assert_eq!(status_code_str(99), None);
/// ```
pub fn status_code_str(status_code: u16) -> Option<&'static str> {
    let start = usize::from(status_code.checked_sub(100)?) * 3;
    STATUS_TEXT.get(start..start + 3)
}

/// The outcome of a server span: 5xx is an error with `error.type` = the code; 1xx-4xx are not
/// errors (a 4xx is the client's fault). A code outside 100..=599 is an error with `_OTHER`.
///
/// ```
/// use tracewire_core::semconv::{http::server_outcome, Outcome};
/// assert_eq!(server_outcome(404), Outcome::Success);
/// assert_eq!(server_outcome(500), Outcome::Error("500"));
/// ```
pub fn server_outcome(status_code: u16) -> Outcome {
    outcome(status_code, 500)
}

/// The outcome of a client span: 4xx and 5xx are errors with `error.type` = the code; a code
/// outside 100..=599 is one the client could not interpret, an error with `_OTHER`.
///
/// ```
/// use tracewire_core::semconv::{http::client_outcome, Outcome};
/// assert_eq!(client_outcome(302), Outcome::Success);
/// assert_eq!(client_outcome(404), Outcome::Error("404"));
/// ```
pub fn client_outcome(status_code: u16) -> Outcome {
    outcome(status_code, 400)
}

fn outcome(status_code: u16, first_error: u16) -> Outcome {
    match status_code_str(status_code) {
        Some(_) if status_code < first_error => Outcome::Success,
        Some(text) => Outcome::Error(text),
        None => Outcome::Error(OTHER),
    }
}

/// `network.protocol.version` for an HTTP version: `0.9`, `1.0`, `1.1`, `2` or `3`.
///
/// ```
/// use tracewire_core::semconv::http::protocol_version;
/// assert_eq!(protocol_version(http::Version::HTTP_2), Some("2"));
/// ```
pub fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_code() {
        for code in 100..=599u16 {
            assert_eq!(status_code_str(code), Some(code.to_string().as_str()));
        }
        for code in [0, 1, 99, 600, 999, 1000, u16::MAX] {
            assert_eq!(status_code_str(code), None);
        }
    }

    #[test]
    fn server_classes() {
        for code in [
            100, 101, 199, 200, 204, 299, 301, 304, 399, 400, 401, 404, 429, 499,
        ] {
            assert_eq!(server_outcome(code), Outcome::Success, "{code}");
        }
        for code in [500, 502, 503, 599] {
            assert_eq!(
                server_outcome(code),
                Outcome::Error(status_code_str(code).unwrap())
            );
        }
        assert_eq!(server_outcome(503).error_type(), Some("503"));
    }

    #[test]
    fn client_classes() {
        for code in [100, 199, 200, 299, 300, 302, 399] {
            assert_eq!(client_outcome(code), Outcome::Success, "{code}");
        }
        for code in [400, 404, 499, 500, 599] {
            assert_eq!(
                client_outcome(code),
                Outcome::Error(status_code_str(code).unwrap())
            );
        }
        assert_eq!(client_outcome(404).error_type(), Some("404"));
    }

    #[test]
    fn codes_out_of_range_are_errors_on_both_sides() {
        for code in [0, 99, 600, 999, u16::MAX] {
            assert_eq!(server_outcome(code), Outcome::Error("_OTHER"));
            assert_eq!(client_outcome(code), Outcome::Error("_OTHER"));
        }
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(http::Version::HTTP_09), Some("0.9"));
        assert_eq!(protocol_version(http::Version::HTTP_10), Some("1.0"));
        assert_eq!(protocol_version(http::Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(http::Version::HTTP_2), Some("2"));
        assert_eq!(protocol_version(http::Version::HTTP_3), Some("3"));
    }
}
