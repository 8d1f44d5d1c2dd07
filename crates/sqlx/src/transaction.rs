//! An instrumented transaction: `BEGIN`, `COMMIT` and `ROLLBACK` are spans.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::executor::{Instrumented, executor_via_instrumented};
use crate::operation::{Operation, Statement, no_rows};
use crate::pool::Shared;
use crate::statements::Command;

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
            let operation = Operation::start(
                self.shared.clone(),
                Statement::Command(Command::Rollback),
                None,
            );
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
        let tx = Operation::start(shared.clone(), Statement::Command(Command::Begin), None)
            .run(acquire.begin(), no_rows)
            .await?;
        Ok(Self {
            tx,
            unfinished: Unfinished { shared, open: true },
        })
    }

    /// Commits, in a `COMMIT` span.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.finish(Command::Commit, sqlx::Transaction::commit)
            .await
    }

    /// Rolls back, in a `ROLLBACK` span.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.finish(Command::Rollback, sqlx::Transaction::rollback)
            .await
    }

    /// Ends the transaction with `command`, run by `end`, in a span named after it.
    async fn finish<F>(
        self,
        command: Command,
        end: impl FnOnce(sqlx::Transaction<'c, DB>) -> F,
    ) -> Result<(), sqlx::Error>
    where
        F: Future<Output = Result<(), sqlx::Error>>,
    {
        let Self { tx, mut unfinished } = self;
        unfinished.open = false;
        Operation::start(unfinished.shared.clone(), Statement::Command(command), None)
            .run(end(tx), no_rows)
            .await
    }

    /// Starts a nested transaction (a savepoint), instrumented the same way.
    pub async fn begin_nested(&mut self) -> Result<Transaction<'_, DB>, sqlx::Error> {
        Transaction::begin(&mut self.tx, self.unfinished.shared.clone()).await
    }

    /// An executor that adds `db.operation.name` / `db.collection.name` from `annotation`.
    pub fn annotate(&mut self, annotation: Annotation) -> Instrumented<DB, &mut DB::Connection> {
        self.instrumented(Some(annotation))
    }

    fn instrumented(
        &mut self,
        annotation: Option<Annotation>,
    ) -> Instrumented<DB, &mut DB::Connection> {
        Instrumented::new(&mut *self.tx, self.unfinished.shared.clone(), annotation)
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

executor_via_instrumented!(Transaction<'_, DB>);
