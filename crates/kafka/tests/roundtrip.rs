//! Produce -> consume through librdkafka's mock cluster, with real rdkafka clients.

mod common;

use std::time::Duration;

use common::{
    GROUP, Kafka, TIMEOUT, TOPIC, TRACEPARENT, builder, instrumentation, raw_keys, with_raw_key,
};
use futures_util::StreamExt;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use rdkafka::Message;
use rdkafka::consumer::CommitMode;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tracewire_core::context::current_span_id;
use tracewire_kafka::{ProcessParent, TracedConsumer};
use tracewire_testing::TelemetryCapture;

async fn send(producer: &tracewire_kafka::TracedProducer, key: &str, payload: &str) -> i64 {
    let record = FutureRecord::to(TOPIC).key(key).payload(payload);
    let delivery = producer.send(record, TIMEOUT).await.expect("delivered");
    delivery.offset
}

async fn recv(
    consumer: &TracedConsumer<rdkafka::consumer::StreamConsumer>,
) -> tracewire_kafka::Received<rdkafka::message::BorrowedMessage<'_>> {
    tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .expect("a message in time")
        .expect("no consumer error")
}

#[tokio::test]
async fn process_span_is_a_child_of_the_send_span_and_current_in_the_handler() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    let consumer = kafka_cluster.stream_consumer(&kafka);

    assert_eq!(send(&producer, "k-1", "hello").await, 0);
    let received = recv(&consumer).await;
    let seen = consumer
        .process_received(&received, async {
            Ok::<_, std::io::Error>(current_span_id())
        })
        .await
        .expect("handler");

    let spans = capture.spans();
    let send = spans.single("send orders");
    send.assert_kind(SpanKind::Producer)
        .assert_root()
        .assert_status_unset()
        .assert_attr_str("messaging.system", "kafka")
        .assert_attr_str("messaging.operation.type", "send")
        .assert_attr_str("messaging.operation.name", "send")
        .assert_attr_str("messaging.destination.name", TOPIC)
        .assert_attr_str("messaging.destination.partition.id", "0")
        .assert_attr_i64("messaging.kafka.offset", 0)
        .assert_attr_i64("messaging.message.body.size", 5)
        .assert_attr_str("messaging.client.id", "tests")
        .assert_attr_str("server.address", "127.0.0.1")
        .assert_attr_i64("server.port", kafka_cluster.port())
        .assert_no_attr("messaging.kafka.message.key")
        .assert_no_attr("messaging.kafka.message.tombstone")
        .assert_no_attr("messaging.consumer.group.name")
        .assert_no_attr("messaging.system.name");
    let process = spans.single("process orders");
    process
        .assert_kind(SpanKind::Consumer)
        .assert_child_of(&send)
        .assert_status_unset()
        .assert_attr_str("messaging.operation.type", "process")
        .assert_attr_str("messaging.operation.name", "process")
        .assert_attr_str("messaging.destination.partition.id", "0")
        .assert_attr_i64("messaging.kafka.offset", 0)
        .assert_attr_str("messaging.consumer.group.name", GROUP)
        .assert_attr_i64("messaging.message.body.size", 5)
        .assert_no_attr("messaging.kafka.message.key");
    assert!(process.links().is_empty());
    assert_eq!(seen, Some(process.span_context().span_id()));
    // The header the consumer saw is the send span's context, not a stale one.
    let headers = received.headers().expect("headers");
    assert_eq!(headers.count(), 1);
    // The send span starts the trace here: sampled, and random (the SDK's trace ids are).
    let traceparent = format!(
        "00-{}-{}-03",
        send.span_context().trace_id(),
        send.span_context().span_id()
    );
    assert_eq!(headers.get(0).value, Some(traceparent.as_bytes()));
}

#[tokio::test]
async fn an_ambient_span_is_the_parent_by_default_and_the_send_span_a_link() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let producer = kafka_cluster.producer(&instrumentation(&capture));
    send(&producer, "k", "v").await;

    let tracer = capture.tracer_provider().tracer("app");
    for mode in [
        ProcessParent::Auto,
        ProcessParent::Message,
        ProcessParent::Ambient,
    ] {
        capture.reset();
        let kafka = builder(&capture).process_parent(mode).build();
        let consumer = kafka_cluster.stream_consumer(&kafka);
        let received = recv(&consumer).await;
        let send_context = received.context().span().span_context().clone();
        let ambient = tracer.start("ambient");
        let ambient_cx = Context::current_with_span(ambient);
        {
            let _guard = ambient_cx.clone().attach();
            let processing = consumer.process_received(&received, async { Ok::<_, ()>(()) });
            drop(_guard);
            // The mode is applied when processing starts, not when it is polled.
            processing.await.expect("handler");
        }
        ambient_cx.span().end();
        let spans = capture.spans();
        let ambient = spans.single("ambient");
        let process = spans.single("process orders");
        match mode {
            ProcessParent::Auto | ProcessParent::Ambient => {
                process
                    .assert_child_of(&ambient)
                    .assert_linked_to(&send_context);
            }
            ProcessParent::Message => {
                assert_eq!(process.parent_span_id(), send_context.span_id());
                assert_eq!(process.span_context().trace_id(), send_context.trace_id());
                process.assert_linked_to(ambient.span_context());
            }
        }
        assert_eq!(process.links().len(), 1);
    }
}

