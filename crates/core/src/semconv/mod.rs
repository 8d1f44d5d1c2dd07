//! The OpenTelemetry semantic conventions tracewire follows: attribute keys, enum values, span
//! names and the rules that turn a request's outcome into span status and `error.type`.
//!
//! One module per domain ([`http`], [`url`], [`rpc`], [`db`], [`messaging`]), plus [`error`] for
//! `error.type` and [`stability`] for `OTEL_SEMCONV_STABILITY_OPT_IN`. Keys that exist in
//! `opentelemetry-semantic-conventions` (generated from semconv v1.42) are re-exported from it;
//! newer keys and every enum value are defined here. Keys the upstream crate marks deprecated are
//! defined here too, so adapters emitting them for `/dup` modes do not need `#[allow(deprecated)]`.
//!
//! The keys shared by every domain (`server.*`, `client.*`, `network.*`, `user_agent.original`)
//! live at this level.

pub mod db;
pub mod error;
pub mod http;
pub mod messaging;
pub mod rpc;
pub mod stability;
pub mod url;

use opentelemetry::KeyValue;

pub use opentelemetry_semantic_conventions::attribute::{
    CLIENT_ADDRESS, CLIENT_PORT, NETWORK_LOCAL_ADDRESS, NETWORK_LOCAL_PORT, NETWORK_PEER_ADDRESS,
    NETWORK_PEER_PORT, NETWORK_PROTOCOL_NAME, NETWORK_PROTOCOL_VERSION, NETWORK_TRANSPORT,
    NETWORK_TYPE, SERVER_ADDRESS, SERVER_PORT, USER_AGENT_ORIGINAL,
};

/// The schema URL of tracewire's instrumentation scopes: the semconv version whose names are
/// emitted by default (v1.45.0, which made RPC stable and renamed the Kafka attributes).
///
/// Messaging scopes use [`messaging::schema_url`], which depends on the stability mode.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.45.0";

/// `network.transport` value for TCP.
pub const NETWORK_TRANSPORT_TCP: &str = "tcp";
/// `network.transport` value for UDP.
pub const NETWORK_TRANSPORT_UDP: &str = "udp";
/// `network.transport` value for QUIC.
pub const NETWORK_TRANSPORT_QUIC: &str = "quic";
/// `network.transport` value for Unix domain sockets.
pub const NETWORK_TRANSPORT_UNIX: &str = "unix";
/// `network.type` value for IPv4.
pub const NETWORK_TYPE_IPV4: &str = "ipv4";
/// `network.type` value for IPv6.
pub const NETWORK_TYPE_IPV6: &str = "ipv6";

/// `server.port` as an integer attribute (never a string).
///
/// ```
/// use opentelemetry::Value;
/// let kv = tracewire_core::semconv::server_port(8080);
/// assert_eq!(kv.key.as_str(), "server.port");
/// assert_eq!(kv.value, Value::I64(8080));
/// ```
pub fn server_port(port: u16) -> KeyValue {
    KeyValue::new(SERVER_PORT, i64::from(port))
}

/// `client.port` as an integer attribute.
pub fn client_port(port: u16) -> KeyValue {
    KeyValue::new(CLIENT_PORT, i64::from(port))
}

/// `network.peer.port` as an integer attribute.
pub fn network_peer_port(port: u16) -> KeyValue {
    KeyValue::new(NETWORK_PEER_PORT, i64::from(port))
}

/// `network.local.port` as an integer attribute.
pub fn network_local_port(port: u16) -> KeyValue {
    KeyValue::new(NETWORK_LOCAL_PORT, i64::from(port))
}

/// How an operation ended, as the status rules of a domain classify it.
///
/// `Error` carries the low-cardinality `error.type` to record; `Success` means the span status
/// stays Unset and no `error.type` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Not an error: leave the span status Unset.
    Success,
    /// An error: set the span status to Error and `error.type` to this value.
    Error(&'static str),
}

impl Outcome {
    /// Whether the outcome is an error.
    pub const fn is_error(self) -> bool {
        matches!(self, Self::Error(_))
    }

    /// The `error.type` to record, if the outcome is an error.
    ///
    /// ```
    /// use tracewire_core::semconv::Outcome;
    /// assert_eq!(Outcome::Error("500").error_type(), Some("500"));
    /// assert_eq!(Outcome::Success.error_type(), None);
    /// ```
    pub const fn error_type(self) -> Option<&'static str> {
        match self {
            Self::Success => None,
            Self::Error(error_type) => Some(error_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    #[test]
    fn ports_are_integers() {
        for (kv, key) in [
            (server_port(443), SERVER_PORT),
            (client_port(443), CLIENT_PORT),
            (network_peer_port(443), NETWORK_PEER_PORT),
            (network_local_port(443), NETWORK_LOCAL_PORT),
        ] {
            assert_eq!(kv.key.as_str(), key);
            assert_eq!(kv.value, Value::I64(443));
        }
        assert_eq!(server_port(u16::MAX).value, Value::I64(65535));
    }

    #[test]
    fn outcome_accessors() {
        assert!(Outcome::Error("x").is_error());
        assert!(!Outcome::Success.is_error());
    }
}
