//! The rule-based sampler: the first rule that matches a span's start decides.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{Link, SpanContext, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

use super::consistent::{OtState, Threshold};
use super::rate::RateLimiter;
use crate::propagation;

/// The W3C Level 2 flag saying a trace id is random in its rightmost 7 bytes.
const RANDOM_FLAG: u8 = 0x02;

/// What a rule (or the fallback) decides for a span it matches.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Keep the trace (consistent probability 1: `th:0`).
    Keep,
    /// Drop the trace.
    Drop,
    /// Keep the trace with this probability, consistently across services (see
    /// [`Threshold`]).
    Ratio(Threshold),
    /// Keep at most this many new traces a second; the probability is unknown, so no threshold
    /// is sent on.
    RateLimit(Arc<RateLimiter>),
}

impl Decision {
    /// [`Decision::Ratio`] for `probability`; `Keep` at 1 and above, `Drop` at 0 and below
    /// (and for NaN).
    pub fn ratio(probability: f64) -> Self {
        if probability.is_nan() || probability <= 0.0 {
            return Self::Drop;
        }
        match Threshold::from_probability(probability.min(1.0)) {
            Some(Threshold::ALWAYS) => Self::Keep,
            Some(threshold) => Self::Ratio(threshold),
            None => Self::Drop,
        }
    }

    /// [`Decision::RateLimit`] of `per_second` new traces a second; `Drop` for a rate that is
    /// not positive and finite.
    pub fn rate_limit(per_second: f64) -> Self {
        RateLimiter::new(per_second)
            .map_or(Self::Drop, |limiter| Self::RateLimit(Arc::new(limiter)))
    }

    /// The rate limiter, when this decision is one: for reporting what it dropped.
    pub fn rate_limiter(&self) -> Option<&Arc<RateLimiter>> {
        match self {
            Self::RateLimit(limiter) => Some(limiter),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    /// The rule syntax of the decision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keep => f.write_str("keep"),
            Self::Drop => f.write_str("drop"),
            Self::Ratio(threshold) => write!(f, "ratio {}", threshold.probability()),
            Self::RateLimit(limiter) => write!(f, "rate {}", limiter.per_second()),
        }
    }
}

/// A string pattern: exact, prefix (one trailing `*`), or glob (`*` any run of characters, `?`
/// one character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// The whole value.
    Exact(String),
    /// The start of the value.
    Prefix(String),
    /// A glob over the whole value.
    Glob(String),
}

impl Pattern {
    /// Reads `pattern`: a glob if it has `*` or `?`, a prefix if its only wildcard is one
    /// trailing `*`, else exact.
    ///
    /// ```
    /// use tracewire_core::sampling::Pattern;
    /// assert!(Pattern::new("/health*").matches("/healthz"));
    /// assert!(Pattern::new("/api/*/orders").matches("/api/v2/orders"));
    /// assert!(!Pattern::new("/api/*/orders").matches("/api/v2/users"));
    /// assert!(Pattern::new("GET").matches("GET") && !Pattern::new("GET").matches("GETS"));
    /// ```
    pub fn new(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            _ if !pattern.contains(['*', '?']) => Self::Exact(pattern.to_owned()),
            Some(prefix) if !prefix.contains(['*', '?']) => Self::Prefix(prefix.to_owned()),
            _ => Self::Glob(pattern.to_owned()),
        }
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(exact) => value == exact,
            Self::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Self::Glob(glob) => glob_matches(glob.as_bytes(), value.as_bytes()),
        }
    }
}

