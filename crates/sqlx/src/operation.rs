//! One database operation: its span, its metrics and how a failure is classified.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, StringValue};
use tracewire_core::instrument::{ActiveSpan, SpanGuard, SpanStart};
use tracewire_core::intern::intern;
use tracewire_core::metrics::duration_seconds;
use tracewire_core::semconv::db::{self, ResponseCode};
use tracewire_core::semconv::error::{ERROR_TYPE, OTHER};

use crate::annotation::Annotation;
use crate::driver::Driver;
use crate::pool::{Base, Shared};
use crate::statements::Statements;

/// What an operation runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Statement<'a> {
    /// A query, as sent to the driver.
    Query(&'a str),
    /// Preparing a query: the span is named `PREPARE {summary}`.
    Prepare(&'a str),
    /// A transaction command (`BEGIN`, `COMMIT`, `ROLLBACK`), issued through sqlx's API.
    Command(&'static str),
}

/// A started operation. Its span ends, and its metrics are recorded, when it drops: after the
/// result arrived, when a stream ends, or when the caller drops the future or stream.
pub(crate) struct Operation<DB: Driver> {
    span: ActiveSpan,
    shared: Arc<Shared<DB>>,
    system: &'static str,
    metric_attributes: Vec<KeyValue>,
    returned_rows: Option<u64>,
    affected_rows: u64,
}

impl<DB: Driver> Operation<DB> {
    pub(crate) fn start(
        shared: &Arc<Shared<DB>>,
        statement: Statement<'_>,
        annotation: Option<&Annotation>,
    ) -> Self {
        let base = shared.base();
        let (summary, text) = describe(&shared.statements, statement);
        let operation = match statement {
            Statement::Command(command) => Some(Cow::Borrowed(command)),
            _ => annotation.and_then(|a| a.operation.clone()),
        };
        let collection = annotation.and_then(|a| a.collection.clone());
        let name = span_name(
            &base,
            shared,
            summary.as_ref().map(StringValue::as_str),
            &operation,
            &collection,
        );

        let mut metric_attributes = Vec::with_capacity(base.attributes.len() + 5);
        metric_attributes.extend_from_slice(&base.attributes);
        if let Some(summary) = summary {
            metric_attributes.push(KeyValue::new(db::DB_QUERY_SUMMARY, summary));
        }
        if let Some(operation) = operation {
            metric_attributes.push(KeyValue::new(db::DB_OPERATION_NAME, operation));
        }
        if let Some(collection) = collection {
            metric_attributes.push(KeyValue::new(db::DB_COLLECTION_NAME, collection));
        }
        let mut span_attributes = Vec::with_capacity(metric_attributes.len() + 1);
        span_attributes.extend_from_slice(&metric_attributes);
        if let Some(text) = text {
            span_attributes.push(KeyValue::new(db::DB_QUERY_TEXT, text));
        }
        let span = shared
            .instrumentation
            .start(SpanStart::new(SpanKind::Client, name).attributes(span_attributes));
        Self {
            span,
            shared: shared.clone(),
            system: base.system,
            metric_attributes,
            returned_rows: None,
            affected_rows: 0,
        }
    }

    pub(crate) fn span(&self) -> &ActiveSpan {
        &self.span
    }

    pub(crate) fn enter(&self) -> SpanGuard<'_> {
        self.span.enter()
    }

    /// Runs `future` with the span current, records its failure, and ends the operation.
    pub(crate) async fn run<T>(
        mut self,
        future: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let result = self.span.instrument(future).await;
        if let Err(error) = &result {
            self.fail(error);
        }
        result
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
            db::is_error(self.system, code)
        });
        if let Some(code) = code {
            let code = KeyValue::new(db::DB_RESPONSE_STATUS_CODE, code.code);
            self.span.set_attribute(code.clone());
            self.metric_attributes.push(code);
        }
        if failed {
            self.metric_attributes
                .push(KeyValue::new(ERROR_TYPE, error_type.clone()));
            match description {
                Some(description) => self
                    .span
                    .set_error_with_description(error_type, description),
                None => self.span.set_error(error_type),
            }
        }
    }
}

impl<DB: Driver> Drop for Operation<DB> {
    fn drop(&mut self) {
        let metrics = self.shared.metrics();
        if let Some(rows) = self.returned_rows {
            self.span.set_attribute(KeyValue::new(
                db::DB_RESPONSE_RETURNED_ROWS,
                i64::try_from(rows).unwrap_or(i64::MAX),
            ));
            metrics.returned_rows.record(rows, &self.metric_attributes);
        }
        if self.affected_rows > 0 {
            self.span.set_attribute(KeyValue::new(
                db::TRACEWIRE_DB_RESPONSE_AFFECTED_ROWS,
                i64::try_from(self.affected_rows).unwrap_or(i64::MAX),
            ));
        }
        metrics.operation_duration.record(
            duration_seconds(self.span.elapsed()),
            &self.metric_attributes,
        );
    }
}

/// The summary and the `db.query.text` of a statement.
fn describe(
    statements: &Statements,
    statement: Statement<'_>,
) -> (Option<StringValue>, Option<StringValue>) {
    let (sql, prepare) = match statement {
        Statement::Command(command) => return (Some(command.into()), None),
        Statement::Query(sql) => (sql, false),
        Statement::Prepare(sql) => (sql, true),
    };
    let described = statements.describe(sql);
    let summary = match (prepare, &described.summary) {
        (false, summary) => summary.clone(),
        (true, Some(summary)) => Some(format!("PREPARE {}", summary.as_str()).into()),
        (true, None) => Some("PREPARE".into()),
    };
    (summary, described.text.clone())
}

fn span_name<DB: Driver>(
    base: &Base,
    shared: &Shared<DB>,
    summary: Option<&str>,
    operation: &Option<Cow<'static, str>>,
    collection: &Option<Cow<'static, str>>,
) -> Cow<'static, str> {
    let endpoint = &shared.endpoint;
    let server = endpoint
        .address
        .as_deref()
        .map(|address| (address, endpoint.port.map(|(port, _)| port)));
    let target = db::span_target(
        collection.as_deref(),
        None,
        endpoint.namespace.as_deref(),
        server,
    );
    let name = db::span_name(
        summary,
        operation.as_deref(),
        target.as_deref(),
        base.system,
    );
    // Summaries and targets are low-cardinality by definition: interned, not copied per query.
    intern(&name).map_or_else(|| Cow::Owned(name.into_owned()), Cow::Borrowed)
}

/// `db.response.status_code`, `error.type` and a status description for a sqlx error.
///
/// `error.type` is the response code when there is one, the `std::io::ErrorKind` of I/O
/// errors (`ConnectionRefused`), else the `sqlx::Error` variant name (`PoolTimedOut`).
/// Database messages can quote row values (MySQL's duplicate-entry message does), so only
/// non-database errors get a description.
fn classify<DB: Driver>(
    error: &sqlx::Error,
) -> (Option<crate::driver::ResponseCode>, String, Option<String>) {
    let variant = match error {
        sqlx::Error::Database(error) => {
            let code = DB::response_code(error.as_ref());
            let error_type = code
                .as_ref()
                .map_or_else(|| OTHER.to_owned(), |code| code.code.clone());
            return (code, error_type, None);
        }
        sqlx::Error::Io(io) => return (None, format!("{:?}", io.kind()), Some(io.to_string())),
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
    (None, variant.to_owned(), Some(error.to_string()))
}
