//! The instrumented pool, its builder and the state its connections share.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, stream};
use opentelemetry::{KeyValue, StringValue};
use sqlx::{Either, Execute, Executor, SqlStr};
use tracewire_core::instrument::Instrumentation;
use tracewire_core::intern::intern_or_own;
use tracewire_core::metrics::{DbClientMetrics, duration_seconds};
use tracewire_core::propagation::Propagator;
use tracewire_core::semconv::{self, SERVER_ADDRESS, db};

use crate::annotation::Annotation;
use crate::connection::PoolConnection;
use crate::driver::{Driver, Endpoint};
use crate::executor::Instrumented;
use crate::pool_metrics::PoolMetrics;
use crate::statements::Statements;
use crate::transaction::Transaction;

/// What `db.query.text` records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryText {
    /// Literals replaced by `?` (parameterized SQL is unchanged); the default.
    #[default]
    Sanitized,
    /// The SQL exactly as sent, literals included.
    Full,
    /// No `db.query.text`.
    Off,
}

/// A `sqlx::Pool` whose queries, connections and transactions report spans and metrics.
///
/// `&Pool<DB>` is an [`Executor`]: pass it wherever sqlx takes `&sqlx::Pool`. Cheap to clone.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let pool = tracewire_sqlx::Pool::builder(pool).build();
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
/// assert_eq!(one, 1);
/// # Ok::<_, sqlx::Error>(()) }).unwrap();
/// ```
pub struct Pool<DB: Driver> {
    shared: Arc<Shared<DB>>,
}

impl<DB: Driver> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<DB: Driver> fmt::Debug for Pool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("pool", &self.shared.pool)
            .field(
                "system",
                &self.shared.resolved.get().map(|base| base.system),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`Pool`]; see the crate documentation for the defaults.
#[must_use]
pub struct PoolBuilder<DB: Driver> {
    pool: sqlx::Pool<DB>,
    instrumentation: tracewire_core::instrument::InstrumentationBuilder,
    query_text: QueryText,
    sqlcommenter: Option<Propagator>,
    pool_name: Option<String>,
}

impl<DB: Driver> fmt::Debug for PoolBuilder<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("query_text", &self.query_text)
            .field("sqlcommenter", &self.sqlcommenter.is_some())
            .field("pool_name", &self.pool_name)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> Pool<DB> {
    /// Starts instrumenting `pool`.
    pub fn builder(pool: sqlx::Pool<DB>) -> PoolBuilder<DB> {
        PoolBuilder {
            pool,
            // sqlx logs each query as a `tracing` event: it belongs on the query's span.
            instrumentation: Instrumentation::builder(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION"))
                .library_events(true),
            query_text: QueryText::default(),
            sqlcommenter: None,
            pool_name: None,
        }
    }

    /// The wrapped sqlx pool: queries run on it directly are not instrumented.
    pub fn inner(&self) -> &sqlx::Pool<DB> {
        &self.shared.pool
    }

    /// Acquires a connection; its queries are instrumented. Records
    /// `db.client.connection.wait_time` (and `.timeouts` on a timeout).
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.shared.resolve().await;
        let started = Instant::now();
        let result = self.shared.pool.acquire().await;
        let metrics = self.shared.pool_metrics();
        match &result {
            Ok(_) => metrics.wait_time(duration_seconds(started.elapsed())),
            Err(sqlx::Error::PoolTimedOut) => metrics.timeout(),
            Err(_) => {}
        }
        self.shared.sample_pool();
        result.map(|conn| PoolConnection::new(conn, self.shared.clone()))
    }

    /// Starts a transaction: a `BEGIN` span, then instrumented queries on `&mut tx`, then a
    /// `COMMIT` or `ROLLBACK` span.
    pub async fn begin(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        self.shared.resolve().await;
        Transaction::begin(&self.shared.pool, self.shared.clone()).await
    }

    /// An executor that adds `db.operation.name` / `db.collection.name` from `annotation`.
    ///
    /// On MySQL/MariaDB, an annotated call made before the pool's first operation (which
    /// detects the product) reports `db.system.name = "mysql"`.
    pub fn annotate(&self, annotation: Annotation) -> Instrumented<DB, &sqlx::Pool<DB>> {
        Instrumented::new(&self.shared.pool, self.shared.clone(), Some(annotation))
    }

    fn executor(&self) -> Instrumented<DB, &sqlx::Pool<DB>> {
        Instrumented::new(&self.shared.pool, self.shared.clone(), None)
    }
}

