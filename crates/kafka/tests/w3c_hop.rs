//! W3C Trace Context Level 2 through a consume -> produce hop on the mock cluster: a record
//! arrives with the case's headers, is processed by a `TracedConsumer`, and the handler produces
//! a new record through a `TracedProducer`. The new record's headers are compared with what
//! arrived, in both span worlds.
//!
//! A Kafka record keeps the last value of a repeated header key (a stale context appended before
//! a fresh one must lose), so the cases' `tracestate` lines arrive joined into one header, which
//! the specification treats as the same list.

mod common;

use common::{Kafka, TIMEOUT, TOPIC, instrumentation};
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tracewire_testing::TelemetryCapture;
use tracewire_testing::w3c::{hop_cases, service_capture};

/// The values of header `name` in `message`, as text.
fn header_values(message: &impl Message, name: &str) -> Vec<String> {
    message.headers().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .filter(|header| header.key == name)
            .filter_map(|header| Some(String::from_utf8(header.value?.to_vec()).expect("text")))
            .collect()
    })
}

async fn run_cases(capture: &TelemetryCapture) {
    let kafka_cluster = Kafka::start();
    let kafka = instrumentation(capture);
    let producer = kafka_cluster.producer(&kafka);
    let consumer = kafka_cluster.stream_consumer(&kafka);
    let recv = || async {
        tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("a message in time")
            .expect("no consumer error")
    };
    for case in hop_cases() {
        let tracestate = case.tracestate_joined();
        let headers = case
            .traceparent
            .iter()
            .map(|value| ("traceparent", value))
            .chain(tracestate.iter().map(|value| ("tracestate", value)))
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            });
        let incoming = FutureRecord::<str, str>::to(TOPIC)
            .payload("in")
            .headers(headers);
        producer
            .inner()
            .send(incoming, TIMEOUT)
            .await
            .expect("delivered");

        let received = recv().await;
        consumer
            .process_received(&received, async {
                let forward = FutureRecord::<str, str>::to(TOPIC).payload("out");
                producer
                    .send(forward, TIMEOUT)
                    .await
                    .map(|_| ())
                    .map_err(|(error, _)| error)
            })
            .await
            .expect("forwarded");
        let forwarded = recv().await;
        assert_eq!(forwarded.payload(), Some(&b"out"[..]));
        case.assert_sent(
            &header_values(&*forwarded, "traceparent"),
            &header_values(&*forwarded, "tracestate"),
        );
    }
}

#[tokio::test]
async fn opentelemetry_world_sends_on_what_level_2_requires() {
    run_cases(&service_capture()).await;
}

#[tokio::test]
async fn tracing_world_sends_on_what_level_2_requires() {
    let capture = service_capture();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    run_cases(&capture).await;
}
