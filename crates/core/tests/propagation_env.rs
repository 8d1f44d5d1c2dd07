//! `OTEL_PROPAGATORS` read from the real environment.
//!
//! The workspace forbids `unsafe`, so tests cannot call `std::env::set_var`. Each parent test
//! instead runs this test binary again, filtered to one child test, with the variable set on the
//! child process only. Child tests return at once unless [`CHILD`] is set, so in a normal run
//! (`cargo test` or `cargo nextest run`) they pass without checking anything. The child command
//! line is plain libtest, independent of the runner that started the parent.

use std::process::Command;

use http::HeaderMap;
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, OTEL_PROPAGATORS, Propagator, PropagatorWarning,
    propagator_from_env,
};

/// Set on child processes; its value is the child test's name.
const CHILD: &str = "TRACEWIRE_PROPAGATION_ENV_CHILD";
/// Printed by a child that ran its checks, so a filter that matches no test (which libtest
/// reports as success) cannot pass for one that did.
const CHECKED: &str = "tracewire-propagation-env-child-checked:";

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Runs child test `name` in a new process of this binary, with `OTEL_PROPAGATORS` set to
/// `value` (or removed for `None`), and asserts that it ran and passed.
fn run_child(name: &str, value: Option<&str>) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name);
    match value {
        Some(value) => command.env(OTEL_PROPAGATORS, value),
        None => command.env_remove(OTEL_PROPAGATORS),
    };
    let output = command.output().expect("the child test runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains(&format!("{CHECKED}{name}")),
        "child {name} did not run:\n{stdout}\n{stderr}"
    );
}

/// Whether this process is the child started for test `name`; reports that its checks ran.
fn is_child(name: &str) -> bool {
    let child = std::env::var_os(CHILD).is_some_and(|value| value == name);
    if child {
        eprintln!("{CHECKED}{name}");
    }
    child
}

fn sorted(fields: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut fields: Vec<String> = fields.into_iter().map(Into::into).collect();
    fields.sort_unstable();
    fields
}

/// Fields of both `propagator_from_env()` and `Propagator::from_env()`, asserting that they agree
/// and that `propagator_from_env()` warns exactly `warnings`.
fn fields_from_env(warnings: &[PropagatorWarning]) -> Vec<String> {
    let (propagator, reported) = propagator_from_env();
    assert_eq!(reported, warnings);
    let fields = sorted(propagator.fields());
    assert_eq!(sorted(Propagator::from_env().fields()), fields);
    fields
}

fn sampled_context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    ))
}

#[test]
fn otel_propagators_list_is_deduplicated_and_warns_once() {
    run_child(
        "child_list_is_deduplicated_and_warns_once",
        Some("b3multi,TraceContext,b3multi,bogus"),
    );
}

#[test]
fn child_list_is_deduplicated_and_warns_once() {
    if !is_child("child_list_is_deduplicated_and_warns_once") {
        return;
    }
    let fields = fields_from_env(&[PropagatorWarning::Unknown("bogus".to_owned())]);
    assert_eq!(
        fields,
        sorted([
            "traceparent",
            "tracestate",
            "x-b3-sampled",
            "x-b3-spanid",
            "x-b3-traceid"
        ])
    );

    // The order is [B3Multi, TraceContext]: later propagators extract over earlier ones, so a
    // valid `traceparent` wins over conflicting B3 headers, which are read when alone.
    let propagator = Propagator::from_env();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-b3-traceid",
        "11111111111111111111111111111111".parse().expect("valid"),
    );
    headers.insert("x-b3-spanid", "2222222222222222".parse().expect("valid"));
    let b3_only = propagator.extract(&HeaderExtractor::new(&headers));
    assert_eq!(
        b3_only.span().span_context().trace_id(),
        TraceId::from(0x1111_1111_1111_1111_1111_1111_1111_1111)
    );
    headers.insert("traceparent", TRACEPARENT.parse().expect("valid"));
    let both = propagator.extract(&HeaderExtractor::new(&headers));
    assert_eq!(
        both.span().span_context().trace_id(),
        sampled_context().span().span_context().trace_id()
    );
}

#[test]
fn otel_propagators_none_disables_propagation() {
    run_child("child_none_disables_propagation", Some("none"));
}

#[test]
fn child_none_disables_propagation() {
    if !is_child("child_none_disables_propagation") {
        return;
    }
    assert!(fields_from_env(&[]).is_empty());
    let mut headers = HeaderMap::new();
    Propagator::from_env().inject_context(&sampled_context(), &mut HeaderInjector(&mut headers));
    assert!(headers.is_empty());
}

#[test]
fn otel_propagators_unset_or_empty_means_the_default() {
    run_child("child_default", None);
    run_child("child_default", Some(""));
}

#[test]
fn child_default() {
    if !is_child("child_default") {
        return;
    }
    assert_eq!(
        fields_from_env(&[]),
        sorted(["baggage", "traceparent", "tracestate"])
    );
}

#[test]
fn otel_propagators_b3_injects_the_single_header() {
    run_child("child_b3_injects_the_single_header", Some(" B3 "));
}

#[test]
fn child_b3_injects_the_single_header() {
    if !is_child("child_b3_injects_the_single_header") {
        return;
    }
    assert_eq!(fields_from_env(&[]), ["b3"]);
    let mut headers = HeaderMap::new();
    Propagator::from_env().inject_context(&sampled_context(), &mut HeaderInjector(&mut headers));
    assert_eq!(headers.len(), 1);
    assert_eq!(
        headers["b3"],
        "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"
    );
}

#[test]
fn otel_propagators_none_wins_over_other_values() {
    run_child("child_none_wins_over_other_values", Some("xray,none,b3"));
}

#[test]
fn child_none_wins_over_other_values() {
    if !is_child("child_none_wins_over_other_values") {
        return;
    }
    let fields = fields_from_env(&[
        PropagatorWarning::Unsupported("xray".to_owned()),
        PropagatorWarning::NoneWithOthers(vec!["xray".to_owned(), "b3".to_owned()]),
    ]);
    assert!(fields.is_empty());
}
