//! Splitting and trimming header values at ASCII delimiters, on bytes: list-valued propagation
//! headers (`tracestate`, `baggage`) and `Host`-like values.
//!
//! `str::split` and `str::trim_matches` search with `memchr` and decode characters, which costs
//! more than the search itself on the few dozen bytes these values hold. Separators are ASCII,
//! and an ASCII byte is always a character boundary, so slicing at its position is valid UTF-8.

/// Whether `byte` is optional whitespace (`OWS`: space or tab).
fn is_ows(byte: &u8) -> bool {
    matches!(byte, b' ' | b'\t')
}

/// `s` without optional whitespace at either end.
pub(crate) fn trim_ows(s: &str) -> &str {
    let bytes = s.as_bytes();
    let Some(start) = bytes.iter().position(|b| !is_ows(b)) else {
        return "";
    };
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    &s[start..end]
}

/// The parts of `s` between occurrences of the ASCII `separator`, like `str::split`.
pub(crate) fn split(s: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_once(current, separator) {
            Some((part, after)) => {
                rest = Some(after);
                Some(part)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `s` split at the first ASCII `separator`, like `str::split_once`.
pub(crate) fn split_once(s: &str, separator: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == separator)?;
    Some((&s[..at], &s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn agree_with_the_standard_library(s in "[ \ta=,;é]{0,12}") {
            let ows = [' ', '\t'];
            prop_assert_eq!(trim_ows(&s), s.trim_matches(ows));
            for separator in [b',', b';', b'='] {
                let expected: Vec<&str> = s.split(char::from(separator)).collect();
                prop_assert_eq!(split(&s, separator).collect::<Vec<_>>(), expected);
                prop_assert_eq!(split_once(&s, separator), s.split_once(char::from(separator)));
            }
        }
    }
}
