//! sqlx on PostgreSQL instrumented with `tracewire-sqlx`: the pool wrapper, migrations, a
//! transaction, annotations and a failing query. See the README.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p example-sqlx-postgres
//! cargo run -p example-sqlx-postgres -- --smoke   # without DATABASE_URL: says so and exits 0
//! ```

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tracewire_init::{ExporterKind, InitError, Signal, TelemetryGuard};
use tracewire_sqlx::{Annotation, Pool};
use tracing::Instrument as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Read at run time to keep the example light; applications usually embed them with
/// `sqlx::migrate!()` (sqlx feature `macros`), which runs on the wrapped pool the same way.
const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

/// Registers a user and its audit entry atomically, then looks the user up.
async fn register(pool: &Pool<sqlx::Postgres>, email: &str, name: &str) -> Result<String, Error> {
    // Spans `BEGIN`, `INSERT example_users`, `INSERT example_audit_log`, `COMMIT`.
    let mut tx = pool.begin().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO example_users (email, name) VALUES ($1, $2) RETURNING id")
            .bind(email)
            .bind(name)
            .fetch_one(&mut tx)
            .await?;
    sqlx::query("INSERT INTO example_audit_log (user_id, action) VALUES ($1, 'registered')")
        .bind(id)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;

    // `db.operation.name` and `db.collection.name` come from the caller, never from the SQL.
    let lookup = Annotation::new()
        .operation("find_user")
        .collection("example_users");
    let found: String = sqlx::query_scalar("SELECT name FROM example_users WHERE id = $1")
        .bind(id)
        .fetch_one(pool.annotate(lookup))
        .await?;
    Ok(found)
}

/// Traces, metrics and logs from the `OTEL_*` variables; printed to the console until
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
fn telemetry() -> Result<TelemetryGuard, InitError> {
    tracewire_init::builder()
        .service_name(env!("CARGO_PKG_NAME"))
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Logs, [])
        .init()
}

/// `DATABASE_URL` or `--database URL`; `--smoke` is accepted (the run is short either way).
fn database_url() -> Result<Option<String>, String> {
    let mut url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database" => url = Some(args.next().ok_or("--database needs a URL")?),
            "--smoke" => {}
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--database URL, --smoke)"
                ));
            }
        }
    }
    Ok(url)
}

async fn run(url: &str) -> Result<(), Error> {
    let pool = PgPoolOptions::new().max_connections(5).connect(url).await?;
    // Spans and metrics through the global providers installed by tracewire-init.
    let pool = Pool::builder(pool).build();
    Migrator::new(Path::new(MIGRATIONS))
        .await?
        .run(&pool)
        .await?;

    // A fresh address per run: the table outlives the example.
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let email = format!("ada+{stamp}@example.com");
    let name = register(&pool, &email, "Ada")
        .instrument(tracing::info_span!("register user"))
        .await?;
    tracing::info!(name, "registered");

    // A unique violation: the span gets status Error and `error.type` = the SQLSTATE (`23505`);
    // the sanitized `db.query.text` never shows the email.
    let duplicate = register(&pool, &email, "Ada again")
        .instrument(tracing::info_span!("register user"))
        .await;
    match duplicate {
        Err(error) => tracing::info!(%error, "duplicate refused, as expected"),
        Ok(_) => return Err("the duplicate email was accepted".into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Some(url) = database_url()? else {
        eprintln!("SKIPPED: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
        return Ok(());
    };
    let telemetry = telemetry()?;
    let outcome = run(&url).await;
    let report = telemetry.shutdown();
    if !report.is_clean() {
        eprintln!("telemetry: {report}");
    }
    outcome
}
