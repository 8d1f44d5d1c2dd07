//! Caller-supplied `db.operation.name` and `db.collection.name`.

use std::borrow::Cow;

/// What the caller knows about a query that the conventions forbid parsing out of its text:
/// `db.operation.name` and `db.collection.name`. They go on the span and the duration metric,
/// and name the span when the query has no summary.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tracewire_sqlx::{Annotation, Pool};
///
/// let pool = Pool::builder(sqlx::SqlitePool::connect("sqlite::memory:").await?).build();
/// let annotation = Annotation::new().operation("SELECT").collection("users");
/// sqlx::query("SELECT 1").execute(pool.annotate(annotation)).await?;
/// # Ok::<_, sqlx::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    pub(crate) operation: Option<Cow<'static, str>>,
    pub(crate) collection: Option<Cow<'static, str>>,
}

impl Annotation {
    /// No annotation.
    pub fn new() -> Self {
        Self::default()
    }

    /// `db.operation.name`, e.g. `SELECT` or `find_user` (low cardinality).
    pub fn operation(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// `db.collection.name`: the one table the query works on, as written.
    pub fn collection(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.collection = Some(name.into());
        self
    }
}
