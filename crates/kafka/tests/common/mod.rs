//! A librdkafka mock cluster (a real Kafka-protocol broker on loopback) and clients for it.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rdkafka_sys::{RDKafkaHeaders, RDKafkaRespErr};
use tracewire_core::propagation::{Propagator, TraceContextPropagator};
use tracewire_core::semconv::stability::StabilityOptIn;
use tracewire_kafka::{
    KafkaInstrumentation, KafkaInstrumentationBuilder, TracedConsumer, TracedProducer,
};
use tracewire_testing::TelemetryCapture;

pub const TOPIC: &str = "orders";
pub const GROUP: &str = "billing";
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    pub bootstrap: String,
}

impl Kafka {
    /// A one-broker cluster with `TOPIC` (one partition).
    pub fn start() -> Self {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, 1, 1).expect("topic");
        let bootstrap = cluster.bootstrap_servers();
        Self { cluster, bootstrap }
    }

    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "tests")
            .set("message.timeout.ms", "5000");
        config
    }

    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "tests")
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        config
    }

    pub fn producer(&self, kafka: &KafkaInstrumentation) -> TracedProducer {
        TracedProducer::from_config(&self.producer_config(), kafka).expect("producer")
    }

    /// A stream consumer assigned to partition 0 of `TOPIC` from the beginning (no group
    /// rebalance to wait for).
    pub fn stream_consumer(&self, kafka: &KafkaInstrumentation) -> TracedConsumer<StreamConsumer> {
        let consumer: TracedConsumer<StreamConsumer> =
            TracedConsumer::from_config(&self.consumer_config(), kafka).expect("consumer");
        consumer.inner().assign(&assignment()).expect("assign");
        consumer
    }

    pub fn base_consumer(&self, kafka: &KafkaInstrumentation) -> TracedConsumer<BaseConsumer> {
        let consumer: TracedConsumer<BaseConsumer> =
            TracedConsumer::from_config(&self.consumer_config(), kafka).expect("consumer");
        consumer.inner().assign(&assignment()).expect("assign");
        consumer
    }

    pub fn port(&self) -> i64 {
        let port = self
            .bootstrap
            .split(',')
            .next()
            .and_then(|s| s.rsplit(':').next());
        port.and_then(|p| p.parse().ok()).expect("port")
    }
}

fn assignment() -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("partition");
    list
}

pub fn propagator() -> Propagator {
    Propagator::new(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]))
}

/// Explicit providers, propagator and stability: no globals.
pub fn builder(capture: &TelemetryCapture) -> KafkaInstrumentationBuilder {
    KafkaInstrumentation::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(propagator())
        .stability(StabilityOptIn::parse(""))
}

pub fn instrumentation(capture: &TelemetryCapture) -> KafkaInstrumentation {
    builder(capture).build()
}

/// A W3C trace context with trace id `4bf9…4736` and span id `00f067aa0ba902b7`.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The librdkafka list behind `headers`: `BorrowedHeaders` is a zero-sized handle whose
/// address is the list (rdkafka converts it the same way).
fn list_of(headers: &BorrowedHeaders) -> *mut RDKafkaHeaders {
    std::ptr::from_ref(headers)
        .cast::<RDKafkaHeaders>()
        .cast_mut()
}

/// Appends a header whose key is any bytes, as a non-Java producer may send:
/// `OwnedHeaders::insert` takes a `&str` key, so this calls librdkafka directly.
#[allow(unsafe_code)]
pub fn with_raw_key(headers: OwnedHeaders, key: &[u8], value: &[u8]) -> OwnedHeaders {
    let size = |bytes: &[u8]| isize::try_from(bytes.len()).expect("a short test header");
    // SAFETY: the list is live and owned by `headers`, held by value here, so nothing else
    // touches it; `key` and `value` are readable for the sizes given, and librdkafka copies
    // them before returning.
    let result = unsafe {
        rdkafka_sys::rd_kafka_header_add(
            list_of(headers.as_borrowed()),
            key.as_ptr().cast(),
            size(key),
            value.as_ptr().cast(),
            size(value),
        )
    };
    assert_eq!(result, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
    headers
}

/// Every header's key as bytes, in order, read without rdkafka's `Headers` accessors (which
/// panic on a key that is not UTF-8).
#[allow(unsafe_code)]
pub fn raw_keys(headers: &BorrowedHeaders) -> Vec<Vec<u8>> {
    let list = list_of(headers);
    let mut keys = Vec::new();
    loop {
        let mut name = std::ptr::null();
        let mut value = std::ptr::null();
        let mut size = 0;
        // SAFETY: the list is live while `headers` is borrowed, the out-pointers point to
        // locals, and librdkafka checks the index.
        let result = unsafe {
            rdkafka_sys::rd_kafka_header_get_all(list, keys.len(), &mut name, &mut value, &mut size)
        };
        if result != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return keys;
        }
        // SAFETY: on success `name` is the header's NUL-terminated key, alive with the list.
        keys.push(
            unsafe { std::ffi::CStr::from_ptr(name) }
                .to_bytes()
                .to_vec(),
        );
    }
}
