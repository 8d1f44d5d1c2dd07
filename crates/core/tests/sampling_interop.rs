//! Consistent probability sampling across services: a trace started by another SDK that
//! implements the specification (`ot=th`, `ot=rv`, the W3C random flag) arrives through our
//! trace-context propagator, a span is started under it with our samplers, and what is sent on
//! is read back.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, SdkTracerProvider, ShouldSample,
};
use tracewire_core::propagation::TraceContextPropagator;
use tracewire_core::sampling::{Decision, Rule, RuleSampler};

/// The trace id's rightmost 56 bits are `0x90_0000_0000_0000`: at least `th:8`, below `th:c`.
const TRACEPARENT: &str = "00-00000000000000000090000000000000-1234567890123456";

/// Sends a request with `flags` and `tracestate` through a service sampling with `sampler`,
/// and returns whether its span was sampled and the `traceparent` flags and `tracestate` sent on.
fn hop(sampler: RuleSampler, flags: &str, tracestate: &str) -> (bool, String, Option<String>) {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let tracer = provider.tracer("interop");
    let propagator = TraceContextPropagator::new();
    let incoming = HashMap::from([
        ("traceparent".to_owned(), format!("{TRACEPARENT}-{flags}")),
        ("tracestate".to_owned(), tracestate.to_owned()),
    ]);
    let parent = propagator.extract_with_context(&Context::new(), &incoming);
    let span = tracer
        .span_builder("GET /x")
        .with_kind(SpanKind::Server)
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let sampled = cx.span().span_context().is_sampled();
    let mut outgoing = HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    let sent_flags = outgoing["traceparent"][53..].to_owned();
    (sampled, sent_flags, outgoing.remove("tracestate"))
}

#[test]
fn a_consistent_sampled_parent_is_followed_with_its_threshold() {
    let (sampled, flags, tracestate) = hop(
        RuleSampler::new([], Decision::ratio(0.01)),
        "03",
        "ot=th:8,vendor=v",
    );
    assert!(sampled);
    assert_eq!(flags, "03");
    assert_eq!(tracestate.as_deref(), Some("ot=th:8,vendor=v"));
}

#[test]
fn an_inconsistent_threshold_is_erased() {
    // Sampled, but its randomness is below `th:c`: the threshold does not describe it.
    let (sampled, _, tracestate) = hop(
        RuleSampler::new([], Decision::Keep),
        "03",
        "ot=th:c;rv:00000000000001,vendor=v",
    );
    assert!(sampled);
    assert_eq!(tracestate.as_deref(), Some("ot=rv:00000000000001,vendor=v"));
}

#[test]
fn an_independent_decision_uses_explicit_randomness_and_records_its_threshold() {
    let public = || {
        RuleSampler::new(
            [Rule::new(Decision::ratio(0.25)).ignore_parent()],
            Decision::Drop,
        )
    };
    // rv (all ones) is kept at one quarter although the trace id's bits are not.
    let (sampled, flags, tracestate) = hop(public(), "03", "ot=rv:ffffffffffffff;th:8");
    assert!(sampled);
    assert_eq!(flags, "03");
    assert_eq!(tracestate.as_deref(), Some("ot=th:c;rv:ffffffffffffff"));
    // Without rv, the trace id's bits (0x9…) are below `th:c`: dropped, the random flag kept.
    let (sampled, flags, tracestate) = hop(public(), "03", "ot=th:8");
    assert!(!sampled);
    assert_eq!(flags, "02");
    assert_eq!(tracestate.as_deref(), Some("ot=th:8"));
}

#[test]
fn services_at_different_ratios_keep_consistent_sub_traces() {
    // Whatever a service at 1/4 keeps of a trace, a service at 1/2 keeps too: each decides on
    // its own, from the same trace id.
    let (half, quarter) = (
        RuleSampler::new([], Decision::ratio(0.5)),
        RuleSampler::new([], Decision::ratio(0.25)),
    );
    let keeps = |sampler: &RuleSampler, trace_id| {
        matches!(
            sampler
                .should_sample(None, trace_id, "root", &SpanKind::Server, &[], &[])
                .decision,
            SamplingDecision::RecordAndSample
        )
    };
    let ids = RandomIdGenerator::default();
    let mut kept = (0, 0);
    for _ in 0..2_000 {
        let trace_id = ids.new_trace_id();
        let (by_half, by_quarter) = (keeps(&half, trace_id), keeps(&quarter, trace_id));
        assert!(
            !by_quarter || by_half,
            "{trace_id}: kept at 1/4, dropped at 1/2"
        );
        kept.0 += usize::from(by_half);
        kept.1 += usize::from(by_quarter);
    }
    assert!((800..=1_200).contains(&kept.0), "{kept:?}");
    assert!((350..=650).contains(&kept.1), "{kept:?}");
}
