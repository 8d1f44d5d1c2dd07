//! The cost of a sampling decision: the SDK's own ratio sampler (parent-based, as its README
//! shows) against tracewire's consistent ratio and its rules, for a new trace that is dropped
//! (the common case at 1%), one that is kept, a child that follows its parent, and a whole
//! dropped root span as the SDK builds it.
//!
//! The two ratio samplers read different bits (the SDK keeps a trace whose rightmost 8 bytes,
//! halved, are small; tracewire one whose rightmost 7 bytes reach its threshold), so each case
//! gives each sampler a trace id it drops, or keeps, by its own rule.

use std::hint::black_box;

use criterion::Criterion;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracerProvider, ShouldSample};
use tracewire_core::sampling::{Decision, RuleSampler};

/// All bits set: dropped by the SDK's ratio sampler, kept by tracewire's.
const HIGH: TraceId = TraceId::from_bytes([0xff; 16]);
/// One bit set: kept by the SDK's ratio sampler, dropped by tracewire's.
const LOW: TraceId = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

fn attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.path", "/users/42"),
        KeyValue::new("http.route", "/users/{id}"),
    ]
}

fn decide(sampler: &dyn ShouldSample, parent: Option<&Context>, trace_id: TraceId) {
    let attributes = attributes();
    drop(black_box(sampler.should_sample(
        black_box(parent),
        black_box(trace_id),
        "GET /users/{id}",
        &SpanKind::Server,
        &attributes,
        &[],
    )));
}

/// Every trace gets the same id.
#[derive(Debug)]
struct FixedIds(TraceId);

impl IdGenerator for FixedIds {
    fn new_trace_id(&self) -> TraceId {
        self.0
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(1)
    }
}

/// A sampler, and the trace ids it drops and keeps.
struct Case {
    name: &'static str,
    sampler: Box<dyn ShouldSample>,
    dropped: TraceId,
    kept: TraceId,
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rules = "http.route=/health* => drop; kind=server, http.route=/checkout/* => keep; \
                 * => ratio 0.01";
    let cases = [
        Case {
            name: "sdk_parentbased_ratio",
            sampler: Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                0.01,
            )))),
            dropped: HIGH,
            kept: LOW,
        },
        Case {
            name: "tracewire_ratio",
            sampler: Box::new(RuleSampler::new([], Decision::ratio(0.01))),
            dropped: LOW,
            kept: HIGH,
        },
        Case {
            name: "tracewire_three_rules",
            sampler: Box::new(RuleSampler::parse(rules, Decision::Keep).expect("valid rules")),
            dropped: LOW,
            kept: HIGH,
        },
    ];
    let parent = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(1),
        SpanId::from(1),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ));

    let mut group = c.benchmark_group("sampling/new_trace_dropped");
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.iter(|| decide(case.sampler.as_ref(), None, case.dropped));
        });
    }
    group.finish();
    let mut group = c.benchmark_group("sampling/new_trace_kept");
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.iter(|| decide(case.sampler.as_ref(), None, case.kept));
        });
    }
    group.finish();
    let mut group = c.benchmark_group("sampling/child_follows_parent");
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.iter(|| decide(case.sampler.as_ref(), Some(&parent), case.kept));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sampling/dropped_root_span");
    for case in cases {
        let provider = SdkTracerProvider::builder()
            .with_sampler(case.sampler)
            .with_id_generator(FixedIds(case.dropped))
            .build();
        let tracer = provider.tracer("bench");
        group.bench_function(case.name, |b| {
            b.iter(|| {
                let span = tracer
                    .span_builder("GET /users/{id}")
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes())
                    .start(&tracer);
                drop(black_box(span));
            });
        });
    }
    group.finish();
    c.final_summary();
}
