//! `OTEL_PROPAGATORS` parsing: the Rust SDK does not read the variable, so we do.

use std::fmt;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};

use super::{BaggagePropagator, JaegerPropagator, TraceContextPropagator, b3::B3Propagator};

/// The name of the environment variable that selects the propagators.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

/// A propagator `OTEL_PROPAGATORS` can select.
///
/// # Example
///
/// B3 extraction reads both encodings, the single `b3` header first; injection writes the
/// encoding the kind selects, and nothing for a context without a valid span context.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::{Context, propagation::TextMapPropagator, trace::TraceContextExt};
/// use tracewire_core::propagation::PropagatorKind;
///
/// let mut incoming = HashMap::new();
/// // A debug child span with a 64-bit trace id.
/// incoming.insert(
///     "b3".to_owned(),
///     "a3ce929d0e0e4736-00f067aa0ba902b7-d-05e3ac9a4f6e3b90".to_owned(),
/// );
/// let b3multi = PropagatorKind::B3Multi.build();
/// let cx = b3multi.extract_with_context(&Context::new(), &incoming);
/// assert!(cx.span().span_context().is_sampled());
///
/// let mut outgoing = HashMap::new();
/// b3multi.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["x-b3-traceid"], "0000000000000000a3ce929d0e0e4736");
/// assert_eq!(outgoing["x-b3-spanid"], "00f067aa0ba902b7");
/// assert_eq!(outgoing["x-b3-sampled"], "1");
/// assert_eq!(outgoing.len(), 3);
///
/// let mut fields: Vec<&str> = b3multi.fields().collect();
/// fields.sort_unstable();
/// assert_eq!(fields, ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropagatorKind {
    /// `tracecontext`: W3C Trace Context, with this crate's strict [`TraceContextPropagator`].
    TraceContext,
    /// `baggage`: W3C Baggage, with this crate's [`BaggagePropagator`].
    Baggage,
    /// `b3`: B3, injecting the single `b3` header, and nothing for a context without a valid
    /// span context.
    ///
    /// Extraction reads `b3`, then the `x-b3-*` headers when `b3` carries no span context.
    /// Ids must be lowercase hex (16 or 32 digits for trace ids, 16 for span ids), and a
    /// malformed field leaves the context unchanged; a sampling state alone (`b3: 0`) carries
    /// no span context and is ignored. Debug extracts as sampled. An absent sampling state
    /// ("defer") extracts as not sampled, so a parent-based sampler records nothing unless its
    /// remote-parent-not-sampled delegate decides otherwise. See the [`PropagatorKind`] example.
    B3,
    /// `b3multi`: B3, injecting the `x-b3-traceid`, `x-b3-spanid` and `x-b3-sampled` headers
    /// (never `x-b3-parentspanid`). Extraction is the same as [`PropagatorKind::B3`]'s.
    B3Multi,
    /// `jaeger`: Jaeger, with this crate's [`JaegerPropagator`].
    Jaeger,
}

impl PropagatorKind {
    /// The `OTEL_PROPAGATORS` value that selects this propagator.
    pub fn name(self) -> &'static str {
        match self {
            Self::TraceContext => "tracecontext",
            Self::Baggage => "baggage",
            Self::B3 => "b3",
            Self::B3Multi => "b3multi",
            Self::Jaeger => "jaeger",
        }
    }

    /// A new propagator of this kind.
    pub fn build(self) -> Box<dyn TextMapPropagator + Send + Sync> {
        match self {
            Self::TraceContext => Box::new(TraceContextPropagator::new()),
            Self::Baggage => Box::new(BaggagePropagator::new()),
            Self::B3 => Box::new(B3Propagator::single_header()),
            Self::B3Multi => Box::new(B3Propagator::multiple_headers()),
            Self::Jaeger => Box::new(JaegerPropagator::new()),
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Self::TraceContext,
            Self::Baggage,
            Self::B3,
            Self::B3Multi,
            Self::Jaeger,
        ]
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for PropagatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something in `OTEL_PROPAGATORS` that was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagatorWarning {
    /// A value the specification names but tracewire does not provide (`xray`, `ottrace`).
    Unsupported(String),
    /// A value the specification does not name.
    Unknown(String),
    /// `none` appeared next to other values; `none` wins, and these values are ignored.
    NoneWithOthers(Vec<String>),
}

impl fmt::Display for PropagatorWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(value) => write!(
                f,
                "{OTEL_PROPAGATORS}: propagator `{value}` is not supported by tracewire and was ignored"
            ),
            Self::Unknown(value) => write!(
                f,
                "{OTEL_PROPAGATORS}: unknown propagator `{value}` was ignored"
            ),
            Self::NoneWithOthers(ignored) => write!(
                f,
                "{OTEL_PROPAGATORS}: `none` disables propagation, so `{}` were ignored",
                ignored.join(",")
            ),
        }
    }
}

