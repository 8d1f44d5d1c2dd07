//! Reading `OTEL_*` variables from an injectable source, with the specification's parsing rules.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::warning::{Warning, WarningKind};

/// Stands for "no limit" where the specification allows a timeout of `0`: the largest value every
/// timer in the stack (tokio, tonic, hyper) accepts without overflowing.
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where configuration variables are read from: the process environment, a map or a closure.
///
/// Tests inject a map so they never mutate the process environment and can run in parallel.
///
/// ```
/// use tracewire_init::EnvSource;
///
/// let env = EnvSource::from_pairs([("OTEL_SERVICE_NAME", "checkout")]);
/// assert_eq!(env.get("OTEL_SERVICE_NAME").as_deref(), Some("checkout"));
/// // An empty value is the same as an unset one.
/// assert_eq!(EnvSource::from_pairs([("OTEL_SERVICE_NAME", "")]).get("OTEL_SERVICE_NAME"), None);
/// ```
#[derive(Clone)]
pub struct EnvSource(Arc<Lookup>);

impl EnvSource {
    /// The process environment (values that are not valid Unicode count as unset).
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// A fixed set of variables.
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self::from_fn(move |name| map.get(name).cloned())
    }

    /// A fixed set of variables given as pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Any lookup function.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    /// The value of `name`; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvSource(..)")
    }
}

/// How a duration of `0` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Zero {
    /// A timeout: `0` means no limit.
    NoLimit,
    /// An interval or delay: `0` is out of range.
    Invalid,
}

/// Reads typed values and collects a warning for every value it had to ignore.
pub(crate) struct Reader<'a> {
    source: &'a EnvSource,
    pub(crate) warnings: Vec<Warning>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a EnvSource) -> Self {
        Self {
            source,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn warn(
        &mut self,
        variable: &str,
        value: &str,
        kind: WarningKind,
        reason: impl Into<String>,
        fallback: impl Into<String>,
    ) {
        self.warnings
            .push(Warning::new(variable, value, kind, reason, fallback));
    }

    /// The trimmed value, `None` when unset or blank.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.source
            .get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// Only a case-insensitive `true` is true; anything but `false` also warns.
    pub(crate) fn boolean(&mut self, name: &str) -> bool {
        let Some(value) = self.string(name) else {
            return false;
        };
        if value.eq_ignore_ascii_case("true") {
            return true;
        }
        if !value.eq_ignore_ascii_case("false") {
            self.warn(
                name,
                &value,
                WarningKind::InvalidBoolean,
                "not a boolean (only `true` and `false` are)",
                "false",
            );
        }
        false
    }

    /// A case-insensitive enum value; unknown values warn and give `default`.
    pub(crate) fn enumeration<T: Copy + fmt::Debug>(
        &mut self,
        name: &str,
        variants: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(value) = self.string(name) else {
            return default;
        };
        match lookup_variant(variants, &value) {
            Some(variant) => variant,
            None => {
                self.warn(
                    name,
                    &value,
                    WarningKind::Unknown,
                    format!("unknown value (expected one of {})", names_of(variants)),
                    format!("the default {default:?}"),
                );
                default
            }
        }
    }

    /// An integer in milliseconds.
    pub(crate) fn millis(&mut self, name: &str, default: Duration, zero: Zero) -> Duration {
        let Some(value) = self.string(name) else {
            return default;
        };
        let fallback = format!("the default {} ms", default.as_millis());
        match value.parse::<i64>() {
            Ok(ms) if ms < 0 => {
                self.warn(
                    name,
                    &value,
                    WarningKind::NegativeDuration,
                    "negative duration",
                    fallback,
                );
                default
            }
            Ok(0) if zero == Zero::NoLimit => NO_LIMIT,
            Ok(0) => {
                self.warn(
                    name,
                    &value,
                    WarningKind::OutOfRange,
                    "must be greater than 0",
                    fallback,
                );
                default
            }
            Ok(ms) => Duration::from_millis(ms.unsigned_abs()),
            Err(_) => {
                self.warn(
                    name,
                    &value,
                    WarningKind::InvalidNumber,
                    "not an integer number of milliseconds",
                    fallback,
                );
                default
            }
        }
    }

    /// A non-negative integer of at least `min`.
    pub(crate) fn count(&mut self, name: &str, default: usize, min: usize) -> usize {
        let Some(value) = self.string(name) else {
            return default;
        };
        let fallback = format!("the default {default}");
        match value.parse::<i64>() {
            Ok(n) if n >= 0 && usize::try_from(n).is_ok_and(|n| n >= min) => {
                usize::try_from(n).unwrap_or(default)
            }
            Ok(_) => {
                self.warn(
                    name,
                    &value,
                    WarningKind::OutOfRange,
                    format!("must be an integer of at least {min}"),
                    fallback,
                );
                default
            }
            Err(_) => {
                self.warn(
                    name,
                    &value,
                    WarningKind::InvalidNumber,
                    "not an integer",
                    fallback,
                );
                default
            }
        }
    }
}

pub(crate) fn lookup_variant<T: Copy>(variants: &[(&str, T)], value: &str) -> Option<T> {
    variants
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, variant)| *variant)
}

pub(crate) fn names_of<T>(variants: &[(&str, T)]) -> String {
    variants
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