#[tokio::test]
async fn link_mode_without_an_ambient_span_starts_a_new_trace() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = builder(&capture)
        .process_parent(ProcessParent::Ambient)
        .build();
    let producer = kafka_cluster.producer(&kafka);
    let consumer = kafka_cluster.stream_consumer(&kafka);
    send(&producer, "k", "v").await;
    let received = recv(&consumer).await;
    consumer
        .process_received(&received, async { Ok::<_, ()>(()) })
        .await
        .expect("handler");
    let spans = capture.spans();
    let send = spans.single("send orders");
    let process = spans.single("process orders");
    process.assert_root().assert_linked_to(send.span_context());
    assert_ne!(
        process.span_context().trace_id(),
        send.span_context().trace_id()
    );
}

#[tokio::test]
async fn a_batch_poll_links_every_message() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    for i in 0..3 {
        send(&producer, &format!("k-{i}"), "payload").await;
    }
    let consumer = kafka_cluster.base_consumer(&kafka);
    let mut batch = Vec::new();
    // The first polls may return nothing while the consumer connects: those record no span.
    for _ in 0..50 {
        batch.extend(consumer.poll_batch(3 - batch.len(), Duration::from_millis(200)));
        if batch.len() == 3 {
            break;
        }
    }
    assert_eq!(batch.len(), 3);
    let offsets: Vec<i64> = batch
        .iter()
        .map(|r| r.as_ref().expect("message").offset())
        .collect();
    assert_eq!(offsets, [0, 1, 2]);

    let spans = capture.spans();
    let sends = spans.named("send orders");
    let polls = spans.named("poll orders");
    let links: usize = polls.iter().map(|p| p.links().len()).sum();
    assert_eq!(links, 3);
    let poll = polls.last().expect("a poll span");
    poll.assert_kind(SpanKind::Client)
        .assert_root()
        .assert_status_unset()
        .assert_attr_str("messaging.operation.type", "receive")
        .assert_attr_str("messaging.operation.name", "poll")
        .assert_attr_str("messaging.destination.name", TOPIC)
        .assert_attr_str("messaging.consumer.group.name", GROUP)
        .assert_attr_i64(
            "messaging.batch.message_count",
            i64::try_from(poll.links().len()).expect("small"),
        );
    for poll in &polls {
        for link in poll.links() {
            let send = sends
                .iter()
                .find(|s| s.span_context().span_id() == link.span_context.span_id())
                .expect("each link is a send span");
            let offset = send
                .attr("messaging.kafka.offset")
                .cloned()
                .expect("offset");
            let attributes: Vec<KeyValue> = link.attributes.clone();
            assert_eq!(
                attributes,
                vec![
                    KeyValue::new("messaging.destination.partition.id", "0"),
                    KeyValue::new("messaging.kafka.offset", offset),
                ]
            );
        }
    }
}

#[tokio::test]
async fn a_stream_consumer_batch_is_one_poll_span_with_n_links() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    for i in 0..4 {
        send(&producer, &format!("k-{i}"), "payload").await;
    }
    let consumer = kafka_cluster.stream_consumer(&kafka);
    let batch = consumer.recv_batch(4, TIMEOUT).await;
    assert_eq!(batch.len(), 4);
    assert!(
        batch
            .iter()
            .all(|r| r.as_ref().is_ok_and(|m| m.context().has_active_span()))
    );
    let spans = capture.spans();
    let poll = spans.single("poll orders");
    poll.assert_attr_i64("messaging.batch.message_count", 4)
        .assert_attr_str("messaging.destination.partition.id", "0");
    for send in spans.named("send orders") {
        poll.assert_linked_to(send.span_context());
    }
}

