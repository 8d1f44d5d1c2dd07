//! One database operation: its span, its metrics and how a failure is classified.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use opentelemetry::metrics::{BoundHistogram, Histogram};
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, StringValue};
use tracewire_core::instrument::{ActiveSpan, SpanGuard, SpanStart};
use tracewire_core::metrics::{AttributeBuffer, duration_seconds};
use tracewire_core::semconv::db::{self, ResponseCode};
use tracewire_core::semconv::error::{ERROR_TYPE, OTHER};

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::pool::{Base, Shared, target_name};
use crate::statements::{Command, Described};

/// What an operation runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Statement<'a> {
    /// A query, as sent to the driver.
    Query(&'a str),
    /// Preparing a query: the span is named `PREPARE {summary}`.
    Prepare(&'a str),
    /// A transaction command, issued through sqlx's API.
    Command(Command),
}

/// A started operation. Its span ends, and its metrics are recorded, when it drops: after the
/// result arrived, when a stream ends, or when the caller drops the future or stream.
pub(crate) struct Operation<DB: Driver> {
    span: ActiveSpan,
    shared: Arc<Shared<DB>>,
    statement: Arc<Described>,
    // Both boxed: rare, and an operation is moved into the future or stream that runs it.
    annotation: Option<Box<Annotation>>,
    failure: Option<Box<Failure>>,
    /// Whether the pool's product was known at the start (see [`Shared::base`]).
    resolved: bool,
    returned_rows: Option<u64>,
    affected_rows: u64,
}

/// The attributes a failed operation adds to its span and metrics.
struct Failure {
    status_code: Option<StringValue>,
    error_type: Option<StringValue>,
}

impl<DB: Driver> Operation<DB> {
    pub(crate) fn start(
        shared: Arc<Shared<DB>>,
        statement: Statement<'_>,
        annotation: Option<Annotation>,
    ) -> Self {
        let statement = match statement {
            Statement::Query(sql) => shared.statements.describe(sql),
            Statement::Prepare(sql) => shared.statements.describe_prepare(sql),
            Statement::Command(command) => shared.statements.command(command),
        };
        // An empty annotation adds nothing: the operation shares the statement's series.
        let annotation = annotation
            .filter(|a| a.operation.is_some() || a.collection.is_some())
            .map(Box::new);
        let resolved = shared.is_resolved();
        let base = shared.base(resolved);
        let name = match (&statement.name, &annotation) {
            (Some(name), _) => name.clone(),
            (None, None) => base.name.clone(),
            (None, Some(annotation)) => target_name(
                &shared.endpoint,
                base.system,
                annotation.operation.as_deref(),
                annotation.collection.as_deref(),
            ),
        };
        let mut attributes = Vec::with_capacity(base.attributes.len() + 4);
        for_each_common_attribute(base, &statement, annotation.as_deref(), |attribute| {
            attributes.push(attribute);
        });
        if let Some(text) = &statement.text {
            attributes.push(KeyValue::new(db::DB_QUERY_TEXT, text.clone()));
        }
        let span = shared
            .instrumentation
            .start(SpanStart::new(SpanKind::Client, name).attributes(attributes));
        Self {
            span,
            shared,
            statement,
            annotation,
            failure: None,
            resolved,
            returned_rows: None,
            affected_rows: 0,
        }
    }

    pub(crate) fn span(&self) -> &ActiveSpan {
        &self.span
    }

    pub(crate) fn shared(&self) -> &Shared<DB> {
        &self.shared
    }

    pub(crate) fn enter(&self) -> SpanGuard<'_> {
        self.span.enter()
    }

    /// Runs `future` with the span current, counts the rows `rows` finds in its result (see
    /// [`no_rows`]) or records its failure, and ends the operation.
    pub(crate) fn run<F, T, R>(self, future: F, rows: R) -> Traced<F, DB, R>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
        R: Fn(&T) -> Option<u64>,
    {
        Traced {
            inner: future,
            operation: Some(self),
            rows,
        }
    }

    /// Counts returned rows (also zero rows: `db.response.returned_rows` is then recorded).
    pub(crate) fn rows(&mut self, rows: u64) {
        *self.returned_rows.get_or_insert(0) += rows;
    }

    pub(crate) fn affected(&mut self, rows: u64) {
        self.affected_rows += rows;
    }

    /// Records a failure: `db.response.status_code` when the database sent one, and status
    /// Error with `error.type` when the per-system rules call it an error.
    pub(crate) fn fail(&mut self, error: &sqlx::Error) {
        if matches!(error, sqlx::Error::PoolTimedOut) {
            self.shared.pool_metrics().timeout();
        }
        let (code, error_type, description) = classify::<DB>(error);
        let failed = code.as_ref().is_none_or(|code| {
            let code = if code.sqlstate {
                ResponseCode::SqlState(&code.code)
            } else {
                ResponseCode::Native(&code.code)
            };
            db::is_error(self.shared.base(self.resolved).system, code)
        });
        let status_code = code.map(|code| StringValue::from(Arc::<str>::from(code.code)));
        if let Some(code) = &status_code {
            self.span
                .set_attribute(KeyValue::new(db::DB_RESPONSE_STATUS_CODE, code.clone()));
        }
        let error_type = failed.then(|| {
            let error_type = match (error_type, &status_code) {
                // The conventions want `error.type` equal to the status code: share it.
                (ErrorType::Code, Some(code)) => code.clone(),
                (ErrorType::Code, None) => StringValue::from(OTHER),
                (ErrorType::Named(name), _) => name,
            };
            match description {
                Some(description) => self
                    .span
                    .set_error_with_description(error_type.clone(), description),
                None => self.span.set_error(error_type.clone()),
            }
            error_type
        });
        self.failure = Some(Box::new(Failure {
            status_code,
            error_type,
        }));
    }

    /// Records the duration and returned rows: on the statement's bound series when the
    /// operation carries only the statement's attributes, else with its attributes.
    fn record_metrics(&self) {
        let metrics = self.shared.metrics();
        let seconds = duration_seconds(self.span.elapsed());
        let series = self
            .statement
            .series
            .as_ref()
            .filter(|_| self.resolved && self.annotation.is_none() && self.failure.is_none());
        let Some(series) = series else {
            let attributes = self.metric_attributes();
            metrics
                .operation_duration
                .record(seconds, attributes.as_slice());
            if let Some(rows) = self.returned_rows {
                metrics.returned_rows.record(rows, attributes.as_slice());
            }
            return;
        };
        self.bound(&series.duration, &metrics.operation_duration)
            .record(seconds);
        if let Some(rows) = self.returned_rows {
            self.bound(&series.returned_rows, &metrics.returned_rows)
                .record(rows);
        }
    }

    /// The statement's series of `histogram`, bound to this operation's attributes on first use.
    fn bound<'a, T>(
        &self,
        series: &'a OnceLock<BoundHistogram<T>>,
        histogram: &Histogram<T>,
    ) -> &'a BoundHistogram<T> {
        series.get_or_init(|| histogram.bind(self.metric_attributes().as_slice()))
    }

    /// The metric attributes: the span's, without `db.query.text`, with the failure's.
    fn metric_attributes(&self) -> PointAttributes {
        let base = self.shared.base(self.resolved);
        let mut attributes = PointAttributes::new();
        let mut push = |attribute| attributes.push(attribute);
        for_each_common_attribute(base, &self.statement, self.annotation.as_deref(), &mut push);
        if let Some(failure) = &self.failure {
            if let Some(code) = &failure.status_code {
                push(KeyValue::new(db::DB_RESPONSE_STATUS_CODE, code.clone()));
            }
            if let Some(error_type) = &failure.error_type {
                push(KeyValue::new(ERROR_TYPE, error_type.clone()));
            }
        }
        attributes
    }
}

