//! Metric capture and the metric views.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::Temporality;
use tracewire_testing::TelemetryCapture;

const BOUNDS: [f64; 4] = [0.005, 0.01, 0.1, 1.0];

fn meter(capture: &TelemetryCapture) -> Meter {
    capture.meter_provider().meter("metrics-test")
}

fn route(route: &'static str) -> [KeyValue; 2] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", route),
    ]
}

/// A duration histogram with explicit bounds, recorded on two routes.
fn duration_capture() -> TelemetryCapture {
    let capture = TelemetryCapture::new();
    let histogram = meter(&capture)
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Duration of HTTP server requests.")
        .with_boundaries(BOUNDS.to_vec())
        .build();
    histogram.record(0.002, &route("/users"));
    histogram.record(0.05, &route("/users"));
    histogram.record(3.0, &route("/orders"));
    capture
}

#[test]
fn histogram_keeps_unit_bounds_and_points() {
    let capture = duration_capture();
    let metrics = capture.metrics();
    assert_eq!(metrics.names(), ["http.server.request.duration"]);
    let histogram = metrics.histogram_f64("http.server.request.duration");
    histogram
        .assert_unit("s")
        .assert_bounds(&BOUNDS)
        .assert_attr_keys(&["http.route", "http.request.method"]);
    assert_eq!(histogram.unit(), "s");
    assert_eq!(histogram.description(), "Duration of HTTP server requests.");
    assert_eq!(histogram.bounds(), BOUNDS);
    assert_eq!(histogram.temporality(), Temporality::Cumulative);
    assert_eq!(histogram.points().len(), 2);
    assert_eq!(histogram.total_count(), 3);

    // Attribute order does not matter for the lookup.
    let [method, route_kv] = route("/users");
    let users = histogram.point_with(&[route_kv, method]);
    assert_eq!(users.count(), 2);
    assert!((users.sum() - 0.052).abs() < 1e-9);
    assert_eq!(users.bucket_counts(), [1, 0, 1, 0, 0]);
    assert_eq!(users.min(), Some(0.002));
    assert_eq!(users.max(), Some(0.05));
    assert_eq!(users.attributes()[0].key.as_str(), "http.request.method");
    assert_eq!(
        users.attr("http.route").map(ToString::to_string).as_deref(),
        Some("/users")
    );
}

#[test]
fn metrics_are_cumulative_across_collections() {
    let capture = TelemetryCapture::new();
    let counter = meter(&capture).u64_counter("requests").build();
    counter.add(2, &[]);
    assert_eq!(capture.metrics().sum_u64("requests").value_with(&[]), 2);
    counter.add(3, &[]);
    let metrics = capture.metrics();
    let sum = metrics.sum_u64("requests");
    assert!(sum.is_monotonic());
    assert_eq!(sum.value_with(&[]), 5);
}

#[test]
fn up_down_counter_values_per_attribute_set() {
    let capture = TelemetryCapture::new();
    let active = meter(&capture)
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .build();
    active.add(3, &route("/users"));
    active.add(-2, &route("/users"));
    active.add(-1, &route("/orders"));

    let metrics = capture.metrics();
    let sum = metrics.sum_i64("http.server.active_requests");
    sum.assert_unit("{request}")
        .assert_attr_keys(&["http.request.method", "http.route"]);
    assert!(!sum.is_monotonic());
    assert_eq!(sum.value_with(&route("/users")), 1);
    assert_eq!(sum.value_with(&route("/orders")), -1);
    assert_eq!(sum.points().len(), 2);
    assert_eq!(sum.point_with(&route("/orders")).attributes().len(), 2);
}

#[test]
fn f64_sums_and_u64_histograms() {
    let capture = TelemetryCapture::new();
    let meter = meter(&capture);
    meter.f64_counter("bytes").build().add(1.5, &[]);
    meter
        .u64_histogram("sizes")
        .with_boundaries(vec![10.0, 100.0])
        .build()
        .record(50, &[]);
    let metrics = capture.metrics();
    assert_eq!(metrics.sum_f64("bytes").value_with(&[]), 1.5);
    let sizes = metrics.histogram_u64("sizes");
    sizes.assert_bounds(&[10.0, 100.0]);
    assert_eq!(sizes.point_with(&[]).sum(), 50);
    metrics.assert_absent("http.client.request.duration");
}

#[test]
#[should_panic(
    expected = "expected attribute keys {\"http.route\"}, found {\"http.request.method\", \"http.route\"}"
)]
fn extra_attribute_keys_fail() {
    duration_capture()
        .metrics()
        .histogram_f64("http.server.request.duration")
        .assert_attr_keys(&["http.route"]);
}

#[test]
#[should_panic(expected = "expected bounds [0.1, 1.0], found [0.005, 0.01, 0.1, 1.0]")]
fn other_bounds_fail() {
    duration_capture()
        .metrics()
        .histogram_f64("http.server.request.duration")
        .assert_bounds(&[0.1, 1.0]);
}

#[test]
#[should_panic(expected = "expected unit \"ms\", found \"s\"")]
fn other_unit_fails() {
    duration_capture()
        .metrics()
        .histogram_f64("http.server.request.duration")
        .assert_unit("ms");
}

#[test]
#[should_panic(
    expected = "no metric named \"http.client.request.duration\" was collected; collected: [\"http.server.request.duration\"]"
)]
fn missing_metric_lists_the_names() {
    duration_capture()
        .metrics()
        .histogram_f64("http.client.request.duration");
}

#[test]
#[should_panic(expected = "is a f64 histogram, expected a i64 sum")]
fn wrong_metric_type_fails() {
    duration_capture()
        .metrics()
        .sum_i64("http.server.request.duration");
}

#[test]
#[should_panic(
    expected = "has no point with attributes {http.route=\"/admin\"}; its points have: "
)]
fn missing_point_lists_the_attribute_sets() {
    duration_capture()
        .metrics()
        .histogram_f64("http.server.request.duration")
        .point_with(&[KeyValue::new("http.route", "/admin")]);
}

#[test]
#[should_panic(expected = "should be absent but was collected as a f64 histogram")]
fn absent_fails_when_present() {
    duration_capture()
        .metrics()
        .assert_absent("http.server.request.duration");
}

#[test]
fn an_idle_capture_has_no_metrics() {
    let capture = TelemetryCapture::new();
    assert!(capture.metrics().names().is_empty());
}