#[tokio::test]
async fn reproducing_a_consumed_message_replaces_its_context() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    let record = FutureRecord::to(TOPIC)
        .payload("v")
        .key("k")
        .headers(OwnedHeaders::new().insert(Header {
            key: "app",
            value: Some("1"),
        }));
    producer.send(record, TIMEOUT).await.expect("delivered");

    let consumer = kafka_cluster.stream_consumer(&kafka);
    let first = recv(&consumer).await;
    let copied = first.headers().expect("headers").detach();
    consumer
        .process_received(&first, async {
            let forward = FutureRecord::to(TOPIC)
                .payload("v")
                .key("k")
                .headers(copied);
            producer
                .send(forward, TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        })
        .await
        .expect("forwarded");
    let second = recv(&consumer).await;
    let headers = second.headers().expect("headers");
    let keys: Vec<&str> = headers.iter().map(|h| h.key).collect();
    assert_eq!(keys, ["app", "traceparent"]);

    let spans = capture.spans();
    let sends = spans.named("send orders");
    let process = spans.single("process orders");
    let forward = sends
        .iter()
        .find(|s| s.parent_span_id() == process.span_context().span_id());
    let forward = forward.expect("the forwarding send is a child of process");
    assert_eq!(
        second.context().span().span_context().span_id(),
        forward.span_context().span_id()
    );
}

#[tokio::test]
async fn messages_without_a_valid_context_start_new_traces() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = builder(&capture).record_message_keys(true).build();
    let producer = kafka_cluster.producer(&kafka);
    let raw = producer.inner();
    let garbage = OwnedHeaders::new()
        .insert(Header {
            key: "traceparent",
            value: Some("00-nonsense-01"),
        })
        .insert(Header {
            key: "traceparent",
            value: None::<&[u8]>,
        })
        .insert(Header {
            key: "bin",
            value: Some(&b"\xff\xfe\x00"[..]),
        })
        .insert(Header {
            key: "tracestate",
            value: Some(&b"\xc3\x28"[..]),
        });
    let records = [
        FutureRecord::<[u8], [u8]>::to(TOPIC).payload(&b"no headers"[..]),
        FutureRecord::to(TOPIC)
            .payload(&b"garbage"[..])
            .headers(garbage),
        FutureRecord::to(TOPIC).key(&b"tomb"[..]),
        FutureRecord::to(TOPIC)
            .key(&b"\xff"[..])
            .payload(&b"\x00\x01"[..]),
    ];
    for record in records {
        raw.send(record, TIMEOUT).await.expect("delivered");
    }
    let consumer = kafka_cluster.stream_consumer(&kafka);
    for _ in 0..4 {
        let received = recv(&consumer).await;
        assert!(!received.context().has_active_span());
        consumer
            .process_received(&received, async { Ok::<_, ()>(()) })
            .await
            .expect("ok");
    }
    let spans = capture.spans();
    let processes = spans.named("process orders");
    assert_eq!(processes.len(), 4);
    for process in &processes {
        process.assert_root().assert_status_unset();
        assert!(process.links().is_empty());
    }
    processes[0]
        .assert_no_attr("messaging.kafka.message.key")
        .assert_attr_i64("messaging.message.body.size", 10);
    processes[2]
        .assert_attr_bool("messaging.kafka.message.tombstone", true)
        .assert_attr_str("messaging.kafka.message.key", "tomb")
        .assert_no_attr("messaging.message.body.size");
    // A key that is not UTF-8 has no canonical string form: omitted.
    processes[3]
        .assert_no_attr("messaging.kafka.message.key")
        .assert_no_attr("messaging.kafka.message.tombstone");
}

#[tokio::test]
async fn a_header_key_that_is_not_utf8_reaches_the_consumer_without_a_panic() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    // What a producer in another language may send: Kafka does not check header keys.
    let headers = with_raw_key(OwnedHeaders::new(), b"\xc3\x28", b"binary").insert(Header {
        key: "traceparent",
        value: Some(TRACEPARENT),
    });
    for _ in 0..3 {
        let record = FutureRecord::<[u8], [u8]>::to(TOPIC)
            .payload(&b"v"[..])
            .headers(headers.clone());
        producer
            .inner()
            .send(record, TIMEOUT)
            .await
            .expect("delivered");
    }
    capture.reset();

    let consumer = kafka_cluster.stream_consumer(&kafka);
    let received = recv(&consumer).await;
    let streamed = tokio::time::timeout(TIMEOUT, consumer.stream().next())
        .await
        .expect("a message in time")
        .expect("a message")
        .expect("no consumer error");
    let direct = tokio::time::timeout(TIMEOUT, consumer.inner().recv())
        .await
        .expect("a message in time")
        .expect("no consumer error");
    assert_eq!(
        raw_keys(direct.headers().expect("headers")),
        [&b"\xc3\x28"[..], b"traceparent"]
    );
    for message in [&received, &streamed] {
        consumer
            .process_received(message, async { Ok::<_, ()>(()) })
            .await
            .expect("handler");
    }
    consumer
        .process(&direct, async { Ok::<_, ()>(()) })
        .await
        .expect("handler");

    let spans = capture.spans();
    let processes = spans.named("process orders");
    assert_eq!(processes.len(), 3);
    for process in processes {
        // No span is current: the process span continues the producer's trace.
        assert_eq!(
            process.span_context().trace_id(),
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        );
        process.assert_parent_span_id(SpanId::from(0x00f0_67aa_0ba9_02b7));
    }
}

