//! A connection acquired from an instrumented [`Pool`](crate::Pool).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Instant;

use tracewire_core::metrics::duration_seconds;

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::executor::{Instrumented, executor_via_instrumented};
use crate::pool::Shared;
use crate::transaction::Transaction;

/// A pooled connection whose queries are instrumented: use `&mut conn` as the executor.
/// Dereferences to the driver's connection (`&mut *conn` runs queries without spans).
/// Returning it to the pool records `db.client.connection.use_time`.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = tracewire_sqlx::Pool::builder(sqlx::SqlitePool::connect("sqlite::memory:").await?).build();
/// let mut conn = pool.acquire().await?;
/// sqlx::query("CREATE TABLE t (id INTEGER)").execute(&mut conn).await?;
/// # Ok::<_, sqlx::Error>(()) }).unwrap();
/// ```
pub struct PoolConnection<DB: Driver> {
    conn: sqlx::pool::PoolConnection<DB>,
    shared: Arc<Shared<DB>>,
    acquired: Instant,
}

impl<DB: Driver> fmt::Debug for PoolConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConnection")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> PoolConnection<DB> {
    pub(crate) fn new(conn: sqlx::pool::PoolConnection<DB>, shared: Arc<Shared<DB>>) -> Self {
        Self {
            conn,
            shared,
            acquired: Instant::now(),
        }
    }

    /// An executor that adds `db.operation.name` / `db.collection.name` from `annotation`.
    pub fn annotate(&mut self, annotation: Annotation) -> Instrumented<DB, &mut DB::Connection> {
        self.instrumented(Some(annotation))
    }

    fn instrumented(
        &mut self,
        annotation: Option<Annotation>,
    ) -> Instrumented<DB, &mut DB::Connection> {
        Instrumented::new(&mut *self.conn, self.shared.clone(), annotation)
    }

    /// Starts an instrumented transaction on this connection.
    pub async fn begin(&mut self) -> Result<Transaction<'_, DB>, sqlx::Error>
    where
        for<'a> &'a mut DB::Connection: sqlx::Acquire<'a, Database = DB>,
    {
        Transaction::begin(&mut *self.conn, self.shared.clone()).await
    }
}

impl<DB: Driver> Deref for PoolConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.conn
    }
}

impl<DB: Driver> DerefMut for PoolConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }
}

impl<DB: Driver> Drop for PoolConnection<DB> {
    fn drop(&mut self) {
        self.shared
            .pool_metrics()
            .use_time(duration_seconds(self.acquired.elapsed()));
    }
}

executor_via_instrumented!(PoolConnection<DB>);