impl<DB: Driver> Drop for Operation<DB> {
    fn drop(&mut self) {
        if let Some(rows) = self.returned_rows {
            self.span.set_attribute(KeyValue::new(
                db::DB_RESPONSE_RETURNED_ROWS,
                i64::try_from(rows).unwrap_or(i64::MAX),
            ));
        }
        if self.affected_rows > 0 {
            self.span.set_attribute(KeyValue::new(
                db::TRACEWIRE_DB_RESPONSE_AFFECTED_ROWS,
                i64::try_from(self.affected_rows).unwrap_or(i64::MAX),
            ));
        }
        self.record_metrics();
    }
}

/// The row count of a result that holds no rows (preparing, transaction commands).
pub(crate) fn no_rows<T>(_: &T) -> Option<u64> {
    None
}

/// Passes `push` the attributes both the span (at start) and the metrics carry: the pool's, the
/// statement's summary, and `db.operation.name` / `db.collection.name` (a command's, or the
/// annotation's).
fn for_each_common_attribute(
    base: &Base,
    statement: &Described,
    annotation: Option<&Annotation>,
    mut push: impl FnMut(KeyValue),
) {
    for attribute in &base.attributes {
        push(attribute.clone());
    }
    if let Some(summary) = &statement.summary {
        push(KeyValue::new(db::DB_QUERY_SUMMARY, summary.clone()));
    }
    if let Some(command) = statement.operation {
        push(KeyValue::new(db::DB_OPERATION_NAME, command));
    }
    let Some(annotation) = annotation else {
        return;
    };
    if let (None, Some(operation)) = (statement.operation, &annotation.operation) {
        push(KeyValue::new(db::DB_OPERATION_NAME, operation.clone()));
    }
    if let Some(collection) = &annotation.collection {
        push(KeyValue::new(db::DB_COLLECTION_NAME, collection.clone()));
    }
}