#[tokio::test]
async fn keys_are_recorded_only_when_opted_in() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = builder(&capture).record_message_keys(true).build();
    let producer = kafka_cluster.producer(&kafka);
    send(&producer, "user-42", "v").await;
    let tombstone = FutureRecord::<str, str>::to(TOPIC).key("gone");
    producer.send(tombstone, TIMEOUT).await.expect("delivered");
    let spans = capture.spans();
    let sends = spans.named("send orders");
    sends[0]
        .assert_attr_str("messaging.kafka.message.key", "user-42")
        .assert_no_attr("messaging.kafka.message.tombstone");
    sends[1]
        .assert_attr_bool("messaging.kafka.message.tombstone", true)
        .assert_no_attr("messaging.message.body.size");
}

#[tokio::test]
async fn a_refused_delivery_ends_the_send_span_with_the_kafka_error() {
    let kafka_cluster = Kafka::start();
    kafka_cluster.cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let capture = TelemetryCapture::new();
    let producer = kafka_cluster.producer(&instrumentation(&capture));
    let result = producer
        .send(FutureRecord::<str, str>::to(TOPIC).payload("v"), TIMEOUT)
        .await;
    assert!(result.is_err());
    let spans = capture.spans();
    spans
        .single("send orders")
        .assert_status_error()
        .assert_attr_str("error.type", "MESSAGE_SIZE_TOO_LARGE")
        .assert_no_attr("messaging.kafka.offset");
    let metrics = capture.metrics();
    let sent = metrics.sum_u64("messaging.client.sent.messages");
    sent.assert_attr_keys(&[
        "error.type",
        "messaging.destination.name",
        "messaging.destination.partition.id",
        "messaging.operation.name",
        "messaging.system",
        "server.address",
        "server.port",
    ]);
    let points = sent.points();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].value(), 1);
    assert_eq!(
        points[0].attr("error.type"),
        Some(&opentelemetry::Value::from("MESSAGE_SIZE_TOO_LARGE"))
    );
}

#[tokio::test]
async fn handler_errors_and_commits_are_recorded() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let producer = kafka_cluster.producer(&kafka);
    send(&producer, "k", "v").await;
    let consumer = kafka_cluster.stream_consumer(&kafka);
    let received = recv(&consumer).await;
    let result = consumer
        .process_received(&received, async {
            consumer
                .commit_message(&received, CommitMode::Sync)
                .expect("committed");
            Err::<(), _>(std::fmt::Error)
        })
        .await;
    assert!(result.is_err());
    let spans = capture.spans();
    let process = spans.single("process orders");
    process
        .assert_status_error()
        .assert_attr_str("error.type", "core::fmt::Error");
    spans
        .single("commit orders")
        .assert_kind(SpanKind::Client)
        .assert_child_of(&process)
        .assert_status_unset()
        .assert_attr_str("messaging.operation.type", "settle")
        .assert_attr_str("messaging.operation.name", "commit")
        .assert_attr_str("messaging.consumer.group.name", GROUP)
        .assert_attr_str("messaging.destination.partition.id", "0")
        .assert_attr_i64("messaging.kafka.offset", 0);
}

#[test]
fn blocking_processing_and_base_consumer_commits() {
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = instrumentation(&capture);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        send(&kafka_cluster.producer(&kafka), "k", "v").await;
    });
    let consumer = kafka_cluster.base_consumer(&kafka);
    let message = (0..50)
        .find_map(|_| consumer.inner().poll(Duration::from_millis(200)))
        .expect("a message")
        .expect("no error");
    let seen = consumer.process_blocking(&message, || Ok::<_, ()>(current_span_id()));
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("committed");
    let spans = capture.spans();
    let process = spans.single("process orders");
    assert_eq!(seen, Ok(Some(process.span_context().span_id())));
    process.assert_child_of(&spans.single("send orders"));
    spans
        .single("commit")
        .assert_root()
        .assert_no_attr("messaging.destination.name");
}
