//! A W3C Baggage (`baggage`) propagator that parses and formats in one pass.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    baggage::{Baggage, BaggageExt},
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::ascii;

const BAGGAGE: &str = "baggage";
static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [BAGGAGE.to_owned()]);

/// The W3C limit on list members read from one header.
const MAX_MEMBERS: usize = 180;
/// The W3C limit on the length of the header; a longer one is ignored.
const MAX_BYTES: usize = 8192;
/// Bytes percent-encoded in values: everything outside `baggage-octet` (controls, space, `"`,
/// `,`, `;`, `\`), `%` itself, and `=` (allowed, but encoded by the other OpenTelemetry SDKs
/// too, so headers stay byte-identical to theirs). Non-ASCII characters are always encoded.
const ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

/// A W3C Baggage propagator.
///
/// It reads and writes what `opentelemetry_sdk::propagation::BaggagePropagator` does for valid
/// headers (keys, percent-encoded values, properties kept as metadata), without building a
/// vector per member or per header, and follows the specification where the SDK does not:
///
/// - a list member is skipped when its key is not a token, its value holds a character outside
///   `baggage-octet`, or a property is malformed; the other members are kept;
/// - a value may contain `=` (`k=a=b` reads as `a=b`);
/// - percent-encoded bytes that are not UTF-8 decode to U+FFFD instead of dropping the member;
/// - characters encoded by the sender stay in the value (an encoded leading space is kept);
/// - `%` and `\` are percent-encoded when injecting, so every value reads back unchanged.
///
/// Up to 180 list members are read, and a header longer than 8192 bytes is ignored; the
/// OpenTelemetry [`Baggage`] it fills keeps at most 64 entries and 8192 bytes. Keys are never
/// percent-decoded (a key is a token). When the header is absent extraction returns the input
/// context unchanged; when it is present its members replace the context's baggage.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::{Context, KeyValue, baggage::BaggageExt, propagation::TextMapPropagator};
/// use tracewire_core::propagation::BaggagePropagator;
///
/// let propagator = BaggagePropagator::new();
/// let mut incoming = HashMap::new();
/// incoming.insert("baggage".to_owned(), "user=ada%20l, tier = gold;ttl=60".to_owned());
/// let cx = propagator.extract_with_context(&Context::new(), &incoming);
/// assert_eq!(cx.baggage().get("user").map(|v| v.as_str()), Some("ada l"));
/// let (tier, properties) = cx.baggage().get_with_metadata("tier").unwrap();
/// assert_eq!((tier.as_str(), properties.as_str()), ("gold", "ttl=60"));
///
/// let mut outgoing = HashMap::new();
/// propagator.inject_context(&Context::new().with_baggage([KeyValue::new("k", "50% off")]), &mut outgoing);
/// assert_eq!(outgoing["baggage"], "k=50%25%20off");
/// ```
#[derive(Clone, Debug, Default)]
pub struct BaggagePropagator {
    _private: (),
}

impl BaggagePropagator {
    /// A new propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        let mut header = String::with_capacity(64);
        for (key, (value, metadata)) in baggage {
            if !header.is_empty() {
                header.push(',');
            }
            // Keys are tokens (`Baggage` refuses others): nothing to encode.
            header.push_str(key.as_str().trim());
            header.push('=');
            header.extend(utf8_percent_encode(value.as_str().trim(), ENCODED));
            let metadata = metadata.as_str().trim();
            if !metadata.is_empty() {
                header.push(';');
                header.push_str(metadata);
            }
        }
        injector.set(BAGGAGE, header);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(header) = extractor.get(BAGGAGE) else {
            return cx.clone();
        };
        if header.len() > MAX_BYTES {
            return cx.clone();
        }
        let mut baggage = Baggage::new();
        for (key, value, metadata) in ascii::split(header, b',')
            .take(MAX_MEMBERS)
            .filter_map(member)
        {
            baggage.insert_with_metadata(key.to_owned(), value, metadata);
        }
        cx.with_baggage(baggage)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

/// Parses one list member into its key, decoded value and decoded properties (joined with
/// `;`); `None` when it is malformed.
fn member(member: &str) -> Option<(&str, String, String)> {
    let mut parts = ascii::split(member, b';');
    let (key, value) = ascii::split_once(parts.next()?, b'=')?;
    let key = ascii::trim_ows(key);
    let value = ascii::trim_ows(value);
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let mut metadata = String::new();
    for property in parts {
        let property = ascii::trim_ows(property);
        let (key, value) = ascii::split_once(property, b'=').unwrap_or((property, ""));
        if !is_token(ascii::trim_ows(key)) || !ascii::trim_ows(value).bytes().all(is_baggage_octet)
        {
            return None;
        }
        if !metadata.is_empty() {
            metadata.push(';');
        }
        metadata.push_str(&percent_decode_str(property).decode_utf8_lossy());
    }
    Some((
        key,
        percent_decode_str(value).decode_utf8_lossy().into_owned(),
        metadata,
    ))
}

/// An RFC 9110 token: one or more visible ASCII characters other than the delimiters.
fn is_token(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'0'..=b'9' | b'A'..=b'Z' | b'^'..=b'z' | b'|' | b'~'))
}

/// A `baggage-octet`: visible ASCII other than `"`, `,`, `;` and `\`.
fn is_baggage_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_follow_the_grammar() {
        assert_eq!(
            member(" k = v ; p1 ; p2 = x%2Cy "),
            Some(("k", "v".to_owned(), "p1;p2 = x,y".to_owned()))
        );
        assert_eq!(
            member("k=a=b"),
            Some(("k", "a=b".to_owned(), String::new()))
        );
        assert_eq!(member("k="), Some(("k", String::new(), String::new())));
        assert_eq!(
            member("k=%FF%20x"),
            Some(("k", "\u{fffd} x".to_owned(), String::new()))
        );
        for invalid in [
            "",
            "k",
            "=v",
            "k v=1",
            "k(=v",
            "k=a b",
            "k=\"v\"",
            "k=a\\b",
            "k=v;",
            "k=v;p(=1",
            "k=v;p=a b",
        ] {
            assert_eq!(member(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn octets_and_tokens() {
        let octets: Vec<u8> = (0..=u8::MAX).filter(|b| is_baggage_octet(*b)).collect();
        assert_eq!(octets.len(), 94 - 4);
        // RFC 9110 `tchar`: visible ASCII other than the delimiters.
        for byte in 0..=u8::MAX {
            let delimiter = b"\"(),/:;<=>?@[\\]{}".contains(&byte);
            assert_eq!(
                is_token(&char::from(byte).to_string()),
                byte.is_ascii_graphic() && !delimiter,
                "{byte:#x}"
            );
        }
        assert!(!is_token(""));
    }
}
