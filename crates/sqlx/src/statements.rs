//! The analysis of each statement a pool runs, kept so that a statement seen before costs a
//! hash lookup instead of a scan, and its attribute values, span name and bound metric series are
//! shared by every operation that runs it.
//!
//! Applications run a bounded set of statements (parameterized SQL), so a small cache per pool
//! holds all of them; SQL built with literals would grow it without bound, so it is emptied
//! when full and very long statements are not kept.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use foldhash::fast::RandomState;
use opentelemetry::StringValue;
use opentelemetry::metrics::BoundHistogram;
use tracewire_core::intern::intern_or_own;

use crate::pool::QueryText;
use crate::sql::{self, Dialect};

/// Statements a cache holds before it is emptied.
const CAPACITY: usize = 512;

/// Longer statements are analyzed at every use rather than kept.
const MAX_CACHED_LEN: usize = 4096;

/// A transaction command, issued through sqlx's API rather than as SQL.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Command {
    Begin,
    Commit,
    Rollback,
}

impl Command {
    /// The command's name: its span name, `db.query.summary` and `db.operation.name`.
    fn name(self) -> &'static str {
        match self {
            Self::Begin => "BEGIN",
            Self::Commit => "COMMIT",
            Self::Rollback => "ROLLBACK",
        }
    }
}

/// What a statement contributes to its operations: attribute values (reference-counted, so an
/// operation shares them instead of copying), the span name they imply, and the metric series
/// of its operations that carry no other attribute.
#[derive(Debug)]
pub(crate) struct Described {
    /// `db.query.summary`, when an operation was recognised.
    pub(crate) summary: Option<StringValue>,
    /// `db.operation.name`: set for transaction commands only (never parsed out of SQL).
    pub(crate) operation: Option<&'static str>,
    /// `db.query.text` in the pool's [`QueryText`] mode.
    pub(crate) text: Option<StringValue>,
    /// The span name when there is a summary (which then names the span whatever the
    /// annotation): interned, or a copy once the interner is full.
    pub(crate) name: Option<Cow<'static, str>>,
    /// Kept statements only: the series a short-lived description would bind and drop at once.
    pub(crate) series: Option<Series>,
}

/// The operation metrics of one statement on the pool's base attributes, bound on their first
/// measurement (a bound series is exported even before it records, and an operation that never
/// counts rows must not show an empty returned-rows series). Dropped with the statement when
/// the cache is emptied, which releases them.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// `db.client.operation.duration`.
    pub(crate) duration: OnceLock<BoundHistogram<f64>>,
    /// `db.client.response.returned_rows`.
    pub(crate) returned_rows: OnceLock<BoundHistogram<u64>>,
}

impl Described {
    fn new(summary: Option<Arc<str>>, text: Option<Arc<str>>, series: Option<Series>) -> Self {
        Self {
            name: summary.as_deref().map(name_of),
            summary: summary.map(StringValue::from),
            operation: None,
            text: text.map(StringValue::from),
            series,
        }
    }

    fn command(command: Command) -> Self {
        let name = command.name();
        Self {
            summary: Some(StringValue::from(name)),
            operation: Some(name),
            text: None,
            name: Some(Cow::Borrowed(name)),
            series: Some(Series::default()),
        }
    }
}

/// A summary as a span name: summaries are low-cardinality by definition, so interned.
fn name_of(summary: &str) -> Cow<'static, str> {
    intern_or_own(summary)
}

/// The [`Described`] form of the statements of one pool (one dialect, one [`QueryText`] mode).
pub(crate) struct Statements {
    dialect: Dialect,
    mode: QueryText,
    // Read by every query of every task using the pool; written once per new statement.
    entries: RwLock<HashMap<Arc<str>, Arc<Described>, RandomState>>,
    begin: Arc<Described>,
    commit: Arc<Described>,
    rollback: Arc<Described>,
}

