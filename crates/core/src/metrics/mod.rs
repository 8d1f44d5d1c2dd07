//! The instruments the adapters record, with the units, descriptions and bucket advice of the
//! semantic conventions. Build each set once per layer and clone it into requests.
//!
//! Durations are `f64` seconds ([`duration_seconds`]); sizes are `u64` bytes; counts of things in
//! flight are `i64` up-down counters. [`BoundCache`] keeps instruments bound to their attribute
//! sets, so that recording on the hot path skips the SDK's attribute lookup.

mod attributes;
mod bound;

pub use attributes::AttributeBuffer;
pub use bound::{BoundCache, ByAddress, DEFAULT_BOUND_SETS};

use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};

use crate::semconv::{db, http, messaging, rpc};

/// Bucket advice for `http.{server,client}.request.duration` (seconds).
pub const HTTP_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Bucket advice for `rpc.{server,client}.call.duration` (seconds).
pub const RPC_DURATION_BUCKETS: [f64; 14] = HTTP_DURATION_BUCKETS;
/// Bucket advice for `messaging.client.operation.duration` and `messaging.process.duration`.
pub const MESSAGING_DURATION_BUCKETS: [f64; 14] = HTTP_DURATION_BUCKETS;
/// Bucket advice for `db.client.operation.duration` (seconds).
pub const DB_DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
/// Bucket advice for `db.client.response.returned_rows`.
pub const DB_RETURNED_ROWS_BUCKETS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// A duration in seconds, the unit of every duration metric.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tracewire_core::metrics::duration_seconds(Duration::from_millis(1500)), 1.5);
/// ```
#[inline]
pub fn duration_seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn seconds_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    buckets: &[f64],
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(buckets.to_vec())
        .build()
}

/// A histogram without bucket advice, for pool wait times where semconv gives none.
fn plain_seconds_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .build()
}

fn bytes_histogram(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<u64> {
    meter
        .u64_histogram(name)
        .with_unit("By")
        .with_description(description)
        .build()
}

fn up_down_counter(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
) -> UpDownCounter<i64> {
    meter
        .i64_up_down_counter(name)
        .with_unit(unit)
        .with_description(description)
        .build()
}

fn counter(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_unit(unit)
        .with_description(description)
        .build()
}

/// HTTP server instruments.
#[derive(Clone, Debug)]
pub struct HttpServerMetrics {
    /// `http.server.request.duration` (s).
    pub request_duration: Histogram<f64>,
    /// `http.server.active_requests` (`{request}`).
    pub active_requests: UpDownCounter<i64>,
    /// `http.server.request.body.size` (By).
    pub request_body_size: Histogram<u64>,
    /// `http.server.response.body.size` (By).
    pub response_body_size: Histogram<u64>,
}

impl HttpServerMetrics {
    /// Creates the instruments on `meter`.
    ///
    /// ```
    /// use opentelemetry::global;
    /// use tracewire_core::metrics::HttpServerMetrics;
    /// let metrics = HttpServerMetrics::new(&global::meter("tracewire-axum"));
    /// metrics.request_duration.record(0.012, &[]);
    /// ```
    pub fn new(meter: &Meter) -> Self {
        Self {
            request_duration: seconds_histogram(
                meter,
                http::HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
                &HTTP_DURATION_BUCKETS,
            ),
            active_requests: up_down_counter(
                meter,
                http::HTTP_SERVER_ACTIVE_REQUESTS,
                "{request}",
                "Number of active HTTP server requests.",
            ),
            request_body_size: bytes_histogram(
                meter,
                http::HTTP_SERVER_REQUEST_BODY_SIZE,
                "Size of HTTP server request bodies.",
            ),
            response_body_size: bytes_histogram(
                meter,
                http::HTTP_SERVER_RESPONSE_BODY_SIZE,
                "Size of HTTP server response bodies.",
            ),
        }
    }
}

/// HTTP client instruments.
#[derive(Clone, Debug)]
pub struct HttpClientMetrics {
    /// `http.client.request.duration` (s).
    pub request_duration: Histogram<f64>,
    /// `http.client.active_requests` (`{request}`).
    pub active_requests: UpDownCounter<i64>,
    /// `http.client.request.body.size` (By).
    pub request_body_size: Histogram<u64>,
    /// `http.client.response.body.size` (By).
    pub response_body_size: Histogram<u64>,
}

impl HttpClientMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            request_duration: seconds_histogram(
                meter,
                http::HTTP_CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests.",
                &HTTP_DURATION_BUCKETS,
            ),
            active_requests: up_down_counter(
                meter,
                http::HTTP_CLIENT_ACTIVE_REQUESTS,
                "{request}",
                "Number of outbound HTTP requests that are currently active on the client.",
            ),
            request_body_size: bytes_histogram(
                meter,
                http::HTTP_CLIENT_REQUEST_BODY_SIZE,
                "Size of HTTP client request bodies.",
            ),
            response_body_size: bytes_histogram(
                meter,
                http::HTTP_CLIENT_RESPONSE_BODY_SIZE,
                "Size of HTTP client response bodies.",
            ),
        }
    }
}

/// RPC server instruments.
#[derive(Clone, Debug)]
pub struct RpcServerMetrics {
    /// `rpc.server.call.duration` (s).
    pub call_duration: Histogram<f64>,
}

impl RpcServerMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            call_duration: seconds_histogram(
                meter,
                rpc::RPC_SERVER_CALL_DURATION,
                "Measures the duration of incoming remote procedure calls.",
                &RPC_DURATION_BUCKETS,
            ),
        }
    }
}

/// RPC client instruments.
#[derive(Clone, Debug)]
pub struct RpcClientMetrics {
    /// `rpc.client.call.duration` (s).
    pub call_duration: Histogram<f64>,
}

