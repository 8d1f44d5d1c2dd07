//! Producer instrumentation: a `send {topic}` PRODUCER span per message, whose context is
//! injected into the record headers, ended when the broker acknowledges (or refuses) delivery.
//!
//! - [`TracedProducer`] wraps [`FutureProducer`]: `send` does everything.
//! - [`ProducerTelemetry`] is the same machinery for [`BaseProducer`](rdkafka::producer::BaseProducer)
//!   and [`ThreadedProducer`](rdkafka::producer::ThreadedProducer) users, whose deliveries arrive
//!   in a [`ProducerContext`](rdkafka::producer::ProducerContext) callback:
//!   [`ProducerTelemetry::prepare_record`] returns the record with the span's context in its
//!   headers and the [`SendSpan`] as its delivery opaque; the callback calls
//!   [`SendSpan::record_delivery`].

use std::sync::Arc;

use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::FromClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{DeliveryResult, Message, OwnedHeaders, ToBytes};
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, IntoOpaque, Timeout};
use tracewire_core::instrument::{ActiveSpan, SpanStart};
use tracewire_core::semconv::messaging::{
    self, KAFKA_OPERATION_SEND, OPERATION_TYPE_SEND, partition_id,
};

use crate::headers;
use crate::instrumentation::{
    Client, ClientInfo, KafkaInstrumentation, Operation, destination, error_type,
};

const SEND: Operation = Operation {
    kind: OPERATION_TYPE_SEND,
    name: KAFKA_OPERATION_SEND,
};

/// Starts `send` spans and records deliveries for one producer client. Cheap to clone.
///
/// For `BaseProducer`/`ThreadedProducer`, whose deliveries are reported to a
/// `ProducerContext`: [`prepare_record`](Self::prepare_record) makes the [`SendSpan`] the
/// record's delivery opaque, and the context's `delivery` callback records the outcome.
///
/// ```
/// use rdkafka::ClientConfig;
/// use rdkafka::message::DeliveryResult;
/// use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
/// use rdkafka::client::ClientContext;
/// use tracewire_kafka::{ClientInfo, KafkaInstrumentation, ProducerTelemetry, SendSpan};
///
/// struct Deliveries;
/// impl ClientContext for Deliveries {}
/// impl ProducerContext for Deliveries {
///     type DeliveryOpaque = Box<SendSpan>;
///     fn delivery(&self, result: &DeliveryResult<'_>, span: Box<SendSpan>) {
///         span.record_delivery(result);
///     }
/// }
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "localhost:9092");
/// let producer: ThreadedProducer<Deliveries> = config.create_with_context(Deliveries)?;
/// let telemetry = ProducerTelemetry::new(&KafkaInstrumentation::default(), ClientInfo::from_config(&config));
///
/// let record = telemetry.prepare_record(BaseRecord::<str, str>::to("orders").payload("o-1"));
/// if let Err((error, record)) = producer.send(record) {
///     record.delivery_opaque.record_error(&error); // never queued
/// }
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProducerTelemetry {
    client: Arc<Client>,
}

impl ProducerTelemetry {
    /// Telemetry for a producer described by `info`.
    pub fn new(kafka: &KafkaInstrumentation, info: ClientInfo) -> Self {
        Self {
            client: Arc::new(Client::new(kafka, info)),
        }
    }

