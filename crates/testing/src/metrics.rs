use std::collections::BTreeSet;
use std::fmt;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Histogram, HistogramDataPoint, Metric, MetricData, ResourceMetrics, Sum,
    SumDataPoint,
};

use crate::tree::render_value;

/// One collection of a capture's meter provider (cumulative since the capture was created).
///
/// Lookups panic with the list of collected metric names when the metric is missing, and with its
/// actual type when it is not the one asked for (an `i64` up-down counter is not a `u64` counter).
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::metrics::MeterProvider;
/// use tracewire_testing::TelemetryCapture;
///
/// let capture = TelemetryCapture::new();
/// let meter = capture.meter_provider().meter("example");
/// let duration = meter
///     .f64_histogram("http.server.request.duration")
///     .with_unit("s")
///     .with_boundaries(vec![0.1, 0.5, 1.0])
///     .build();
/// duration.record(0.2, &[KeyValue::new("http.route", "/users")]);
/// duration.record(0.7, &[KeyValue::new("http.route", "/users")]);
///
/// let metrics = capture.metrics();
/// let histogram = metrics.histogram_f64("http.server.request.duration");
/// histogram
///     .assert_unit("s")
///     .assert_bounds(&[0.1, 0.5, 1.0])
///     .assert_attr_keys(&["http.route"]);
/// let point = histogram.point_with(&[KeyValue::new("http.route", "/users")]);
/// assert_eq!(point.count(), 2);
/// assert_eq!(point.bucket_counts(), vec![0, 1, 1, 0]);
/// ```
#[derive(Debug)]
pub struct Metrics {
    collected: Option<ResourceMetrics>,
}

impl Metrics {
    /// Wraps a collection; `None` when the provider exported nothing.
    pub(crate) fn new(collected: Option<ResourceMetrics>) -> Self {
        Self { collected }
    }

    /// The raw collection, if the provider exported one.
    pub fn resource_metrics(&self) -> Option<&ResourceMetrics> {
        self.collected.as_ref()
    }

    fn all(&self) -> impl Iterator<Item = &Metric> {
        self.collected
            .iter()
            .flat_map(|collected| collected.scope_metrics())
            .flat_map(|scope| scope.metrics())
    }

    /// The names of all collected metrics, sorted.
    pub fn names(&self) -> Vec<String> {
        let names: BTreeSet<String> = self.all().map(|metric| metric.name().to_owned()).collect();
        names.into_iter().collect()
    }

    /// The metric called `name` (from any meter), if collected.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.all().find(|metric| metric.name() == name)
    }

    #[track_caller]
    fn expect_metric(&self, name: &str) -> &Metric {
        match self.get(name) {
            Some(metric) => metric,
            None => panic!(
                "no metric named {name:?} was collected; collected: {:?}",
                self.names()
            ),
        }
    }

    #[track_caller]
    fn histogram<T: Number>(&self, name: &str) -> HistogramView<'_, T> {
        let metric = self.expect_metric(name);
        match T::data(metric.data()) {
            Some(MetricData::Histogram(histogram)) => HistogramView { metric, histogram },
            _ => panic!(
                "metric {name:?} is {}, expected a {} histogram",
                describe_data(metric.data()),
                T::NAME
            ),
        }
    }

    #[track_caller]
    fn sum<T: Number>(&self, name: &str) -> SumView<'_, T> {
        let metric = self.expect_metric(name);
        match T::data(metric.data()) {
            Some(MetricData::Sum(sum)) => SumView { metric, sum },
            _ => panic!(
                "metric {name:?} is {}, expected a {} sum (counter or up-down counter)",
                describe_data(metric.data()),
                T::NAME
            ),
        }
    }

    /// The `f64` histogram called `name`.
    ///
    /// # Panics
    ///
    /// If it is missing or of another type.
    #[track_caller]
    pub fn histogram_f64(&self, name: &str) -> HistogramView<'_, f64> {
        self.histogram(name)
    }

    /// The `u64` histogram called `name`.
    ///
    /// # Panics
    ///
    /// If it is missing or of another type.
    #[track_caller]
    pub fn histogram_u64(&self, name: &str) -> HistogramView<'_, u64> {
        self.histogram(name)
    }

    /// The `i64` sum (an `i64` counter or up-down counter) called `name`.
    ///
    /// # Panics
    ///
    /// If it is missing or of another type.
    #[track_caller]
    pub fn sum_i64(&self, name: &str) -> SumView<'_, i64> {
        self.sum(name)
    }

    /// The `u64` sum (a `u64` counter) called `name`.
    ///
    /// # Panics
    ///
    /// If it is missing or of another type.
    #[track_caller]
    pub fn sum_u64(&self, name: &str) -> SumView<'_, u64> {
        self.sum(name)
    }

    /// The `f64` sum (an `f64` counter or up-down counter) called `name`.
    ///
    /// # Panics
    ///
    /// If it is missing or of another type.
    #[track_caller]
    pub fn sum_f64(&self, name: &str) -> SumView<'_, f64> {
        self.sum(name)
    }

    /// Asserts that no metric called `name` was collected.
    #[track_caller]
    pub fn assert_absent(&self, name: &str) {
        if let Some(metric) = self.get(name) {
            panic!(
                "metric {name:?} should be absent but was collected as {}",
                describe_data(metric.data())
            );
        }
    }
}

