//! A librdkafka mock cluster (a real Kafka-protocol broker on loopback) and clients for it.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
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
