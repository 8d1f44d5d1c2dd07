//! The `fulfillment` service: consumes the gateway's order events and records a shipment for
//! each, inside a `process orders` CONSUMER span.

use std::fmt;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracewire_core::instrument::SpanBackend;
use tracewire_kafka::{KafkaInstrumentation, TracedConsumer};

use crate::database::Database;
use crate::gateway::OrderPlaced;
use crate::telemetry::ServiceTelemetry;
use crate::{Error, ORDERS_TOPIC, Shutdown};

/// Why an event could not be processed (its type name becomes the span's `error.type`).
#[derive(Debug)]
enum ProcessError {
    Payload(serde_json::Error),
    Database(sqlx::Error),
    Commit(KafkaError),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Payload(error) => write!(f, "invalid order event: {error}"),
            Self::Database(error) => write!(f, "cannot record the shipment: {error}"),
            Self::Commit(error) => write!(f, "cannot commit the offset: {error}"),
        }
    }
}

impl std::error::Error for ProcessError {}

/// A consumer of the order events, instrumented with the service's providers.
pub(crate) fn consumer(
    telemetry: &ServiceTelemetry,
    bootstrap: &str,
) -> Result<TracedConsumer<StreamConsumer>, Error> {
    let kafka = KafkaInstrumentation::builder()
        .tracer_provider(telemetry.tracer_provider())
        .meter_provider(telemetry.meter_provider())
        .propagator(telemetry.propagator())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "fulfillment")
        .set("group.id", "fulfillment")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: TracedConsumer<StreamConsumer> = TracedConsumer::from_config(&config, &kafka)?;
    // One partition, assigned directly: no group rebalance to wait for.
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition_offset(ORDERS_TOPIC, 0, Offset::Beginning)?;
    consumer.inner().assign(&partitions)?;
    Ok(consumer)
}

/// Processes order events until `shutdown`, sending each processed order id to `processed`.
pub(crate) async fn consume(
    consumer: TracedConsumer<StreamConsumer>,
    database: Database,
    processed: mpsc::UnboundedSender<String>,
    shutdown: Shutdown,
) {
    let stop = shutdown.requested();
    tokio::pin!(stop);
    loop {
        let received = tokio::select! {
            received = consumer.recv() => received,
            () = &mut stop => return,
        };
        let Ok(received) = received else {
            // A transient client error (the mock broker reports none in this demo): keep going.
            continue;
        };
        let handled = consumer
            .process_received(&received, async {
                let event: OrderPlaced =
                    serde_json::from_slice(received.message().payload().unwrap_or_default())
                        .map_err(ProcessError::Payload)?;
                database
                    .record_shipment(&event.order_id, &event.sku, i64::from(event.quantity))
                    .await
                    .map_err(ProcessError::Database)?;
                consumer
                    .commit_message(received.message(), CommitMode::Async)
                    .map_err(ProcessError::Commit)?;
                Ok::<_, ProcessError>(event.order_id)
            })
            .await;
        if let Ok(order_id) = handled {
            // The receiver only goes away when the demo is over.
            let _ = processed.send(order_id);
        }
    }
}