/// The number types the SDK aggregates, with a way to pick their data out of a metric.
trait Number: Copy + fmt::Debug + PartialEq + 'static {
    const NAME: &'static str;
    fn data(data: &AggregatedMetrics) -> Option<&MetricData<Self>>;
}

impl Number for f64 {
    const NAME: &'static str = "f64";
    fn data(data: &AggregatedMetrics) -> Option<&MetricData<Self>> {
        match data {
            AggregatedMetrics::F64(data) => Some(data),
            _ => None,
        }
    }
}

impl Number for u64 {
    const NAME: &'static str = "u64";
    fn data(data: &AggregatedMetrics) -> Option<&MetricData<Self>> {
        match data {
            AggregatedMetrics::U64(data) => Some(data),
            _ => None,
        }
    }
}

impl Number for i64 {
    const NAME: &'static str = "i64";
    fn data(data: &AggregatedMetrics) -> Option<&MetricData<Self>> {
        match data {
            AggregatedMetrics::I64(data) => Some(data),
            _ => None,
        }
    }
}

fn describe_data(data: &AggregatedMetrics) -> String {
    fn shape<T>(data: &MetricData<T>) -> &'static str {
        match data {
            MetricData::Gauge(_) => "gauge",
            MetricData::Sum(_) => "sum",
            MetricData::Histogram(_) => "histogram",
            MetricData::ExponentialHistogram(_) => "exponential histogram",
        }
    }
    match data {
        AggregatedMetrics::F64(data) => format!("a f64 {}", shape(data)),
        AggregatedMetrics::U64(data) => format!("a u64 {}", shape(data)),
        AggregatedMetrics::I64(data) => format!("an i64 {}", shape(data)),
    }
}

/// A histogram with assertions over its unit, buckets and data points.
#[derive(Clone, Copy, Debug)]
pub struct HistogramView<'a, T> {
    metric: &'a Metric,
    histogram: &'a Histogram<T>,
}

