//! `http.client.request.duration` and `http.client.active_requests`.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use opentelemetry::KeyValue;
use tracewire_core::metrics::HTTP_DURATION_BUCKETS;
use tracewire_reqwest::UrlTemplate;
use tracewire_testing::TelemetryCapture;

use common::{TestServer, client, middleware};

const DURATION: &str = "http.client.request.duration";
const ACTIVE: &str = "http.client.active_requests";

fn base(server: &TestServer) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", server.port()),
        KeyValue::new("url.scheme", "http"),
    ]
}

fn with(mut attributes: Vec<KeyValue>, extra: &[KeyValue]) -> Vec<KeyValue> {
    attributes.extend_from_slice(extra);
    attributes
}

#[tokio::test]
async fn duration_has_the_convention_unit_buckets_and_attributes() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).active_requests(true).build());

    client.get(server.url("/echo")).send().await.unwrap();
    client.get(server.url("/echo")).send().await.unwrap();
    client
        .get(server.url("/status/404"))
        .with_extension(UrlTemplate::new("/status/{code}"))
        .send()
        .await
        .unwrap();

    let metrics = capture.metrics();
    let duration = metrics.histogram_f64(DURATION);
    duration
        .assert_unit("s")
        .assert_bounds(&HTTP_DURATION_BUCKETS);
    let ok = duration.point_with(&with(
        base(&server),
        &[
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("network.protocol.version", "1.1"),
        ],
    ));
    assert_eq!(ok.count(), 2);
    let not_found = duration.point_with(&with(
        base(&server),
        &[
            KeyValue::new("url.template", "/status/{code}"),
            KeyValue::new("http.response.status_code", 404_i64),
            KeyValue::new("network.protocol.version", "1.1"),
            KeyValue::new("error.type", "404"),
        ],
    ));
    assert_eq!(not_found.count(), 1);

    // The histogram value is the span's own duration.
    let spans = capture.spans();
    let span = spans.single("GET /status/{code}");
    let recorded = not_found.sum();
    let measured = span.duration().as_secs_f64();
    assert!(recorded <= measured + 1e-3, "{recorded} vs {measured}");

    let active = metrics.sum_i64(ACTIVE);
    active.assert_unit("{request}");
    assert_eq!(active.value_with(&base(&server)), 0);
    let templated = with(
        base(&server),
        &[KeyValue::new("url.template", "/status/{code}")],
    );
    assert_eq!(active.value_with(&templated), 0);
}

#[tokio::test]
async fn transport_errors_and_cancellations_are_recorded() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).active_requests(true).build());

    client
        .get(server.url("/slow"))
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        client.get(server.url("/slow")).send(),
    )
    .await;
    assert!(cancelled.is_err());

    let metrics = capture.metrics();
    let duration = metrics.histogram_f64(DURATION);
    let timed_out = duration.point_with(&with(
        base(&server),
        &[KeyValue::new("error.type", "timeout")],
    ));
    assert_eq!(timed_out.count(), 1);
    // A deliberate cancellation: no status code, no error.
    assert_eq!(duration.point_with(&base(&server)).count(), 1);
    assert_eq!(metrics.sum_i64(ACTIVE).value_with(&base(&server)), 0);
}

#[tokio::test]
async fn metrics_can_be_turned_off_and_active_requests_are_opt_in() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    client(middleware(&capture).build())
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap();
    let metrics = capture.metrics();
    metrics.histogram_f64(DURATION).assert_attr_keys(&[
        "http.request.method",
        "server.address",
        "server.port",
        "url.scheme",
        "http.response.status_code",
        "network.protocol.version",
    ]);
    metrics.assert_absent(ACTIVE);

    let quiet = TelemetryCapture::new();
    client(middleware(&quiet).metrics(false).build())
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap();
    quiet.metrics().assert_absent(DURATION);
    quiet.spans().single("GET");
}
