//! Consistent probability sampling: the rejection threshold (`th`) and explicit randomness
//! (`rv`) the OpenTelemetry `ot` entry of `tracestate` carries.
//!
//! A span is kept when its trace's randomness (56 bits: `rv` when present, else the rightmost 7
//! bytes of the trace id) is at least the threshold, so every service sampling a trace at
//! probability `p2 >= p1` keeps what a service sampling at `p1` kept, without talking to it, and
//! a backend reads `th` to extrapolate counts (adjusted count `2^56 / (2^56 - th)`).

use opentelemetry::trace::{TraceId, TraceState};

/// `2^56`: randomness and thresholds are 56-bit values.
const MAX: u64 = 1 << 56;
/// Hex digits of a 56-bit value.
const DIGITS: usize = 14;
/// The `tracestate` key OpenTelemetry owns.
const OT_KEY: &str = "ot";
/// The hex digits kept when a probability becomes a threshold, as the specification recommends
/// (more for probabilities near zero, so that their leading `f` digits do not eat the precision).
const PRECISION: u32 = 4;

/// A rejection threshold: a trace whose randomness is below it is dropped.
///
/// ```
/// use tracewire_core::sampling::Threshold;
///
/// let one_percent = Threshold::from_probability(0.01).expect("a probability");
/// assert_eq!(one_percent.to_string(), "fd70a");
/// assert_eq!(Threshold::parse("fd70a"), Some(one_percent));
/// assert!((one_percent.probability() - 0.01).abs() < 1e-6);
/// assert_eq!(Threshold::from_probability(1.0).map(|t| t.to_string()).as_deref(), Some("0"));
/// assert_eq!(Threshold::from_probability(0.0), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(u64);

impl Threshold {
    /// Keeps every trace (`th:0`).
    pub const ALWAYS: Self = Self(0);

    /// The threshold of sampling probability `probability`, rounded to 4 significant hex
    /// digits as the specification recommends; `None` outside `[2^-56, 1]` (zero is "never",
    /// which is not a probability).
    pub fn from_probability(probability: f64) -> Option<Self> {
        if !(probability.is_finite() && probability > 0.0 && probability <= 1.0) {
            return None;
        }
        if probability >= 1.0 {
            return Some(Self::ALWAYS);
        }
        // frexp's exponent: probability = m * 2^exponent with m in [0.5, 1).
        let exponent = probability.log2().floor() as i32 + 1;
        let digits = (PRECISION + exponent.unsigned_abs() / 4).clamp(1, 12);
        let unit = 1u64 << (4 * (DIGITS as u32 - digits));
        let exact = (1.0 - probability) * MAX as f64;
        let rounded = ((exact / unit as f64).round() as u64).saturating_mul(unit);
        // Near 2^-56 the rounding reaches 2^56 ("never"): keep the least probability encodable.
        Some(Self(rounded.min(MAX - unit)))
    }

    /// Parses a `th` value: 1 to 14 lowercase hex digits, trailing zeros omitted.
    pub fn parse(th: &str) -> Option<Self> {
        let value = parse_hex(th, 1..=DIGITS)?;
        Some(Self(value << (4 * (DIGITS - th.len()))))
    }

    /// The probability this threshold keeps.
    pub fn probability(self) -> f64 {
        (MAX - self.0) as f64 / MAX as f64
    }

    /// Whether a trace with `randomness` (56 bits) is kept.
    #[inline]
    pub fn keeps(self, randomness: u64) -> bool {
        randomness >= self.0
    }
}

impl Threshold {
    /// Appends the `th` encoding to `out`: `0`, or the 14 hex digits without trailing zeros.
    fn push_to(self, out: &mut String) {
        if self.0 == 0 {
            out.push('0');
            return;
        }
        let significant = DIGITS - (self.0.trailing_zeros() / 4) as usize;
        for index in 0..significant {
            let digit = (self.0 >> (4 * (DIGITS - 1 - index))) & 0xf;
            out.push(char::from_digit(digit as u32, 16).unwrap_or('0'));
        }
    }
}

impl std::fmt::Display for Threshold {
    /// The `th` encoding: `0`, or the 14 hex digits without trailing zeros.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut encoded = String::with_capacity(DIGITS);
        self.push_to(&mut encoded);
        f.write_str(&encoded)
    }
}

/// `value` as lowercase hex of a length in `lengths`.
fn parse_hex(value: &str, lengths: std::ops::RangeInclusive<usize>) -> Option<u64> {
    if !lengths.contains(&value.len())
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(value, 16).ok()
}

/// The `ot` entry of a `tracestate`, as sub-keys.
#[derive(Debug, Default)]
pub(crate) struct OtState<'a> {
    /// The rejection threshold, when present and valid.
    pub(crate) threshold: Option<Threshold>,
    /// The explicit randomness, when present and valid.
    pub(crate) randomness: Option<u64>,
    /// The whole entry as received.
    raw: Option<&'a str>,
}

