//! tracewire-kafka overheads, in one run:
//!
//! - `kafka/headers/<carrier>/*`: inject + extract per message into headers that already hold
//!   10 application headers (`10_app`), and the same plus a previous hop's stale `traceparent`,
//!   `tracestate` and `baggage` (`10_app_3_stale`, a consumed message produced again); ours
//!   against the carrier found in public code (every `set` copies all headers, every `get`
//!   scans them), with a traceparent-only context and with trace state and baggage. Both sides
//!   use tracewire's W3C trace context and baggage propagators (the default composite). The
//!   input headers are built outside the measurement; `bare` only takes them, so that
//!   `cargo xtask instructions kafka` can subtract their building (under criterion it times
//!   nothing).
//! - `kafka/headers_split/*`: where one inject + extract spends its time.
//! - `kafka/send/*`: one `send` awaited to delivery on librdkafka's mock cluster: the raw
//!   `FutureProducer` (`bare`, the floor), ours sampled, ours with every span dropped; each
//!   alternates with an untimed send of the other side (see `interleaved`); and the wrapper's
//!   own CPU work per message without a broker (`tracewire_cpu_only/*`), since the broker's
//!   round trip varies by more than the few microseconds it adds.
//!
//! Run: `cargo bench -p tracewire-benchmarks --bench kafka -- --warm-up-time 1 --measurement-time 3`
//! (every case also runs alone under `TRACEWIRE_PROFILE`: see `bench_or_profile`).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, Bencher, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tracewire_benchmarks::{bench_or_profile, dropping_provider, sampled_provider};
use tracewire_core::instrument::SpanBackend;
use tracewire_core::propagation::{
    BaggagePropagator, PairExtractor, PairInjector, Propagator, TraceContextPropagator,
};
use tracewire_kafka::{KafkaInstrumentation, TracedProducer};

/// The carrier found in public code (the `HeaderInjector` pasted across Kafka services): each
/// `set` builds new headers holding the new pair first, then a copy of every existing header,
/// each value copied into a `String` through `String::from_utf8` (in public code `.unwrap()`,
/// which panics on null or binary values), and finally clones them into place. Stale
/// propagation headers are kept behind the new ones.
struct NaiveInjector<'a>(&'a mut OwnedHeaders);

impl Injector for NaiveInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let mut rebuilt = OwnedHeaders::new().insert(Header {
            key,
            value: Some(&value),
        });
        for header in self.0.iter() {
            // Same cost as the public `.unwrap()`, without its panic on a null value.
            let Ok(copy) = String::from_utf8(header.value.unwrap_or_default().to_vec()) else {
                continue;
            };
            rebuilt = rebuilt.insert(Header {
                key: header.key,
                value: Some(&copy),
            });
        }
        self.0.clone_from(&rebuilt);
    }
}

/// The matching public getter: every `get` scans the headers from the start, converting each
/// value to `&str` on the way, and returns the first match.
struct NaiveExtractor<'a>(&'a OwnedHeaders);

impl Extractor for NaiveExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (0..self.0.count())
            .filter_map(|index| self.0.try_get_as::<str>(index)?.ok())
            .find(|header| header.key == key)?
            .value
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|header| header.key).collect()
    }
}

/// Builds the headers a scenario starts from.
type MakeHeaders = fn() -> OwnedHeaders;

fn naive_inject(propagator: &Propagator, cx: &Context, mut headers: OwnedHeaders) -> OwnedHeaders {
    propagator.inject_context(cx, &mut NaiveInjector(&mut headers));
    headers
}

/// 10 application headers, as the target states.
fn app_headers() -> OwnedHeaders {
    (0..10).fold(OwnedHeaders::new(), |headers, i| {
        headers.insert(Header {
            key: &format!("app-header-{i}"),
            value: Some("some application value"),
        })
    })
}

/// A consumed message produced again: the 10 application headers plus the previous hop's
/// `traceparent`, `tracestate` and `baggage`.
fn stale_headers() -> OwnedHeaders {
    [
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("tracestate", "vendor=old"),
        ("baggage", "tenant=old"),
    ]
    .into_iter()
    .fold(app_headers(), |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value),
        })
    })
}

