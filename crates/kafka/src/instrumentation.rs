//! The settings every instrumented Kafka client shares, and the attributes all its spans and
//! metrics start from.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use tracewire_core::instrument::{Instrumentation, InstrumentationBuilder};
use tracewire_core::metrics::{MessagingMetrics, duration_seconds};
use tracewire_core::propagation::Propagator;
use tracewire_core::semconv::error::{ERROR_TYPE, OTHER};
use tracewire_core::semconv::messaging::{
    self, MESSAGING_CLIENT_ID, MESSAGING_CONSUMER_GROUP_NAME, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE,
    MessagingAttributeNames as Names, SYSTEM_KAFKA,
};
use tracewire_core::semconv::stability::StabilityOptIn;
use tracewire_core::semconv::{SERVER_ADDRESS, server_port};

/// Which context a `process {topic}` span is parented on; the other one, when valid, becomes a
/// link (semantic conventions, messaging section "trace structure").
///
/// "Creation context" is the producer's context found in the message headers; "ambient" is the
/// span current when processing starts (say an HTTP request or a `poll` span of your own).
/// A message without a valid creation context always gets the ambient span as parent (a new
/// trace when there is none) and no link.
///
/// ```
/// use tracewire_kafka::{KafkaInstrumentation, ProcessParent};
///
/// // Keep consumer work in the caller's trace and link each message's producer instead.
/// let kafka = KafkaInstrumentation::builder()
///     .process_parent(ProcessParent::Ambient)
///     .build();
/// assert_eq!(kafka.process_parent(), ProcessParent::Ambient);
/// assert_eq!(ProcessParent::default(), ProcessParent::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessParent {
    /// The creation context is the parent when there is no ambient span; with an ambient span,
    /// the ambient span is the parent and the creation context a link (the conventions do not
    /// recommend re-parenting work that already belongs to a trace).
    #[default]
    Auto,
    /// The creation context is always the parent; an ambient span becomes a link.
    Message,
    /// The ambient span (or a new trace) is always the parent; the creation context is a link.
    Ambient,
}

/// Settings shared by every instrumented Kafka client: tracer, meter, propagator, attribute
/// generation and privacy options. Cheap to clone.
///
/// ```
/// use tracewire_core::semconv::stability::StabilityOptIn;
/// use tracewire_kafka::{KafkaInstrumentation, ProcessParent};
///
/// let kafka = KafkaInstrumentation::builder()
///     .stability(StabilityOptIn::parse("messaging/dup"))
///     .record_message_keys(true)
///     .process_parent(ProcessParent::Message)
///     .build();
/// assert!(kafka.records_message_keys());
/// ```
#[derive(Clone)]
pub struct KafkaInstrumentation {
    inner: Arc<Settings>,
}

struct Settings {
    instrumentation: Instrumentation,
    propagator: Propagator,
    names: Names,
    record_message_keys: bool,
    process_parent: ProcessParent,
    metrics: OnceLock<MessagingMetrics>,
}

impl fmt::Debug for KafkaInstrumentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaInstrumentation")
            .field("instrumentation", &self.inner.instrumentation)
            .field("propagator", &self.inner.propagator)
            .field("names", &self.inner.names)
            .field("record_message_keys", &self.inner.record_message_keys)
            .field("process_parent", &self.inner.process_parent)
            .finish_non_exhaustive()
    }
}

