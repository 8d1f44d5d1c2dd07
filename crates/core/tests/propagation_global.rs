//! `Propagator::global` and `install_global`. Globals are process-wide, so this binary holds a
//! single test that walks through the states in order.

use http::HeaderMap;
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, JaegerPropagator, Propagator, TraceContextPropagator,
    install_global,
};

fn sampled_context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(7),
        SpanId::from(9),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ))
}

fn header_names(propagator: &Propagator) -> Vec<String> {
    let mut map = HeaderMap::new();
    propagator.inject_context(&sampled_context(), &mut HeaderInjector(&mut map));
    map.keys().map(|name| name.as_str().to_owned()).collect()
}

fn global_otel_fields() -> Vec<String> {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.fields().map(str::to_owned).collect()
    })
}

#[test]
fn global_handle_follows_the_opentelemetry_global_until_install_global() {
    let early = Propagator::global();
    let default = Propagator::default();
    assert_eq!(format!("{early:?}"), "Propagator::Global");

    // Nothing set anywhere: the OpenTelemetry default is a no-op.
    assert!(early.fields().is_empty());
    assert!(header_names(&early).is_empty());

    // Set only through OpenTelemetry: the handle falls back to it.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    assert_eq!(early.fields(), ["traceparent", "tracestate"]);
    assert_eq!(header_names(&default), ["traceparent"]);

    // Installed through us: our slot wins, and OpenTelemetry's global agrees.
    install_global(JaegerPropagator::new());
    assert_eq!(early.fields(), ["uber-trace-id"]);
    assert_eq!(global_otel_fields(), ["uber-trace-id"]);
    let mut map = HeaderMap::new();
    early.inject_context(&sampled_context(), &mut HeaderInjector(&mut map));
    let cx = early.extract(&HeaderExtractor::new(&map));
    assert_eq!(
        cx.span().span_context().trace_id(),
        TraceId::from(7),
        "extract goes through the installed propagator"
    );

    // A later OpenTelemetry-only change is not seen by tracewire handles (documented).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    assert_eq!(early.fields(), ["uber-trace-id"]);

    // Installing again replaces the slot for every handle.
    install_global(TraceContextPropagator::new());
    assert_eq!(default.fields(), ["traceparent", "tracestate"]);

    // A custom handle ignores the global one.
    let custom = Propagator::new(JaegerPropagator::new());
    assert_eq!(custom.fields(), ["uber-trace-id"]);
    assert!(format!("{custom:?}").starts_with("Propagator::Custom(JaegerPropagator"));

    // Extraction failure returns the input context unchanged.
    let empty = HeaderMap::new();
    let kept = early.extract_with_context(&sampled_context(), &HeaderExtractor::new(&empty));
    assert_eq!(kept.span().span_context().span_id(), SpanId::from(9));
}
