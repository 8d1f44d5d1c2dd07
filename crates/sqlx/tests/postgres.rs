//! PostgreSQL: the shared scenarios plus SQLCommenter and sqlx's query log, on the server at
//! `TRACEWIRE_POSTGRES_URL` (default: this machine's, `postgres://postgres@127.0.0.1:5432/test`).
#![cfg(feature = "postgres")]

mod common;

use common::{Expect, instrument};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sqlx::postgres::PgPoolOptions;
use tracewire_core::propagation::Propagator;
use tracewire_sqlx::Pool;
use tracewire_testing::TelemetryCapture;

const VAR: &str = "TRACEWIRE_POSTGRES_URL";
/// The server `.ci/run` and `cargo xtask ci` use when `VAR` is unset.
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/test";

const EXPECT: Expect = Expect {
    system: "postgresql",
    syntax_error: "42601",
    unique_violation: "23505",
    endpoint_keys: &["db.namespace", "server.address"],
};

async fn pool(test: &str) -> sqlx::PgPool {
    let url = common::database_url(VAR, LOCAL);
    PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap_or_else(|error| panic!("{test}: cannot connect to {url} ({VAR}): {error}"))
}

#[tokio::test]
async fn executor_methods() {
    let pool = pool("postgres::executor_methods").await;
    common::executor_methods::<sqlx::Postgres>(pool, "executor_methods", &EXPECT).await;
}

#[tokio::test]
async fn errors() {
    let pool = pool("postgres::errors").await;
    common::errors::<sqlx::Postgres>(pool, "errors", &EXPECT).await;
}

#[tokio::test]
async fn streaming_early_drop() {
    let pool = pool("postgres::streaming_early_drop").await;
    common::streaming_early_drop::<sqlx::Postgres>(pool, "streaming").await;
}

#[tokio::test]
async fn dropped_transaction() {
    let pool = pool("postgres::dropped_transaction").await;
    common::dropped_transaction::<sqlx::Postgres>(pool, "dropped_tx").await;
}

#[tokio::test]
async fn transaction_tree() {
    let pool = pool("postgres::transaction_tree").await;
    let capture = TelemetryCapture::new();
    let pool = Pool::builder(pool)
        .tracer_provider(capture.tracer_provider())
        .build();
    common::transaction_tree::<sqlx::Postgres>(&capture, &pool, "tree").await;
}

#[tokio::test]
async fn connection_refused() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/test")
        .expect("lazy pool");
    common::connection_refused::<sqlx::Postgres>(pool, "postgresql").await;
}

#[tokio::test]
async fn endpoint_attributes_and_parameters() {
    let pool = pool("postgres::endpoint_attributes_and_parameters").await;
    let (capture, pool) = instrument(pool);
    let sql = "SELECT $1::int + 1 AS n, 'x' AS s";
    let n: i32 = sqlx::query_scalar(sql)
        .bind(41)
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(n, 42);
    let spans = capture.spans();
    spans
        .single("SELECT")
        .assert_attr_str("db.namespace", "test")
        .assert_attr_str("server.address", "127.0.0.1")
        .assert_no_attr("server.port")
        .assert_attr_str("db.query.text", "SELECT $1::int + ? AS n, ? AS s");
}

/// The comment reaches the server: `current_query()` returns the text as received.
#[tokio::test]
async fn sqlcommenter_appends_traceparent() {
    let pool = pool("postgres::sqlcommenter_appends_traceparent").await;
    let capture = TelemetryCapture::new();
    let pool = Pool::builder(pool)
        .tracer_provider(capture.tracer_provider())
        .sqlcommenter(Some(Propagator::new(TraceContextPropagator::new())))
        .build();
    let received: String = sqlx::query_scalar("SELECT current_query()")
        .persistent(false)
        .fetch_one(&pool)
        .await
        .expect("query");
    let spans = capture.spans();
    let span = spans.single("SELECT");
    let traceparent = format!(
        "00-{}-{}-01",
        span.span_context().trace_id(),
        span.span_context().span_id()
    );
    assert_eq!(
        received,
        format!("SELECT current_query() /*traceparent='{traceparent}'*/")
    );
    span.assert_attr_str("db.query.text", "SELECT current_query()");
}

/// sqlx logs each query as a `tracing` event on target `sqlx::query`; with every target enabled
/// it lands on our span, and there is still one span per query.
#[tokio::test]
async fn sqlx_query_log_is_an_event_not_a_span() {
    let pool = pool("postgres::sqlx_query_log_is_an_event_not_a_span").await;
    let capture = TelemetryCapture::new();
    let _subscriber = tracing::dispatcher::set_default(
        &capture.tracing_dispatch_with_filter(tracing::level_filters::LevelFilter::TRACE),
    );
    let pool = Pool::builder(pool)
        .tracer_provider(capture.tracer_provider())
        .build();
    sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    let spans = capture.spans();
    let query = spans.single("SELECT");
    assert_eq!(
        spans.by_kind(opentelemetry::trace::SpanKind::Client).len(),
        1
    );
    assert!(
        query.events().iter().any(|event| event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "summary")),
        "sqlx's query event is on our span: {:?}\n{}",
        query.events(),
        spans.tree()
    );
}
