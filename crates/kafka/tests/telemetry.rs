//! Metrics, semantic-convention modes, the `tracing` world, the stream adaptor and the
//! `ThreadedProducer` helper, against the mock cluster.

mod common;

use std::time::Duration;

use common::{Kafka, TIMEOUT, TOPIC, builder, instrumentation};
use futures_util::StreamExt;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use rdkafka::client::ClientContext;
use rdkafka::consumer::CommitMode;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::FutureRecord;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use tracewire_core::metrics::MESSAGING_DURATION_BUCKETS;
use tracewire_core::sampling::{Decision, RuleSampler};
use tracewire_core::semconv::stability::StabilityOptIn;
use tracewire_kafka::{ClientInfo, ProducerTelemetry, SendSpan};
use tracewire_testing::TelemetryCapture;

#[tokio::test]
async fn metrics_carry_the_convention_attribute_sets() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    producer
        .send(FutureRecord::<str, str>::to(TOPIC).payload("v"), TIMEOUT)
        .await
        .expect("delivered");
    let consumer = kafka_cluster.stream_consumer(&kafka);
    let mut stream = consumer.stream();
    let received = tokio::time::timeout(TIMEOUT, stream.next())
        .await
        .expect("in time")
        .expect("stream never ends")
        .expect("message");
    assert!(received.context().has_active_span());
    consumer
        .process_received(&received, async { Ok::<_, ()>(()) })
        .await
        .expect("ok");
    consumer
        .commit_message(&received, CommitMode::Sync)
        .expect("committed");

    let metrics = capture.metrics();
    let port = KeyValue::new("server.port", kafka_cluster.port());
    let sent = metrics.sum_u64("messaging.client.sent.messages");
    sent.assert_unit("{message}").assert_attr_keys(&[
        "messaging.destination.name",
        "messaging.destination.partition.id",
        "messaging.operation.name",
        "messaging.system",
        "server.address",
        "server.port",
    ]);
    assert_eq!(
        sent.value_with(&[
            KeyValue::new("messaging.destination.name", TOPIC),
            KeyValue::new("messaging.destination.partition.id", "0"),
            KeyValue::new("messaging.operation.name", "send"),
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("server.address", "127.0.0.1"),
            port.clone(),
        ]),
        1
    );

    let consumed = metrics.sum_u64("messaging.client.consumed.messages");
    consumed.assert_unit("{message}").assert_attr_keys(&[
        "messaging.consumer.group.name",
        "messaging.destination.name",
        "messaging.destination.partition.id",
        "messaging.operation.name",
        "messaging.system",
        "server.address",
        "server.port",
    ]);
    let consumed = consumed.points();
    assert_eq!(consumed.len(), 1);
    assert_eq!(
        consumed[0].value(),
        1,
        "counted once, at receive, not again in process"
    );

    let process = metrics.histogram_f64("messaging.process.duration");
    process
        .assert_unit("s")
        .assert_bounds(&MESSAGING_DURATION_BUCKETS)
        .assert_attr_keys(&[
            "messaging.consumer.group.name",
            "messaging.destination.name",
            "messaging.destination.partition.id",
            "messaging.operation.name",
            "messaging.system",
            "server.address",
            "server.port",
        ]);
    let process_span = capture.spans();
    let process_span = process_span.single("process orders");
    let point = process.point_with(&[
        KeyValue::new("messaging.consumer.group.name", common::GROUP),
        KeyValue::new("messaging.destination.name", TOPIC),
        KeyValue::new("messaging.destination.partition.id", "0"),
        KeyValue::new("messaging.operation.name", "process"),
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("server.address", "127.0.0.1"),
        port.clone(),
    ]);
    assert_eq!(point.count(), 1);
    assert!(point.sum() <= process_span.duration().as_secs_f64() + 1e-3);

    let operations = metrics.histogram_f64("messaging.client.operation.duration");
    operations
        .assert_unit("s")
        .assert_bounds(&MESSAGING_DURATION_BUCKETS);
    let mut names: Vec<String> = operations
        .points()
        .iter()
        .map(|p| {
            let keys: Vec<String> = p.attributes().iter().map(|kv| kv.key.to_string()).collect();
            format!(
                "{:?} {}",
                p.attr("messaging.operation.name"),
                keys.join(",")
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Some(String(Static(\"commit\"))) messaging.consumer.group.name,messaging.destination.name,messaging.destination.partition.id,messaging.operation.name,messaging.operation.type,messaging.system,server.address,server.port",
            "Some(String(Static(\"send\"))) messaging.destination.name,messaging.destination.partition.id,messaging.operation.name,messaging.operation.type,messaging.system,server.address,server.port",
        ]
    );
}

async fn send_span_keys(stability: &str) -> (Vec<String>, Option<String>) {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = builder(&capture)
        .stability(StabilityOptIn::parse(stability))
        .build();
    let producer = kafka_cluster.producer(&kafka);
    producer
        .send(FutureRecord::<str, str>::to(TOPIC).key("k"), TIMEOUT)
        .await
        .expect("delivered");
    let spans = capture.spans();
    let send = spans.single("send orders");
    let mut keys: Vec<String> = send
        .data()
        .attributes
        .iter()
        .map(|kv| kv.key.to_string())
        .filter(|key| key.contains("system") || key.contains("offset") || key.contains("tombstone"))
        .collect();
    keys.sort();
    let schema = send
        .data()
        .instrumentation_scope
        .schema_url()
        .map(str::to_owned);
    (keys, schema)
}

#[tokio::test]
async fn stability_opt_in_selects_the_attribute_names() {
    assert_eq!(
        send_span_keys("").await,
        (
            vec![
                "messaging.kafka.message.tombstone".to_owned(),
                "messaging.kafka.offset".to_owned(),
                "messaging.system".to_owned(),
            ],
            Some("https://opentelemetry.io/schemas/1.44.0".to_owned())
        )
    );
    assert_eq!(
        send_span_keys("messaging").await,
        (
            vec![
                "kafka.message.tombstone".to_owned(),
                "kafka.offset".to_owned(),
                "messaging.system.name".to_owned(),
            ],
            Some("https://opentelemetry.io/schemas/1.45.0".to_owned())
        )
    );
    let (dup, _) = send_span_keys("http, messaging/dup").await;
    assert_eq!(
        dup,
        [
            "kafka.message.tombstone",
            "kafka.offset",
            "messaging.kafka.message.tombstone",
            "messaging.kafka.offset",
            "messaging.system",
            "messaging.system.name",
        ]
    );
}

#[test]
fn the_tracing_world_nests_handler_spans_under_process() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let producer = kafka_cluster.producer(&kafka);
        let request = tracing::info_span!("request", otel.kind = "server");
        let send = producer.send(FutureRecord::<str, str>::to(TOPIC).payload("v"), TIMEOUT);
        tracing::Instrument::instrument(send, request)
            .await
            .expect("delivered");

        let consumer = kafka_cluster.stream_consumer(&kafka);
        let received = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("in time")
            .expect("message");
        consumer
            .process_received(&received, async {
                let _handler = tracing::info_span!("handler").entered();
                Ok::<_, ()>(())
            })
            .await
            .expect("ok");
    });
    let spans = capture.spans();
    let request = spans.single("request");
    let send = spans.single("send orders");
    send.assert_child_of(&request)
        .assert_kind(SpanKind::Producer);
    let process = spans.single("process orders");
    process
        .assert_child_of(&send)
        .assert_kind(SpanKind::Consumer);
    spans.single("handler").assert_child_of(&process);
}

struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<SendSpan>;

    fn delivery(&self, result: &DeliveryResult<'_>, span: Box<SendSpan>) {
        span.record_delivery(result);
    }
}

#[test]
fn threaded_producer_users_record_deliveries_from_their_context() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let config = kafka_cluster.producer_config();
    let producer: ThreadedProducer<Deliveries> =
        config.create_with_context(Deliveries).expect("producer");
    let telemetry = ProducerTelemetry::new(&kafka, ClientInfo::from_config(&config));
    for payload in ["a", "bb"] {
        let record = telemetry.prepare_record(BaseRecord::<str, str>::to(TOPIC).payload(payload));
        let injected = record
            .headers
            .as_ref()
            .map(rdkafka::message::Headers::count);
        assert_eq!(injected, Some(1));
        producer
            .send(record)
            .map_err(|(error, _)| error)
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
    let spans = capture.spans();
    let sends = spans.named("send orders");
    assert_eq!(sends.len(), 2);
    sends[1]
        .assert_status_unset()
        .assert_attr_i64("messaging.kafka.offset", 1)
        .assert_attr_i64("messaging.message.body.size", 2)
        .assert_attr_str("messaging.destination.partition.id", "0");
}

#[tokio::test]
async fn sampling_rules_see_the_topic_at_span_start() {
    let kafka_cluster = Kafka::start();
    for (rules, kept) in [
        (
            "kind=producer, messaging.destination.name=orders => keep",
            1,
        ),
        ("messaging.destination.name=other => keep", 0),
    ] {
        let sampler = RuleSampler::parse(rules, Decision::Drop).expect("valid rules");
        let capture = TelemetryCapture::with_sampler(sampler);
        let producer = kafka_cluster.producer(&instrumentation(&capture));
        producer
            .send(FutureRecord::<str, str>::to(TOPIC).payload("p"), TIMEOUT)
            .await
            .expect("delivered");
        let spans = capture.spans();
        assert_eq!(spans.len(), kept, "{rules}: {}", spans.tree());
        if kept == 1 {
            spans
                .single("send orders")
                .assert_attr_str("messaging.destination.name", TOPIC);
        }
    }
}
