//! The text form of sampling rules ([the syntax](crate::sampling#rule-syntax)).

use opentelemetry::trace::SpanKind;

use super::rules::{Decision, Rule, RuleSampler};

/// A rule that could not be read: where, what, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's position, from 1.
    pub index: usize,
    /// The rule as written.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {} `{}`: {}", self.index, self.rule, self.reason)
    }
}

impl std::error::Error for RuleError {}

impl RuleSampler {
    /// Reads rules in the [text form](crate::sampling#rule-syntax), with `fallback` for spans
    /// no rule matches. Every malformed rule is reported; a caller that gets errors should use
    /// its fallback sampler rather than a partial rule set.
    ///
    /// ```
    /// use tracewire_core::sampling::{Decision, RuleSampler};
    ///
    /// let sampler = RuleSampler::parse(
    ///     "http.route=/health* => drop; kind=server, http.route=/checkout/* => keep",
    ///     Decision::ratio(0.1),
    /// )
    /// .expect("valid rules");
    /// assert_eq!(sampler.rules().len(), 2);
    ///
    /// let errors = RuleSampler::parse("http.route=/a => sometimes", Decision::Keep).unwrap_err();
    /// assert_eq!(errors[0].index, 1);
    /// ```
    pub fn parse(rules: &str, fallback: Decision) -> Result<Self, Vec<RuleError>> {
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        let texts = rules
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.split(';'))
            .map(str::trim)
            .filter(|rule| !rule.is_empty());
        for (index, text) in texts.enumerate() {
            match parse_rule(text) {
                Ok(rule) => parsed.push(rule),
                Err(reason) => errors.push(RuleError {
                    index: index + 1,
                    rule: text.to_owned(),
                    reason,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self::new(parsed, fallback))
        } else {
            Err(errors)
        }
    }
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let (matchers, decision) = text
        .split_once("=>")
        .ok_or("expected `matchers => decision`")?;
    let mut words = decision.split_whitespace();
    let decision = match words.next() {
        Some("keep" | "always_on") => Decision::Keep,
        Some("drop" | "always_off") => Decision::Drop,
        Some("ratio") => ratio(words.next().ok_or("`ratio` needs a value")?)?,
        Some("rate") => rate(words.next().ok_or("`rate` needs a value")?)?,
        _ => return Err("expected `keep`, `drop`, `ratio P` or `rate N`".to_owned()),
    };
    let option = words.next();
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{extra}`"));
    }
    let mut rule = Rule::new(decision);
    match option {
        None => {}
        Some("ignore_parent") => rule = rule.ignore_parent(),
        Some(other) => {
            return Err(format!(
                "unknown option `{other}` (expected `ignore_parent`)"
            ));
        }
    }
    let matchers = matchers.trim();
    if matchers == "*" {
        return Ok(rule);
    }
    for matcher in matchers.split(',').map(str::trim) {
        let (key, pattern) = matcher
            .split_once('=')
            .ok_or_else(|| format!("expected `key=pattern`, got `{matcher}`"))?;
        let (key, pattern) = (key.trim(), pattern.trim());
        if key.is_empty() || pattern.is_empty() {
            return Err(format!("empty key or pattern in `{matcher}`"));
        }
        rule = match key {
            "kind" => rule.kind(kind(pattern)?),
            "name" => rule.name(pattern),
            _ => rule.attribute(key.to_owned(), pattern),
        };
    }
    Ok(rule)
}

fn ratio(value: &str) -> Result<Decision, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(Decision::ratio(ratio)),
        _ => Err(format!("a ratio is a number from 0 to 1, got `{value}`")),
    }
}

fn rate(value: &str) -> Result<Decision, String> {
    match value.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(Decision::rate_limit(rate)),
        _ => Err(format!(
            "a rate is a positive number of traces a second, got `{value}`"
        )),
    }
}

fn kind(value: &str) -> Result<SpanKind, String> {
    Ok(match value {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return Err(format!("unknown span kind `{value}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        let sampler = RuleSampler::parse(
            "# drop probes\n\
             http.route=/health* => drop\n\
             kind=server, http.route=/checkout/* => keep ; name=GET /public/* => ratio 0.01 ignore_parent\n\
             messaging.destination.name=orders => rate 100\n\
             * => always_off",
            Decision::Keep,
        )
        .expect("valid");
        let decisions: Vec<String> = sampler
            .rules()
            .iter()
            .map(|rule| rule.decision().to_string())
            .collect();
        assert_eq!(decisions.len(), 5);
        assert_eq!(decisions[0], "drop");
        assert_eq!(decisions[1], "keep");
        assert_eq!(decisions[2], "ratio 0.010000228881835938"); // `th:fd70a`
        assert_eq!(decisions[3], "rate 100");
        assert_eq!(decisions[4], "drop");
        assert!(sampler.rules()[2].ignore_parent);
        assert_eq!(sampler.rules()[1].kind, Some(SpanKind::Server));
    }

    #[test]
    fn every_malformed_rule_is_reported() {
        let errors = RuleSampler::parse(
            "http.route=/a drop; route => keep; kind=sideways => keep; * => ratio 2; * => rate -1; \
             * => keep sometimes; * => ratio; =x => keep; * => keep ignore_parent extra; * => keep",
            Decision::Keep,
        )
        .expect_err("malformed");
        let indexes: Vec<usize> = errors.iter().map(|error| error.index).collect();
        assert_eq!(indexes, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(
            errors[0].to_string().contains("matchers => decision"),
            "{}",
            errors[0]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,60}") {
            let _ = RuleSampler::parse(&text, Decision::Keep);
        }
    }
}
