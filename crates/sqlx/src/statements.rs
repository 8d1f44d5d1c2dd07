//! The analysis of each statement a pool runs, kept so that a statement seen before costs a
//! hash lookup instead of a scan.
//!
//! Applications run a bounded set of statements (parameterized SQL), so a small cache per pool
//! holds all of them; SQL built with literals would grow it without bound, so it is emptied
//! when full and very long statements are not kept.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::StringValue;

use crate::pool::QueryText;
use crate::sql::{self, Dialect};

/// Statements a cache holds before it is emptied.
const CAPACITY: usize = 512;

/// Longer statements are analyzed at every use rather than kept.
const MAX_CACHED_LEN: usize = 4096;

/// What a statement contributes to its operation's attributes.
#[derive(Debug)]
pub(crate) struct Described {
    /// `db.query.summary`, when an operation was recognised.
    pub(crate) summary: Option<StringValue>,
    /// `db.query.text` in the pool's [`QueryText`] mode.
    pub(crate) text: Option<StringValue>,
}

/// The [`Described`] form of the statements of one pool (one dialect, one [`QueryText`] mode).
pub(crate) struct Statements {
    dialect: Dialect,
    mode: QueryText,
    // Read by every query of every task using the pool; written once per new statement.
    entries: RwLock<HashMap<Arc<str>, Arc<Described>>>,
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
            entries: RwLock::new(HashMap::new()),
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
        let described = Arc::new(self.analyze(&key));
        if sql.len() <= MAX_CACHED_LEN {
            let mut entries = self.lock();
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, described.clone());
        }
        described
    }

    /// Scans `sql`; an unchanged text shares `sql`'s allocation.
    fn analyze(&self, sql: &Arc<str>) -> Described {
        let analysis = sql::analyze(sql, self.dialect);
        let text = match self.mode {
            QueryText::Sanitized => match analysis.text {
                Cow::Borrowed(_) => Some(sql.clone().into()),
                Cow::Owned(text) => Some(text.into()),
            },
            QueryText::Full => Some(sql.clone().into()),
            QueryText::Off => None,
        };
        Described {
            summary: analysis.summary.map(StringValue::from),
            text,
        }
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Described>>> {
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
        assert_eq!(statements.len(), 10);
    }
}
