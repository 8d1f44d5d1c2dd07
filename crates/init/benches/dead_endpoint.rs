//! A loop of 10 000 instrumented operations with a live collector versus a dead endpoint
//! (nothing listening): the dead endpoint must not slow the loop down by more than a small
//! factor. The ratio is printed at the end.

use std::hint::black_box;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tracewire_init::{EnvSource, TelemetryGuard};
use tracewire_testing::FakeCollector;

const OPERATIONS: usize = 10_000;

fn guard(endpoint: &str) -> TelemetryGuard {
    let initialised = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ]))
        .install_globals(false)
        .fmt_layer(false)
        .init();
    match initialised {
        Ok(guard) => guard,
        Err(error) => panic!("init failed: {error}"),
    }
}

fn operations(guard: &TelemetryGuard) {
    let Some(dispatch) = guard.dispatch() else {
        return;
    };
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..OPERATIONS {
            let _span = tracing::info_span!("operation", i).entered();
            black_box(i);
        }
    });
}

fn dead_endpoint() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(9);
    format!("http://127.0.0.1:{port}")
}

fn mean(guard: &TelemetryGuard, rounds: u32) -> Duration {
    let started = Instant::now();
    for _ in 0..rounds {
        operations(guard);
    }
    started.elapsed() / rounds
}

fn bench(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("runtime: {error}"),
    };
    let collector = match runtime.block_on(FakeCollector::start()) {
        Ok(collector) => collector,
        Err(error) => panic!("collector: {error}"),
    };
    let live = guard(&collector.endpoint());
    let dead = guard(&dead_endpoint());

    let mut group = c.benchmark_group("10k_spans");
    group.sample_size(10);
    group.bench_function("live_collector", |b| b.iter(|| operations(&live)));
    group.bench_function("dead_endpoint", |b| b.iter(|| operations(&dead)));
    group.finish();

    let live_time = mean(&live, 5);
    let dead_time = mean(&dead, 5);
    eprintln!(
        "10k spans: live {live_time:?}, dead {dead_time:?}, dead/live ratio {:.2}; dead endpoint: {:?}",
        dead_time.as_secs_f64() / live_time.as_secs_f64(),
        dead.span_counts()
    );
    drop(live.shutdown());
    drop(dead.shutdown());
}

// Written out rather than with `criterion_group!`, whose generated `pub fn` trips `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