/// Glob matching with one backtracking point (the last `*`), linear in practice.
fn glob_matches(pattern: &[u8], value: &[u8]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(&c) if c == b'?' || c == value[v] => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((star_p, star_v)) => {
                    p = star_p + 1;
                    v = star_v + 1;
                    star = Some((star_p, star_v + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// One sampling rule: what it matches at span start, and what it decides.
///
/// ```
/// use opentelemetry::trace::SpanKind;
/// use tracewire_core::sampling::{Decision, Rule};
///
/// let drop_health = Rule::new(Decision::Drop).attribute("http.route", "/health*");
/// let keep_checkout = Rule::new(Decision::Keep)
///     .kind(SpanKind::Server)
///     .attribute("http.route", "/checkout/*");
/// let public = Rule::new(Decision::ratio(0.01))
///     .attribute("url.path", "/public/*")
///     .ignore_parent();
/// # let _ = (drop_health, keep_checkout, public);
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    pub(super) kind: Option<SpanKind>,
    name: Option<Pattern>,
    attributes: Vec<(Key, Pattern)>,
    decision: Decision,
    pub(super) ignore_parent: bool,
}

impl Rule {
    /// A rule that matches every span and decides `decision`; narrow it with the other methods.
    pub fn new(decision: Decision) -> Self {
        Self {
            kind: None,
            name: None,
            attributes: Vec::new(),
            decision,
            ignore_parent: false,
        }
    }

    /// Matches spans of this kind only.
    #[must_use]
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Matches spans whose name matches `pattern` ([`Pattern::new`]).
    #[must_use]
    pub fn name(mut self, pattern: &str) -> Self {
        self.name = Some(Pattern::new(pattern));
        self
    }

    /// Matches spans whose start attribute `key` has a value matching `pattern`
    /// ([`Pattern::new`]); a span without the attribute does not match. Several attributes must
    /// all match.
    #[must_use]
    pub fn attribute(mut self, key: impl Into<Key>, pattern: &str) -> Self {
        self.attributes.push((key.into(), Pattern::new(pattern)));
        self
    }

    /// Decides even when the span has a parent, instead of following the parent's decision:
    /// for a public endpoint, whose callers must not choose what you sample.
    #[must_use]
    pub fn ignore_parent(mut self) -> Self {
        self.ignore_parent = true;
        self
    }

    /// What this rule decides.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    fn matches(&self, name: &str, kind: &SpanKind, attributes: &[KeyValue]) -> bool {
        self.kind.as_ref().is_none_or(|wanted| wanted == kind)
            && self
                .name
                .as_ref()
                .is_none_or(|pattern| pattern.matches(name))
            && self.attributes.iter().all(|(key, pattern)| {
                attributes
                    .iter()
                    .find(|attribute| attribute.key == *key)
                    .is_some_and(|attribute| pattern.matches(&attribute.value.as_str()))
            })
    }
}

/// A sampler of ordered rules over what adapters know at span start (`http.route`,
/// `http.request.method`, `url.path`, `rpc.method`, `messaging.destination.name`,
/// `db.operation.name`, ..., the span's kind and name): the first rule that matches decides, and
/// the fallback decides when none does.
///
/// Parent-based by default: a span with a parent (remote or local) follows the parent's
/// decision, and its threshold is sent on when it is consistent with the trace's randomness; a
/// rule marked [`ignore_parent`](Rule::ignore_parent) decides anyway. Ratios are consistent
/// probability sampling: a trace's randomness (the `ot` entry's `rv`, else the trace id's
/// rightmost 7 bytes) against a threshold, recorded as `ot=th:…` in `tracestate`, so services
/// sampling at different ratios keep consistent sub-traces and a backend can extrapolate counts.
///
/// ```
/// use opentelemetry::trace::SpanKind;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_core::sampling::{Decision, Rule, RuleSampler};
///
/// let sampler = RuleSampler::new(
///     [
///         Rule::new(Decision::Drop).attribute("http.route", "/health*"),
///         Rule::new(Decision::Keep).attribute("http.route", "/checkout/*"),
///     ],
///     Decision::rate_limit(100.0),
/// );
/// let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
/// # drop(provider);
/// ```
#[derive(Clone, Debug)]
pub struct RuleSampler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    fallback: Decision,
    /// Whether any rule decides despite a parent: otherwise a child never reads the rules.
    any_ignores_parent: bool,
}

impl RuleSampler {
    /// A sampler of `rules`, in order, with `fallback` for spans no rule matches.
    pub fn new(rules: impl IntoIterator<Item = Rule>, fallback: Decision) -> Self {
        let rules: Vec<Rule> = rules.into_iter().collect();
        Self {
            inner: Arc::new(Inner {
                any_ignores_parent: rules.iter().any(|rule| rule.ignore_parent),
                rules,
                fallback,
            }),
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// The decision for spans no rule matches.
    pub fn fallback(&self) -> &Decision {
        &self.inner.fallback
    }

    /// Every rate limiter the rules and the fallback use, to report what they drop.
    pub fn rate_limiters(&self) -> impl Iterator<Item = &Arc<RateLimiter>> {
        self.inner
            .rules
            .iter()
            .map(Rule::decision)
            .chain([&self.inner.fallback])
            .filter_map(Decision::rate_limiter)
    }

    fn rule_for(&self, name: &str, kind: &SpanKind, attributes: &[KeyValue]) -> Option<&Rule> {
        self.inner
            .rules
            .iter()
            .find(|rule| rule.matches(name, kind, attributes))
    }
}

impl ShouldSample for RuleSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        // The SDK passes the (empty) current context for a root: no span to look up then.
        let parent_span = parent_context
            .filter(|cx| cx.has_active_span())
            .map(|cx| cx.span());
        let parent = parent_span
            .as_ref()
            .map(|span| span.span_context())
            .filter(|parent| parent.is_valid());
        if let Some(parent) = parent
            && !self.inner.any_ignores_parent
        {
            return follow_parent(parent, trace_id);
        }
        let rule = self.rule_for(name, span_kind, attributes);
        if let Some(parent) = parent
            && !rule.is_some_and(|rule| rule.ignore_parent)
        {
            return follow_parent(parent, trace_id);
        }
        let decision = rule.map_or(&self.inner.fallback, Rule::decision);
        let trace_state = parent.map_or(&TraceState::NONE, SpanContext::trace_state);
        decide(decision, trace_id, trace_state, parent_context, parent)
    }
}

/// The parent's decision, with its threshold sent on only when consistent: a sampled parent
/// whose randomness is below its threshold did not sample by it, so the threshold is erased.
#[inline]
fn follow_parent(parent: &SpanContext, trace_id: TraceId) -> SamplingResult {
    let trace_state = parent.trace_state();
    let ot = OtState::of(trace_state);
    let consistent = ot.threshold.is_none_or(|threshold| {
        !parent.is_sampled() || threshold.keeps(ot.randomness_of(trace_id))
    });
    SamplingResult {
        decision: if parent.is_sampled() {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        },
        attributes: Vec::new(),
        trace_state: if consistent {
            trace_state.clone()
        } else {
            ot.with_threshold(trace_state, None)
        },
    }
}

/// A decision of its own: consistent for ratios (`th` set when kept), none for rate limits.
#[inline]
fn decide(
    decision: &Decision,
    trace_id: TraceId,
    trace_state: &TraceState,
    parent_context: Option<&Context>,
    parent: Option<&SpanContext>,
) -> SamplingResult {
    let ot = OtState::of(trace_state);
    let (keep, threshold) = match decision {
        Decision::Keep => (true, Some(Threshold::ALWAYS)),
        Decision::Drop => (false, None),
        Decision::Ratio(threshold) => {
            // A new trace's id is this SDK's own (random); only a parent's may not be.
            if parent.is_some() && ot.randomness.is_none() {
                warn_if_randomness_is_presumed(parent_context, parent, trace_id);
            }
            (
                threshold.keeps(ot.randomness_of(trace_id)),
                Some(*threshold),
            )
        }
        Decision::RateLimit(limiter) => (limiter.try_acquire(), None),
    };
    if !keep {
        return SamplingResult {
            decision: SamplingDecision::Drop,
            attributes: Vec::new(),
            trace_state: trace_state.clone(),
        };
    }
    SamplingResult {
        decision: SamplingDecision::RecordAndSample,
        attributes: Vec::new(),
        trace_state: ot.with_threshold(trace_state, threshold),
    }
}

/// Warns once when a ratio decides on the trace id of a remote trace that did not say its id is
/// random (no W3C random flag): services that sample it by other rules may disagree.
fn warn_if_randomness_is_presumed(
    parent_context: Option<&Context>,
    parent: Option<&SpanContext>,
    trace_id: TraceId,
) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let random = match parent_context.and_then(|cx| propagation::remote_random(cx, trace_id)) {
        Some(random) => random,
        // Not extracted by us: a remote parent says it in its flags; a local trace is ours.
        None => parent.is_none_or(|parent| {
            !parent.is_remote() || parent.trace_flags().to_u8() & RANDOM_FLAG != 0
        }),
    };
    if !random && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "tracewire::sampling",
            %trace_id,
            "sampling by ratio on a trace id not marked random (no W3C random flag): other services may decide differently"
        );
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags};
    use proptest::prelude::*;

    use super::*;

    /// A reference glob matcher, written recursively and independently of `glob_matches`.
    fn reference_glob(pattern: &[u8], value: &[u8]) -> bool {
        match (pattern.first(), value.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                reference_glob(&pattern[1..], value)
                    || (!value.is_empty() && reference_glob(pattern, &value[1..]))
            }
            (Some(b'?'), Some(_)) => reference_glob(&pattern[1..], &value[1..]),
            (Some(p), Some(v)) if p == v => reference_glob(&pattern[1..], &value[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn glob_agrees_with_a_reference(pattern in "[ab*?/]{0,8}", value in "[ab/]{0,10}") {
            prop_assert_eq!(
                Pattern::new(&pattern).matches(&value),
                reference_glob(pattern.as_bytes(), value.as_bytes()),
                "{:?} {:?}", pattern, value
            );
        }
    }

    fn sample(
        sampler: &RuleSampler,
        parent: Option<&Context>,
        trace_id: TraceId,
        attributes: &[KeyValue],
    ) -> SamplingResult {
        sampler.should_sample(
            parent,
            trace_id,
            "GET /x",
            &SpanKind::Server,
            attributes,
            &[],
        )
    }

    fn remote(flags: u8, trace_state: &str) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TRACE_ID,
            SpanId::from(1),
            TraceFlags::new(flags),
            true,
            trace_state.parse().expect("valid tracestate"),
        ))
    }

    /// Randomness (rightmost 56 bits) 0x90_0000_0000_0000: kept by `th:8`, dropped by `th:c`.
    const TRACE_ID: TraceId =
        TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0]);

    fn is_sampled(result: &SamplingResult) -> bool {
        matches!(result.decision, SamplingDecision::RecordAndSample)
    }

    #[test]
    fn the_first_matching_rule_decides_and_the_fallback_otherwise() {
        let sampler = RuleSampler::new(
            [
                Rule::new(Decision::Drop).attribute("http.route", "/health*"),
                Rule::new(Decision::Keep).attribute("http.route", "/health/deep"),
            ],
            Decision::Keep,
        );
        let route = |route: &'static str| [KeyValue::new("http.route", route)];
        assert!(!is_sampled(&sample(
            &sampler,
            None,
            TRACE_ID,
            &route("/health/deep")
        )));
        assert!(is_sampled(&sample(
            &sampler,
            None,
            TRACE_ID,
            &route("/orders")
        )));
        assert!(is_sampled(&sample(&sampler, None, TRACE_ID, &[])));
    }

    #[test]
    fn kind_name_and_typed_attributes_match() {
        let rule = Rule::new(Decision::Drop)
            .kind(SpanKind::Client)
            .name("SELECT *")
            .attribute("server.port", "5432");
        let attributes = [KeyValue::new("server.port", 5432_i64)];
        assert!(rule.matches("SELECT users", &SpanKind::Client, &attributes));
        assert!(!rule.matches("SELECT users", &SpanKind::Server, &attributes));
        assert!(!rule.matches("INSERT users", &SpanKind::Client, &attributes));
        assert!(!rule.matches("SELECT users", &SpanKind::Client, &[]));
    }

    #[test]
    fn a_parent_decides_unless_the_rule_ignores_it() {
        let follow = RuleSampler::new([Rule::new(Decision::Drop)], Decision::Drop);
        assert!(is_sampled(&sample(
            &follow,
            Some(&remote(0x01, "")),
            TRACE_ID,
            &[]
        )));
        let public = RuleSampler::new([Rule::new(Decision::Drop).ignore_parent()], Decision::Keep);
        assert!(!is_sampled(&sample(
            &public,
            Some(&remote(0x01, "")),
            TRACE_ID,
            &[]
        )));
        let keep = RuleSampler::new([], Decision::Keep);
        assert!(!is_sampled(&sample(
            &keep,
            Some(&remote(0x00, "")),
            TRACE_ID,
            &[]
        )));
    }

    #[test]
    fn ratios_are_consistent_and_record_their_threshold() {
        let half = RuleSampler::new([], Decision::ratio(0.5));
        let kept = sample(&half, None, TRACE_ID, &[]);
        assert!(is_sampled(&kept));
        assert_eq!(kept.trace_state.header(), "ot=th:8");
        let quarter = RuleSampler::new([], Decision::ratio(0.25));
        let dropped = sample(&quarter, None, TRACE_ID, &[]);
        assert!(!is_sampled(&dropped));
        assert_eq!(dropped.trace_state.header(), "");
        // Explicit randomness wins over the trace id.
        let parent = remote(0x03, "ot=rv:ffffffffffffff,vendor=1");
        let public = RuleSampler::new(
            [Rule::new(Decision::ratio(0.25)).ignore_parent()],
            Decision::Drop,
        );
        let kept = sample(&public, Some(&parent), TRACE_ID, &[]);
        assert!(is_sampled(&kept));
        assert_eq!(
            kept.trace_state.header(),
            "ot=th:c;rv:ffffffffffffff,vendor=1"
        );
    }

    #[test]
    fn a_parent_threshold_is_sent_on_only_when_consistent() {
        let sampler = RuleSampler::new([], Decision::Keep);
        let consistent = sample(&sampler, Some(&remote(0x03, "ot=th:8")), TRACE_ID, &[]);
        assert!(is_sampled(&consistent));
        assert_eq!(consistent.trace_state.header(), "ot=th:8");
        // Sampled although its randomness is below `th:c`: the threshold is erased.
        let inconsistent = sample(&sampler, Some(&remote(0x03, "ot=th:c,b=2")), TRACE_ID, &[]);
        assert!(is_sampled(&inconsistent));
        assert_eq!(inconsistent.trace_state.header(), "b=2");
    }

    #[test]
    fn rate_limits_send_no_threshold() {
        let sampler = RuleSampler::new([], Decision::rate_limit(1.0));
        let kept = sample(&sampler, Some(&remote(0x03, "ot=th:0")), TRACE_ID, &[]);
        // Parent-based: the parent decides, the limiter is not asked.
        assert_eq!(kept.trace_state.header(), "ot=th:0");
        let first = sample(&sampler, None, TRACE_ID, &[]);
        assert!(is_sampled(&first));
        assert_eq!(first.trace_state.header(), "");
        assert!(!is_sampled(&sample(&sampler, None, TRACE_ID, &[])));
        let limiter = sampler.rate_limiters().next().expect("one limiter");
        assert_eq!(limiter.dropped(), 1);
    }
}