impl<'a> OtState<'a> {
    /// Reads the `ot` entry of `trace_state`; invalid `th` or `rv` values read as absent.
    #[inline]
    pub(crate) fn of(trace_state: &'a TraceState) -> Self {
        let Some(raw) = trace_state.get(OT_KEY) else {
            return Self::default();
        };
        let mut state = Self {
            raw: Some(raw),
            ..Self::default()
        };
        for (key, value) in sub_keys(raw) {
            match key {
                "th" => state.threshold = Threshold::parse(value),
                "rv" => state.randomness = parse_hex(value, DIGITS..=DIGITS),
                _ => {}
            }
        }
        state
    }

    /// The trace's randomness: `rv`, else the rightmost 56 bits of the trace id.
    #[inline]
    pub(crate) fn randomness_of(&self, trace_id: TraceId) -> u64 {
        self.randomness
            .unwrap_or_else(|| u128::from_be_bytes(trace_id.to_bytes()) as u64 & (MAX - 1))
    }

    /// `trace_state` with the `ot` entry's `th` set to `threshold` (or removed for `None`), its
    /// other sub-keys kept in order; the entry is dropped when nothing is left in it.
    pub(crate) fn with_threshold(
        &self,
        trace_state: &TraceState,
        threshold: Option<Threshold>,
    ) -> TraceState {
        if self.threshold == threshold && (threshold.is_some() || self.raw.is_none()) {
            return trace_state.clone();
        }
        let mut value = String::with_capacity(3 + DIGITS + self.raw.map_or(0, str::len));
        if let Some(threshold) = threshold {
            value.push_str("th:");
            threshold.push_to(&mut value);
        }
        for (key, sub_value) in self.raw.map(sub_keys).into_iter().flatten() {
            if key != "th" {
                if !value.is_empty() {
                    value.push(';');
                }
                value.push_str(key);
                value.push(':');
                value.push_str(sub_value);
            }
        }
        let updated = if value.is_empty() {
            trace_state.delete(OT_KEY)
        } else {
            trace_state.insert(OT_KEY, value)
        };
        // A key and value built from a valid entry: never refused, but never a panic either.
        updated.unwrap_or_else(|_| trace_state.clone())
    }
}

/// The `key:value` sub-keys of an `ot` value, separated by `;`; malformed ones skipped.
fn sub_keys(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(';')
        .filter_map(|sub_key| sub_key.split_once(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_table_at_precision_4() {
        for (probability, th) in [
            (1.0, "0"),
            (0.5, "8"),
            (1.0 / 3.0, "aaab"),
            (0.25, "c"),
            (0.2, "cccd"),
            (0.125, "e"),
            (0.1, "e666"),
            (0.0625, "f"),
            (0.01, "fd70a"),
            (0.001, "ffbe77"),
            (0.0001, "fff9724"),
            (0.00001, "ffff583a"),
            (0.000001, "ffffef39"),
        ] {
            let threshold = Threshold::from_probability(probability).expect("a probability");
            assert_eq!(threshold.to_string(), th, "{probability}");
            assert_eq!(Threshold::parse(th), Some(threshold), "{th}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for probability in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Threshold::from_probability(probability),
                None,
                "{probability}"
            );
        }
        for th in ["", "F", "0x1", "123456789abcdef", "g", " 8"] {
            assert_eq!(Threshold::parse(th), None, "{th:?}");
        }
        assert!(Threshold::from_probability(f64::powi(2.0, -56)).is_some());
    }

    #[test]
    fn keeps_at_or_above_the_threshold() {
        let half = Threshold::parse("8").expect("valid");
        assert!(half.keeps(0x80_0000_0000_0000));
        assert!(!half.keeps(0x7f_ffff_ffff_ffff));
        assert!(Threshold::ALWAYS.keeps(0));
    }

    #[test]
    fn randomness_from_rv_or_the_trace_id() {
        let trace_id = TraceId::from(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        let none = TraceState::NONE;
        assert_eq!(
            OtState::of(&none).randomness_of(trace_id),
            0x22_3344_5566_7788
        );
        let explicit =
            TraceState::from_key_value([("ot", "th:8;rv:0123456789abcd")]).expect("valid");
        let ot = OtState::of(&explicit);
        assert_eq!(ot.randomness_of(trace_id), 0x01_2345_6789_abcd);
        assert_eq!(ot.threshold, Threshold::parse("8"));
        let bad = TraceState::from_key_value([("ot", "th:G;rv:12")]).expect("valid");
        let ot = OtState::of(&bad);
        assert_eq!((ot.threshold, ot.randomness), (None, None));
    }

    #[test]
    fn threshold_updates_keep_the_other_sub_keys() {
        let state =
            TraceState::from_key_value([("ot", "rv:0123456789abcd;th:8;x:y"), ("vendor", "1")])
                .expect("valid");
        let ot = OtState::of(&state);
        let set = ot.with_threshold(&state, Threshold::parse("c"));
        assert_eq!(set.header(), "ot=th:c;rv:0123456789abcd;x:y,vendor=1");
        let erased = ot.with_threshold(&state, None);
        assert_eq!(erased.header(), "ot=rv:0123456789abcd;x:y,vendor=1");
        let bare = TraceState::from_key_value([("ot", "th:8")]).expect("valid");
        assert_eq!(OtState::of(&bare).with_threshold(&bare, None).header(), "");
        let none = TraceState::NONE;
        assert_eq!(
            OtState::of(&none)
                .with_threshold(&none, Some(Threshold::ALWAYS))
                .header(),
            "ot=th:0"
        );
    }
}
