//! HTTP server metrics: names, units, buckets and exactly the conventions' attributes.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use opentelemetry::KeyValue;
use tracewire_core::metrics::HTTP_DURATION_BUCKETS;
use tracewire_testing::TelemetryCapture;

const DURATION_KEYS: [&str; 5] = [
    "http.request.method",
    "url.scheme",
    "http.route",
    "network.protocol.version",
    "http.response.status_code",
];

#[tokio::test]
async fn duration_histogram_has_the_conventions_attributes_and_buckets() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).opt_in_metrics(true).build());
    for uri in ["/users/1", "/users/2?x=1", "/users/3"] {
        let request = Request::get(uri)
            .header("host", "example.com:8080")
            .header("user-agent", "test")
            .body(Body::empty())
            .unwrap();
        send(&app, request).await;
    }
    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("http.server.request.duration");
    duration
        .assert_unit("s")
        .assert_bounds(&HTTP_DURATION_BUCKETS)
        .assert_attr_keys(&DURATION_KEYS);
    // One series for the route, whatever the raw paths were.
    let point = duration.point_with(&[
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("http.response.status_code", 200_i64),
    ]);
    assert_eq!(point.count(), 3);

    let active = metrics.sum_i64("http.server.active_requests");
    active
        .assert_unit("{request}")
        .assert_attr_keys(&["http.request.method", "url.scheme"]);
    assert_eq!(
        active.value_with(&[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "http"),
        ]),
        0
    );
}

#[tokio::test]
async fn errors_and_unmatched_routes_shape_the_attribute_set() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    send(&app, get_request("/status/503")).await;
    send(&app, get_request("/does/not/exist")).await;
    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("http.server.request.duration");
    assert_eq!(
        duration
            .point_with(&[
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("http.route", "/status/{code}"),
                KeyValue::new("network.protocol.version", "1.1"),
                KeyValue::new("http.response.status_code", 503_i64),
                KeyValue::new("error.type", "503"),
            ])
            .count(),
        1
    );
    // No route, no raw path: 404s of every path share one series.
    assert_eq!(
        duration
            .point_with(&[
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("network.protocol.version", "1.1"),
                KeyValue::new("http.response.status_code", 404_i64),
            ])
            .count(),
        1
    );
}

#[tokio::test]
async fn body_sizes_are_recorded_when_known() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).opt_in_metrics(true).build());
    let request = Request::get("/users/1")
        .header("content-length", "5")
        .body(Body::from("hello"))
        .unwrap();
    send(&app, request).await;
    let metrics = capture.metrics();
    let request_size = metrics.histogram_u64("http.server.request.body.size");
    request_size
        .assert_unit("By")
        .assert_attr_keys(&DURATION_KEYS);
    assert_eq!(request_size.points()[0].sum(), 5);
    let response_size = metrics.histogram_u64("http.server.response.body.size");
    response_size
        .assert_unit("By")
        .assert_attr_keys(&DURATION_KEYS);
    assert_eq!(response_size.points()[0].sum(), 4, "\"user\"");
}

#[tokio::test]
async fn server_address_is_opt_in() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(
        otel_builder(&capture)
            .opt_in_metrics(true)
            .metrics_server_address(true)
            .build(),
    );
    let request = Request::get("/users/1")
        .header("host", "example.com:8080")
        .body(Body::empty())
        .unwrap();
    send(&app, request).await;
    let metrics = capture.metrics();
    let mut keys = DURATION_KEYS.to_vec();
    keys.extend(["server.address", "server.port"]);
    metrics
        .histogram_f64("http.server.request.duration")
        .assert_attr_keys(&keys);
    metrics
        .sum_i64("http.server.active_requests")
        .assert_attr_keys(&[
            "http.request.method",
            "url.scheme",
            "server.address",
            "server.port",
        ]);
}

#[tokio::test]
async fn metrics_can_be_turned_off_and_tracing_off_keeps_them() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).metrics(false).build());
    send(&app, get_request("/users/1")).await;
    assert_eq!(capture.spans().len(), 1);
    capture
        .metrics()
        .assert_absent("http.server.request.duration");

    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).tracing(false).build());
    let request = traced_request("/whoami", &[]);
    let (_, body) = send(&app, request).await;
    assert!(capture.spans().is_empty());
    // Propagation still works: the handler runs in the caller's context.
    assert!(
        body.starts_with(&format!("{TRACE_ID} {PARENT_ID}")),
        "{body}"
    );
    capture
        .metrics()
        .histogram_f64("http.server.request.duration")
        .assert_attr_keys(&DURATION_KEYS);
}

#[tokio::test]
async fn opt_in_metrics_are_off_by_default() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let request = Request::get("/users/1")
        .header("content-length", "5")
        .body(Body::from("hello"))
        .unwrap();
    send(&app, request).await;
    let metrics = capture.metrics();
    assert_eq!(
        metrics
            .histogram_f64("http.server.request.duration")
            .points()
            .len(),
        1
    );
    for opt_in in [
        "http.server.active_requests",
        "http.server.request.body.size",
        "http.server.response.body.size",
    ] {
        metrics.assert_absent(opt_in);
    }
}
