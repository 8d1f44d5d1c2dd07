//! OpenTelemetry for Kafka clients built on [`rdkafka`]: trace context in record headers,
//! producer and consumer spans, and messaging metrics, following the OpenTelemetry messaging
//! semantic conventions for Kafka.
//!
//! - [`headers`]: inject a context into [`OwnedHeaders`](rdkafka::message::OwnedHeaders)
//!   (replacing stale propagation headers in place, keeping the others in order) and extract
//!   one from a consumed message's [`BorrowedHeaders`](rdkafka::message::BorrowedHeaders) or
//!   from `OwnedHeaders`, whatever bytes their keys and values hold.
//! - [`TracedProducer`] (for [`FutureProducer`](rdkafka::producer::FutureProducer)) and
//!   [`ProducerTelemetry`] (for `BaseProducer`/`ThreadedProducer` delivery callbacks):
//!   `send {topic}` PRODUCER spans whose context travels in the record headers.
//! - [`TracedConsumer`]: `process {topic}` CONSUMER spans around handlers, `poll {topic}` CLIENT
//!   spans per batch with a link per message, `commit {topic}` CLIENT spans, and a
//!   [`TracedStream`] for `StreamConsumer::stream()` users.
//! - Metrics: `messaging.client.sent.messages`, `messaging.client.consumed.messages`,
//!   `messaging.client.operation.duration` (send, poll, commit) and `messaging.process.duration`.
//!
//! One [`KafkaInstrumentation`] holds the settings (providers, propagator, semantic-convention
//! names, key recording, process parent mode); each client gets its [`ClientInfo`]
//! (`client.id`, first bootstrap server, `group.id`), usually read from its `ClientConfig`.
//!
//! ```no_run
//! use std::time::Duration;
//! use rdkafka::ClientConfig;
//! use rdkafka::consumer::{Consumer, StreamConsumer};
//! use rdkafka::producer::FutureRecord;
//! use tracewire_kafka::{KafkaInstrumentation, TracedConsumer, TracedProducer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let kafka = KafkaInstrumentation::default();
//! let mut config = ClientConfig::new();
//! config.set("bootstrap.servers", "localhost:9092");
//! let producer: TracedProducer = TracedProducer::from_config(&config, &kafka)?;
//! producer
//!     .send(FutureRecord::<str, str>::to("orders").payload("{}"), Duration::from_secs(5))
//!     .await
//!     .map_err(|(error, _message)| error)?;
//!
//! config.set("group.id", "billing");
//! let consumer: TracedConsumer<StreamConsumer> = TracedConsumer::from_config(&config, &kafka)?;
//! consumer.inner().subscribe(&["orders"])?;
//! let received = consumer.recv().await?;
//! consumer
//!     .process_received(&received, async { Ok::<_, std::io::Error>(()) })
//!     .await?;
//! # Ok(()) }
//! ```

mod consumer;
pub mod headers;
mod instrumentation;
// The only unsafe code outside tests: librdkafka's header API, each block with its SAFETY case.
#[allow(unsafe_code)]
mod native;
mod producer;
mod stream;

pub use consumer::{Processing, Received, TracedConsumer};
pub use instrumentation::{
    ClientInfo, KafkaInstrumentation, KafkaInstrumentationBuilder, ProcessParent,
};
pub use producer::{ProducerTelemetry, SendSpan, TracedProducer};
pub use stream::TracedStream;
