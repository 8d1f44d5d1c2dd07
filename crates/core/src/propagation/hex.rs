//! Hex parsing and formatting shared by the trace-context and Jaeger propagators, without
//! `from_str_radix` (which accepts a sign) or `format!`.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The value of a lowercase hex digit.
pub(super) fn lower_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// The value of a hex digit of either case.
pub(super) fn any_case_digit(byte: u8) -> Option<u8> {
    lower_digit(byte.to_ascii_lowercase())
}

/// Parses 1 to 32 hex digits, each read by `digit`.
pub(super) fn parse(digits: &[u8], digit: fn(u8) -> Option<u8>) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    digits.iter().try_fold(0u128, |value, &byte| {
        Some(value << 4 | u128::from(digit(byte)?))
    })
}

/// Appends `bytes` as lowercase hex, two digits per byte.
pub(super) fn push(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_digit_rejects_uppercase_and_signs() {
        assert_eq!(lower_digit(b'a'), Some(10));
        assert_eq!(lower_digit(b'9'), Some(9));
        assert_eq!(lower_digit(b'A'), None);
        assert_eq!(lower_digit(b'+'), None);
        assert_eq!(any_case_digit(b'F'), Some(15));
    }

    #[test]
    fn parse_bounds_the_length() {
        assert_eq!(parse(b"", lower_digit), None);
        assert_eq!(parse(b"ff", lower_digit), Some(255));
        assert_eq!(parse(&[b'f'; 32], lower_digit), Some(u128::MAX));
        assert_eq!(parse(&[b'f'; 33], lower_digit), None);
        assert_eq!(parse(b"+f", lower_digit), None);
    }

    #[test]
    fn push_pads_every_byte() {
        let mut out = String::new();
        push(&mut out, &[0x00, 0x0a, 0xff]);
        assert_eq!(out, "000aff");
    }
}
