//! OpenTelemetry spans and metrics for [sqlx](https://docs.rs/sqlx) 0.9 queries on PostgreSQL,
//! MySQL/MariaDB and SQLite.
//!
//! Wrap a `sqlx::Pool` with [`Pool::builder`] and pass `&pool`, `&mut conn` or `&mut tx` wherever
//! sqlx expects an executor. Every operation becomes a `CLIENT` span (current while it runs and,
//! for streams, until the stream ends or is dropped) named after its query summary
//! (`SELECT users`), with `db.system.name`, `db.namespace`, `server.*`, the sanitized
//! `db.query.text`, `db.query.summary`, returned rows and the response code, and records
//! `db.client.operation.duration` and `db.client.response.returned_rows`. Pool state is reported
//! as `db.client.connection.*`. See the README for the options and the decisions.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tracewire_sqlx::{Pool, QueryText};
//!
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let pool = Pool::builder(pool).query_text(QueryText::Sanitized).build();
//!
//! sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)").execute(&pool).await?;
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO users (name) VALUES (?)").bind("ada").execute(&mut tx).await?;
//! tx.commit().await?;
//! let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users").fetch_all(&pool).await?;
//! assert_eq!(names, ["ada"]);
//! # Ok::<_, sqlx::Error>(()) }).unwrap();
//! ```

mod annotation;
mod connection;
mod driver;
mod executor;
mod operation;
mod pool;
mod pool_metrics;
pub mod sql;
mod statements;
mod transaction;

pub use annotation::Annotation;
pub use connection::PoolConnection;
pub use driver::Driver;
pub use executor::Instrumented;
pub use pool::{Pool, PoolBuilder, QueryText};
pub use transaction::{DROPPED_EVENT, Transaction};

/// Compiles and runs the README's example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
