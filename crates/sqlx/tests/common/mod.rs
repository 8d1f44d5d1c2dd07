//! Shared scenarios: each driver's test file runs them against a real database.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::{StreamExt, TryStreamExt};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use sqlx::{Database, Executor, IntoArguments, SqlSafeStr};
use tracewire_core::instrument::SpanBackend;
use tracewire_core::metrics::{DB_DURATION_BUCKETS, DB_RETURNED_ROWS_BUCKETS};
use tracewire_sqlx::{Driver, Pool};
use tracewire_testing::TelemetryCapture;

/// The database URL in `var`, else `local`: the server on this machine that `.ci/run` and
/// `cargo xtask ci` use. A test never skips itself: without a server it fails, and
/// `cargo xtask ci` names it skipped (outside CI) before it runs.
pub fn database_url(var: &str, local: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| local.to_owned())
}

/// A table name no other test (or test process) uses.
pub fn unique_table(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("tw_{test}_{}_{n}", std::process::id())
}

/// Instruments `pool` into a fresh capture (OpenTelemetry spans, no globals).
pub fn instrument<DB: Driver>(pool: sqlx::Pool<DB>) -> (TelemetryCapture, Pool<DB>) {
    let capture = TelemetryCapture::new();
    let pool = Pool::builder(pool)
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    (capture, pool)
}

fn is_database_error(error: sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(_))
}

/// Runs `sql` (built around a test's unique table name) on `executor`; panics on failure.
pub async fn execute<'e, DB, E>(executor: E, sql: String) -> DB::QueryResult
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let text = sql.clone();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(executor)
        .await
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// Expected per-driver values.
pub struct Expect {
    pub system: &'static str,
    pub syntax_error: &'static str,
    pub unique_violation: &'static str,
    /// Endpoint attribute keys on every operation (`db.namespace`, `server.address`, ...).
    pub endpoint_keys: &'static [&'static str],
}