impl Default for KafkaInstrumentation {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl KafkaInstrumentation {
    /// Starts a builder; every option has a default (see [`KafkaInstrumentationBuilder`]).
    pub fn builder() -> KafkaInstrumentationBuilder {
        KafkaInstrumentationBuilder {
            instrumentation: Instrumentation::builder(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION")),
            propagator: Propagator::global(),
            stability: None,
            record_message_keys: false,
            process_parent: ProcessParent::default(),
        }
    }

    /// The propagator used for record headers.
    pub fn propagator(&self) -> &Propagator {
        &self.inner.propagator
    }

    /// Whether `messaging.kafka.message.key` is recorded.
    pub fn records_message_keys(&self) -> bool {
        self.inner.record_message_keys
    }

    /// How `process` spans choose their parent.
    pub fn process_parent(&self) -> ProcessParent {
        self.inner.process_parent
    }

    pub(crate) fn instrumentation(&self) -> &Instrumentation {
        &self.inner.instrumentation
    }

    pub(crate) fn names(&self) -> Names {
        self.inner.names
    }

    pub(crate) fn metrics(&self) -> &MessagingMetrics {
        self.inner
            .metrics
            .get_or_init(|| MessagingMetrics::new(self.inner.instrumentation.meter()))
    }
}

/// Builds a [`KafkaInstrumentation`].
///
/// | Option | Default |
/// |---|---|
/// | [`tracer_provider`](Self::tracer_provider), [`meter_provider`](Self::meter_provider) | the global providers, resolved on first use |
/// | [`span_backend`](Self::span_backend) | [`SpanBackend::Auto`](tracewire_core::instrument::SpanBackend::Auto) |
/// | [`propagator`](Self::propagator) | [`Propagator::global()`] |
/// | [`stability`](Self::stability) | [`StabilityOptIn::global()`] (`OTEL_SEMCONV_STABILITY_OPT_IN`) |
/// | [`record_message_keys`](Self::record_message_keys) | `false`: keys can be personal data |
/// | [`process_parent`](Self::process_parent) | [`ProcessParent::Auto`] |
///
/// ```
/// use opentelemetry::propagation::TextMapCompositePropagator;
/// use tracewire_core::instrument::SpanBackend;
/// use tracewire_core::propagation::{Propagator, PropagatorKind};
/// use tracewire_kafka::KafkaInstrumentation;
///
/// let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::default();
/// let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::default();
/// let b3 = Propagator::new(TextMapCompositePropagator::new(vec![
///     PropagatorKind::B3Multi.build(),
/// ]));
/// let kafka = KafkaInstrumentation::builder()
///     .tracer_provider(&tracer_provider)
///     .meter_provider(&meter_provider)
///     // OpenTelemetry spans even when a `tracing` subscriber is installed.
///     .span_backend(SpanBackend::OpenTelemetry)
///     .propagator(b3)
///     .build();
/// let mut fields = Vec::new();
/// kafka.propagator().for_each_field(|field| fields.push(field.to_owned()));
/// assert!(fields.contains(&"x-b3-traceid".to_owned()));
/// ```
#[must_use]
pub struct KafkaInstrumentationBuilder {
    instrumentation: InstrumentationBuilder,
    propagator: Propagator,
    stability: Option<StabilityOptIn>,
    record_message_keys: bool,
    process_parent: ProcessParent,
}

impl fmt::Debug for KafkaInstrumentationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaInstrumentationBuilder")
            .field("propagator", &self.propagator)
            .field("stability", &self.stability)
            .field("record_message_keys", &self.record_message_keys)
            .field("process_parent", &self.process_parent)
            .finish_non_exhaustive()
    }
}

impl KafkaInstrumentationBuilder {
    tracewire_core::adapter_builder_options!(
        instrumentation: instrumentation,
        propagator: propagator,
    );

    /// Which attribute names to emit: only the `messaging` domain is read (v1.44 names by
    /// default, v1.45 with `messaging`, both with `messaging/dup`).
    ///
    /// ```
    /// use tracewire_kafka::KafkaInstrumentation;
    /// use tracewire_core::semconv::stability::StabilityOptIn;
    ///
    /// // Emit both the v1.44 and the v1.45 names, whatever the environment says.
    /// let kafka = KafkaInstrumentation::builder()
    ///     .stability(StabilityOptIn::parse("messaging/dup"))
    ///     .build();
    /// ```
    pub fn stability(mut self, stability: StabilityOptIn) -> Self {
        self.stability = Some(stability);
        self
    }

    /// Record the message key (`messaging.kafka.message.key`) when it is UTF-8. Off by default.
    ///
    /// ```
    /// use tracewire_kafka::KafkaInstrumentation;
    /// let kafka = KafkaInstrumentation::builder().record_message_keys(true).build();
    /// assert!(kafka.records_message_keys());
    /// assert!(!KafkaInstrumentation::default().records_message_keys());
    /// ```
    pub fn record_message_keys(mut self, record: bool) -> Self {
        self.record_message_keys = record;
        self
    }

