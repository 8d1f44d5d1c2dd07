//! The one `Executor` implementation that does the work: it wraps sqlx's own executor for a
//! pool, a connection or a transaction, and runs each operation inside an [`Operation`].

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::future::BoxFuture;
use futures_core::stream::{BoxStream, Stream};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sqlx::error::BoxDynError;
use sqlx::{AssertSqlSafe, Database, Either, Execute, Executor, SqlSafeStr, SqlStr};
use tracewire_core::propagation::PairInjector;

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::operation::{Operation, Statement, no_rows};
use crate::pool::Shared;

/// A sqlx executor (`&sqlx::Pool`, `&mut` connection) whose operations are instrumented,
/// optionally with an [`Annotation`]. Returned by the `annotate` methods of
/// [`Pool`](crate::Pool), [`PoolConnection`](crate::PoolConnection) and
/// [`Transaction`](crate::Transaction); the wrappers use it for every call.
pub struct Instrumented<DB: Driver, I> {
    inner: I,
    shared: Arc<Shared<DB>>,
    annotation: Option<Annotation>,
}

impl<DB: Driver, I> fmt::Debug for Instrumented<DB, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("annotation", &self.annotation)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver, I> Instrumented<DB, I> {
    pub(crate) fn new(inner: I, shared: Arc<Shared<DB>>, annotation: Option<Annotation>) -> Self {
        Self {
            inner,
            shared,
            annotation,
        }
    }

    /// Starts the operation for `query` (which takes over the annotation and the shared state)
    /// and rebuilds the query for the inner executor, with the SQLCommenter comment when enabled.
    fn start<'q, E: Execute<'q, DB>>(self, mut query: E) -> (I, Operation<DB>, TracedQuery<DB>) {
        let statement = query.statement().cloned();
        let arguments = query.take_arguments();
        let persistent = query.persistent();
        let sql = query.sql();
        let operation =
            Operation::start(self.shared, Statement::Query(sql.as_str()), self.annotation);
        let sql = match &operation.shared().sqlcommenter {
            Some(propagator) if statement.is_none() => {
                let mut injector = PairInjector::new();
                propagator.inject_context(operation.span().context(), &mut injector);
                with_comment(sql, injector)
            }
            _ => sql,
        };
        let query = TracedQuery {
            sql,
            statement,
            arguments: Some(arguments),
            persistent,
        };
        (self.inner, operation, query)
    }
}

/// sqlx's executors do nothing until their future or stream is polled, so the span is made
/// current around each poll, not around the call that creates the future.
impl<'c, DB, I> Executor<'c> for Instrumented<DB, I>
where
    DB: Driver,
    I: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (inner, operation, query) = self.start(query);
        Box::pin(TracedStream {
            inner: inner.fetch_many(query),
            operation: Some(operation),
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (inner, operation, query) = self.start(query);
        Box::pin(operation.run(inner.fetch_optional(query), |row| {
            Some(u64::from(row.is_some()))
        }))
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'c: 'e,
    {
        let operation = Operation::start(
            self.shared,
            Statement::Prepare(sql.as_str()),
            self.annotation,
        );
        let inner = self.inner.prepare_with(sql, parameters);
        Box::pin(operation.run(inner, no_rows))
    }

    /// Describing is what the `query!` macros do at compile time: not instrumented.
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}

/// Implements sqlx's `Executor` for `&mut $holder`, a connection holder with a method
/// `instrumented(&mut self, Option<Annotation>) -> Instrumented<DB, &mut DB::Connection>`: every
/// call runs through [`Instrumented`], so the connection and the transaction share one path.
macro_rules! executor_via_instrumented {
    ($holder:ty) => {
        impl<'c, DB: $crate::driver::Driver> sqlx::Executor<'c> for &'c mut $holder
        where
            for<'a> &'a mut DB::Connection: sqlx::Executor<'a, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_core::stream::BoxStream<
                'e,
                Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>,
            >
            where
                'c: 'e,
                E: 'q + sqlx::Execute<'q, DB>,
            {
                self.instrumented(None).fetch_many(query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_core::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
            where
                'c: 'e,
                E: 'q + sqlx::Execute<'q, DB>,
            {
                self.instrumented(None).fetch_optional(query)
            }

            fn prepare_with<'e>(
                self,
                sql: sqlx::SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> futures_core::future::BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
            where
                'c: 'e,
            {
                self.instrumented(None).prepare_with(sql, parameters)
            }

            fn describe<'e>(
                self,
                sql: sqlx::SqlStr,
            ) -> futures_core::future::BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
            where
                'c: 'e,
            {
                self.instrumented(None).describe(sql)
            }
        }
    };
}

pub(crate) use executor_via_instrumented;

/// A query taken apart (to read its SQL, which consumes it) and put back together.
struct TracedQuery<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Execute<'_, DB> for TracedQuery<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// SQLCommenter value encoding: URL-encode, which also removes every `'`.
const SQLCOMMENTER: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends `/*key='value',...*/` (keys sorted, values URL-encoded) per the SQLCommenter spec.
fn with_comment(sql: SqlStr, injector: PairInjector) -> SqlStr {
    let mut pairs = injector.into_pairs();
    // An empty `tracestate` is omitted, as in headers.
    pairs.retain(|(_, value)| !value.is_empty());
    if pairs.is_empty() {
        return sql;
    }
    pairs.sort_unstable();
    let mut text = String::with_capacity(sql.as_str().len() + 80);
    text.push_str(sql.as_str());
    text.push_str(" /*");
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.extend(utf8_percent_encode(key, SQLCOMMENTER));
        text.push_str("='");
        text.extend(utf8_percent_encode(value, SQLCOMMENTER));
        text.push('\'');
    }
    text.push_str("*/");
    AssertSqlSafe(text).into_sql_str()
}

/// One item of a `fetch_many` stream.
type Step<DB> = Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, sqlx::Error>;

/// The stream of a `fetch_many`: the span is current while the inner stream is polled, counts
/// rows and affected rows, and ends at the end of the stream, at the first error, or when the
/// stream is dropped.
struct TracedStream<'e, DB: Driver> {
    inner: BoxStream<'e, Step<DB>>,
    operation: Option<Operation<DB>>,
}

impl<DB: Driver> Stream for TracedStream<'_, DB> {
    type Item = Step<DB>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(operation) = this.operation.as_mut() else {
            return this.inner.as_mut().poll_next(cx);
        };
        let item = {
            let _current = operation.enter();
            this.inner.as_mut().poll_next(cx)
        };
        match &item {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(Either::Right(_)))) => operation.rows(1),
            Poll::Ready(Some(Ok(Either::Left(result)))) => {
                operation.rows(0);
                operation.affected(DB::rows_affected(result));
            }
            Poll::Ready(Some(Err(error))) => {
                operation.fail(error);
                this.operation = None;
            }
            Poll::Ready(None) => this.operation = None,
        }
        item
    }
}