/// Every executor method through `&pool`, `&mut conn` and `&mut tx`: one span each, named after
/// the summary, with the sanitized text and the row counts.
pub async fn executor_methods<DB>(pool: sqlx::Pool<DB>, test: &str, expect: &Expect)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let (capture, pool) = instrument(pool);
    let table = unique_table(test);
    let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20))");
    execute(&pool, create).await;
    let insert = format!("INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    let result = execute(&pool, insert).await;
    let select = format!("SELECT id, name FROM {table} WHERE id > 0 ORDER BY id");
    let sql = || sqlx::AssertSqlSafe(select.clone());

    assert_eq!(
        sqlx::query(sql())
            .fetch_all(&pool)
            .await
            .expect("fetch_all")
            .len(),
        3
    );
    sqlx::query(sql())
        .fetch_one(&pool)
        .await
        .expect("fetch_one");
    let none = format!("SELECT id FROM {table} WHERE id = 99");
    assert!(
        sqlx::query(sqlx::AssertSqlSafe(none))
            .fetch_optional(&pool)
            .await
            .expect("fetch_optional")
            .is_none()
    );
    let rows: Vec<_> = sqlx::query(sql())
        .fetch(&pool)
        .try_collect()
        .await
        .expect("fetch");
    assert_eq!(rows.len(), 3);
    let steps: Vec<_> = (&pool)
        .fetch_many(sql())
        .try_collect()
        .await
        .expect("fetch_many");
    assert_eq!(steps.len(), 4, "3 rows and one result");
    let statement = sqlx::AssertSqlSafe(select.clone()).into_sql_str();
    (&pool).prepare(statement).await.expect("prepare");

    let mut conn = pool.acquire().await.expect("acquire");
    assert_eq!(
        sqlx::query(sql())
            .fetch_all(&mut conn)
            .await
            .expect("conn")
            .len(),
        3
    );
    drop(conn);
    let mut tx = pool.begin().await.expect("begin");
    assert_eq!(
        sqlx::query(sql())
            .fetch_all(&mut tx)
            .await
            .expect("tx")
            .len(),
        3
    );
    tx.commit().await.expect("commit");

    let spans = capture.spans();
    let summary = format!("SELECT {table}");
    let selects = spans.named(&summary);
    assert_eq!(selects.len(), 7, "{}", spans.tree());
    let mut returned = Vec::new();
    for span in &selects {
        span.assert_kind(SpanKind::Client)
            .assert_attr_str("db.system.name", expect.system)
            .assert_attr_str("db.query.summary", &summary)
            .assert_status_unset();
        match span.attr("db.response.returned_rows") {
            Some(opentelemetry::Value::I64(rows)) => returned.push(*rows),
            other => panic!("returned_rows is {other:?}"),
        }
        let text = span.attr("db.query.text").map(|v| v.as_str().into_owned());
        let sanitized = [
            format!("SELECT id, name FROM {table} WHERE id > ? ORDER BY id"),
            format!("SELECT id FROM {table} WHERE id = ?"),
        ];
        assert!(
            sanitized.iter().any(|s| Some(s) == text.as_ref()),
            "{text:?}"
        );
    }
    returned.sort_unstable();
    assert_eq!(
        returned,
        [0, 1, 3, 3, 3, 3, 3],
        "fetch_one stops after one row"
    );
    spans
        .single(&format!("INSERT {table}"))
        .assert_attr_str(
            "db.query.text",
            &format!("INSERT INTO {table} (id, name) VALUES (?, ?), (?, ?), (?, ?)"),
        )
        .assert_attr_i64("tracewire.db.response.affected_rows", 3)
        .assert_attr_i64("db.response.returned_rows", 0);
    drop(result);
    spans.single(&format!("PREPARE SELECT {table}"));
    spans.single(&format!("CREATE TABLE {table}"));
    spans
        .single("BEGIN")
        .assert_attr_str("db.query.summary", "BEGIN");
    spans.single("COMMIT").assert_no_attr("db.query.text");

    // `point_with` matches the exact attribute set: no `db.query.text`, nothing unexpected.
    let metrics = capture.metrics();
    let mut attributes = base_attributes(&selects[0], expect.endpoint_keys);
    attributes.push(KeyValue::new("db.query.summary", summary.clone()));
    let duration = metrics.histogram_f64("db.client.operation.duration");
    duration
        .assert_unit("s")
        .assert_bounds(&DB_DURATION_BUCKETS);
    assert_eq!(duration.point_with(&attributes).count(), 7);
    let rows = metrics.histogram_u64("db.client.response.returned_rows");
    rows.assert_unit("{row}")
        .assert_bounds(&DB_RETURNED_ROWS_BUCKETS);
    assert_eq!(rows.point_with(&attributes).count(), 7);
    let mut begin = base_attributes(&selects[0], expect.endpoint_keys);
    begin.push(KeyValue::new("db.query.summary", "BEGIN"));
    begin.push(KeyValue::new("db.operation.name", "BEGIN"));
    assert_eq!(duration.point_with(&begin).count(), 1);
    // Commands return no rows, so no returned-rows series was bound for them: a bound series is
    // exported even before its first measurement.
    for point in rows.points() {
        let summary = point
            .attr("db.query.summary")
            .map(|s| s.as_str().into_owned());
        assert!(
            !matches!(summary.as_deref(), Some("BEGIN" | "COMMIT")),
            "a returned-rows point for {summary:?}"
        );
    }
}

/// Whether `points` (attribute sets, each sorted by key) hold exactly `attributes`.
fn has_point(points: &[Vec<KeyValue>], attributes: &[KeyValue]) -> bool {
    let mut expected = attributes.to_vec();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    points.contains(&expected)
}

/// The span's values of `db.system.name` and the endpoint keys, as metric attributes.
pub fn base_attributes(
    span: &tracewire_testing::SpanView<'_>,
    endpoint_keys: &[&str],
) -> Vec<KeyValue> {
    std::iter::once("db.system.name")
        .chain(endpoint_keys.iter().copied())
        .map(|key| {
            let value = span.attr(key).unwrap_or_else(|| panic!("{key} missing"));
            KeyValue::new(key.to_owned(), value.clone())
        })
        .collect()
}

