//! Samplers that production needs: rules over what adapters know at span start, a rate limit,
//! and consistent probability sampling.
//!
//! - [`RuleSampler`]: ordered [`Rule`]s matching a span's kind, name and start attributes
//!   (tracewire's adapters give the sampler `http.route`, `http.request.method`, `url.path`,
//!   `rpc.method`, `messaging.destination.name`, `db.operation.name`, ..., typed, at span
//!   start); the first match decides, parent-based unless a rule says otherwise.
//! - [`RateLimiter`]: at most N new traces a second, lock-free; a [`Decision`] of its own or the
//!   whole sampler's fallback.
//! - [`Threshold`]: consistent probability sampling as the OpenTelemetry specification defines
//!   it for the successors of `TraceIdRatioBased`, with the rejection threshold in `tracestate`
//!   (`ot=th:…`), the explicit randomness (`ot=rv:…`) or the trace id's random bits.
//!
//! # Rule syntax
//!
//! `tracewire-init` reads rules from `OTEL_TRACES_SAMPLER_ARG` (with
//! `OTEL_TRACES_SAMPLER=tracewire_rules`) or from a file, in this form:
//!
//! ```text
//! # One rule a line (or separated by `;`); the first rule that matches decides.
//! http.route=/health*                     => drop
//! kind=server, http.route=/checkout/*     => keep
//! messaging.destination.name=orders       => ratio 0.5
//! url.path=/public/*                      => ratio 0.01 ignore_parent
//! *                                       => rate 100
//! ```
//!
//! A rule is `matchers => decision [ignore_parent]`. Matchers are `*` (every span) or
//! comma-separated `key=pattern` that must all match: `kind` (`server`, `client`, `producer`,
//! `consumer`, `internal`), `name` (the span name), or any start attribute key. A pattern is
//! exact, a prefix with one trailing `*`, or a glob (`*` any run, `?` one character). Decisions:
//! `keep` (or `always_on`), `drop` (`always_off`), `ratio P` (0 to 1, consistent), `rate N` (new
//! traces a second). `ignore_parent` decides even under a sampled remote parent (a public
//! endpoint). Lines starting with `#` are comments. See [`RuleSampler::parse`].

mod consistent;
mod rate;
mod rules;
mod syntax;

pub use consistent::Threshold;
pub use rate::{Clock, RateLimiter};
pub use rules::{Decision, Pattern, Rule, RuleSampler};
pub use syntax::RuleError;
