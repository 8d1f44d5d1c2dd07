//! `OTEL_SEMCONV_STABILITY_OPT_IN`: which generation of attribute names each domain emits.
//!
//! The variable is a comma-separated list of tokens. Tokens are trimmed and compared
//! case-insensitively; unknown tokens (`k8s`, `code`, typos) are ignored. Per domain:
//!
//! | Domain | no token | `<x>` | `<x>/dup` | `<x>/old` |
//! |---|---|---|---|---|
//! | `http` | [`New`](StabilityMode::New) | `New` | [`Dup`](StabilityMode::Dup) | — |
//! | `database` | `New` | `New` | `Dup` | — |
//! | `rpc` | `New` | `New` | `Dup` | [`Old`](StabilityMode::Old) |
//! | `messaging` | `Old` | `New` | `Dup` | — |
//!
//! Why these defaults:
//! - `http` and `database`: tracewire never shipped the pre-stable names, so there is no old output
//!   to preserve and the stable names are emitted by default; `/dup` adds the legacy names for users
//!   migrating dashboards from other instrumentations.
//! - `rpc`: the newest names (`rpc.system.name`, fully qualified `rpc.method`, string
//!   `rpc.status_code`, stable in semconv v1.45) are the default; `rpc/old` gives only the old
//!   experimental names (`rpc.system`, `rpc.service`, int `rpc.grpc.status_code`), as otelgrpc does.
//! - `messaging`: the default keeps the v1.44 names (`messaging.system`, `messaging.kafka.offset`,
//!   ...) because messaging is still in development; `messaging` switches to the v1.45 names
//!   (`messaging.system.name`, `kafka.offset`, ...) and `messaging/dup` emits both.
//!
//! Conflicts: `/dup` wins over every other token of its domain. For `rpc`, asking for both `rpc`
//! and `rpc/old` also gives `Dup`, the only mode that honours both requests.

use std::sync::OnceLock;

/// The environment variable read by [`StabilityOptIn::from_env`].
pub const OTEL_SEMCONV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// Which names a domain emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StabilityMode {
    /// Only the newest names.
    New,
    /// The newest and the old names; single-valued things (span name, kind) use the new values.
    Dup,
    /// Only the old names.
    Old,
}

impl StabilityMode {
    /// Whether the newest names are emitted.
    ///
    /// ```
    /// use tracewire_core::semconv::stability::StabilityMode;
    /// assert!(StabilityMode::Dup.emit_new() && StabilityMode::Dup.emit_old());
    /// assert!(!StabilityMode::Old.emit_new());
    /// ```
    pub const fn emit_new(self) -> bool {
        matches!(self, Self::New | Self::Dup)
    }

    /// Whether the old names are emitted.
    pub const fn emit_old(self) -> bool {
        matches!(self, Self::Old | Self::Dup)
    }
}

/// An attribute whose key changed between two semconv versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Renamed {
    /// The key before the rename.
    pub old: &'static str,
    /// The key after the rename.
    pub new: &'static str,
}

impl Renamed {
    /// The keys to emit in `mode`, the new one first.
    ///
    /// ```
    /// use tracewire_core::semconv::stability::{Renamed, StabilityMode};
    /// let r = Renamed { old: "a.old", new: "a.new" };
    /// assert_eq!(r.keys(StabilityMode::Dup).collect::<Vec<_>>(), ["a.new", "a.old"]);
    /// assert_eq!(r.keys(StabilityMode::Old).collect::<Vec<_>>(), ["a.old"]);
    /// ```
    pub fn keys(self, mode: StabilityMode) -> impl Iterator<Item = &'static str> {
        let new = mode.emit_new().then_some(self.new);
        let old = mode.emit_old().then_some(self.old);
        new.into_iter().chain(old)
    }
}

/// The per-domain modes selected by `OTEL_SEMCONV_STABILITY_OPT_IN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StabilityOptIn {
    /// HTTP and networking (`http`, `http/dup`).
    pub http: StabilityMode,
    /// Database (`database`, `database/dup`; the token is not `db`).
    pub database: StabilityMode,
    /// RPC (`rpc`, `rpc/dup`, `rpc/old`).
    pub rpc: StabilityMode,
    /// Messaging (`messaging`, `messaging/dup`).
    pub messaging: StabilityMode,
}

impl Default for StabilityOptIn {
    fn default() -> Self {
        Self {
            http: StabilityMode::New,
            database: StabilityMode::New,
            rpc: StabilityMode::New,
            messaging: StabilityMode::Old,
        }
    }
}

/// The domain part of the tokens, in the order of the `seen` array in [`StabilityOptIn::parse`].
const DOMAINS: [&str; 4] = ["http", "database", "rpc", "messaging"];

/// The tokens seen for one domain.
#[derive(Clone, Copy, Default)]
struct Seen {
    plain: bool,
    dup: bool,
    old: bool,
}

impl Seen {
    fn resolve(self, default: StabilityMode) -> StabilityMode {
        match (self.dup, self.plain, self.old) {
            (true, _, _) | (false, true, true) => StabilityMode::Dup,
            (false, true, false) => StabilityMode::New,
            (false, false, true) => StabilityMode::Old,
            (false, false, false) => default,
        }
    }
}