impl<DB: Driver> PoolBuilder<DB> {
    tracewire_core::adapter_builder_options!(instrumentation: instrumentation);

    /// What `db.query.text` records (default [`QueryText::Sanitized`]).
    pub fn query_text(mut self, mode: QueryText) -> Self {
        self.query_text = mode;
        self
    }

    /// Appends `/*traceparent='…'*/` (SQLCommenter) to every query so database logs can be
    /// joined to traces; off by default. Each query text becomes unique, which defeats
    /// prepared-statement caching (disable it per query with `.persistent(false)`).
    /// Queries run from a prepared statement keep their text.
    pub fn sqlcommenter(mut self, propagator: Option<Propagator>) -> Self {
        self.sqlcommenter = propagator;
        self
    }

    /// `db.client.connection.pool.name` (default `server.address:server.port/db.namespace`,
    /// or the SQLite file, or `sqlite::memory:`).
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool_name = Some(name.into());
        self
    }

    /// Builds the pool. Never does I/O: on MySQL the product (MySQL or MariaDB) is detected by
    /// the first operation.
    pub fn build(self) -> Pool<DB> {
        let endpoint = DB::endpoint(&self.pool.connect_options());
        let pool_name = self
            .pool_name
            .unwrap_or_else(|| default_pool_name(&endpoint));
        let options = self.pool.options();
        let pool_metrics = PoolMetrics::new(pool_name, i64::from(options.get_max_connections()));
        let resolved = OnceLock::new();
        if let Some(system) = DB::SYSTEM {
            let _ = resolved.set(Base::new(&endpoint, system));
        }
        let shared = Shared {
            instrumentation: self.instrumentation.build(),
            statements: Statements::new(DB::DIALECT, self.query_text),
            sqlcommenter: self.sqlcommenter,
            resolved,
            provisional: Base::new(&endpoint, DB::SYSTEM.unwrap_or(db::SYSTEM_MYSQL)),
            endpoint,
            metrics: OnceLock::new(),
            pool_metrics,
            pool: self.pool,
        };
        Pool {
            shared: Arc::new(shared),
        }
    }
}

fn default_pool_name(endpoint: &Endpoint) -> String {
    let namespace = endpoint.namespace.as_deref().unwrap_or_default();
    match (&endpoint.address, endpoint.port) {
        (Some(address), Some((port, _))) => db::pool_name(address, port, namespace),
        _ if namespace.is_empty() => "sqlite::memory:".to_owned(),
        _ => namespace.to_owned(),
    }
}

/// What every operation of a pool shares once the product is known: its attributes and the name
/// of a span that has no summary and no annotation.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) system: &'static str,
    /// `db.system.name`, `db.namespace`, `server.address`, `server.port` (non-default only),
    /// with shared (not copied) string values.
    pub(crate) attributes: Vec<KeyValue>,
    /// The target (`db.namespace`, else `server.address:server.port`), else `db.system.name`.
    pub(crate) name: Cow<'static, str>,
}

/// What a pool, its connections and transactions share.
pub(crate) struct Shared<DB: Driver> {
    pub(crate) instrumentation: Instrumentation,
    /// The summary, `db.query.text`, span name and bound series of the statements run so far.
    pub(crate) statements: Statements,
    pub(crate) sqlcommenter: Option<Propagator>,
    /// Set once the product is known: at build, or when MySQL/MariaDB detection succeeds.
    resolved: OnceLock<Base>,
    /// The base of `mysql` (or of the known system), for operations before detection.
    provisional: Base,
    pub(crate) endpoint: Endpoint,
    metrics: OnceLock<DbClientMetrics>,
    pool_metrics: PoolMetrics,
    pub(crate) pool: sqlx::Pool<DB>,
}

impl<DB: Driver> fmt::Debug for Shared<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("statements", &self.statements)
            .field("base", &self.resolved.get())
            .finish_non_exhaustive()
    }
}

