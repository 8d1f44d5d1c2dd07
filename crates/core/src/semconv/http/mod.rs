//! HTTP client and server conventions (semconv HTTP, stable since v1.23).
//!
//! - keys for spans and metrics, and the legacy names for `http/dup` in [`legacy`];
//! - [`normalize_method`] and [`KnownMethods`] (`OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`);
//! - [`span_name`];
//! - [`server_outcome`] / [`client_outcome`]: span status and `error.type` from a status code;
//! - [`protocol_version`];
//! - [`server_address_from_headers`], [`client_server_address`], [`url_scheme_from_headers`],
//!   [`client_address_from_headers`]: `server.*`, `url.scheme` and `client.address`;
//! - [`HeaderCapture`]: `http.request.header.<name>` / `http.response.header.<name>`.
//!
//! URL redaction lives in [`crate::semconv::url`].

mod address;
mod capture;
mod method;
mod status;

use std::borrow::Cow;

use opentelemetry::KeyValue;

pub use address::{
    HostPort, client_address_from_headers, client_server_address, server_address_from_headers,
    url_scheme_from_headers,
};
pub use capture::{HeaderCapture, SENSITIVE_HEADERS};
pub use method::{
    DEFAULT_KNOWN_METHODS, KnownMethods, NormalizedMethod, OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS,
    normalize_method,
};
pub use status::{client_outcome, protocol_version, server_outcome, status_code_str};

pub use opentelemetry_semantic_conventions::attribute::{
    HTTP_CONNECTION_STATE, HTTP_REQUEST_BODY_SIZE, HTTP_REQUEST_HEADER, HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL, HTTP_REQUEST_RESEND_COUNT, HTTP_REQUEST_SIZE,
    HTTP_RESPONSE_BODY_SIZE, HTTP_RESPONSE_HEADER, HTTP_RESPONSE_SIZE, HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE, USER_AGENT_SYNTHETIC_TYPE,
};
pub use opentelemetry_semantic_conventions::metric::{
    HTTP_CLIENT_ACTIVE_REQUESTS, HTTP_CLIENT_CONNECTION_DURATION, HTTP_CLIENT_OPEN_CONNECTIONS,
    HTTP_CLIENT_REQUEST_BODY_SIZE, HTTP_CLIENT_REQUEST_DURATION, HTTP_CLIENT_RESPONSE_BODY_SIZE,
    HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_BODY_SIZE, HTTP_SERVER_REQUEST_DURATION,
    HTTP_SERVER_RESPONSE_BODY_SIZE,
};

/// `http.request.body.content` (development, unreleased): never captured by default.
pub const HTTP_REQUEST_BODY_CONTENT: &str = "http.request.body.content";
/// `http.response.body.content` (development, unreleased): never captured by default.
pub const HTTP_RESPONSE_BODY_CONTENT: &str = "http.response.body.content";

/// `network.protocol.name` value for HTTP; it is only recorded when it is not `http`.
pub const PROTOCOL_NAME_HTTP: &str = "http";
/// The span name used when `http.request.method` is `_OTHER`.
pub const OTHER_METHOD_SPAN_NAME: &str = "HTTP";
/// `http.connection.state` value for a connection in use.
pub const CONNECTION_STATE_ACTIVE: &str = "active";
/// `http.connection.state` value for an idle connection.
pub const CONNECTION_STATE_IDLE: &str = "idle";

