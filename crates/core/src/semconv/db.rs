//! Database client conventions (semconv DB, stable since v1.33 for PostgreSQL, MySQL, MariaDB
//! and SQL Server).

use std::borrow::Cow;

pub use opentelemetry_semantic_conventions::attribute::{
    DB_CLIENT_CONNECTION_POOL_NAME, DB_CLIENT_CONNECTION_STATE, DB_COLLECTION_NAME, DB_NAMESPACE,
    DB_OPERATION_BATCH_SIZE, DB_OPERATION_NAME, DB_QUERY_PARAMETER, DB_QUERY_SUMMARY,
    DB_QUERY_TEXT, DB_RESPONSE_RETURNED_ROWS, DB_RESPONSE_STATUS_CODE, DB_STORED_PROCEDURE_NAME,
    DB_SYSTEM_NAME,
};
pub use opentelemetry_semantic_conventions::metric::{
    DB_CLIENT_CONNECTION_COUNT, DB_CLIENT_CONNECTION_CREATE_TIME, DB_CLIENT_CONNECTION_IDLE_MAX,
    DB_CLIENT_CONNECTION_IDLE_MIN, DB_CLIENT_CONNECTION_MAX, DB_CLIENT_CONNECTION_PENDING_REQUESTS,
    DB_CLIENT_CONNECTION_TIMEOUTS, DB_CLIENT_CONNECTION_USE_TIME, DB_CLIENT_CONNECTION_WAIT_TIME,
    DB_CLIENT_OPERATION_DURATION, DB_CLIENT_RESPONSE_RETURNED_ROWS,
};

/// `db.client.connection.limit`: the v1.45 name of [`DB_CLIENT_CONNECTION_MAX`], the one tracewire
/// emits.
pub const DB_CLIENT_CONNECTION_LIMIT: &str = "db.client.connection.limit";

/// The number of rows a statement changed. Semconv has no attribute for it, so tracewire
/// records it under its own namespace, as the naming rules ask for custom attributes.
pub const TRACEWIRE_DB_RESPONSE_AFFECTED_ROWS: &str = "tracewire.db.response.affected_rows";

/// `db.system.name` for PostgreSQL.
pub const SYSTEM_POSTGRESQL: &str = "postgresql";
/// `db.system.name` for MySQL.
pub const SYSTEM_MYSQL: &str = "mysql";
/// `db.system.name` for MariaDB.
pub const SYSTEM_MARIADB: &str = "mariadb";
/// `db.system.name` for Microsoft SQL Server.
pub const SYSTEM_MICROSOFT_SQL_SERVER: &str = "microsoft.sql_server";
/// `db.system.name` for SQLite (development).
pub const SYSTEM_SQLITE: &str = "sqlite";
/// `db.system.name` fallback when the SQL product is unknown.
pub const SYSTEM_OTHER_SQL: &str = "other_sql";

/// `db.client.connection.state` for an idle connection.
pub const CONNECTION_STATE_IDLE: &str = "idle";
/// `db.client.connection.state` for a connection in use.
pub const CONNECTION_STATE_USED: &str = "used";

/// The prefix of a batch's `db.operation.name` (`BATCH INSERT`, or `BATCH` for mixed batches).
pub const BATCH: &str = "BATCH";

/// Names from the DB conventions up to v1.24, emitted next to the stable ones in `database/dup`.
///
/// The old `db.system` values equal the new `db.system.name` values for PostgreSQL, MySQL,
/// MariaDB and SQLite. Old pool metrics were named `db.client.connections.*`.
pub mod legacy {
    /// Old `db.system.name`.
    pub const DB_SYSTEM: &str = "db.system";
    /// Old `db.query.text`.
    pub const DB_STATEMENT: &str = "db.statement";
    /// Old `db.namespace`.
    pub const DB_NAME: &str = "db.name";
    /// Old `db.operation.name`.
    pub const DB_OPERATION: &str = "db.operation";
    /// Old `db.collection.name`.
    pub const DB_SQL_TABLE: &str = "db.sql.table";
}

