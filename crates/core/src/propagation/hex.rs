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

/// `LOWER_VALUES[b]` is the value of `b` as a lowercase hex digit, or `0xff`.
static LOWER_VALUES: [u8; 256] = {
    let mut values = [0xff; 256];
    let mut digit = 0;
    while digit < 16 {
        values[DIGITS[digit] as usize] = digit as u8;
        digit += 1;
    }
    values
};

/// Decodes pairs of lowercase hex digits into `out`, one byte per pair (`digits` holds twice as
/// many bytes as `out`); `false`, with `out` partly written, when a digit is not lowercase hex.
/// Branch-free over table lookups: the trace-context hot path parses 24 pairs per message.
pub(super) fn decode_lower(digits: &[u8], out: &mut [u8]) -> bool {
    let mut seen = 0;
    for (pair, byte) in digits.chunks_exact(2).zip(out) {
        let high = LOWER_VALUES[usize::from(pair[0])];
        let low = LOWER_VALUES[usize::from(pair[1])];
        seen |= high | low;
        *byte = high << 4 | low;
    }
    seen < 16
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

/// Writes `bytes` as lowercase hex into `out`, two digits per byte (`out` holds twice as many
/// bytes as `bytes`).
pub(super) fn encode(bytes: &[u8], out: &mut [u8]) {
    for (&byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
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
    fn decode_lower_agrees_with_lower_digit() {
        for high in 0..=u8::MAX {
            for low in [b'0', b'9', b'a', b'f', high] {
                let mut out = [0];
                let expected = lower_digit(high).zip(lower_digit(low));
                assert_eq!(decode_lower(&[high, low], &mut out), expected.is_some());
                if let Some((high, low)) = expected {
                    assert_eq!(out[0], high << 4 | low);
                }
            }
        }
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
    fn encode_pads_every_byte() {
        let mut out = [b'.'; 7];
        encode(&[0x00, 0x0a, 0xff], &mut out[..6]);
        assert_eq!(&out, b"000aff.");
    }

    #[test]
    fn push_pads_every_byte() {
        let mut out = String::new();
        push(&mut out, &[0x00, 0x0a, 0xff]);
        assert_eq!(out, "000aff");
    }
}