/// Names from the HTTP conventions up to v1.20, emitted next to the stable ones in `http/dup`.
///
/// Defined here because the upstream crate marks them deprecated. The legacy duration metrics
/// were in milliseconds, not seconds.
pub mod legacy {
    /// Old `http.request.method`.
    pub const HTTP_METHOD: &str = "http.method";
    /// Old `http.response.status_code`.
    pub const HTTP_STATUS_CODE: &str = "http.status_code";
    /// Old `url.full`.
    pub const HTTP_URL: &str = "http.url";
    /// Old `url.scheme`.
    pub const HTTP_SCHEME: &str = "http.scheme";
    /// Old `url.path` + `url.query`.
    pub const HTTP_TARGET: &str = "http.target";
    /// Old `network.protocol.version` (with `2.0` where the new value is `2`).
    pub const HTTP_FLAVOR: &str = "http.flavor";
    /// Old `user_agent.original`.
    pub const HTTP_USER_AGENT: &str = "http.user_agent";
    /// Old `client.address`.
    pub const HTTP_CLIENT_IP: &str = "http.client_ip";
    /// Old client-side `server.address`.
    pub const NET_PEER_NAME: &str = "net.peer.name";
    /// Old client-side `server.port`.
    pub const NET_PEER_PORT: &str = "net.peer.port";
    /// Old server-side `server.address`.
    pub const NET_HOST_NAME: &str = "net.host.name";
    /// Old server-side `server.port`.
    pub const NET_HOST_PORT: &str = "net.host.port";
    /// Old `network.peer.address`.
    pub const NET_SOCK_PEER_ADDR: &str = "net.sock.peer.addr";
    /// Old `network.peer.port`.
    pub const NET_SOCK_PEER_PORT: &str = "net.sock.peer.port";
    /// Old `http.request.resend_count`.
    pub const HTTP_RESEND_COUNT: &str = "http.resend_count";
    /// Old server duration metric, in milliseconds.
    pub const HTTP_SERVER_DURATION: &str = "http.server.duration";
    /// Old client duration metric, in milliseconds.
    pub const HTTP_CLIENT_DURATION: &str = "http.client.duration";
}

/// The span name: `{method} {target}`, or `{method}` without a target, where an `_OTHER` method
/// becomes `HTTP`.
///
/// `target` is `http.route` on servers and `url.template` on clients; never pass the raw path.
/// Borrowed (no allocation) when there is no target, and [interned](crate::intern) otherwise.
///
/// ```
/// use tracewire_core::semconv::http::{normalize_method, span_name};
/// assert_eq!(span_name(&normalize_method("GET"), Some("/users/:id")), "GET /users/:id");
/// assert_eq!(span_name(&normalize_method("GET"), None), "GET");
/// assert_eq!(span_name(&normalize_method("BREW"), Some("/pot")), "HTTP /pot");
/// ```
pub fn span_name(method: &NormalizedMethod<'_>, target: Option<&str>) -> Cow<'static, str> {
    let method = match method {
        NormalizedMethod::Known(method) => method,
        NormalizedMethod::Other(_) => OTHER_METHOD_SPAN_NAME,
    };
    match target {
        // Targets are templates (low cardinality by definition): interned, not formatted anew.
        Some(target) if !target.is_empty() => {
            crate::intern::intern_concat_or_own(&[method, " ", target])
        }
        _ => Cow::Borrowed(method),
    }
}

/// `http.response.status_code` as an integer attribute.
pub fn response_status_code(status_code: u16) -> KeyValue {
    KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status_code))
}

/// `http.request.resend_count` as an integer attribute (the ordinal of the resend, from 1).
pub fn resend_count(count: u32) -> KeyValue {
    KeyValue::new(HTTP_REQUEST_RESEND_COUNT, i64::from(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    #[test]
    fn span_names() {
        let get = normalize_method("GET");
        let other = normalize_method("get");
        assert_eq!(span_name(&get, Some("/a/:b")), "GET /a/:b");
        assert!(matches!(span_name(&get, None), Cow::Borrowed("GET")));
        assert!(matches!(span_name(&get, Some("")), Cow::Borrowed("GET")));
        assert_eq!(span_name(&other, None), "HTTP");
        assert_eq!(span_name(&other, Some("/x")), "HTTP /x");
    }

    #[test]
    fn integer_attributes() {
        assert_eq!(response_status_code(404).value, Value::I64(404));
        assert_eq!(
            response_status_code(404).key.as_str(),
            "http.response.status_code"
        );
        assert_eq!(resend_count(2).value, Value::I64(2));
        assert_eq!(resend_count(2).key.as_str(), "http.request.resend_count");
    }
}