impl<'a, T: Copy + fmt::Debug> HistogramView<'a, T> {
    /// The instrument name.
    pub fn name(&self) -> &'a str {
        self.metric.name()
    }

    /// The instrument unit, e.g. `"s"`.
    pub fn unit(&self) -> &'a str {
        self.metric.unit()
    }

    /// The instrument description.
    pub fn description(&self) -> &'a str {
        self.metric.description()
    }

    /// Cumulative or delta.
    pub fn temporality(&self) -> Temporality {
        self.histogram.temporality()
    }

    /// One point per distinct attribute set.
    pub fn points(&self) -> Vec<HistogramPoint<'a, T>> {
        self.histogram
            .data_points()
            .map(|point| HistogramPoint { point })
            .collect()
    }

    /// The bucket boundaries of the first point (all points of an instrument share them);
    /// empty when nothing was recorded.
    pub fn bounds(&self) -> Vec<f64> {
        self.points()
            .first()
            .map(HistogramPoint::bounds)
            .unwrap_or_default()
    }

    /// The number of measurements over all points.
    pub fn total_count(&self) -> u64 {
        self.histogram
            .data_points()
            .map(|point| point.count())
            .sum()
    }

    /// Asserts the unit.
    #[track_caller]
    pub fn assert_unit(&self, unit: &str) -> &Self {
        assert_unit(self.metric, unit);
        self
    }

    /// Asserts that every point has exactly these bucket boundaries, and that there is at least
    /// one point (boundaries of a histogram that recorded nothing cannot be checked).
    #[track_caller]
    pub fn assert_bounds(&self, expected: &[f64]) -> &Self {
        let points = self.points();
        if points.is_empty() {
            panic!(
                "histogram {:?} has no data points, so its bounds cannot be checked",
                self.name()
            );
        }
        for point in points {
            let actual = point.bounds();
            if actual != expected {
                panic!(
                    "histogram {:?}: expected bounds {expected:?}, found {actual:?} on the point {}",
                    self.name(),
                    render_attributes(&point.attributes())
                );
            }
        }
        self
    }

    /// The point whose attribute set is exactly `attributes` (order does not matter).
    ///
    /// # Panics
    ///
    /// If there is none; the message lists the attribute sets that exist.
    #[track_caller]
    pub fn point_with(&self, attributes: &[KeyValue]) -> HistogramPoint<'a, T> {
        let point = find_point(
            self.metric,
            self.histogram.data_points(),
            |point| point.attributes(),
            attributes,
        );
        HistogramPoint { point }
    }

    /// Asserts that the attribute keys of every point are exactly `keys`: extra keys (such as a
    /// high-cardinality `url.full`) and missing keys both fail.
    #[track_caller]
    pub fn assert_attr_keys(&self, keys: &[&str]) -> &Self {
        assert_attr_keys(
            self.metric,
            self.histogram.data_points().map(|point| point.attributes()),
            keys,
        );
        self
    }
}

/// One histogram data point: the measurements of one attribute set.
#[derive(Clone, Copy, Debug)]
pub struct HistogramPoint<'a, T> {
    point: &'a HistogramDataPoint<T>,
}

impl<'a, T: Copy> HistogramPoint<'a, T> {
    /// The attribute set, sorted by key.
    pub fn attributes(&self) -> Vec<KeyValue> {
        sorted(self.point.attributes())
    }

    /// The value of attribute `key` on this point.
    pub fn attr(&self, key: &str) -> Option<&'a Value> {
        find_attr(self.point.attributes(), key)
    }

    /// The number of measurements.
    pub fn count(&self) -> u64 {
        self.point.count()
    }

    /// The sum of the measurements.
    pub fn sum(&self) -> T {
        self.point.sum()
    }

    /// The smallest measurement, if recorded.
    pub fn min(&self) -> Option<T> {
        self.point.min()
    }

    /// The largest measurement, if recorded.
    pub fn max(&self) -> Option<T> {
        self.point.max()
    }

    /// The bucket boundaries.
    pub fn bounds(&self) -> Vec<f64> {
        self.point.bounds().collect()
    }

    /// The count per bucket; one more entry than [`bounds`](Self::bounds).
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.point.bucket_counts().collect()
    }
}

/// A sum (counter or up-down counter) with assertions over its unit and data points.
#[derive(Clone, Copy, Debug)]
pub struct SumView<'a, T> {
    metric: &'a Metric,
    sum: &'a Sum<T>,
}

impl<'a, T: Copy + fmt::Debug> SumView<'a, T> {
    /// The instrument name.
    pub fn name(&self) -> &'a str {
        self.metric.name()
    }

    /// The instrument unit.
    pub fn unit(&self) -> &'a str {
        self.metric.unit()
    }

    /// The instrument description.
    pub fn description(&self) -> &'a str {
        self.metric.description()
    }

    /// `true` for a counter, `false` for an up-down counter.
    pub fn is_monotonic(&self) -> bool {
        self.sum.is_monotonic()
    }

    /// Cumulative or delta.
    pub fn temporality(&self) -> Temporality {
        self.sum.temporality()
    }

    /// One point per distinct attribute set.
    pub fn points(&self) -> Vec<SumPoint<'a, T>> {
        self.sum
            .data_points()
            .map(|point| SumPoint { point })
            .collect()
    }

    /// The point whose attribute set is exactly `attributes` (order does not matter).
    ///
    /// # Panics
    ///
    /// If there is none; the message lists the attribute sets that exist.
    #[track_caller]
    pub fn point_with(&self, attributes: &[KeyValue]) -> SumPoint<'a, T> {
        let point = find_point(
            self.metric,
            self.sum.data_points(),
            |point| point.attributes(),
            attributes,
        );
        SumPoint { point }
    }

    /// The value of the point whose attribute set is exactly `attributes`.
    ///
    /// # Panics
    ///
    /// If there is no such point.
    #[track_caller]
    pub fn value_with(&self, attributes: &[KeyValue]) -> T {
        self.point_with(attributes).value()
    }

    /// Asserts the unit.
    #[track_caller]
    pub fn assert_unit(&self, unit: &str) -> &Self {
        assert_unit(self.metric, unit);
        self
    }

    /// Asserts that the attribute keys of every point are exactly `keys`.
    #[track_caller]
    pub fn assert_attr_keys(&self, keys: &[&str]) -> &Self {
        assert_attr_keys(
            self.metric,
            self.sum.data_points().map(|point| point.attributes()),
            keys,
        );
        self
    }
}