/// A database response code, for `db.response.status_code` and the error rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseCode<'a> {
    /// A five-character SQLSTATE (`23505`, `08P01`).
    SqlState(&'a str),
    /// A product-specific code (`1062` for MySQL, `ORA-17002`).
    Native(&'a str),
}

impl<'a> ResponseCode<'a> {
    /// The value of `db.response.status_code`.
    pub const fn as_str(&self) -> &'a str {
        match self {
            Self::SqlState(code) | Self::Native(code) => code,
        }
    }
}

/// Whether a SQLSTATE is an error: every class but `00` (success) and `01` (warning). A value
/// that is not a SQLSTATE (not five ASCII letters or digits) counts as an error.
///
/// ```
/// use tracewire_core::semconv::db::sqlstate_is_error;
/// assert!(!sqlstate_is_error("01000"));
/// assert!(sqlstate_is_error("02000"));
/// assert!(sqlstate_is_error("23505"));
/// ```
pub fn sqlstate_is_error(sqlstate: &str) -> bool {
    let valid = sqlstate.len() == 5 && sqlstate.bytes().all(|b| b.is_ascii_alphanumeric());
    !valid || !(sqlstate.starts_with("00") || sqlstate.starts_with("01"))
}

/// Whether a response code is an error for `system` (a `db.system.name`):
/// - PostgreSQL: SQLSTATE class `02` or higher (anything but `00` and `01`);
/// - MySQL: every code;
/// - MariaDB: SQLSTATE class `02` or higher when a SQLSTATE is available, else every code;
/// - other systems: the SQLSTATE rule for SQLSTATEs, every native code.
///
/// ```
/// use tracewire_core::semconv::db::{is_error, ResponseCode, SYSTEM_MYSQL, SYSTEM_POSTGRESQL};
/// assert!(!is_error(SYSTEM_POSTGRESQL, ResponseCode::SqlState("01003")));
/// assert!(is_error(SYSTEM_POSTGRESQL, ResponseCode::SqlState("40001")));
/// assert!(is_error(SYSTEM_MYSQL, ResponseCode::SqlState("01000")));
/// ```
pub fn is_error(system: &str, code: ResponseCode<'_>) -> bool {
    match code {
        _ if system == SYSTEM_MYSQL => true,
        ResponseCode::SqlState(sqlstate) => sqlstate_is_error(sqlstate),
        ResponseCode::Native(_) => true,
    }
}

/// The span target: the first of `db.collection.name`, `db.stored_procedure.name`,
/// `db.namespace`, `server.address:server.port` (or the address alone without a port).
///
/// ```
/// use tracewire_core::semconv::db::span_target;
/// assert_eq!(span_target(None, None, None, Some(("db", Some(5432)))).as_deref(), Some("db:5432"));
/// assert_eq!(span_target(Some("users"), None, Some("app"), None).as_deref(), Some("users"));
/// ```
pub fn span_target<'a>(
    collection: Option<&'a str>,
    stored_procedure: Option<&'a str>,
    namespace: Option<&'a str>,
    server: Option<(&'a str, Option<u16>)>,
) -> Option<Cow<'a, str>> {
    let non_empty = |value: &Option<&'a str>| value.filter(|v| !v.is_empty());
    if let Some(name) = non_empty(&collection)
        .or_else(|| non_empty(&stored_procedure))
        .or_else(|| non_empty(&namespace))
    {
        return Some(Cow::Borrowed(name));
    }
    match server? {
        ("", _) => None,
        (address, None) => Some(Cow::Borrowed(address)),
        (address, Some(port)) => Some(Cow::Owned(format!("{address}:{port}"))),
    }
}

/// The span name: `{db.query.summary}`, else `{db.operation.name} {target}` (or the operation
/// alone), else `{target}`, else `{db.system.name}`. Empty values count as absent.
///
/// ```
/// use tracewire_core::semconv::db::span_name;
/// assert_eq!(span_name(Some("SELECT users"), Some("SELECT"), Some("users"), "postgresql"), "SELECT users");
/// assert_eq!(span_name(None, Some("INSERT"), Some("orders"), "postgresql"), "INSERT orders");
/// assert_eq!(span_name(None, None, Some("app"), "postgresql"), "app");
/// assert_eq!(span_name(None, None, None, "postgresql"), "postgresql");
/// ```
pub fn span_name<'a>(
    summary: Option<&'a str>,
    operation: Option<&'a str>,
    target: Option<&'a str>,
    system: &'a str,
) -> Cow<'a, str> {
    let summary = summary.filter(|s| !s.is_empty());
    let operation = operation.filter(|s| !s.is_empty());
    let target = target.filter(|s| !s.is_empty());
    match (summary, operation, target) {
        (Some(summary), _, _) => Cow::Borrowed(summary),
        (None, Some(operation), Some(target)) => Cow::Owned(format!("{operation} {target}")),
        (None, Some(name), None) | (None, None, Some(name)) => Cow::Borrowed(name),
        (None, None, None) => Cow::Borrowed(system),
    }
}

