//! Configuration problems, collected as data and logged once.

use std::fmt;

/// What was wrong with a configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A boolean that is neither `true` nor `false` (it counts as `false`).
    InvalidBoolean,
    /// A number that could not be parsed.
    InvalidNumber,
    /// A negative duration.
    NegativeDuration,
    /// A number outside the allowed range.
    OutOfRange,
    /// A value the specification does not name.
    Unknown,
    /// A value the specification names but tracewire does not provide.
    Unsupported,
    /// A deprecated value, mapped to its replacement.
    Deprecated,
    /// A list or URL that could not be decoded.
    Malformed,
    /// Values that contradict each other.
    Conflict,
    /// A file that could not be read.
    Unreadable,
    /// An exporter could not be built from otherwise valid settings.
    ExporterBuild,
    /// A propagator problem reported by `tracewire_core::propagation::parse_propagators`.
    Propagator(tracewire_core::propagation::PropagatorWarning),
}

/// One configuration problem: which variable, its value, what was wrong and what is used instead.
///
/// `Display` renders the whole message, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// The environment variable (or builder setting) the value came from.
    pub variable: String,
    /// The offending value.
    pub value: String,
    /// What was wrong.
    pub kind: WarningKind,
    /// A short explanation.
    pub reason: String,
    /// What is used instead.
    pub fallback: String,
}

impl Warning {
    pub(crate) fn new(
        variable: &str,
        value: &str,
        kind: WarningKind,
        reason: impl Into<String>,
        fallback: impl Into<String>,
    ) -> Self {
        Self {
            variable: variable.to_owned(),
            value: value.to_owned(),
            kind,
            reason: reason.into(),
            fallback: fallback.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: {}; using {}",
            self.variable, self.value, self.reason, self.fallback
        )
    }
}