impl StabilityOptIn {
    /// Parses the value of `OTEL_SEMCONV_STABILITY_OPT_IN`. Never fails: unknown tokens are ignored.
    ///
    /// ```
    /// use tracewire_core::semconv::stability::{StabilityMode, StabilityOptIn};
    /// let opt = StabilityOptIn::parse(" HTTP/dup, rpc/old ,messaging, database, database/dup");
    /// assert_eq!(opt.http, StabilityMode::Dup);
    /// assert_eq!(opt.rpc, StabilityMode::Old);
    /// assert_eq!(opt.messaging, StabilityMode::New);
    /// assert_eq!(opt.database, StabilityMode::Dup);
    /// ```
    pub fn parse(value: &str) -> Self {
        // Indexed like `DOMAINS`: http, database, rpc, messaging.
        let mut seen = [Seen::default(); 4];
        for token in value.split(',').map(str::trim) {
            let (domain, suffix) = match token.split_once('/') {
                Some((domain, suffix)) => (domain, Some(suffix)),
                None => (token, None),
            };
            let Some(index) = DOMAINS.iter().position(|d| d.eq_ignore_ascii_case(domain)) else {
                continue;
            };
            let entry = &mut seen[index];
            match suffix {
                None => entry.plain = true,
                Some(s) if s.eq_ignore_ascii_case("dup") => entry.dup = true,
                // Only RPC defines an `/old` token; elsewhere it is unknown and ignored.
                Some(s) if s.eq_ignore_ascii_case("old") && DOMAINS[index] == "rpc" => {
                    entry.old = true;
                }
                Some(_) => {}
            }
        }
        let [http, database, rpc, messaging] = seen;
        let default = Self::default();
        Self {
            http: http.resolve(default.http),
            database: database.resolve(default.database),
            rpc: rpc.resolve(default.rpc),
            messaging: messaging.resolve(default.messaging),
        }
    }

    /// Reads and parses `OTEL_SEMCONV_STABILITY_OPT_IN`; unset or not UTF-8 gives the defaults.
    pub fn from_env() -> Self {
        std::env::var(OTEL_SEMCONV_STABILITY_OPT_IN)
            .map(|value| Self::parse(&value))
            .unwrap_or_default()
    }

    /// The process-wide value, read from the environment once on first use.
    ///
    /// Layers read this when they are built, so changing the variable later has no effect.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<StabilityOptIn> = OnceLock::new();
        GLOBAL.get_or_init(Self::from_env)
    }
}

#[cfg(test)]
mod tests {
    use super::StabilityMode::{Dup, New, Old};
    use super::*;

    fn modes(value: &str) -> [StabilityMode; 4] {
        let o = StabilityOptIn::parse(value);
        [o.http, o.database, o.rpc, o.messaging]
    }

    #[test]
    fn defaults() {
        assert_eq!(modes(""), [New, New, New, Old]);
        assert_eq!(modes(" , ,"), [New, New, New, Old]);
        assert_eq!(StabilityOptIn::default(), StabilityOptIn::parse(""));
    }

    #[test]
    fn plain_tokens() {
        assert_eq!(modes("http,database,rpc,messaging"), [New, New, New, New]);
    }

    #[test]
    fn dup_tokens() {
        assert_eq!(
            modes("http/dup,database/dup,rpc/dup,messaging/dup"),
            [Dup, Dup, Dup, Dup]
        );
    }

    #[test]
    fn dup_wins_regardless_of_order() {
        assert_eq!(modes("messaging,messaging/dup"), [New, New, New, Dup]);
        assert_eq!(modes("messaging/dup,messaging"), [New, New, New, Dup]);
        assert_eq!(modes("rpc/old,rpc/dup"), [New, New, Dup, Old]);
        assert_eq!(modes("rpc/dup,rpc/old,rpc"), [New, New, Dup, Old]);
    }

    #[test]
    fn rpc_old() {
        assert_eq!(modes("rpc/old"), [New, New, Old, Old]);
        assert_eq!(modes("rpc,rpc/old"), [New, New, Dup, Old]);
    }

    #[test]
    fn old_is_only_an_rpc_token() {
        assert_eq!(
            modes("http/old,database/old,messaging/old"),
            [New, New, New, Old]
        );
    }

    #[test]
    fn case_and_whitespace_insensitive() {
        assert_eq!(modes("  RPC/DUP ,\tMessaging "), [New, New, Dup, New]);
        assert_eq!(modes("Database/Dup"), [New, Dup, New, Old]);
    }

    #[test]
    fn unknown_tokens_are_ignored() {
        assert_eq!(
            modes("db,db/dup,k8s,code/dup,http/dupx,/dup,rpc/"),
            [New, New, New, Old]
        );
    }

    #[test]
    fn renamed_keys_follow_mode() {
        let r = Renamed { old: "o", new: "n" };
        assert_eq!(r.keys(New).collect::<Vec<_>>(), ["n"]);
        assert_eq!(r.keys(Dup).collect::<Vec<_>>(), ["n", "o"]);
        assert_eq!(r.keys(Old).collect::<Vec<_>>(), ["o"]);
    }
}
