//! Per-query overhead of `tracewire-sqlx` on `SELECT 1` against in-memory SQLite, next to the
//! bare `sqlx::Pool` (the floor) and `sqlx-otel` 0.5.
//!
//! `sqlx-otel` reports only to the global OpenTelemetry 0.32 providers, so it runs with its own
//! 0.32 SDK set globally; tracewire uses an explicit 0.33 provider. Both sample everything (or
//! drop everything) and export nowhere; neither has a meter provider. `sqlx-tracing` 0.2 needs
//! sqlx 0.8, whose bundled SQLite cannot link next to sqlx 0.9's, so it cannot run here.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench sqlx -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::sqlite::SqlitePoolOptions;
use tokio::runtime::Runtime;
use tracewire_benchmarks::{dropping_provider, sampled_provider};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn raw_pool(runtime: &Runtime) -> sqlx::SqlitePool {
    runtime
        .block_on(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:"),
        )
        .expect("sqlite")
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

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sqlx_select_1");

    let raw = raw_pool(&rt);
    group.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(sqlx::query("SELECT 1").fetch_one(&raw))
                .expect("query")
        })
    });

    for (case, provider) in [
        ("sampled", sampled_provider()),
        ("dropped", dropping_provider()),
    ] {
        let ours = tracewire_sqlx::Pool::builder(raw_pool(&rt))
            .tracer_provider(&provider)
            .build();
        group.bench_function(format!("tracewire/{case}"), |b| {
            b.iter(|| {
                rt.block_on(sqlx::query("SELECT 1").fetch_one(&ours))
                    .expect("query")
            })
        });
    }

    for (case, sampled) in [("sampled", true), ("dropped", false)] {
        set_anchor_provider(sampled);
        let anchor = sqlx_otel::PoolBuilder::from(raw_pool(&rt)).build();
        group.bench_function(format!("anchor/sqlx-otel/{case}"), |b| {
            b.iter(|| {
                rt.block_on(sqlx::query("SELECT 1").fetch_one(&anchor))
                    .expect("query")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
