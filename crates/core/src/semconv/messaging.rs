//! Messaging conventions, with Kafka specifics (semconv messaging, development).
//!
//! Semconv v1.45 renamed five attributes (`messaging.system` → `messaging.system.name` and four
//! `messaging.kafka.*` → `kafka.*`). Which names are emitted follows the `messaging` domain of
//! `OTEL_SEMCONV_STABILITY_OPT_IN`: the v1.44 names by default, the v1.45 names with `messaging`,
//! both with `messaging/dup`. [`MessagingAttributeNames`] resolves the keys for a mode.

use std::borrow::Cow;

use opentelemetry::{KeyValue, Value};

use crate::semconv::http::HostPort;
use crate::semconv::stability::{Renamed, StabilityMode, StabilityOptIn};

pub use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_CLIENT_ID, MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_DESTINATION_SUBSCRIPTION_NAME, MESSAGING_DESTINATION_TEMPLATE,
    MESSAGING_KAFKA_MESSAGE_KEY, MESSAGING_KAFKA_MESSAGE_TOMBSTONE, MESSAGING_KAFKA_OFFSET,
    MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_MESSAGE_CONVERSATION_ID,
    MESSAGING_MESSAGE_ENVELOPE_SIZE, MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
pub use opentelemetry_semantic_conventions::metric::{
    MESSAGING_CLIENT_CONSUMED_MESSAGES, MESSAGING_CLIENT_OPERATION_DURATION,
    MESSAGING_CLIENT_SENT_MESSAGES, MESSAGING_PROCESS_DURATION,
};

/// `messaging.kafka.cluster.id` (added in v1.44, missing from the upstream crate).
pub const MESSAGING_KAFKA_CLUSTER_ID: &str = "messaging.kafka.cluster.id";
/// `messaging.system.name`: the v1.45 name of [`MESSAGING_SYSTEM`].
pub const MESSAGING_SYSTEM_NAME: &str = "messaging.system.name";
/// `kafka.offset`: the v1.45 name of [`MESSAGING_KAFKA_OFFSET`] (int).
pub const KAFKA_OFFSET: &str = "kafka.offset";
/// `kafka.message.key`: the v1.45 name of [`MESSAGING_KAFKA_MESSAGE_KEY`].
pub const KAFKA_MESSAGE_KEY: &str = "kafka.message.key";
/// `kafka.message.tombstone`: the v1.45 name of [`MESSAGING_KAFKA_MESSAGE_TOMBSTONE`].
pub const KAFKA_MESSAGE_TOMBSTONE: &str = "kafka.message.tombstone";
/// `kafka.cluster.id`: the v1.45 name of [`MESSAGING_KAFKA_CLUSTER_ID`].
pub const KAFKA_CLUSTER_ID: &str = "kafka.cluster.id";

/// The messaging system value for Kafka.
pub const SYSTEM_KAFKA: &str = "kafka";

/// `messaging.operation.type` for creating a message (one per span; `PRODUCER`).
pub const OPERATION_TYPE_CREATE: &str = "create";
/// `messaging.operation.type` for sending messages to the broker.
pub const OPERATION_TYPE_SEND: &str = "send";
/// `messaging.operation.type` for a pull (poll/receive; `CLIENT`).
pub const OPERATION_TYPE_RECEIVE: &str = "receive";
/// `messaging.operation.type` for handler processing (`CONSUMER`).
pub const OPERATION_TYPE_PROCESS: &str = "process";
/// `messaging.operation.type` for ack/nack/commit (`CLIENT`).
pub const OPERATION_TYPE_SETTLE: &str = "settle";

/// Kafka `messaging.operation.name` for producing.
pub const KAFKA_OPERATION_SEND: &str = "send";
/// Kafka `messaging.operation.name` for polling.
pub const KAFKA_OPERATION_POLL: &str = "poll";
/// Kafka `messaging.operation.name` for processing.
pub const KAFKA_OPERATION_PROCESS: &str = "process";
/// Kafka `messaging.operation.name` for committing offsets.
pub const KAFKA_OPERATION_COMMIT: &str = "commit";

const SCHEMA_URL_V1_44: &str = "https://opentelemetry.io/schemas/1.44.0";

/// The schema URL of a messaging instrumentation scope: v1.44 while only the old names are
/// emitted, otherwise [`SCHEMA_URL`](crate::semconv::SCHEMA_URL) (v1.45).
pub const fn schema_url(mode: StabilityMode) -> &'static str {
    match mode {
        StabilityMode::Old => SCHEMA_URL_V1_44,
        StabilityMode::New | StabilityMode::Dup => crate::semconv::SCHEMA_URL,
    }
}

