//! A Kafka pipeline instrumented with `tracewire-kafka`: a producer, a consumer that processes
//! each message in its own span, and a consumer that polls in batches. See the README.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run -p example-kafka-pipeline
//! cargo run -p example-kafka-pipeline                 # no broker given: librdkafka's mock cluster
//! cargo run -p example-kafka-pipeline -- --smoke      # always the mock cluster
//! ```

use std::fmt;
use std::str::Utf8Error;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureRecord};
use tracewire_init::{ExporterKind, InitError, Signal, TelemetryGuard};
use tracewire_kafka::{KafkaInstrumentation, TracedConsumer, TracedProducer};
use tracing::Instrument as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

const TOPIC: &str = "orders";
const ORDERS: [&str; 3] = ["order-1", "order-2", "order-3"];
/// How long the consumers wait for the messages before giving up.
const DEADLINE: Duration = Duration::from_secs(30);

fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "kafka-pipeline")
        .set("message.timeout.ms", "10000");
    config
}

fn consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = producer_config(bootstrap);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    config
}

/// Sends the orders; each `send orders` PRODUCER span injects its context into the record.
async fn produce(producer: &TracedProducer) -> Result<(), Error> {
    for order in ORDERS {
        producer
            .send(
                FutureRecord::<str, str>::to(TOPIC)
                    .key(order)
                    .payload(order),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _message)| error)?;
    }
    Ok(())
}

/// Why a message could not be handled; its type name becomes the process span's `error.type`.
#[derive(Debug)]
enum HandleError {
    Payload(Utf8Error),
    Commit(KafkaError),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Payload(error) => write!(f, "the order is not text: {error}"),
            Self::Commit(error) => write!(f, "cannot commit: {error}"),
        }
    }
}

impl std::error::Error for HandleError {}

/// Per message: a `process orders` CONSUMER span around the handler, a child of the producer's
/// span (no span is current here); the `commit orders` span inside it is its child.
async fn consume_each(consumer: &TracedConsumer<StreamConsumer>) -> Result<(), Error> {
    for _ in ORDERS {
        let received = tokio::time::timeout(DEADLINE, consumer.recv()).await??;
        let message = received.message();
        let handled = consumer
            .process_received(&received, async {
                let order = std::str::from_utf8(message.payload().unwrap_or_default())
                    .map_err(HandleError::Payload)?;
                tracing::info!(order, "billed");
                consumer
                    .commit_message(message, CommitMode::Async)
                    .map_err(HandleError::Commit)
            })
            .await;
        if let Err(error) = handled {
            // Already recorded on the process span (status Error, `error.type`).
            tracing::warn!(%error, "order skipped");
        }
    }
    Ok(())
}

/// In batches: one `poll orders` CLIENT span per batch, linked to each message's producer;
/// each message is then processed inside the current `audit batch` span, so its process span
/// is a child of that span and links the producer instead.
async fn consume_batches(consumer: &TracedConsumer<StreamConsumer>) -> Result<(), Error> {
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seen < ORDERS.len() && tokio::time::Instant::now() < deadline {
        let batch = consumer.recv_batch(10, Duration::from_millis(200)).await;
        if batch.is_empty() {
            continue;
        }
        async {
            for received in batch.iter().filter_map(|message| message.as_ref().ok()) {
                seen += 1;
                let audited = consumer
                    .process_received(received, async {
                        tracing::info!(offset = received.message().offset(), "audited");
                        Ok::<_, Utf8Error>(())
                    })
                    .await;
                audited?;
            }
            consumer.commit_consumer_state(CommitMode::Async)?;
            Ok::<_, Error>(())
        }
        .instrument(tracing::info_span!("audit batch"))
        .await?;
    }
    if seen < ORDERS.len() {
        return Err(format!("the batch consumer saw {seen} of {} orders", ORDERS.len()).into());
    }
    Ok(())
}

/// Traces, metrics and logs from the `OTEL_*` variables; printed to the console until
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
fn telemetry() -> Result<TelemetryGuard, InitError> {
    tracewire_init::builder()
        .service_name(env!("CARGO_PKG_NAME"))
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Logs, [])
        .init()
}

/// The broker to use: `--bootstrap` or `KAFKA_BOOTSTRAP_SERVERS`; `None` for the mock cluster.
fn bootstrap_servers() -> Result<Option<String>, String> {
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        .ok()
        .filter(|servers| !servers.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = Some(args.next().ok_or("--bootstrap needs servers")?),
            "--smoke" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--bootstrap HOSTS, --smoke)"
                ));
            }
        }
    }
    Ok(bootstrap)
}

async fn pipeline(bootstrap: &str) -> Result<(), Error> {
    // Global providers and propagator, as installed by tracewire-init.
    let kafka = KafkaInstrumentation::default();
    let producer: TracedProducer =
        TracedProducer::from_config(&producer_config(bootstrap), &kafka)?;
    let each: TracedConsumer<StreamConsumer> =
        TracedConsumer::from_config(&consumer_config(bootstrap, "billing"), &kafka)?;
    each.inner().subscribe(&[TOPIC])?;
    let batches: TracedConsumer<StreamConsumer> =
        TracedConsumer::from_config(&consumer_config(bootstrap, "audit"), &kafka)?;
    batches.inner().subscribe(&[TOPIC])?;

    produce(&producer)
        .instrument(tracing::info_span!("publish orders"))
        .await?;
    consume_each(&each).await?;
    consume_batches(&batches).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let bootstrap = bootstrap_servers()?;
    let telemetry = telemetry()?;

    // No broker given: librdkafka's mock cluster, a real Kafka-protocol broker in process,
    // kept alive until the end of `main`.
    let (bootstrap, _mock) = match bootstrap {
        Some(servers) => (servers, None),
        None => {
            let cluster: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1)?;
            cluster.create_topic(TOPIC, 1, 1)?;
            (cluster.bootstrap_servers(), Some(cluster))
        }
    };
    tracing::info!(%bootstrap, "running the pipeline");
    let outcome = pipeline(&bootstrap).await;

    let report = telemetry.shutdown();
    if !report.is_clean() {
        eprintln!("telemetry: {report}");
    }
    outcome
}