/// One sum data point: the value for one attribute set.
#[derive(Clone, Copy, Debug)]
pub struct SumPoint<'a, T> {
    point: &'a SumDataPoint<T>,
}

impl<'a, T: Copy> SumPoint<'a, T> {
    /// The attribute set, sorted by key.
    pub fn attributes(&self) -> Vec<KeyValue> {
        sorted(self.point.attributes())
    }

    /// The value of attribute `key` on this point.
    pub fn attr(&self, key: &str) -> Option<&'a Value> {
        find_attr(self.point.attributes(), key)
    }

    /// The current (cumulative) value.
    pub fn value(&self) -> T {
        self.point.value()
    }
}

fn sorted<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<KeyValue> {
    let mut attributes: Vec<KeyValue> = attributes.cloned().collect();
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    attributes
}

fn find_attr<'a>(
    mut attributes: impl Iterator<Item = &'a KeyValue>,
    key: &str,
) -> Option<&'a Value> {
    attributes
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn render_attributes(attributes: &[KeyValue]) -> String {
    let rendered: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, render_value(&kv.value)))
        .collect();
    format!("{{{}}}", rendered.join(", "))
}

#[track_caller]
fn assert_unit(metric: &Metric, unit: &str) {
    if metric.unit() != unit {
        panic!(
            "metric {:?}: expected unit {unit:?}, found {:?}",
            metric.name(),
            metric.unit()
        );
    }
}

/// The point of `points` whose attribute set equals `wanted`, shared by histograms and sums.
#[track_caller]
fn find_point<'a, P, A>(
    metric: &Metric,
    points: impl Iterator<Item = &'a P>,
    attributes_of: impl Fn(&'a P) -> A,
    wanted: &[KeyValue],
) -> &'a P
where
    P: 'a,
    A: Iterator<Item = &'a KeyValue>,
{
    let wanted = sorted(wanted.iter());
    let points: Vec<(&'a P, Vec<KeyValue>)> = points
        .map(|point| (point, sorted(attributes_of(point))))
        .collect();
    if let Some((point, _)) = points.iter().find(|(_, attributes)| *attributes == wanted) {
        return point;
    }
    let existing: Vec<String> = points
        .iter()
        .map(|(_, attributes)| render_attributes(attributes))
        .collect();
    panic!(
        "metric {:?} has no point with attributes {}; its points have: {}",
        metric.name(),
        render_attributes(&wanted),
        if existing.is_empty() {
            "(no points)".to_owned()
        } else {
            existing.join(", ")
        }
    )
}

#[track_caller]
fn assert_attr_keys<'a, A>(metric: &Metric, points: impl Iterator<Item = A>, keys: &[&str])
where
    A: Iterator<Item = &'a KeyValue>,
{
    let expected: BTreeSet<&str> = keys.iter().copied().collect();
    for attributes in points {
        let attributes: Vec<&KeyValue> = attributes.collect();
        let actual: BTreeSet<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
        if actual != expected {
            let owned: Vec<KeyValue> = attributes.into_iter().cloned().collect();
            panic!(
                "metric {:?}: expected attribute keys {expected:?}, found {actual:?} on the point {}",
                metric.name(),
                render_attributes(&owned)
            );
        }
    }
}