    /// How `process` spans choose their parent; see [`ProcessParent`].
    ///
    /// ```
    /// use tracewire_kafka::KafkaInstrumentation;
    /// use tracewire_kafka::ProcessParent;
    ///
    /// let kafka = KafkaInstrumentation::builder()
    ///     .process_parent(ProcessParent::Message)
    ///     .build();
    /// assert_eq!(kafka.process_parent(), ProcessParent::Message);
    /// ```
    pub fn process_parent(mut self, process_parent: ProcessParent) -> Self {
        self.process_parent = process_parent;
        self
    }

    /// Builds the instrumentation.
    ///
    /// ```
    /// use tracewire_kafka::KafkaInstrumentation;
    /// let kafka = KafkaInstrumentation::builder().build();
    /// assert!(!kafka.records_message_keys());
    /// ```
    pub fn build(self) -> KafkaInstrumentation {
        let stability = self.stability.unwrap_or_else(|| *StabilityOptIn::global());
        let names = Names::new(stability.messaging);
        let instrumentation = self
            .instrumentation
            .schema_url(messaging::schema_url(names.mode))
            .build();
        KafkaInstrumentation {
            inner: Arc::new(Settings {
                instrumentation,
                propagator: self.propagator,
                names,
                record_message_keys: self.record_message_keys,
                process_parent: self.process_parent,
                metrics: OnceLock::new(),
            }),
        }
    }
}

/// What telemetry reports about one Kafka client: `messaging.client.id`, `server.address` and
/// `server.port`, and for consumers `messaging.consumer.group.name`.
///
/// ```
/// use rdkafka::ClientConfig;
/// use tracewire_kafka::ClientInfo;
///
/// let mut config = ClientConfig::new();
/// config
///     .set("bootstrap.servers", "kafka-1:9092,kafka-2:9092")
///     .set("client.id", "billing")
///     .set("group.id", "invoices");
/// let info = ClientInfo::from_config(&config);
/// assert_eq!(info.server_address.as_deref(), Some("kafka-1"));
/// assert_eq!(info.server_port, Some(9092));
/// assert_eq!(info.client_id.as_deref(), Some("billing"));
/// assert_eq!(info.consumer_group.as_deref(), Some("invoices"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `client.id`; not reported when it was not configured.
    pub client_id: Option<String>,
    /// The host of the first bootstrap server.
    pub server_address: Option<String>,
    /// The port of the first bootstrap server.
    pub server_port: Option<u16>,
    /// `group.id` (consumers).
    pub consumer_group: Option<String>,
}

impl ClientInfo {
    /// Reads `client.id`, `bootstrap.servers` (its first entry) and `group.id`.
    pub fn from_config(config: &ClientConfig) -> Self {
        let server = config
            .get("bootstrap.servers")
            .and_then(messaging::bootstrap_server);
        Self {
            client_id: config.get("client.id").map(str::to_owned),
            server_address: server.map(|server| server.host.to_owned()),
            server_port: server.and_then(|server| server.port),
            consumer_group: config.get("group.id").map(str::to_owned),
        }
    }
}

/// One client's instrumentation: the shared settings plus the attributes precomputed from its
/// [`ClientInfo`], so a span costs clones of shared strings rather than new ones.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) kafka: KafkaInstrumentation,
    span_base: Vec<KeyValue>,
    metric_base: Vec<KeyValue>,
}

/// A messaging operation: `messaging.operation.type` and `messaging.operation.name`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operation {
    pub(crate) kind: &'static str,
    pub(crate) name: &'static str,
}

impl Client {
    pub(crate) fn new(kafka: &KafkaInstrumentation, info: ClientInfo) -> Self {
        let names = kafka.names();
        let mut metric_base = Vec::with_capacity(6);
        names.push(Names::SYSTEM, SYSTEM_KAFKA, &mut metric_base);
        if let Some(address) = info.server_address {
            metric_base.push(KeyValue::new(SERVER_ADDRESS, Arc::<str>::from(address)));
        }
        if let Some(port) = info.server_port {
            metric_base.push(server_port(port));
        }
        if let Some(group) = info.consumer_group {
            metric_base.push(KeyValue::new(
                MESSAGING_CONSUMER_GROUP_NAME,
                Arc::<str>::from(group),
            ));
        }
        let mut span_base = metric_base.clone();
        if let Some(client_id) = info.client_id {
            span_base.push(KeyValue::new(
                MESSAGING_CLIENT_ID,
                Arc::<str>::from(client_id),
            ));
        }
        Self {
            kafka: kafka.clone(),
            span_base,
            metric_base,
        }
    }