/// A handler span around a transaction with three queries: `BEGIN`, the queries and `COMMIT`
/// are its children, in one trace. Run in both span worlds by the caller.
pub async fn transaction_tree<DB>(capture: &TelemetryCapture, pool: &Pool<DB>, test: &str)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let table = unique_table(test);
    let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)");
    execute(pool, create).await;
    let tracer = capture.tracer_provider().tracer("handler");
    let handler = tracer.start_with_context("handler", &Context::new());
    let cx = Context::new().with_span(handler);
    let run = async {
        let mut tx = pool.begin().await.expect("begin");
        for id in 1..=2 {
            let insert = format!("INSERT INTO {table} (id) VALUES ({id})");
            execute(&mut tx, insert).await;
        }
        let select = format!("SELECT id FROM {table}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .fetch_all(&mut tx)
            .await
            .expect("select");
        assert_eq!(rows.len(), 2);
        tx.commit().await.expect("commit");
    };
    tracewire_core::context::ContextFutureExt::in_context(run, cx.clone()).await;
    cx.span().end();

    let spans = capture.spans();
    let handler = spans.single("handler");
    let children = handler.children();
    let names: Vec<&str> = children.iter().map(|span| span.name()).collect();
    let insert = format!("INSERT {table}");
    let select = format!("SELECT {table}");
    assert_eq!(
        names,
        ["BEGIN", &insert, &insert, &select, "COMMIT"],
        "{}",
        spans.tree()
    );
    for child in &children {
        child
            .assert_child_of(&handler)
            .assert_kind(SpanKind::Client);
    }
}

/// A transaction dropped without commit shows as a `ROLLBACK` span with the dropped event, and
/// its writes are gone.
pub async fn dropped_transaction<DB>(pool: sqlx::Pool<DB>, test: &str)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let (capture, pool) = instrument(pool);
    let table = unique_table(test);
    let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)");
    execute(&pool, create).await;
    {
        let mut tx = pool.begin().await.expect("begin");
        let insert = format!("INSERT INTO {table} (id) VALUES (1)");
        execute(&mut tx, insert).await;
    }
    let select = format!("SELECT id FROM {table}");
    let rows = sqlx::query(sqlx::AssertSqlSafe(select))
        .fetch_all(&pool)
        .await
        .expect("select");
    assert!(rows.is_empty(), "the dropped transaction was rolled back");
    let spans = capture.spans();
    spans
        .single("ROLLBACK")
        .assert_has_event(tracewire_sqlx::DROPPED_EVENT)
        .assert_attr_str("db.operation.name", "ROLLBACK")
        .assert_status_unset();
    assert!(spans.find("COMMIT").is_none());
}

