//! What differs between the sqlx drivers: system name, endpoint, error codes, SQL dialect.

use futures_core::future::BoxFuture;
use sqlx::error::DatabaseError;

use crate::sql::Dialect;

// Not intra-doc links: each type exists only with its feature, and the docs build with any set.
/// A sqlx database this crate instruments: `sqlx::Postgres` (feature `postgres`), `sqlx::MySql`
/// (feature `mysql`, MySQL and MariaDB) and `sqlx::Sqlite` (feature `sqlite`).
///
/// Sealed: the methods are implementation details.
///
/// ```
/// fn instrumentable<DB: tracewire_sqlx::Driver>() {}
/// # #[cfg(feature = "sqlite")]
/// instrumentable::<sqlx::Sqlite>();
/// ```
pub trait Driver: sealed::Driver {}

impl<DB: sealed::Driver> Driver for DB {}

pub(crate) use sealed::{Endpoint, ResponseCode};

pub(crate) mod sealed {
    use super::*;

    /// Where a pool connects to, as the conventions want it.
    #[derive(Clone, Debug, Default)]
    pub struct Endpoint {
        /// `db.namespace`.
        pub namespace: Option<String>,
        /// `server.address`.
        pub address: Option<String>,
        /// The port, and whether it is the driver's default (then `server.port` is omitted).
        pub port: Option<(u16, bool)>,
    }

    /// A failed operation's `db.response.status_code`, when the database returned one.
    #[derive(Debug)]
    pub struct ResponseCode {
        pub code: String,
        pub sqlstate: bool,
    }

    pub trait Driver: sqlx::Database {
        /// The lexical rules of the database's SQL.
        const DIALECT: Dialect;

        /// `db.system.name` when it is known without asking the server.
        const SYSTEM: Option<&'static str>;

        fn endpoint(options: &<Self::Connection as sqlx::Connection>::Options) -> Endpoint;

        fn response_code(error: &dyn DatabaseError) -> Option<ResponseCode>;

        fn rows_affected(result: &Self::QueryResult) -> u64;

        /// Asks the server which product it is, for drivers whose [`Driver::SYSTEM`] is `None`.
        fn detect_system(pool: &sqlx::Pool<Self>) -> BoxFuture<'static, Option<&'static str>>;
    }
}

/// A SQLSTATE from a [`DatabaseError`].
#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn code_of(error: &dyn DatabaseError, sqlstate: bool) -> Option<ResponseCode> {
    error.code().map(|code| ResponseCode {
        code: code.into_owned(),
        sqlstate,
    })
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn no_detection() -> BoxFuture<'static, Option<&'static str>> {
    Box::pin(std::future::ready(None))
}

#[cfg(feature = "postgres")]
impl sealed::Driver for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const SYSTEM: Option<&'static str> = Some(tracewire_core::semconv::db::SYSTEM_POSTGRESQL);

    fn endpoint(options: &sqlx::postgres::PgConnectOptions) -> Endpoint {
        // A Unix socket directory is not a host name: report no address then.
        let tcp = options.get_socket().is_none() && !options.get_host().starts_with('/');
        Endpoint {
            namespace: options.get_database().map(str::to_owned),
            address: tcp.then(|| options.get_host().to_owned()),
            port: tcp.then(|| (options.get_port(), options.get_port() == 5432)),
        }
    }

    fn response_code(error: &dyn DatabaseError) -> Option<ResponseCode> {
        code_of(error, true)
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn detect_system(_: &sqlx::Pool<Self>) -> BoxFuture<'static, Option<&'static str>> {
        no_detection()
    }
}

#[cfg(feature = "mysql")]
impl sealed::Driver for sqlx::MySql {
    const DIALECT: Dialect = Dialect::MySql;
    /// MySQL or MariaDB: asked once per pool (`SELECT VERSION()`).
    const SYSTEM: Option<&'static str> = None;

    fn endpoint(options: &sqlx::mysql::MySqlConnectOptions) -> Endpoint {
        let tcp = options.get_socket().is_none();
        Endpoint {
            namespace: options.get_database().map(str::to_owned),
            address: tcp.then(|| options.get_host().to_owned()),
            port: tcp.then(|| (options.get_port(), options.get_port() == 3306)),
        }
    }

    /// The MySQL error number (`1062`), which is more specific than its SQLSTATE (`23000`).
    fn response_code(error: &dyn DatabaseError) -> Option<ResponseCode> {
        let error = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?;
        Some(ResponseCode {
            code: error.number().to_string(),
            sqlstate: false,
        })
    }

    fn rows_affected(result: &sqlx::mysql::MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    fn detect_system(pool: &sqlx::Pool<Self>) -> BoxFuture<'static, Option<&'static str>> {
        use tracewire_core::semconv::db::{SYSTEM_MARIADB, SYSTEM_MYSQL};
        let pool = pool.clone();
        Box::pin(async move {
            let version: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&pool)
                .await
                .ok()?;
            let mariadb = version.to_ascii_lowercase().contains("mariadb");
            Some(if mariadb {
                SYSTEM_MARIADB
            } else {
                SYSTEM_MYSQL
            })
        })
    }
}

#[cfg(feature = "sqlite")]
impl sealed::Driver for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const SYSTEM: Option<&'static str> = Some(tracewire_core::semconv::db::SYSTEM_SQLITE);

    /// The database file is the namespace; in-memory databases (`sqlite::memory:` gets a
    /// generated `file:sqlx-in-memory-N` name) have none.
    fn endpoint(options: &sqlx::sqlite::SqliteConnectOptions) -> Endpoint {
        let filename = options.get_filename().to_string_lossy();
        let in_memory = filename.is_empty()
            || filename.starts_with(":memory:")
            || filename.starts_with("file:sqlx-in-memory-");
        Endpoint {
            namespace: (!in_memory).then(|| filename.into_owned()),
            ..Endpoint::default()
        }
    }

    /// The extended result code (`2067` for a unique constraint).
    fn response_code(error: &dyn DatabaseError) -> Option<ResponseCode> {
        code_of(error, false)
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn detect_system(_: &sqlx::Pool<Self>) -> BoxFuture<'static, Option<&'static str>> {
        no_detection()
    }
}