    /// Starts the `send {topic}` span of `record` (child of the current context), injects its
    /// context into the record's headers (replacing stale propagation headers) and makes the
    /// [`SendSpan`] the record's delivery opaque.
    pub fn prepare_record<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, ()>,
    ) -> BaseRecord<'a, K, P, Box<SendSpan>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.prepare_record_with(record, |(), span| Box::new(span))
    }

    /// [`prepare_record`](Self::prepare_record) for records that already carry an opaque:
    /// `combine` makes the new opaque from the old one and the span.
    pub fn prepare_record_with<'a, K, P, D, O>(
        &self,
        record: BaseRecord<'a, K, P, D>,
        combine: impl FnOnce(D, SendSpan) -> O,
    ) -> BaseRecord<'a, K, P, O>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        D: IntoOpaque,
        O: IntoOpaque,
    {
        let (span, headers) = self.start(
            record.topic,
            record.key.map(ToBytes::to_bytes),
            record.payload.map(ToBytes::to_bytes),
            record.headers,
        );
        BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers,
            delivery_opaque: combine(record.delivery_opaque, span),
        }
    }

    fn start(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> (SendSpan, Option<OwnedHeaders>) {
        let client = &self.client;
        let mut attributes = client.span_attributes(SEND, 4);
        attributes.push(destination(topic));
        client.push_message(key, payload, &mut attributes);
        let span = client.kafka.instrumentation().start(
            SpanStart::new(
                SpanKind::Producer,
                messaging::span_name(KAFKA_OPERATION_SEND, Some(topic)).into_owned(),
            )
            .attributes(attributes),
        );
        let headers = headers::inject(client.kafka.propagator(), span.context(), headers);
        let mut metric_attributes = client.metric_attributes(SEND, false, 3);
        metric_attributes.push(destination(topic));
        let span = SendSpan {
            span,
            client: Arc::clone(client),
            metric_attributes,
        };
        (span, headers)
    }
}

/// The `send` span of one message, until its delivery is known.
///
/// Dropping it without recording a delivery ends the span without an outcome and counts no
/// message (nothing reached the broker as far as we know).
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use rdkafka::error::KafkaError;
/// use rdkafka::producer::BaseRecord;
/// use rdkafka::types::RDKafkaErrorCode;
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
/// use tracewire_kafka::{ClientInfo, KafkaInstrumentation, ProducerTelemetry};
///
/// let propagator = Propagator::new(TraceContextPropagator::new());
/// let kafka = KafkaInstrumentation::builder()
///     .tracer_provider(&SdkTracerProvider::default())
///     .propagator(propagator.clone())
///     .build();
/// let telemetry = ProducerTelemetry::new(&kafka, ClientInfo::default());
/// let record = telemetry.prepare_record(BaseRecord::<str, str>::to("orders").payload("o-1"));
///
/// // The record's headers carry the span's own context.
/// let carried = tracewire_kafka::headers::extract(&propagator, record.headers.as_ref());
/// let span = record.delivery_opaque;
/// assert_eq!(
///     carried.span().span_context().span_id(),
///     span.context().span().span_context().span_id()
/// );
/// // Say the producer refused it: the span ends with `error.type = QUEUE_FULL`.
/// span.record_error(&KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull));
/// ```
#[derive(Debug)]
#[must_use = "record the delivery, or the span ends without an outcome"]
pub struct SendSpan {
    span: ActiveSpan,
    client: Arc<Client>,
    metric_attributes: Vec<KeyValue>,
}

impl SendSpan {
    /// The span's context: what was injected into the record headers.
    pub fn context(&self) -> &Context {
        self.span.context()
    }

    /// Ends the span with the outcome a `ProducerContext::delivery` callback received.
    pub fn record_delivery(self, result: &DeliveryResult<'_>) {
        match result {
            Ok(message) => self.delivered(message.partition(), message.offset()),
            Err((error, message)) => self.failed(error, message.partition()),
        }
    }

    /// Ends the span as failed: the producer refused the record (e.g. `QueueFull`), so it was
    /// never queued.
    pub fn record_error(self, error: &KafkaError) {
        self.failed(error, -1);
    }

    fn delivered(mut self, partition: i32, offset: i64) {
        let mut attributes = Vec::with_capacity(3);
        attributes.push(partition_id(partition));
        self.client.push_offset(offset, &mut attributes);
        self.span.set_attributes(attributes);
        self.metric_attributes.push(partition_id(partition));
        self.finish(None);
    }

    fn failed(mut self, error: &KafkaError, partition: i32) {
        let error_type = error_type(error);
        self.span.set_error(error_type.clone());
        if partition >= 0 {
            self.span.set_attribute(partition_id(partition));
            self.metric_attributes.push(partition_id(partition));
        }
        self.finish(Some(&error_type));
    }