/// The pool name used when the pool has none: `server.address:server.port/db.namespace`.
///
/// ```
/// use tracewire_core::semconv::db::pool_name;
/// assert_eq!(pool_name("db.local", 5432, "app"), "db.local:5432/app");
/// ```
pub fn pool_name(server_address: &str, server_port: u16, namespace: &str) -> String {
    format!("{server_address}:{server_port}/{namespace}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes() {
        for ok in ["00000", "01000", "01003", "01P01"] {
            assert!(!sqlstate_is_error(ok), "{ok}");
        }
        for err in [
            "02000", "0A000", "08P01", "22012", "23505", "40001", "42P01", "XX000", "P0001",
        ] {
            assert!(sqlstate_is_error(err), "{err}");
        }
        for invalid in ["", "0100", "010000", "01-00", "0100\u{e9}"] {
            assert!(sqlstate_is_error(invalid), "{invalid:?}");
        }
    }

    #[test]
    fn error_rules_per_system() {
        use ResponseCode::{Native, SqlState};
        assert!(!is_error(SYSTEM_POSTGRESQL, SqlState("00000")));
        assert!(!is_error(SYSTEM_POSTGRESQL, SqlState("01000")));
        assert!(is_error(SYSTEM_POSTGRESQL, SqlState("02000")));
        assert!(is_error(SYSTEM_POSTGRESQL, Native("57P01")));
        assert!(is_error(SYSTEM_MYSQL, SqlState("01000")));
        assert!(is_error(SYSTEM_MYSQL, Native("1062")));
        assert!(!is_error(SYSTEM_MARIADB, SqlState("01000")));
        assert!(is_error(SYSTEM_MARIADB, SqlState("23000")));
        assert!(is_error(SYSTEM_MARIADB, Native("1062")));
        assert!(!is_error(SYSTEM_SQLITE, SqlState("01000")));
        assert!(is_error(SYSTEM_SQLITE, Native("SQLITE_BUSY")));
        assert_eq!(Native("1062").as_str(), "1062");
        assert_eq!(SqlState("23505").as_str(), "23505");
        assert!(TRACEWIRE_DB_RESPONSE_AFFECTED_ROWS.starts_with("tracewire."));
    }

    #[test]
    fn span_name_rules() {
        assert_eq!(span_name(Some("S"), Some("op"), Some("t"), "pg"), "S");
        assert_eq!(span_name(Some(""), Some("op"), Some("t"), "pg"), "op t");
        assert_eq!(span_name(None, Some("op"), None, "pg"), "op");
        assert_eq!(span_name(None, Some(""), Some("t"), "pg"), "t");
        assert_eq!(span_name(None, None, Some(""), "pg"), "pg");
    }

    #[test]
    fn span_target_precedence() {
        let server = Some(("h", Some(1)));
        assert_eq!(
            span_target(Some("c"), Some("p"), Some("n"), server).as_deref(),
            Some("c")
        );
        assert_eq!(
            span_target(None, Some("p"), Some("n"), server).as_deref(),
            Some("p")
        );
        assert_eq!(
            span_target(Some(""), None, Some("n"), server).as_deref(),
            Some("n")
        );
        assert_eq!(
            span_target(None, None, None, server).as_deref(),
            Some("h:1")
        );
        assert_eq!(
            span_target(None, None, None, Some(("h", None))).as_deref(),
            Some("h")
        );
        assert_eq!(span_target(None, None, None, Some(("", Some(1)))), None);
        assert_eq!(span_target(None, None, None, None), None);
    }
}