impl fmt::Debug for Statements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statements")
            .field("dialect", &self.dialect)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Statements {
    pub(crate) fn new(dialect: Dialect, mode: QueryText) -> Self {
        Self {
            dialect,
            mode,
            entries: RwLock::new(HashMap::default()),
            begin: Arc::new(Described::command(Command::Begin)),
            commit: Arc::new(Described::command(Command::Commit)),
            rollback: Arc::new(Described::command(Command::Rollback)),
        }
    }

    /// Describes `sql`, from the cache when it was seen before.
    pub(crate) fn describe(&self, sql: &str) -> Arc<Described> {
        if let Some(described) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
        {
            return described.clone();
        }
        let key: Arc<str> = Arc::from(sql);
        let kept = sql.len() <= MAX_CACHED_LEN;
        let described = Arc::new(self.analyze(&key, kept));
        if kept {
            let mut entries = self.lock();
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, described.clone());
        }
        described
    }

    /// Describes preparing `sql`: summary and span name `PREPARE {summary}` (or `PREPARE`).
    /// Not kept: preparing is rare, and its metrics are recorded with attributes.
    pub(crate) fn describe_prepare(&self, sql: &str) -> Arc<Described> {
        let described = self.describe(sql);
        let summary = match &described.summary {
            Some(summary) => format!("PREPARE {}", summary.as_str()),
            None => "PREPARE".to_owned(),
        };
        Arc::new(Described {
            name: Some(name_of(&summary)),
            summary: Some(StringValue::from(Arc::<str>::from(summary))),
            operation: None,
            text: described.text.clone(),
            series: None,
        })
    }

    /// Describes a transaction command.
    pub(crate) fn command(&self, command: Command) -> Arc<Described> {
        match command {
            Command::Begin => self.begin.clone(),
            Command::Commit => self.commit.clone(),
            Command::Rollback => self.rollback.clone(),
        }
    }

    /// Scans `sql`; an unchanged text shares `sql`'s allocation.
    fn analyze(&self, sql: &Arc<str>, kept: bool) -> Described {
        let analysis = sql::analyze(sql, self.dialect);
        let text = match self.mode {
            QueryText::Sanitized => match analysis.text {
                Cow::Borrowed(_) => Some(sql.clone()),
                Cow::Owned(text) => Some(Arc::from(text)),
            },
            QueryText::Full => Some(sql.clone()),
            QueryText::Off => None,
        };
        let summary = analysis
            .summary
            .filter(|summary| !summary.is_empty())
            .map(Arc::from);
        Described::new(summary, text, kept.then(Series::default))
    }

    fn lock(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Described>, RandomState>> {
        // The map is valid whatever a panicking holder did: every insert is one call.
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use tracewire_core::intern::intern;

    use super::*;

    #[test]
    fn a_statement_seen_before_is_not_scanned_again() {
        let statements = Statements::new(Dialect::Postgres, QueryText::Sanitized);
        let first = statements.describe("SELECT * FROM users WHERE id = 7");
        let second = statements.describe("SELECT * FROM users WHERE id = 7");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            first.summary.as_ref().map(StringValue::as_str),
            Some("SELECT users")
        );
        assert_eq!(
            first.text.as_ref().map(StringValue::as_str),
            Some("SELECT * FROM users WHERE id = ?")
        );
        // The span name is the summary, interned once for every operation that runs it.
        let interned = intern("SELECT users").expect("room in the interner");
        assert!(matches!(first.name, Some(Cow::Borrowed(name)) if std::ptr::eq(name, interned)));
        assert!(
            first.series.is_some(),
            "a kept statement has its own series"
        );
    }

    #[test]
    fn emptying_the_cache_releases_statements_and_their_series() {
        let statements = Statements::new(Dialect::Postgres, QueryText::Sanitized);
        let first = Arc::downgrade(&statements.describe("SELECT * FROM users"));
        for id in 0..CAPACITY {
            statements.describe(&format!("SELECT * FROM t{id}"));
        }
        assert!(
            first.upgrade().is_none(),
            "the statement (and the bound instruments it holds) outlived the cache"
        );
    }

    #[test]
    fn commands_and_prepares() {
        let statements = Statements::new(Dialect::Postgres, QueryText::Sanitized);
        let begin = statements.command(Command::Begin);
        assert!(Arc::ptr_eq(&begin, &statements.command(Command::Begin)));
        assert_eq!(
            begin.summary.as_ref().map(StringValue::as_str),
            Some("BEGIN")
        );
        assert_eq!(begin.operation, Some("BEGIN"));
        assert_eq!(begin.name.as_deref(), Some("BEGIN"));
        assert_eq!(begin.text, None);
        let commit = statements.command(Command::Commit);
        assert_eq!(commit.name.as_deref(), Some("COMMIT"));
        let rollback = statements.command(Command::Rollback);
        assert_eq!(rollback.operation, Some("ROLLBACK"));

        let prepare = statements.describe_prepare("SELECT * FROM users WHERE id = 7");
        assert_eq!(
            prepare.summary.as_ref().map(StringValue::as_str),
            Some("PREPARE SELECT users")
        );
        assert_eq!(prepare.name.as_deref(), Some("PREPARE SELECT users"));
        assert_eq!(
            prepare.text.as_ref().map(StringValue::as_str),
            Some("SELECT * FROM users WHERE id = ?")
        );
        assert_eq!(prepare.operation, None);
        assert!(prepare.series.is_none(), "prepares record with attributes");
        let unrecognised = statements.describe_prepare("SELEC 1");
        assert_eq!(unrecognised.name.as_deref(), Some("PREPARE"));
    }

    #[test]
    fn each_mode_describes_the_text_it_records() {
        let sql = "SELECT name FROM t WHERE id = 'x'";
        let text = |mode| {
            Statements::new(Dialect::Postgres, mode)
                .describe(sql)
                .text
                .as_ref()
                .map(|text| text.as_str().to_owned())
        };
        assert_eq!(
            text(QueryText::Sanitized).as_deref(),
            Some("SELECT name FROM t WHERE id = ?")
        );
        assert_eq!(text(QueryText::Full).as_deref(), Some(sql));
        assert_eq!(text(QueryText::Off), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let statements = Statements::new(Dialect::Postgres, QueryText::Sanitized);
        for id in 0..CAPACITY + 10 {
            statements.describe(&format!("SELECT * FROM t{id}"));
        }
        assert_eq!(statements.len(), 10);
        let long = format!("SELECT '{}'", "x".repeat(MAX_CACHED_LEN));
        let described = statements.describe(&long);
        assert_eq!(
            described.text.as_ref().map(StringValue::as_str),
            Some("SELECT ?")
        );
        assert!(
            described.series.is_none(),
            "an unkept statement binds nothing"
        );
        assert_eq!(statements.len(), 10);
    }
}
