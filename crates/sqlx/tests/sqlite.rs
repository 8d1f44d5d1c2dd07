//! SQLite (in-memory, always available): every scenario plus the SQLite-only checks.
#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use common::{Expect, instrument};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use sqlx::sqlite::SqlitePoolOptions;
use tracewire_core::instrument::SpanBackend;
use tracewire_core::sampling::{Decision, RuleSampler};
use tracewire_sqlx::{Annotation, Pool, QueryText};
use tracewire_testing::TelemetryCapture;

const EXPECT: Expect = Expect {
    system: "sqlite",
    syntax_error: "1",
    unique_violation: "1555",
    endpoint_keys: &[],
};

/// One connection, so every query sees the same in-memory database.
async fn memory_pool() -> sqlx::SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .expect("in-memory sqlite")
}

#[tokio::test]
async fn executor_methods() {
    common::executor_methods::<sqlx::Sqlite>(memory_pool().await, "executor_methods", &EXPECT)
        .await;
}

#[tokio::test]
async fn errors() {
    common::errors::<sqlx::Sqlite>(memory_pool().await, "errors", &EXPECT).await;
}

#[tokio::test]
async fn streaming_early_drop() {
    common::streaming_early_drop::<sqlx::Sqlite>(memory_pool().await, "streaming").await;
}

#[tokio::test]
async fn dropped_transaction() {
    common::dropped_transaction::<sqlx::Sqlite>(memory_pool().await, "dropped_tx").await;
}

/// World 2: no `tracing` subscriber, the default backend falls back to OpenTelemetry spans.
#[tokio::test]
async fn transaction_tree_opentelemetry_world() {
    let capture = TelemetryCapture::new();
    let pool = Pool::builder(memory_pool().await)
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .build();
    common::transaction_tree::<sqlx::Sqlite>(&capture, &pool, "tree_otel").await;
}

/// World 1: a `tracing` subscriber with the OpenTelemetry layer; the spans are `tracing` spans.
#[tokio::test]
async fn transaction_tree_tracing_world() {
    let capture = TelemetryCapture::new();
    let _subscriber = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    let pool = Pool::builder(memory_pool().await)
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .build();
    common::transaction_tree::<sqlx::Sqlite>(&capture, &pool, "tree_tracing").await;
}

/// A query inside a `tracing` span (`#[instrument]` style) is its child, and there is exactly
/// one span per query with every `tracing` target enabled (sqlx's own query log included; the
/// SQLite driver logs on its worker thread, see the PostgreSQL test for the event itself).
#[tokio::test]
async fn tracing_parent_and_no_double_span() {
    use tracing::Instrument;
    let capture = TelemetryCapture::new();
    let _subscriber = tracing::dispatcher::set_default(
        &capture.tracing_dispatch_with_filter(tracing::level_filters::LevelFilter::TRACE),
    );
    let pool = Pool::builder(memory_pool().await)
        .tracer_provider(capture.tracer_provider())
        .build();
    let handler = tracing::info_span!("handler");
    async {
        sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    }
    .instrument(handler)
    .await;

    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "{}", spans.tree());
    let handler = spans.single("handler");
    spans
        .single("SELECT")
        .assert_child_of(&handler)
        .assert_kind(SpanKind::Client);
}

#[tokio::test]
async fn query_text_modes() {
    let sql = "SELECT 'secret' AS a, 42 AS b";
    for (mode, expected) in [
        (QueryText::Sanitized, Some("SELECT ? AS a, ? AS b")),
        (QueryText::Full, Some(sql)),
        (QueryText::Off, None),
    ] {
        let capture = TelemetryCapture::new();
        let pool = Pool::builder(memory_pool().await)
            .tracer_provider(capture.tracer_provider())
            .span_backend(SpanBackend::OpenTelemetry)
            .query_text(mode)
            .build();
        sqlx::query(sql).fetch_one(&pool).await.expect("query");
        let spans = capture.spans();
        let span = spans.single("SELECT");
        match expected {
            Some(text) => span.assert_attr_str("db.query.text", text),
            None => span.assert_no_attr("db.query.text"),
        };
    }
}

#[tokio::test]
async fn parameterized_sql_is_recorded_as_is() {
    let (capture, pool) = instrument(memory_pool().await);
    let sql = "SELECT ?1 AS a, ?2 AS b WHERE ?1 IS NOT NULL";
    sqlx::query(sql)
        .bind(1_i64)
        .bind("x")
        .fetch_one(&pool)
        .await
        .expect("query");
    capture
        .spans()
        .single("SELECT")
        .assert_attr_str("db.query.text", sql);
}

#[tokio::test]
async fn annotations_reach_span_and_metric() {
    let (capture, pool) = instrument(memory_pool().await);
    let annotation = Annotation::new().operation("ping").collection("heartbeat");
    sqlx::query("VALUES (1)")
        .fetch_all(pool.annotate(annotation))
        .await
        .expect("query");
    let spans = capture.spans();
    spans
        .single("ping heartbeat")
        .assert_attr_str("db.operation.name", "ping")
        .assert_attr_str("db.collection.name", "heartbeat")
        .assert_no_attr("db.query.summary");
    capture
        .metrics()
        .histogram_f64("db.client.operation.duration")
        .assert_attr_keys(&["db.system.name", "db.operation.name", "db.collection.name"]);
}