/// A syntax error and a unique violation: status Error, `error.type` and
/// `db.response.status_code` equal to the database's code, on the span and the metric.
pub async fn errors<DB>(pool: sqlx::Pool<DB>, test: &str, expect: &Expect)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let (capture, pool) = instrument(pool);
    let table = unique_table(test);
    let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)");
    execute(&pool, create).await;
    let insert = format!("INSERT INTO {table} (id) VALUES (1)");
    execute(&pool, insert.clone()).await;
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .execute(&pool)
        .await
        .is_err_and(is_database_error)
        .then_some(())
        .expect("duplicate");
    let syntax = sqlx::query("SELEC 1").execute(&pool).await;
    assert!(syntax.is_err_and(is_database_error), "syntax");

    let spans = capture.spans();
    let inserts = spans.named(&format!("INSERT {table}"));
    assert_eq!(inserts.len(), 2);
    inserts[0]
        .assert_status_unset()
        .assert_no_attr("error.type");
    inserts[1]
        .assert_status_error()
        .assert_attr_str("error.type", expect.unique_violation)
        .assert_attr_str("db.response.status_code", expect.unique_violation);
    // No operation is recognised in `SELEC 1`: the span is named after the target or system.
    let syntax = spans
        .iter()
        .find(|span| {
            span.attr("db.query.text")
                .is_some_and(|t| t.as_str() == "SELEC ?")
        })
        .unwrap_or_else(|| panic!("no span for the syntax error\n{}", spans.tree()));
    syntax
        .assert_status_error()
        .assert_attr_str("error.type", expect.syntax_error)
        .assert_attr_str("db.response.status_code", expect.syntax_error)
        .assert_no_attr("db.query.summary");

    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("db.client.operation.duration");
    let mut attributes = base_attributes(&inserts[1], expect.endpoint_keys);
    attributes.push(KeyValue::new("db.query.summary", format!("INSERT {table}")));
    attributes.push(KeyValue::new(
        "db.response.status_code",
        expect.unique_violation,
    ));
    attributes.push(KeyValue::new("error.type", expect.unique_violation));
    assert_eq!(duration.point_with(&attributes).count(), 1);
    // The successful insert is on the statement's series, without the failure's attributes.
    let mut succeeded = base_attributes(&inserts[0], expect.endpoint_keys);
    succeeded.push(KeyValue::new("db.query.summary", format!("INSERT {table}")));
    assert_eq!(duration.point_with(&succeeded).count(), 1);
    // The syntax error's statement only ever failed: nothing was bound for it.
    let points: Vec<_> = duration.points().iter().map(|p| p.attributes()).collect();
    let base = base_attributes(&inserts[0], expect.endpoint_keys);
    assert!(!has_point(&points, &base), "{points:?}");
}

/// A stream dropped after two of five rows ends its span with the rows seen.
pub async fn streaming_early_drop<DB>(pool: sqlx::Pool<DB>, test: &str)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let (capture, pool) = instrument(pool);
    let table = unique_table(test);
    let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)");
    execute(&pool, create).await;
    let insert = format!("INSERT INTO {table} (id) VALUES (1), (2), (3), (4), (5)");
    execute(&pool, insert).await;
    let select = format!("SELECT id FROM {table} ORDER BY id");
    let mut conn = pool.acquire().await.expect("acquire");
    {
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(select.clone())).fetch(&mut conn);
        rows.next().await.expect("row 1").expect("ok");
        rows.next().await.expect("row 2").expect("ok");
        assert!(
            capture.spans().find(&format!("SELECT {table}")).is_none(),
            "still open"
        );
    }
    let spans = capture.spans();
    spans
        .single(&format!("SELECT {table}"))
        .assert_attr_i64("db.response.returned_rows", 2)
        .assert_status_unset();
    // The connection is still usable after the early drop.
    let rows = sqlx::query(sqlx::AssertSqlSafe(select))
        .fetch_all(&mut conn)
        .await
        .expect("again");
    assert_eq!(rows.len(), 5);
}

/// An operation on a pool whose server refuses connections fails its span: `error.type` is the
/// I/O error kind, or `PoolTimedOut` when the pool kept retrying until its acquire timeout.
pub async fn connection_refused<DB>(pool: sqlx::Pool<DB>, system: &str)
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let (capture, pool) = instrument(pool);
    let refused = sqlx::query("SELECT 1").execute(&pool).await;
    let error_type = match refused.err() {
        Some(sqlx::Error::Io(error)) => format!("{:?}", error.kind()),
        Some(sqlx::Error::PoolTimedOut) => "PoolTimedOut".to_owned(),
        other => panic!("unexpected {other:?}"),
    };
    let spans = capture.spans();
    spans
        .single("SELECT")
        .assert_status_error()
        .assert_attr_str("error.type", &error_type)
        .assert_attr_str("db.system.name", system)
        .assert_attr_str("server.address", "127.0.0.1")
        .assert_attr_i64("server.port", 1);
}