impl RpcClientMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            call_duration: seconds_histogram(
                meter,
                rpc::RPC_CLIENT_CALL_DURATION,
                "Measures the duration of outgoing remote procedure calls.",
                &RPC_DURATION_BUCKETS,
            ),
        }
    }
}

/// Database client operation instruments.
#[derive(Clone, Debug)]
pub struct DbClientMetrics {
    /// `db.client.operation.duration` (s).
    pub operation_duration: Histogram<f64>,
    /// `db.client.response.returned_rows` (`{row}`).
    pub returned_rows: Histogram<u64>,
}

impl DbClientMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            operation_duration: seconds_histogram(
                meter,
                db::DB_CLIENT_OPERATION_DURATION,
                "Duration of database client operations.",
                &DB_DURATION_BUCKETS,
            ),
            returned_rows: meter
                .u64_histogram(db::DB_CLIENT_RESPONSE_RETURNED_ROWS)
                .with_unit("{row}")
                .with_description(
                    "The actual number of records returned by the database operation.",
                )
                .with_boundaries(DB_RETURNED_ROWS_BUCKETS.to_vec())
                .build(),
        }
    }
}

/// Database connection pool instruments; every recording carries
/// `db.client.connection.pool.name`.
#[derive(Clone, Debug)]
pub struct DbConnectionPoolMetrics {
    /// `db.client.connection.count` (`{connection}`), with `db.client.connection.state`.
    pub count: UpDownCounter<i64>,
    /// `db.client.connection.idle.max` (`{connection}`).
    pub idle_max: UpDownCounter<i64>,
    /// `db.client.connection.idle.min` (`{connection}`).
    pub idle_min: UpDownCounter<i64>,
    /// `db.client.connection.limit` (`{connection}`), named `db.client.connection.max` before v1.45.
    pub limit: UpDownCounter<i64>,
    /// `db.client.connection.pending_requests` (`{request}`).
    pub pending_requests: UpDownCounter<i64>,
    /// `db.client.connection.timeouts` (`{timeout}`).
    pub timeouts: Counter<u64>,
    /// `db.client.connection.create_time` (s).
    pub create_time: Histogram<f64>,
    /// `db.client.connection.wait_time` (s).
    pub wait_time: Histogram<f64>,
    /// `db.client.connection.use_time` (s).
    pub use_time: Histogram<f64>,
}

impl DbConnectionPoolMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let connections =
            |name, description| up_down_counter(meter, name, "{connection}", description);
        Self {
            count: connections(
                db::DB_CLIENT_CONNECTION_COUNT,
                "The number of connections that are currently in the state described by the state attribute.",
            ),
            idle_max: connections(
                db::DB_CLIENT_CONNECTION_IDLE_MAX,
                "The maximum number of idle open connections allowed.",
            ),
            idle_min: connections(
                db::DB_CLIENT_CONNECTION_IDLE_MIN,
                "The minimum number of idle open connections allowed.",
            ),
            limit: connections(
                db::DB_CLIENT_CONNECTION_LIMIT,
                "The maximum number of open connections allowed.",
            ),
            pending_requests: up_down_counter(
                meter,
                db::DB_CLIENT_CONNECTION_PENDING_REQUESTS,
                "{request}",
                "The number of current pending requests for an open connection.",
            ),
            timeouts: counter(
                meter,
                db::DB_CLIENT_CONNECTION_TIMEOUTS,
                "{timeout}",
                "The number of connection timeouts that have occurred trying to obtain a connection from the pool.",
            ),
            create_time: plain_seconds_histogram(
                meter,
                db::DB_CLIENT_CONNECTION_CREATE_TIME,
                "The time it took to create a new connection.",
            ),
            wait_time: plain_seconds_histogram(
                meter,
                db::DB_CLIENT_CONNECTION_WAIT_TIME,
                "The time it took to obtain an open connection from the pool.",
            ),
            use_time: plain_seconds_histogram(
                meter,
                db::DB_CLIENT_CONNECTION_USE_TIME,
                "The time between borrowing a connection and returning it to the pool.",
            ),
        }
    }
}

/// Messaging instruments.
#[derive(Clone, Debug)]
pub struct MessagingMetrics {
    /// `messaging.client.operation.duration` (s): send, receive, settle; not processing.
    pub operation_duration: Histogram<f64>,
    /// `messaging.process.duration` (s): required for `process` operations.
    pub process_duration: Histogram<f64>,
    /// `messaging.client.sent.messages` (`{message}`): messages the producer attempted to send.
    pub sent_messages: Counter<u64>,
    /// `messaging.client.consumed.messages` (`{message}`): counted once per delivery.
    pub consumed_messages: Counter<u64>,
}

impl MessagingMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            operation_duration: seconds_histogram(
                meter,
                messaging::MESSAGING_CLIENT_OPERATION_DURATION,
                "Duration of messaging operation initiated by a producer or consumer client.",
                &MESSAGING_DURATION_BUCKETS,
            ),
            process_duration: seconds_histogram(
                meter,
                messaging::MESSAGING_PROCESS_DURATION,
                "Duration of processing operation.",
                &MESSAGING_DURATION_BUCKETS,
            ),
            sent_messages: counter(
                meter,
                messaging::MESSAGING_CLIENT_SENT_MESSAGES,
                "{message}",
                "Number of messages producer attempted to send to the broker.",
            ),
            consumed_messages: counter(
                meter,
                messaging::MESSAGING_CLIENT_CONSUMED_MESSAGES,
                "{message}",
                "Number of messages that were delivered to the application.",
            ),
        }
    }
}