#[tokio::test]
async fn migrations_run_on_the_wrapped_pool() {
    let (capture, pool) = instrument(memory_pool().await);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migrations");
    let migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
    migrator.run(&pool).await.expect("migrate");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items")
        .fetch_all(&pool)
        .await
        .expect("items");
    assert_eq!(names, ["first"]);
    capture.spans().single("SELECT items");
}

/// More distinct statements than a pool keeps: the cache is emptied (releasing the series its
/// statements had bound) and a statement seen again binds again, onto the same series.
#[tokio::test]
async fn metrics_survive_emptying_the_statement_cache() {
    let (capture, pool) = instrument(memory_pool().await);
    for id in 0..600 {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {id}"));
        sqlx::query(sql).fetch_one(&pool).await.expect("query");
    }
    sqlx::query("SELECT 0")
        .fetch_one(&pool)
        .await
        .expect("again");
    let metrics = capture.metrics();
    let attributes = [
        KeyValue::new("db.system.name", "sqlite"),
        KeyValue::new("db.query.summary", "SELECT"),
    ];
    let duration = metrics.histogram_f64("db.client.operation.duration");
    assert_eq!(duration.point_with(&attributes).count(), 601);
    let rows = metrics.histogram_u64("db.client.response.returned_rows");
    assert_eq!(rows.point_with(&attributes).count(), 601);
    assert_eq!(rows.point_with(&attributes).sum(), 601);
}

#[tokio::test]
async fn pool_metrics() {
    let (capture, pool) = instrument(memory_pool().await);
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    let conn = pool.acquire().await.expect("acquire");
    let metrics = capture.metrics();
    let name = KeyValue::new("db.client.connection.pool.name", "sqlite::memory:");
    let state = |value: &'static str| {
        [
            name.clone(),
            KeyValue::new("db.client.connection.state", value),
        ]
    };
    let count = metrics.sum_i64("db.client.connection.count");
    count.assert_unit("{connection}");
    assert_eq!(count.value_with(&state("used")), 1, "held by `conn`");
    assert_eq!(count.value_with(&state("idle")), 0);
    assert_eq!(
        metrics
            .sum_i64("db.client.connection.limit")
            .value_with(std::slice::from_ref(&name)),
        1
    );
    metrics
        .histogram_f64("db.client.connection.wait_time")
        .assert_unit("s")
        .assert_attr_keys(&["db.client.connection.pool.name"]);
    drop(conn);
    let use_time = capture.metrics();
    assert_eq!(
        use_time
            .histogram_f64("db.client.connection.use_time")
            .point_with(std::slice::from_ref(&name))
            .count(),
        1
    );
}

#[tokio::test]
async fn pool_timeout_is_counted() {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_millis(50))
        .connect("sqlite::memory:")
        .await
        .expect("pool");
    let (capture, pool) = instrument(pool);
    let _held = pool.acquire().await.expect("first");
    let error = pool.acquire().await.expect_err("second times out");
    assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
    let name = KeyValue::new("db.client.connection.pool.name", "sqlite::memory:");
    assert_eq!(
        capture
            .metrics()
            .sum_u64("db.client.connection.timeouts")
            .value_with(&[name]),
        1
    );
}

/// A file database: `db.namespace` is its path.
#[tokio::test]
async fn file_database_namespace() {
    let path = std::env::temp_dir().join(format!("tracewire-sqlx-{}.db", std::process::id()));
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let (capture, pool) = instrument(sqlx::SqlitePool::connect_with(options).await.expect("file"));
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    let spans = capture.spans();
    spans
        .single("SELECT")
        .assert_attr_str("db.namespace", &path.to_string_lossy());
    pool.inner().close().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn sampling_rules_see_the_operation_at_span_start() {
    // The operation is known at start through the summary (`db.operation.name` is set only
    // where it is not parsed out of the SQL).
    let sampler = RuleSampler::parse("db.query.summary=SELECT * => drop", Decision::Keep)
        .expect("valid rules");
    let capture = TelemetryCapture::with_sampler(sampler);
    let pool = Pool::builder(memory_pool().await)
        .tracer_provider(capture.tracer_provider())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    sqlx::query("CREATE TABLE sampled (id INTEGER)")
        .execute(&pool)
        .await
        .expect("create");
    sqlx::query("SELECT id FROM sampled")
        .fetch_all(&pool)
        .await
        .expect("select");
    let spans = capture.spans();
    assert_eq!(spans.len(), 1, "{}", spans.tree());
    spans
        .single("CREATE TABLE sampled")
        .assert_kind(SpanKind::Client)
        .assert_attr_str("db.query.summary", "CREATE TABLE sampled");
}