/// The span name: `{messaging.operation.name} {destination}`, or the operation alone.
///
/// `destination` is `messaging.destination.template`, else a non-temporary
/// `messaging.destination.name`, else `server.address:server.port` for operations without one.
///
/// ```
/// use tracewire_core::semconv::messaging::span_name;
/// assert_eq!(span_name("send", Some("orders")), "send orders");
/// assert_eq!(span_name("commit", None), "commit");
/// ```
pub fn span_name<'a>(operation_name: &'a str, destination: Option<&str>) -> Cow<'a, str> {
    match destination {
        Some(destination) if !destination.is_empty() => {
            Cow::Owned(format!("{operation_name} {destination}"))
        }
        _ => Cow::Borrowed(operation_name),
    }
}

/// `messaging.destination.partition.id`, which is a string even for Kafka's integer partitions.
pub fn partition_id(partition: i32) -> KeyValue {
    KeyValue::new(MESSAGING_DESTINATION_PARTITION_ID, partition.to_string())
}

/// `messaging.batch.message_count` as an integer (batch APIs only).
pub fn batch_message_count(count: usize) -> KeyValue {
    KeyValue::new(
        MESSAGING_BATCH_MESSAGE_COUNT,
        i64::try_from(count).unwrap_or(i64::MAX),
    )
}

/// `server.address`/`server.port` of a Kafka client: the first entry of its `bootstrap.servers`
/// list (`host:port[,host:port...]`, each optionally prefixed by a listener such as
/// `PLAINTEXT://`). `None` when that entry does not parse; never panics.
///
/// ```
/// use tracewire_core::semconv::messaging::bootstrap_server;
/// let first = bootstrap_server("SSL://kafka-1:9093, kafka-2:9093").unwrap();
/// assert_eq!((first.host, first.port), ("kafka-1", Some(9093)));
/// assert_eq!(bootstrap_server("[::1]:9092").unwrap().host, "::1");
/// assert_eq!(bootstrap_server(""), None);
/// ```
pub fn bootstrap_server(bootstrap_servers: &str) -> Option<HostPort<'_>> {
    let first = bootstrap_servers.split(',').next()?.trim();
    let address = first.split_once("://").map_or(first, |(_, rest)| rest);
    HostPort::parse(address).filter(|host_port| !host_port.host.is_empty())
}

/// The keys of the attributes renamed in v1.45, for one stability mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessagingAttributeNames {
    /// The mode these names were selected for.
    pub mode: StabilityMode,
}

impl MessagingAttributeNames {
    /// `messaging.system` → `messaging.system.name`.
    pub const SYSTEM: Renamed = Renamed {
        old: MESSAGING_SYSTEM,
        new: MESSAGING_SYSTEM_NAME,
    };
    /// `messaging.kafka.offset` → `kafka.offset`.
    pub const KAFKA_OFFSET: Renamed = Renamed {
        old: MESSAGING_KAFKA_OFFSET,
        new: KAFKA_OFFSET,
    };
    /// `messaging.kafka.message.key` → `kafka.message.key`.
    pub const KAFKA_MESSAGE_KEY: Renamed = Renamed {
        old: MESSAGING_KAFKA_MESSAGE_KEY,
        new: KAFKA_MESSAGE_KEY,
    };
    /// `messaging.kafka.message.tombstone` → `kafka.message.tombstone`.
    pub const KAFKA_MESSAGE_TOMBSTONE: Renamed = Renamed {
        old: MESSAGING_KAFKA_MESSAGE_TOMBSTONE,
        new: KAFKA_MESSAGE_TOMBSTONE,
    };
    /// `messaging.kafka.cluster.id` → `kafka.cluster.id`.
    pub const KAFKA_CLUSTER_ID: Renamed = Renamed {
        old: MESSAGING_KAFKA_CLUSTER_ID,
        new: KAFKA_CLUSTER_ID,
    };

    /// The names for `mode`.
    pub const fn new(mode: StabilityMode) -> Self {
        Self { mode }
    }

