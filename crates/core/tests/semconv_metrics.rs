//! The instruments of `tracewire_core::metrics` come out of a real SDK pipeline with the names,
//! units, descriptions and bucket boundaries of the semantic conventions.

use std::collections::BTreeMap;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracewire_core::metrics::{
    DB_DURATION_BUCKETS, DB_RETURNED_ROWS_BUCKETS, DbClientMetrics, DbConnectionPoolMetrics,
    HTTP_DURATION_BUCKETS, HttpClientMetrics, HttpServerMetrics, MessagingMetrics,
    RpcClientMetrics, RpcServerMetrics, duration_seconds,
};

/// What the exporter saw for one metric.
#[derive(Debug, PartialEq)]
struct Exported {
    unit: String,
    kind: &'static str,
    bounds: Option<Vec<f64>>,
    has_description: bool,
}

/// Records one value on every instrument and exports them.
fn export_all() -> BTreeMap<String, Exported> {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let meter = provider.meter("semconv-metrics-test");

    let server = HttpServerMetrics::new(&meter);
    server.request_duration.record(0.3, &[]);
    server.active_requests.add(1, &[]);
    server.request_body_size.record(10, &[]);
    server.response_body_size.record(20, &[]);
    let client = HttpClientMetrics::new(&meter);
    client.request_duration.record(0.3, &[]);
    client.active_requests.add(-1, &[]);
    client.request_body_size.record(10, &[]);
    client.response_body_size.record(20, &[]);
    RpcServerMetrics::new(&meter).call_duration.record(0.1, &[]);
    RpcClientMetrics::new(&meter).call_duration.record(0.1, &[]);
    let db = DbClientMetrics::new(&meter);
    db.operation_duration.record(0.002, &[]);
    db.returned_rows.record(3, &[]);
    let pool = DbConnectionPoolMetrics::new(&meter);
    for counter in [
        &pool.count,
        &pool.idle_max,
        &pool.idle_min,
        &pool.limit,
        &pool.pending_requests,
    ] {
        counter.add(1, &[]);
    }
    pool.timeouts.add(1, &[]);
    for histogram in [&pool.create_time, &pool.wait_time, &pool.use_time] {
        histogram.record(0.01, &[]);
    }
    let messaging = MessagingMetrics::new(&meter);
    messaging.operation_duration.record(0.01, &[]);
    messaging.process_duration.record(0.01, &[]);
    messaging.sent_messages.add(2, &[]);
    messaging.consumed_messages.add(2, &[]);

    provider.force_flush().expect("flush succeeds");
    let mut exported = BTreeMap::new();
    let finished = exporter
        .get_finished_metrics()
        .expect("exporter has metrics");
    for resource_metrics in finished {
        for scope in resource_metrics.scope_metrics() {
            for metric in scope.metrics() {
                let (kind, bounds) = match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => (
                        "f64 histogram",
                        h.data_points().next().map(|p| p.bounds().collect()),
                    ),
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => (
                        "u64 histogram",
                        h.data_points().next().map(|p| p.bounds().collect()),
                    ),
                    AggregatedMetrics::I64(MetricData::Sum(s)) if !s.is_monotonic() => {
                        ("i64 up-down counter", None)
                    }
                    AggregatedMetrics::U64(MetricData::Sum(s)) if s.is_monotonic() => {
                        ("u64 counter", None)
                    }
                    other => panic!("unexpected data for {}: {other:?}", metric.name()),
                };
                let previous = exported.insert(
                    metric.name().to_owned(),
                    Exported {
                        unit: metric.unit().to_owned(),
                        kind,
                        bounds,
                        has_description: !metric.description().is_empty(),
                    },
                );
                assert!(previous.is_none(), "{} exported twice", metric.name());
            }
        }
    }
    exported
}

fn expected(unit: &str, kind: &'static str, bounds: Option<&[f64]>) -> Exported {
    Exported {
        unit: unit.to_owned(),
        kind,
        bounds: bounds.map(<[f64]>::to_vec),
        has_description: true,
    }
}

/// The SDK's default boundaries, which apply where semconv gives no bucket advice.
const SDK_DEFAULT_BUCKETS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

#[test]
fn every_instrument_has_the_semconv_shape() {
    let http_s = Some(&HTTP_DURATION_BUCKETS[..]);
    let default = Some(&SDK_DEFAULT_BUCKETS[..]);
    let want: BTreeMap<String, Exported> = [
        (
            "http.server.request.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "http.server.active_requests",
            expected("{request}", "i64 up-down counter", None),
        ),
        (
            "http.server.request.body.size",
            expected("By", "u64 histogram", default),
        ),
        (
            "http.server.response.body.size",
            expected("By", "u64 histogram", default),
        ),
        (
            "http.client.request.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "http.client.active_requests",
            expected("{request}", "i64 up-down counter", None),
        ),
        (
            "http.client.request.body.size",
            expected("By", "u64 histogram", default),
        ),
        (
            "http.client.response.body.size",
            expected("By", "u64 histogram", default),
        ),
        (
            "rpc.server.call.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "rpc.client.call.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "db.client.operation.duration",
            expected("s", "f64 histogram", Some(&DB_DURATION_BUCKETS)),
        ),
        (
            "db.client.response.returned_rows",
            expected("{row}", "u64 histogram", Some(&DB_RETURNED_ROWS_BUCKETS)),
        ),
        (
            "db.client.connection.count",
            expected("{connection}", "i64 up-down counter", None),
        ),
        (
            "db.client.connection.idle.max",
            expected("{connection}", "i64 up-down counter", None),
        ),
        (
            "db.client.connection.idle.min",
            expected("{connection}", "i64 up-down counter", None),
        ),
        (
            "db.client.connection.limit",
            expected("{connection}", "i64 up-down counter", None),
        ),
        (
            "db.client.connection.pending_requests",
            expected("{request}", "i64 up-down counter", None),
        ),
        (
            "db.client.connection.timeouts",
            expected("{timeout}", "u64 counter", None),
        ),
        (
            "db.client.connection.create_time",
            expected("s", "f64 histogram", default),
        ),
        (
            "db.client.connection.wait_time",
            expected("s", "f64 histogram", default),
        ),
        (
            "db.client.connection.use_time",
            expected("s", "f64 histogram", default),
        ),
        (
            "messaging.client.operation.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "messaging.process.duration",
            expected("s", "f64 histogram", http_s),
        ),
        (
            "messaging.client.sent.messages",
            expected("{message}", "u64 counter", None),
        ),
        (
            "messaging.client.consumed.messages",
            expected("{message}", "u64 counter", None),
        ),
    ]
    .into_iter()
    .map(|(name, exported)| (name.to_owned(), exported))
    .collect();
    let got = export_all();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, exported) in &want {
        assert_eq!(&got[name], exported, "{name}");
    }
}

#[test]
fn bucket_lists_match_the_conventions() {
    assert_eq!(
        HTTP_DURATION_BUCKETS,
        [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
        ]
    );
    assert_eq!(
        DB_DURATION_BUCKETS,
        [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]
    );
    assert_eq!(
        DB_RETURNED_ROWS_BUCKETS,
        [
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0
        ]
    );
}

#[test]
fn durations_are_seconds() {
    use std::time::Duration;
    assert_eq!(duration_seconds(Duration::from_micros(2500)), 0.0025);
    assert_eq!(duration_seconds(Duration::from_secs(3)), 3.0);
    assert_eq!(duration_seconds(Duration::ZERO), 0.0);
}
