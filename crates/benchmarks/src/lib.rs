//! Shared set-up for the overhead benchmarks in `benches/`.
//!
//! Every benchmark measures, in one run, the bare framework (the floor), tracewire, and the anchor
//! crates configured equivalently; reports compare the overheads over the floor as ratios, because
//! absolute times on shared machines are noise.

use std::time::Duration;

use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

/// An SDK meter provider that aggregates as in an application but exports nothing during a run
/// (its reader's interval is an hour): it measures recording, not exporting.
pub fn idle_meter_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build()
}

/// A tracer provider that samples everything and exports nowhere: it measures instrumentation
/// cost, not exporter cost.
pub fn sampled_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build()
}

/// A tracer provider whose sampler drops every span: the cost of instrumentation that records
/// nothing.
pub fn dropping_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build()
}

/// Runs `routine` as the criterion benchmark `id` of `group`, or, when the environment variable
/// `TRACEWIRE_PROFILE` names `<group name>/<id>`, exactly `TRACEWIRE_PROFILE_ITERS` times
/// (default 10 000) without criterion, so that `valgrind --tool=callgrind` counts the
/// instructions of a known number of iterations (repeatable on a shared machine, unlike time):
///
/// ```sh
/// TRACEWIRE_PROFILE=axum/tracewire/dropped valgrind --tool=callgrind \
///     target/release/deps/axum-<hash> --bench
/// ```
///
/// While profiling, every other benchmark of the run is skipped.
pub fn bench_or_profile<R>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group_name: &str,
    id: &str,
    mut routine: impl FnMut() -> R,
) {
    match std::env::var("TRACEWIRE_PROFILE") {
        Ok(target) if target == format!("{group_name}/{id}") => {
            let iterations = std::env::var("TRACEWIRE_PROFILE_ITERS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(10_000_u64);
            for _ in 0..iterations {
                std::hint::black_box(routine());
            }
        }
        Ok(_) => {}
        Err(_) => {
            group.bench_function(id, |b| b.iter(&mut routine));
        }
    }
}