    /// The names for the process-wide `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn global() -> Self {
        Self::new(StabilityOptIn::global().messaging)
    }

    /// Appends `value` under every key of `attribute` emitted in this mode.
    ///
    /// ```
    /// use tracewire_core::semconv::messaging::MessagingAttributeNames as Names;
    /// use tracewire_core::semconv::stability::StabilityMode;
    /// let mut attrs = Vec::new();
    /// Names::new(StabilityMode::Dup).push(Names::KAFKA_OFFSET, 42_i64, &mut attrs);
    /// let keys: Vec<_> = attrs.iter().map(|kv| kv.key.as_str()).collect();
    /// assert_eq!(keys, ["kafka.offset", "messaging.kafka.offset"]);
    /// ```
    pub fn push(
        &self,
        attribute: Renamed,
        value: impl Into<Value>,
        attributes: &mut Vec<KeyValue>,
    ) {
        let value = value.into();
        attributes.extend(
            attribute
                .keys(self.mode)
                .map(|key| KeyValue::new(key, value.clone())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(mode: StabilityMode, attribute: Renamed) -> Vec<String> {
        let mut attrs = Vec::new();
        MessagingAttributeNames::new(mode).push(attribute, "v", &mut attrs);
        attrs.iter().map(|kv| kv.key.as_str().to_owned()).collect()
    }

    #[test]
    fn renamed_keys_follow_the_mode() {
        let all = [
            (
                MessagingAttributeNames::SYSTEM,
                "messaging.system",
                "messaging.system.name",
            ),
            (
                MessagingAttributeNames::KAFKA_OFFSET,
                "messaging.kafka.offset",
                "kafka.offset",
            ),
            (
                MessagingAttributeNames::KAFKA_MESSAGE_KEY,
                "messaging.kafka.message.key",
                "kafka.message.key",
            ),
            (
                MessagingAttributeNames::KAFKA_MESSAGE_TOMBSTONE,
                "messaging.kafka.message.tombstone",
                "kafka.message.tombstone",
            ),
            (
                MessagingAttributeNames::KAFKA_CLUSTER_ID,
                "messaging.kafka.cluster.id",
                "kafka.cluster.id",
            ),
        ];
        for (attribute, old, new) in all {
            assert_eq!(keys(StabilityMode::Old, attribute), [old]);
            assert_eq!(keys(StabilityMode::New, attribute), [new]);
            assert_eq!(keys(StabilityMode::Dup, attribute), [new, old]);
        }
    }

    #[test]
    fn default_mode_is_the_v1_44_names() {
        let names = MessagingAttributeNames::new(StabilityOptIn::default().messaging);
        let mut attrs = Vec::new();
        names.push(MessagingAttributeNames::SYSTEM, SYSTEM_KAFKA, &mut attrs);
        assert_eq!(attrs[0].key.as_str(), "messaging.system");
        assert_eq!(
            schema_url(names.mode),
            "https://opentelemetry.io/schemas/1.44.0"
        );
        assert_eq!(schema_url(StabilityMode::Dup), crate::semconv::SCHEMA_URL);
    }

    #[test]
    fn span_names() {
        assert_eq!(span_name(KAFKA_OPERATION_POLL, Some("T")), "poll T");
        assert!(matches!(
            span_name("commit", Some("")),
            Cow::Borrowed("commit")
        ));
    }

    #[test]
    fn bootstrap_servers() {
        let parse = |s| bootstrap_server(s).map(|hp| (hp.host, hp.port));
        assert_eq!(parse("localhost:9092"), Some(("localhost", Some(9092))));
        assert_eq!(parse(" broker "), Some(("broker", None)));
        assert_eq!(
            parse("PLAINTEXT://10.0.0.1:9092,b:1"),
            Some(("10.0.0.1", Some(9092)))
        );
        assert_eq!(parse("[::1]:9092"), Some(("::1", Some(9092))));
        assert_eq!(parse(",b:1"), None);
        assert_eq!(parse(":9092"), None);
        assert_eq!(parse("host:port"), None);
        assert_eq!(parse("a b:1"), None);
    }

    proptest::proptest! {
        #[test]
        fn bootstrap_server_never_panics(s in ".*") {
            let _ = bootstrap_server(&s);
        }

        #[test]
        fn bootstrap_server_takes_the_first_entry(
            host in "[a-z][a-z0-9.-]{0,20}",
            port in proptest::option::of(proptest::prelude::any::<u16>()),
            rest in "[a-z0-9:,]{0,20}",
        ) {
            let first = match port {
                Some(port) => format!("{host}:{port}"),
                None => host.clone(),
            };
            let list = format!("SASL_SSL://{first},{rest}");
            let parsed = bootstrap_server(&list).map(|hp| (hp.host, hp.port));
            proptest::prop_assert_eq!(parsed, Some((host.as_str(), port)));
        }
    }

    #[test]
    fn typed_values() {
        assert_eq!(partition_id(3).value, Value::from("3"));
        assert_eq!(batch_message_count(7).value, Value::I64(7));
    }
}
