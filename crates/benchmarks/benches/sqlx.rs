//! Per-query overhead of `tracewire-sqlx` on `SELECT 1` against in-memory SQLite, next to the
//! bare `sqlx::Pool` (the floor) and `sqlx-otel` 0.5.
//!
//! Every `SELECT 1` crosses threads: sqlx runs each SQLite connection on its own worker thread,
//! and a query through a pool is a command, a row and (when the connection goes back to the
//! pool) a ping, each a wake-up of the other thread (about six context switches per query, the
//! same for every case here). How long those wake-ups take depends on where the scheduler puts
//! the two threads, which depends on the machine's load at that moment: the same floor measured
//! 14 µs and 88 µs on this machine, and a run whose floor was measured in the fast regime and
//! the wrapped cases in the slow one once reported +48 µs for both wrappers (whose CPU cost is
//! about 2-3 µs). So that every case sees the same conditions:
//!
//! - every case runs on **one** pool (clones of one `sqlx::Pool` with one connection): the same
//!   connection and the same worker thread;
//! - the cases are **interleaved**: each iteration of every benchmark runs one `SELECT 1`
//!   through each case in turn and times only the query of the case being measured, so the
//!   thread-placement pattern is the same whichever case is measured (criterion reports the time
//!   of one query; a benchmark takes about five times its measurement time).
//!
//! `sqlx-otel` reports only to the global OpenTelemetry 0.32 providers, so it runs with its own
//! 0.32 SDK set globally (sampling or dropping, for the benchmark measuring it); tracewire uses
//! explicit 0.33 providers. Every case samples everything (or drops everything) and exports
//! nowhere; none has a meter provider. `sqlx-tracing` 0.2 needs sqlx 0.8, whose bundled SQLite
//! cannot link next to sqlx 0.9's, so it cannot run here.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench sqlx -- --warm-up-time 1 --measurement-time 3`
//!
//! Under `TRACEWIRE_PROFILE=sqlx_select_1/<id>` (see `bench_or_profile`), only the queries of
//! that case run, without interleaving.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::Sqlite;
use sqlx::sqlite::{SqlitePoolOptions, SqliteRow};
use tokio::runtime::Runtime;
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};

const GROUP: &str = "sqlx_select_1";

/// One way of running `SELECT 1`.
enum Executor {
    Bare(sqlx::SqlitePool),
    Tracewire(tracewire_sqlx::Pool<Sqlite>),
    /// `sampled` selects the global provider installed before this case is measured.
    SqlxOtel {
        pool: sqlx_otel::Pool<Sqlite>,
        sampled: bool,
    },
}

impl Executor {
    fn select_1(&self, runtime: &Runtime) -> SqliteRow {
        let query = sqlx::query("SELECT 1");
        let row = match self {
            Self::Bare(pool) => runtime.block_on(query.fetch_one(pool)),
            Self::Tracewire(pool) => runtime.block_on(query.fetch_one(pool)),
            Self::SqlxOtel { pool, .. } => runtime.block_on(query.fetch_one(pool)),
        };
        row.expect("query")
    }

    /// Points `sqlx-otel` (which reads the global provider at every query) at the sampling of
    /// the case about to be measured.
    fn prepare(&self) {
        if let Self::SqlxOtel { sampled, .. } = self {
            set_anchor_provider(*sampled);
        }
    }
}

fn set_anchor_provider(sampled: bool) {
    let sampler = if sampled {
        opentelemetry_sdk_0_32::trace::Sampler::AlwaysOn
    } else {
        opentelemetry_sdk_0_32::trace::Sampler::AlwaysOff
    };
    let provider = opentelemetry_sdk_0_32::trace::SdkTracerProvider::builder()
        .with_sampler(sampler)
        .build();
    opentelemetry_0_32::global::set_tracer_provider(provider);
}

/// Runs `iterations` rounds of one `SELECT 1` per case and returns the time spent in the
/// queries of `cases[measured]`.
fn interleaved(
    runtime: &Runtime,
    cases: &[(&str, Executor)],
    measured: usize,
    iterations: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        for (index, (_, executor)) in cases.iter().enumerate() {
            let started = Instant::now();
            let row = executor.select_1(runtime);
            if index == measured {
                total += started.elapsed();
            }
            std::hint::black_box(row);
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let raw = runtime
        .block_on(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:"),
        )
        .expect("sqlite");
    let (sampled, dropped) = (sampled_provider(), dropping_provider());
    let ours = |provider| {
        Executor::Tracewire(
            tracewire_sqlx::Pool::builder(raw.clone())
                .tracer_provider(provider)
                .build(),
        )
    };
    let anchor = sqlx_otel::PoolBuilder::from(raw.clone()).build();
    let cases = [
        ("bare", Executor::Bare(raw.clone())),
        ("tracewire/sampled", ours(&sampled)),
        ("tracewire/dropped", ours(&dropped)),
        (
            "anchor/sqlx-otel/sampled",
            Executor::SqlxOtel {
                pool: anchor.clone(),
                sampled: true,
            },
        ),
        (
            "anchor/sqlx-otel/dropped",
            Executor::SqlxOtel {
                pool: anchor,
                sampled: false,
            },
        ),
    ];

    let mut group = c.benchmark_group(GROUP);
    let profiling = std::env::var_os("TRACEWIRE_PROFILE").is_some();
    // Until an anchor case is measured, the anchor's (unmeasured) queries drop their spans.
    set_anchor_provider(false);
    for (measured, (id, executor)) in cases.iter().enumerate() {
        executor.prepare();
        if profiling {
            bench_or_profile(&mut group, GROUP, id, || executor.select_1(&runtime));
        } else {
            group.bench_function(*id, |b| {
                b.iter_custom(|iterations| interleaved(&runtime, &cases, measured, iterations))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