    /// The start attributes of a span of `operation`, with room for `extra` more.
    pub(crate) fn span_attributes(&self, operation: Operation, extra: usize) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(self.span_base.len() + 2 + extra);
        attributes.extend_from_slice(&self.span_base);
        attributes.push(KeyValue::new(MESSAGING_OPERATION_TYPE, operation.kind));
        attributes.push(KeyValue::new(MESSAGING_OPERATION_NAME, operation.name));
        attributes
    }

    /// The attributes of a metric point of `operation`, with room for `extra` more.
    /// `messaging.operation.type` is only on `messaging.client.operation.duration`.
    pub(crate) fn metric_attributes(
        &self,
        operation: Operation,
        with_type: bool,
        extra: usize,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(self.metric_base.len() + 2 + extra);
        attributes.extend_from_slice(&self.metric_base);
        attributes.push(KeyValue::new(MESSAGING_OPERATION_NAME, operation.name));
        if with_type {
            attributes.push(KeyValue::new(MESSAGING_OPERATION_TYPE, operation.kind));
        }
        attributes
    }

    /// Key (opt-in, UTF-8 only), tombstone (only when true) and body size of one message.
    pub(crate) fn push_message(
        &self,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        attributes: &mut Vec<KeyValue>,
    ) {
        let names = self.kafka.names();
        if self.kafka.records_message_keys()
            && let Some(key) = key.and_then(|key| std::str::from_utf8(key).ok())
        {
            names.push(Names::KAFKA_MESSAGE_KEY, key.to_owned(), attributes);
        }
        match payload {
            Some(payload) => attributes.push(KeyValue::new(
                MESSAGING_MESSAGE_BODY_SIZE,
                i64::try_from(payload.len()).unwrap_or(i64::MAX),
            )),
            None => names.push(Names::KAFKA_MESSAGE_TOMBSTONE, true, attributes),
        }
    }

    pub(crate) fn push_offset(&self, offset: i64, attributes: &mut Vec<KeyValue>) {
        self.kafka
            .names()
            .push(Names::KAFKA_OFFSET, offset, attributes);
    }

    /// Records `messaging.client.operation.duration`, adding `error.type` on failure.
    pub(crate) fn record_duration(
        &self,
        elapsed: Duration,
        mut attributes: Vec<KeyValue>,
        error_type: Option<&str>,
    ) {
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
        }
        self.kafka
            .metrics()
            .operation_duration
            .record(duration_seconds(elapsed), &attributes);
    }
}

/// `messaging.destination.name`.
pub(crate) fn destination(topic: &str) -> KeyValue {
    KeyValue::new(MESSAGING_DESTINATION_NAME, topic.to_owned())
}

/// `error.type` for a Kafka error: the error code's name in upper snake case, as Kafka names its
/// protocol errors (`UNKNOWN_TOPIC_OR_PARTITION`, `MESSAGE_TIMED_OUT`); `_OTHER` for client
/// errors that carry no code.
pub(crate) fn error_type(error: &KafkaError) -> String {
    let Some(code) = error.rdkafka_error_code() else {
        return OTHER.to_owned();
    };
    let camel = format!("{code:?}");
    let mut upper = String::with_capacity(camel.len() + 8);
    for (index, c) in camel.char_indices() {
        if index > 0 && c.is_ascii_uppercase() {
            upper.push('_');
        }
        upper.push(c.to_ascii_uppercase());
    }
    upper
}

#[cfg(test)]
mod tests {
    use rdkafka::error::RDKafkaErrorCode;

    use super::*;

    #[test]
    fn error_types_are_kafka_style_names() {
        let produce = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert_eq!(error_type(&produce), "UNKNOWN_TOPIC_OR_PARTITION");
        let timeout = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(error_type(&timeout), "MESSAGE_TIMED_OUT");
        assert_eq!(error_type(&KafkaError::Canceled), "_OTHER");
    }

    #[test]
    fn client_info_tolerates_missing_and_bad_values() {
        let mut config = ClientConfig::new();
        assert_eq!(ClientInfo::from_config(&config), ClientInfo::default());
        config.set("bootstrap.servers", "not a host:port");
        assert_eq!(ClientInfo::from_config(&config).server_address, None);
    }
}
