//! An instrumented transaction: `BEGIN`, `COMMIT` and `ROLLBACK` are spans.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::{Either, Execute, Executor, SqlStr};

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::executor::Instrumented;
use crate::operation::{Operation, Statement};
use crate::pool::Shared;

/// The event on the `ROLLBACK` span of a transaction dropped without `commit` or `rollback`.
pub const DROPPED_EVENT: &str = "transaction dropped without commit";

/// A transaction whose queries are instrumented: use `&mut tx` as the executor.
///
/// `BEGIN`, `COMMIT` and `ROLLBACK` are `CLIENT` spans named after the command, with
/// `db.operation.name` and `db.query.summary` set to it, so a trace shows where the transaction
/// starts and how it ends. A transaction dropped without `commit` or `rollback` is rolled back
/// by sqlx on the connection's next use; it shows as a `ROLLBACK` span (with the
/// [`DROPPED_EVENT`] event) at the moment it was dropped.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = tracewire_sqlx::Pool::builder(sqlx::SqlitePool::connect("sqlite::memory:").await?).build();
/// let mut tx = pool.begin().await?;
/// sqlx::query("CREATE TABLE t (id INTEGER)").execute(&mut tx).await?;
/// tx.commit().await?;
/// # Ok::<_, sqlx::Error>(()) }).unwrap();
/// ```
pub struct Transaction<'c, DB: Driver> {
    tx: sqlx::Transaction<'c, DB>,
    // Declared after `tx`: sqlx queues its rollback before the dropped span is recorded.
    unfinished: Unfinished<DB>,
}

/// Records the `ROLLBACK` of a transaction dropped while still open.
struct Unfinished<DB: Driver> {
    shared: Arc<Shared<DB>>,
    open: bool,
}

impl<DB: Driver> Drop for Unfinished<DB> {
    fn drop(&mut self) {
        if self.open {
            let operation = Operation::start(&self.shared, Statement::Command("ROLLBACK"), None);
            operation.span().add_event(DROPPED_EVENT, Vec::new());
        }
    }
}

impl<DB: Driver> fmt::Debug for Transaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl<'c, DB: Driver> Transaction<'c, DB> {
    pub(crate) async fn begin<A>(acquire: A, shared: Arc<Shared<DB>>) -> Result<Self, sqlx::Error>
    where
        A: sqlx::Acquire<'c, Database = DB>,
    {
        let mut operation = Operation::start(&shared, Statement::Command("BEGIN"), None);
        let result = operation.span().instrument(acquire.begin()).await;
        if let Err(error) = &result {
            operation.fail(error);
        }
        let tx = result?;
        Ok(Self {
            tx,
            unfinished: Unfinished { shared, open: true },
        })
    }

    /// Commits, in a `COMMIT` span.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { tx, mut unfinished } = self;
        unfinished.open = false;
        let mut operation =
            Operation::start(&unfinished.shared, Statement::Command("COMMIT"), None);
        let result = operation.span().instrument(tx.commit()).await;
        if let Err(error) = &result {
            operation.fail(error);
        }
        result
    }

    /// Rolls back, in a `ROLLBACK` span.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let Self { tx, mut unfinished } = self;
        unfinished.open = false;
        let mut operation =
            Operation::start(&unfinished.shared, Statement::Command("ROLLBACK"), None);
        let result = operation.span().instrument(tx.rollback()).await;
        if let Err(error) = &result {
            operation.fail(error);
        }
        result
    }

    /// Starts a nested transaction (a savepoint), instrumented the same way.
    pub async fn begin_nested(&mut self) -> Result<Transaction<'_, DB>, sqlx::Error> {
        Transaction::begin(&mut self.tx, self.unfinished.shared.clone()).await
    }

    /// An executor that adds `db.operation.name` / `db.collection.name` from `annotation`.
    pub fn annotate(&mut self, annotation: Annotation) -> Instrumented<DB, &mut DB::Connection> {
        Instrumented::new(
            &mut *self.tx,
            self.unfinished.shared.clone(),
            Some(annotation),
        )
    }
}

impl<DB: Driver> Deref for Transaction<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Driver> DerefMut for Transaction<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

impl<'t, DB: Driver> Executor<'t> for &'t mut Transaction<'_, DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let shared = self.unfinished.shared.clone();
        Instrumented::new(&mut *self.tx, shared, None).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let shared = self.unfinished.shared.clone();
        Instrumented::new(&mut *self.tx, shared, None).fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        't: 'e,
    {
        let shared = self.unfinished.shared.clone();
        Instrumented::new(&mut *self.tx, shared, None).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.tx).describe(sql)
    }
}