/// The outcome of [`parse_propagators`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedPropagators {
    kinds: Vec<PropagatorKind>,
    warnings: Vec<PropagatorWarning>,
}

impl ParsedPropagators {
    /// The selected propagators, in order; empty when propagation is disabled (`none`, or only
    /// values that were ignored).
    pub fn kinds(&self) -> &[PropagatorKind] {
        &self.kinds
    }

    /// What was ignored, for the caller to log.
    pub fn warnings(&self) -> &[PropagatorWarning] {
        &self.warnings
    }

    /// A composite of the selected propagators, in order. With no propagator selected it
    /// propagates nothing.
    pub fn build(&self) -> TextMapCompositePropagator {
        TextMapCompositePropagator::new(self.kinds.iter().map(|kind| kind.build()).collect())
    }

    /// The composite propagator and the warnings.
    pub fn into_parts(self) -> (TextMapCompositePropagator, Vec<PropagatorWarning>) {
        (self.build(), self.warnings)
    }
}

/// Parses an `OTEL_PROPAGATORS` value, without reading the environment.
///
/// - The value is a comma-separated list; entries are trimmed and matched case-insensitively.
/// - Duplicates are dropped, keeping the first position.
/// - An empty value (or one with only empty entries) selects the default,
///   `tracecontext,baggage`.
/// - Unknown and unsupported values (`xray`, `ottrace`) are ignored with a warning. If nothing
///   else is left, nothing propagates: the default applies only to an empty value.
/// - `none` disables propagation. The specification leaves `none` combined with other values
///   open; here `none` anywhere wins and the other values are reported in a
///   [`PropagatorWarning::NoneWithOthers`] warning.
///
/// # Example
///
/// ```
/// use tracewire_core::propagation::{PropagatorKind, PropagatorWarning, parse_propagators};
///
/// let parsed = parse_propagators(" TraceContext, b3multi ,xray,tracecontext");
/// assert_eq!(parsed.kinds(), [PropagatorKind::TraceContext, PropagatorKind::B3Multi]);
/// assert_eq!(parsed.warnings(), [PropagatorWarning::Unsupported("xray".to_owned())]);
///
/// assert_eq!(
///     parse_propagators("").kinds(),
///     [PropagatorKind::TraceContext, PropagatorKind::Baggage]
/// );
/// assert!(parse_propagators("none").kinds().is_empty());
/// ```
pub fn parse_propagators(value: &str) -> ParsedPropagators {
    let mut kinds = Vec::new();
    let mut warnings = Vec::new();
    let mut none = false;
    let mut others = Vec::new();
    let entries = value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    for entry in entries {
        if entry.eq_ignore_ascii_case("none") {
            none = true;
            continue;
        }
        others.push(entry);
        match PropagatorKind::from_name(entry) {
            Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
            Some(_) => {}
            None if ["xray", "ottrace"]
                .iter()
                .any(|name| name.eq_ignore_ascii_case(entry)) =>
            {
                warnings.push(PropagatorWarning::Unsupported(entry.to_owned()));
            }
            None => warnings.push(PropagatorWarning::Unknown(entry.to_owned())),
        }
    }
    if none {
        kinds.clear();
        if !others.is_empty() {
            warnings.push(PropagatorWarning::NoneWithOthers(
                others.into_iter().map(str::to_owned).collect(),
            ));
        }
    } else if others.is_empty() {
        kinds = vec![PropagatorKind::TraceContext, PropagatorKind::Baggage];
    }
    ParsedPropagators { kinds, warnings }
}

/// Reads `OTEL_PROPAGATORS` once and builds the propagator it selects (see
/// [`parse_propagators`]); unset means the default, `tracecontext,baggage`.
///
/// Each warning is logged with `tracing::warn!` and also returned, for callers that report
/// configuration problems themselves. A value that is not Unicode is read lossily, so its bad
/// entries show up as unknown.
///
/// # Example
///
/// ```
/// use opentelemetry::propagation::TextMapPropagator;
/// use tracewire_core::propagation::propagator_from_env;
///
/// let (propagator, warnings) = propagator_from_env();
/// for warning in &warnings {
///     eprintln!("{warning}");
/// }
/// let _fields: Vec<&str> = propagator.fields().collect();
/// ```
pub fn propagator_from_env() -> (TextMapCompositePropagator, Vec<PropagatorWarning>) {
    let value = std::env::var_os(OTEL_PROPAGATORS).unwrap_or_default();
    let parsed = parse_propagators(&value.to_string_lossy());
    for warning in parsed.warnings() {
        tracing::warn!(target: "tracewire::propagation", "{warning}");
    }
    parsed.into_parts()
}