/// A metric point's attributes: at most `db.system.name`, `db.namespace`, `server.address`,
/// `server.port`, `db.query.summary`, `db.operation.name`, `db.collection.name`,
/// `db.response.status_code` and `error.type`.
type PointAttributes = AttributeBuffer<9>;

pin_project_lite::pin_project! {
    /// The future of an operation: the span is current while `inner` is polled, and the
    /// operation ends (span and metrics) as soon as the result is there, or when the future is
    /// dropped first.
    pub(crate) struct Traced<F, DB: Driver, R> {
        #[pin]
        inner: F,
        operation: Option<Operation<DB>>,
        // The returned rows in a successful result, if it counts them.
        rows: R,
    }
}

impl<F, DB, T, R> Future for Traced<F, DB, R>
where
    F: Future<Output = Result<T, sqlx::Error>>,
    DB: Driver,
    R: Fn(&T) -> Option<u64>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(operation) = this.operation.as_mut() else {
            return this.inner.poll(cx);
        };
        let result = {
            let _current = operation.enter();
            ready!(this.inner.poll(cx))
        };
        match &result {
            Ok(value) => {
                if let Some(rows) = (this.rows)(value) {
                    operation.rows(rows);
                }
            }
            Err(error) => operation.fail(error),
        }
        *this.operation = None;
        Poll::Ready(result)
    }
}

/// Where `error.type` comes from.
enum ErrorType {
    /// The database's response code (`_OTHER` when it sent none).
    Code,
    /// The I/O error kind or the `sqlx::Error` variant.
    Named(StringValue),
}

/// `db.response.status_code`, `error.type` and a status description for a sqlx error.
///
/// `error.type` is the response code when there is one, the `std::io::ErrorKind` of I/O
/// errors (`ConnectionRefused`), else the `sqlx::Error` variant name (`PoolTimedOut`).
/// Database messages can quote row values (MySQL's duplicate-entry message does), so only
/// non-database errors get a description.
fn classify<DB: Driver>(
    error: &sqlx::Error,
) -> (
    Option<crate::driver::ResponseCode>,
    ErrorType,
    Option<String>,
) {
    let variant = match error {
        sqlx::Error::Database(error) => {
            return (DB::response_code(error.as_ref()), ErrorType::Code, None);
        }
        sqlx::Error::Io(io) => {
            let kind = StringValue::from(format!("{:?}", io.kind()));
            return (None, ErrorType::Named(kind), Some(io.to_string()));
        }
        sqlx::Error::Configuration(_) => "Configuration",
        sqlx::Error::InvalidArgument(_) => "InvalidArgument",
        sqlx::Error::Tls(_) => "Tls",
        sqlx::Error::Protocol(_) => "Protocol",
        sqlx::Error::RowNotFound => "RowNotFound",
        sqlx::Error::TypeNotFound { .. } => "TypeNotFound",
        sqlx::Error::ColumnIndexOutOfBounds { .. } => "ColumnIndexOutOfBounds",
        sqlx::Error::ColumnNotFound(_) => "ColumnNotFound",
        sqlx::Error::ColumnDecode { .. } => "ColumnDecode",
        sqlx::Error::Encode(_) => "Encode",
        sqlx::Error::Decode(_) => "Decode",
        sqlx::Error::AnyDriverError(_) => "AnyDriverError",
        sqlx::Error::PoolTimedOut => "PoolTimedOut",
        sqlx::Error::PoolClosed => "PoolClosed",
        sqlx::Error::WorkerCrashed => "WorkerCrashed",
        sqlx::Error::InvalidSavePointStatement => "InvalidSavePointStatement",
        sqlx::Error::BeginFailed => "BeginFailed",
        _ => OTHER,
    };
    (
        None,
        ErrorType::Named(StringValue::from(variant)),
        Some(error.to_string()),
    )
}
