//! The default stability mode comes from the real `OTEL_SEMCONV_STABILITY_OPT_IN`: this test
//! re-runs itself in a child process with the variable set (the workspace forbids the `unsafe`
//! `set_var`, and the environment is process-wide anyway).

mod common;

use std::process::Command;

use common::{Kafka, TIMEOUT, TOPIC};
use rdkafka::producer::FutureRecord;
use tracewire_kafka::KafkaInstrumentation;
use tracewire_testing::TelemetryCapture;

const CHILD: &str = "TRACEWIRE_KAFKA_STABILITY_CHILD";

#[test]
fn the_environment_selects_the_names_when_the_builder_does_not() {
    if std::env::var_os(CHILD).is_none() {
        let status = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "the_environment_selects_the_names_when_the_builder_does_not",
            ])
            .env(CHILD, "1")
            .env("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
            .status()
            .expect("child test");
        assert!(status.success(), "the child test failed");
        return;
    }
    let kafka_cluster = Kafka::start();
    let capture = TelemetryCapture::new();
    let kafka = KafkaInstrumentation::builder()
        .tracer_provider(capture.tracer_provider())
        .propagator(common::propagator())
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let producer = kafka_cluster.producer(&kafka);
        producer
            .send(FutureRecord::<str, str>::to(TOPIC).payload("v"), TIMEOUT)
            .await
            .expect("delivered");
    });
    capture
        .spans()
        .single("send orders")
        .assert_attr_str("messaging.system.name", "kafka")
        .assert_attr_i64("kafka.offset", 0)
        .assert_no_attr("messaging.system")
        .assert_no_attr("messaging.kafka.offset");
}