fn contexts() -> [(&'static str, Context); 2] {
    let span = |state| {
        SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
            true,
            state,
        )
    };
    let plain = Context::new().with_remote_span_context(span(TraceState::NONE));
    let state = TraceState::from_key_value([("vendor", "abc123")]).unwrap_or_default();
    let full = Context::new()
        .with_remote_span_context(span(state))
        .with_baggage([KeyValue::new("tenant", "acme"), KeyValue::new("user", "42")]);
    [("traceparent", plain), ("state_baggage", full)]
}

fn w3c() -> Propagator {
    Propagator::new(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]))
}

fn headers(c: &mut Criterion) {
    let propagator = w3c();
    let carriers: [(&str, MakeHeaders); 2] =
        [("10_app", app_headers), ("10_app_3_stale", stale_headers)];
    for (carrier, setup) in carriers {
        let group_name = format!("kafka/headers/{carrier}");
        let mut group = c.benchmark_group(&group_name);
        batched(&mut group, &group_name, "bare", setup, |headers| headers);
        for (name, cx) in contexts() {
            batched(
                &mut group,
                &group_name,
                &format!("tracewire/{name}"),
                setup,
                |headers| {
                    let headers = tracewire_kafka::headers::inject(&propagator, &cx, Some(headers));
                    black_box(tracewire_kafka::headers::extract(
                        &propagator,
                        headers.as_ref(),
                    ))
                },
            );
            batched(
                &mut group,
                &group_name,
                &format!("anchor/naive/{name}"),
                setup,
                |headers| {
                    let headers = naive_inject(&propagator, &cx, headers);
                    black_box(propagator.extract(&NaiveExtractor(&headers)))
                },
            );
        }
        group.finish();
    }
}

/// `routine` on a fresh input from `setup`, as criterion's `iter_batched` times it: neither
/// building the input nor dropping the output is measured. Under `TRACEWIRE_PROFILE` it runs
/// through `bench_or_profile` with every input built before the first iteration, so that their
/// building costs the same in every case (what the iterations free would otherwise be reused by
/// it) and the group's `bare`, which only takes the inputs, cancels it exactly; outputs are
/// leaked instead of dropped (a profiling run is short).
fn batched<I, O>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    id: &str,
    setup: fn() -> I,
    mut routine: impl FnMut(I) -> O,
) {
    if !profiling() {
        group.bench_function(id, |b| {
            b.iter_batched(setup, &mut routine, BatchSize::SmallInput);
        });
        return;
    }
    let mut inputs: Option<Vec<I>> = None;
    bench_or_profile(group, group_name, id, || {
        let input = inputs
            .get_or_insert_with(|| (0..profile_iterations()).map(|_| setup()).collect())
            .pop()
            .unwrap_or_else(setup);
        std::mem::forget(routine(input));
    });
}