impl Base {
    fn new(endpoint: &Endpoint, system: &'static str) -> Self {
        let shared = |value: &str| StringValue::from(Arc::<str>::from(value));
        let mut attributes = vec![KeyValue::new(db::DB_SYSTEM_NAME, system)];
        if let Some(namespace) = &endpoint.namespace {
            attributes.push(KeyValue::new(db::DB_NAMESPACE, shared(namespace)));
        }
        if let Some(address) = &endpoint.address {
            attributes.push(KeyValue::new(SERVER_ADDRESS, shared(address)));
            if let Some((port, false)) = endpoint.port {
                attributes.push(semconv::server_port(port));
            }
        }
        Self {
            system,
            attributes,
            name: target_name(endpoint, system, None, None),
        }
    }
}

/// The span name of an operation without a summary: `{operation} {target}`, the operation, the
/// target (`collection`, else the endpoint's), else `system`. Interned: operations, collections
/// and endpoints are low-cardinality.
pub(crate) fn target_name(
    endpoint: &Endpoint,
    system: &'static str,
    operation: Option<&str>,
    collection: Option<&str>,
) -> Cow<'static, str> {
    let server = endpoint
        .address
        .as_deref()
        .map(|address| (address, endpoint.port.map(|(port, _)| port)));
    let target = db::span_target(collection, None, endpoint.namespace.as_deref(), server);
    let name = db::span_name(None, operation, target.as_deref(), system);
    intern_or_own(name)
}

impl<DB: Driver> Shared<DB> {
    /// Whether the product is known; an operation keeps the answer it started with.
    pub(crate) fn is_resolved(&self) -> bool {
        self.resolved.get().is_some()
    }

    /// The base of an operation that started when [`Shared::is_resolved`] said `resolved`.
    pub(crate) fn base(&self, resolved: bool) -> &Base {
        match self.resolved.get() {
            Some(base) if resolved => base,
            _ => &self.provisional,
        }
    }

    /// Detects the product once; a failed detection (server down) is retried next time.
    pub(crate) async fn resolve(&self) {
        if self.is_resolved() {
            return;
        }
        if let Some(system) = DB::detect_system(&self.pool).await {
            let _ = self.resolved.set(Base::new(&self.endpoint, system));
        }
    }

    pub(crate) fn metrics(&self) -> &DbClientMetrics {
        self.metrics
            .get_or_init(|| DbClientMetrics::new(self.instrumentation.meter()))
    }

    pub(crate) fn pool_metrics(&self) -> &PoolMetrics {
        self.pool_metrics.init(self.instrumentation.meter());
        &self.pool_metrics
    }

    /// Reports the pool's idle and used connection counts as they are now.
    pub(crate) fn sample_pool(&self) {
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(i64::MAX);
        let size = i64::from(self.pool.size());
        self.pool_metrics().sample(idle, (size - idle).max(0));
    }
}

impl<'p, DB: Driver> Executor<'p> for &'_ Pool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        self.shared.sample_pool();
        if self.shared.is_resolved() {
            return self.executor().fetch_many(query);
        }
        let pool = self.clone();
        let resolved = async move {
            pool.shared.resolve().await;
            pool.executor().fetch_many(query)
        };
        Box::pin(stream::once(resolved).flatten())
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        self.shared.sample_pool();
        if self.shared.is_resolved() {
            return self.executor().fetch_optional(query);
        }
        let pool = self.clone();
        Box::pin(async move {
            pool.shared.resolve().await;
            pool.executor().fetch_optional(query).await
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        if self.shared.is_resolved() {
            return self.executor().prepare_with(sql, parameters);
        }
        let pool = self.clone();
        Box::pin(async move {
            pool.shared.resolve().await;
            pool.executor().prepare_with(sql, parameters).await
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.shared.pool).describe(sql)
    }
}

/// `Migrator::run(&pool)` and other `Acquire` users get an instrumented connection; the
/// `begin` of this trait returns a plain `sqlx::Transaction` (use [`Pool::begin`] for an
/// instrumented one).
impl<'a, DB: Driver> sqlx::Acquire<'a> for &'_ Pool<DB> {
    type Database = DB;
    type Connection = PoolConnection<DB>;

    fn acquire(self) -> BoxFuture<'a, Result<PoolConnection<DB>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await })
    }

    fn begin(self) -> BoxFuture<'a, Result<sqlx::Transaction<'a, DB>, sqlx::Error>> {
        let pool = self.shared.pool.clone();
        Box::pin(async move { pool.begin().await })
    }
}
