//! MySQL / MariaDB: the shared scenarios plus product detection, on the server at
//! `TRACEWIRE_MYSQL_URL` (default: this machine's, `mysql://root@127.0.0.1:3306/test`).
#![cfg(feature = "mysql")]

mod common;

use common::{Expect, instrument};
use sqlx::mysql::MySqlPoolOptions;
use tracewire_sqlx::Pool;
use tracewire_testing::TelemetryCapture;

const VAR: &str = "TRACEWIRE_MYSQL_URL";
/// The server `.ci/run` and `cargo xtask ci` use when `VAR` is unset.
const LOCAL: &str = "mysql://root@127.0.0.1:3306/test";

async fn pool(test: &str) -> sqlx::MySqlPool {
    let url = common::database_url(VAR, LOCAL);
    MySqlPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap_or_else(|error| panic!("{test}: cannot connect to {url} ({VAR}): {error}"))
}

/// What the server says it is, independently of the code under test.
async fn expect(pool: &sqlx::MySqlPool) -> Expect {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(pool)
        .await
        .expect("version");
    Expect {
        system: if version.contains("MariaDB") {
            "mariadb"
        } else {
            "mysql"
        },
        syntax_error: "1064",
        unique_violation: "1062",
        endpoint_keys: &["db.namespace", "server.address"],
    }
}

#[tokio::test]
async fn executor_methods() {
    let pool = pool("mysql::executor_methods").await;
    let expect = expect(&pool).await;
    common::executor_methods::<sqlx::MySql>(pool, "executor_methods", &expect).await;
}

#[tokio::test]
async fn errors() {
    let pool = pool("mysql::errors").await;
    let expect = expect(&pool).await;
    common::errors::<sqlx::MySql>(pool, "errors", &expect).await;
}

#[tokio::test]
async fn streaming_early_drop() {
    let pool = pool("mysql::streaming_early_drop").await;
    common::streaming_early_drop::<sqlx::MySql>(pool, "streaming").await;
}

#[tokio::test]
async fn dropped_transaction() {
    let pool = pool("mysql::dropped_transaction").await;
    common::dropped_transaction::<sqlx::MySql>(pool, "dropped_tx").await;
}

#[tokio::test]
async fn transaction_tree() {
    let pool = pool("mysql::transaction_tree").await;
    let capture = TelemetryCapture::new();
    let pool = Pool::builder(pool)
        .tracer_provider(capture.tracer_provider())
        .build();
    common::transaction_tree::<sqlx::MySql>(&capture, &pool, "tree").await;
}

/// Without a server the product cannot be detected: the driver's `mysql` is reported.
#[tokio::test]
async fn connection_refused() {
    let pool = MySqlPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("mysql://root@127.0.0.1:1/test")
        .expect("lazy pool");
    common::connection_refused::<sqlx::MySql>(pool, "mysql").await;
}

/// The product is detected once per pool, before the first span, with one untraced query.
#[tokio::test]
async fn detects_mariadb_once() {
    let pool = pool("mysql::detects_mariadb_once").await;
    let expect = expect(&pool).await;
    let (capture, pool) = instrument(pool);
    for _ in 0..2 {
        sqlx::query("SELECT 1").execute(&pool).await.expect("query");
    }
    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "detection is not traced\n{}", spans.tree());
    for span in spans.named("SELECT") {
        span.assert_attr_str("db.system.name", expect.system);
    }
}
