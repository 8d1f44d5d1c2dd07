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
//!   of one query; a benchmark takes about nine times its measurement time).
//!
//! `sqlx-otel` reports only to the global OpenTelemetry 0.32 providers, so it runs with its own
//! 0.32 SDK set globally (sampling or dropping, for the benchmark measuring it); tracewire uses
//! explicit 0.33 providers. Every case samples everything (or drops everything) and exports
//! nowhere. Only `tracewire/*-metrics` has a meter provider (an SDK one that does not export
//! during a run); the other cases record into the no-op global meter, `sqlx-otel` included (the
//! 0.32 SDK here is built without metrics). `sqlx-tracing` 0.2 needs sqlx 0.8, whose bundled
//! SQLite cannot link next to sqlx 0.9's, so it cannot run here.
//!
//! `direct/{sampled,dropped}` (the naming convention's direct-API role): the
//! raw query inside the same `CLIENT` span made directly with the OpenTelemetry API (the start
//! attributes tracewire gives this query, prepared once; parented on the current context, kept
//! current while the query runs, ended after; no metrics). It is what any instrumentation that
//! creates a span must pay, the floor of what tracewire can reach.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench sqlx -- --warm-up-time 1 --measurement-time 3`
//!
//! Under `TRACEWIRE_PROFILE=sqlx_select_1/<id>` (see `bench_or_profile`), only the queries of
//! that case run, without interleaving.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use sqlx::Sqlite;
use sqlx::sqlite::{SqlitePoolOptions, SqliteRow};
use tokio::runtime::Runtime;
use tracewire_benchmarks::{
    bench_or_profile, dropping_provider, idle_meter_provider, sampled_provider,
};
use tracewire_core::context::{ContextFutureExt, current_context};
use tracewire_core::intern::intern;
use tracewire_core::semconv::db;
use tracewire_sqlx::sql::{Dialect, analyze};

const GROUP: &str = "sqlx_select_1";

const SQL: &str = "SELECT 1";

/// One way of running `SELECT 1`.
enum Executor {
    Bare(sqlx::SqlitePool),
    Tracewire(tracewire_sqlx::Pool<Sqlite>),
    OtelApiSpan(OtelApiSpan),
    /// `sampled` selects the global provider installed before this case is measured.
    SqlxOtel {
        pool: sqlx_otel::Pool<Sqlite>,
        sampled: bool,
    },
}

impl Executor {
    fn select_1(&self, runtime: &Runtime) -> SqliteRow {
        let query = sqlx::query(SQL);
        let row = match self {
            Self::Bare(pool) => runtime.block_on(query.fetch_one(pool)),
            Self::Tracewire(pool) => runtime.block_on(query.fetch_one(pool)),
            Self::OtelApiSpan(floor) => runtime.block_on(floor.select_1()),
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

/// The raw query inside a `CLIENT` span made with the OpenTelemetry API: what creating, entering
/// and ending the span costs by itself.
struct OtelApiSpan {
    pool: sqlx::SqlitePool,
    tracer: SdkTracer,
    /// The span name tracewire gives `SELECT 1`: its summary, interned.
    name: &'static str,
    /// The start attributes tracewire gives `SELECT 1` on in-memory SQLite, built once.
    attributes: Vec<KeyValue>,
}

impl OtelApiSpan {
    fn new(pool: sqlx::SqlitePool, provider: &SdkTracerProvider) -> Self {
        let analysis = analyze(SQL, Dialect::Sqlite);
        let shared = |value: &str| StringValue::from(Arc::<str>::from(value));
        let mut attributes = vec![KeyValue::new(db::DB_SYSTEM_NAME, db::SYSTEM_SQLITE)];
        if let Some(summary) = &analysis.summary {
            attributes.push(KeyValue::new(db::DB_QUERY_SUMMARY, shared(summary)));
        }
        attributes.push(KeyValue::new(db::DB_QUERY_TEXT, shared(&analysis.text)));
        Self {
            pool,
            tracer: provider.tracer("direct"),
            name: analysis
                .summary
                .as_deref()
                .and_then(intern)
                .unwrap_or(db::SYSTEM_SQLITE),
            attributes,
        }
    }

    async fn select_1(&self) -> Result<SqliteRow, sqlx::Error> {
        let parent = current_context();
        let span = SpanBuilder::from_name(self.name)
            .with_kind(SpanKind::Client)
            .with_attributes(self.attributes.clone());
        let cx = parent.with_span(self.tracer.build_with_context(span, &parent));
        let row = sqlx::query(SQL)
            .fetch_one(&self.pool)
            .in_context(cx.clone())
            .await;
        cx.span().end();
        row
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
    let meter = idle_meter_provider();
    let ours = |provider, meter: Option<&SdkMeterProvider>| {
        let builder = tracewire_sqlx::Pool::builder(raw.clone()).tracer_provider(provider);
        let builder = match meter {
            Some(meter) => builder.meter_provider(meter),
            None => builder,
        };
        Executor::Tracewire(builder.build())
    };
    let floor = |provider| Executor::OtelApiSpan(OtelApiSpan::new(raw.clone(), provider));
    let anchor = sqlx_otel::PoolBuilder::from(raw.clone()).build();
    let cases = [
        ("bare", Executor::Bare(raw.clone())),
        ("tracewire/sampled", ours(&sampled, None)),
        ("tracewire/dropped", ours(&dropped, None)),
        ("tracewire/sampled-metrics", ours(&sampled, Some(&meter))),
        ("tracewire/dropped-metrics", ours(&dropped, Some(&meter))),
        ("direct/sampled", floor(&sampled)),
        ("direct/dropped", floor(&dropped)),
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