    fn finish(self, error_type: Option<&str>) {
        let Self {
            span,
            client,
            mut metric_attributes,
        } = self;
        let elapsed = span.elapsed();
        span.end();
        let mut duration_attributes = metric_attributes.clone();
        duration_attributes.push(KeyValue::new(
            messaging::MESSAGING_OPERATION_TYPE,
            SEND.kind,
        ));
        client.record_duration(elapsed, duration_attributes, error_type);
        if let Some(error_type) = error_type {
            metric_attributes.push(KeyValue::new(
                tracewire_core::semconv::error::ERROR_TYPE,
                error_type.to_owned(),
            ));
        }
        client
            .kafka
            .metrics()
            .sent_messages
            .add(1, &metric_attributes);
    }
}

/// A [`FutureProducer`] whose `send` traces each message.
///
/// ```no_run
/// use std::time::Duration;
/// use rdkafka::ClientConfig;
/// use rdkafka::producer::FutureRecord;
/// use tracewire_kafka::{KafkaInstrumentation, TracedProducer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "localhost:9092");
/// let producer: TracedProducer = TracedProducer::from_config(&config, &KafkaInstrumentation::default())?;
/// let delivery = producer
///     .send(FutureRecord::<str, str>::to("orders").key("o-1").payload("{}"), Duration::from_secs(5))
///     .await;
/// # let _ = delivery;
/// # Ok(()) }
/// ```
pub struct TracedProducer<C = DefaultClientContext, R = DefaultRuntime>
where
    C: ClientContext + 'static,
{
    producer: FutureProducer<C, R>,
    telemetry: ProducerTelemetry,
}

impl<C: ClientContext + 'static, R> Clone for TracedProducer<C, R> {
    fn clone(&self) -> Self {
        Self {
            producer: self.producer.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

impl<C: ClientContext + 'static, R> std::fmt::Debug for TracedProducer<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedProducer")
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

impl<R> TracedProducer<DefaultClientContext, R>
where
    FutureProducer<DefaultClientContext, R>: FromClientConfig,
{
    /// Creates the producer from `config`, reading the [`ClientInfo`] from it too.
    pub fn from_config(config: &ClientConfig, kafka: &KafkaInstrumentation) -> KafkaResult<Self> {
        Ok(Self::new(
            config.create()?,
            kafka,
            ClientInfo::from_config(config),
        ))
    }
}

impl<C: ClientContext + 'static, R> TracedProducer<C, R> {
    /// Wraps `producer`; `info` is what telemetry reports about it.
    pub fn new(
        producer: FutureProducer<C, R>,
        kafka: &KafkaInstrumentation,
        info: ClientInfo,
    ) -> Self {
        Self {
            producer,
            telemetry: ProducerTelemetry::new(kafka, info),
        }
    }

    /// The wrapped producer (for `flush`, transactions, metadata...).
    pub fn inner(&self) -> &FutureProducer<C, R> {
        &self.producer
    }

    /// The telemetry, for records sent another way.
    pub fn telemetry(&self) -> &ProducerTelemetry {
        &self.telemetry
    }
}

impl<C: ClientContext + 'static, R: AsyncRuntime> TracedProducer<C, R> {
    /// [`FutureProducer::send`] inside a `send {topic}` span: the span's context goes into the
    /// record headers, and the span ends when the delivery result arrives, with the partition
    /// and offset, or with `error.type` and status Error. A cancelled send still ends its span.
    pub async fn send<K, P, T>(
        &self,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: T,
    ) -> rdkafka::producer::future_producer::OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let (span, headers) = self.telemetry.start(
            record.topic,
            record.key.map(ToBytes::to_bytes),
            record.payload.map(ToBytes::to_bytes),
            record.headers.take(),
        );
        record.headers = headers;
        let result = self.producer.send(record, queue_timeout).await;
        match &result {
            Ok(delivery) => span.delivered(delivery.partition, delivery.offset),
            Err((error, message)) => span.failed(error, message.partition()),
        }
        result
    }
}