/// The iterations `bench_or_profile` runs under `TRACEWIRE_PROFILE` (its default included).
fn profile_iterations() -> u64 {
    std::env::var("TRACEWIRE_PROFILE_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Whether this run profiles one case (`TRACEWIRE_PROFILE`) instead of benchmarking.
fn profiling() -> bool {
    std::env::var_os("TRACEWIRE_PROFILE").is_some()
}

/// Where the time of one inject + extract goes, for the stale carrier and the full context.
fn split(c: &mut Criterion) {
    const GROUP: &str = "kafka/headers_split";
    let propagator = w3c();
    let [_, (_, cx)] = contexts();
    let injected = tracewire_kafka::headers::inject(&propagator, &cx, Some(stale_headers()))
        .unwrap_or_default();
    let naive_injected = naive_inject(&propagator, &cx, stale_headers());
    let mut pairs = PairInjector::new();
    propagator.inject_context(&cx, &mut pairs);
    let extractor = PairExtractor::new(pairs.iter().map(|(key, value)| (key, value.as_bytes())));
    let mut group = c.benchmark_group(GROUP);
    bench_or_profile(&mut group, GROUP, "propagator_format", || {
        let mut injector = PairInjector::new();
        propagator.inject_context(&cx, &mut injector);
        injector
    });
    bench_or_profile(&mut group, GROUP, "propagator_parse", || {
        propagator.extract(&extractor)
    });
    // rdkafka's safe reads (`Headers::try_get`), which the anchor's carrier uses.
    bench_or_profile(&mut group, GROUP, "header_scan", || {
        (0..injected.count())
            .map_while(|index| injected.try_get(index))
            .filter(|header| header.key.len() > 5)
            .count()
    });
    // Ours without a context to write: the three stale fields removed in place.
    batched(
        &mut group,
        GROUP,
        "tracewire_remove_stale",
        stale_headers,
        |headers| tracewire_kafka::headers::inject(&propagator, &Context::new(), Some(headers)),
    );
    // A lookup that finds nothing reads every header (through librdkafka, keys as bytes).
    let baggage = Propagator::new(BaggagePropagator::new());
    let app = app_headers();
    bench_or_profile(&mut group, GROUP, "tracewire_lookup_miss_10", || {
        tracewire_kafka::headers::extract(&baggage, Some(&app))
    });
    batched(
        &mut group,
        GROUP,
        "tracewire_inject",
        stale_headers,
        |headers| tracewire_kafka::headers::inject(&propagator, &cx, Some(headers)),
    );
    batched(
        &mut group,
        GROUP,
        "anchor_naive_inject",
        stale_headers,
        |headers| naive_inject(&propagator, &cx, headers),
    );
    bench_or_profile(&mut group, GROUP, "tracewire_extract", || {
        tracewire_kafka::headers::extract(&propagator, Some(&injected))
    });
    bench_or_profile(&mut group, GROUP, "anchor_naive_extract", || {
        propagator.extract(&NaiveExtractor(&naive_injected))
    });
    group.finish();
}

fn send(c: &mut Criterion) {
    const GROUP: &str = "kafka/send";
    // The mock broker's threads would add their instructions to another case's profile.
    if std::env::var("TRACEWIRE_PROFILE").is_ok_and(|target| !target.starts_with(GROUP)) {
        return;
    }
    let Ok(cluster) = MockCluster::new(1) else {
        return;
    };
    if cluster.create_topic("bench", 1, 1).is_err() {
        return;
    }
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "0");
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(raw) = config.create::<FutureProducer>() else {
        return;
    };
    let traced = |provider| {
        let kafka = KafkaInstrumentation::builder()
            .tracer_provider(&provider)
            .meter_provider(&opentelemetry_sdk::metrics::SdkMeterProvider::default())
            .span_backend(SpanBackend::OpenTelemetry)
            .propagator(Propagator::new(TraceContextPropagator::new()))
            .build();
        TracedProducer::<_, rdkafka::util::DefaultRuntime>::from_config(&config, &kafka)
    };
    let (Ok(sampled), Ok(dropped)) = (traced(sampled_provider()), traced(dropping_provider()))
    else {
        return;
    };
    let record = || {
        FutureRecord::<str, str>::to("bench")
            .key("key")
            .payload("payload")
    };
    let timeout = Duration::from_secs(5);
    let bare = || runtime.block_on(async { raw.send(record(), timeout).await.is_ok() });
    let ours_sampled = || runtime.block_on(async { sampled.send(record(), timeout).await.is_ok() });
    let ours_dropped = || runtime.block_on(async { dropped.send(record(), timeout).await.is_ok() });
    let mut group = c.benchmark_group(GROUP);
    interleaved(&mut group, GROUP, "bare", &bare, &ours_sampled);
    interleaved(&mut group, GROUP, "tracewire/sampled", &ours_sampled, &bare);
    interleaved(&mut group, GROUP, "tracewire/dropped", &ours_dropped, &bare);
    // The wrapper's own work per message without the broker: start the span, inject, end it
    // with an outcome and record the metrics (the refused-record path, as cheap as a delivery).
    let refused = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
    for (name, producer) in [("sampled", &sampled), ("dropped", &dropped)] {
        let id = format!("tracewire_cpu_only/{name}");
        bench_or_profile(&mut group, GROUP, &id, || {
            let record = producer.telemetry().prepare_record(
                BaseRecord::<str, str>::to("bench")
                    .key("key")
                    .payload("payload"),
            );
            record.delivery_opaque.record_error(&refused);
        });
    }
    group.finish();
}

/// Times `measured` while alternating it with an untimed `other` send: the mock broker's round
/// trip and the shared machine's load drift over seconds, and alternating gives both sides the
/// same conditions instead of whatever ran first. Profiled alone, as instructions do not drift.
fn interleaved(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    id: &str,
    measured: &dyn Fn() -> bool,
    other: &dyn Fn() -> bool,
) {
    if profiling() {
        bench_or_profile(group, group_name, id, measured);
        return;
    }
    group.bench_function(id, |b: &mut Bencher<'_>| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                black_box(other());
                let start = Instant::now();
                black_box(measured());
                total += start.elapsed();
            }
            total
        });
    });
}

criterion_group!(benches, headers, split, send);
criterion_main!(benches);
