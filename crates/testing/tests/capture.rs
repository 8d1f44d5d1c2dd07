//! Span capture and the span assertions.

use std::sync::Barrier;
use std::thread;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, Value};
use opentelemetry_sdk::trace::{Sampler, SdkTracer};
use tracewire_testing::TelemetryCapture;

const REMOTE_TRACE: TraceId =
    TraceId::from_bytes(0x4bf92f3577b34da6a3ce929d0e0e4736_u128.to_be_bytes());
const REMOTE_SPAN: SpanId = SpanId::from_bytes(0x00f067aa0ba902b7_u64.to_be_bytes());

fn remote_context() -> SpanContext {
    SpanContext::new(
        REMOTE_TRACE,
        REMOTE_SPAN,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )
}

fn tracer(capture: &TelemetryCapture) -> SdkTracer {
    capture.tracer_provider().tracer("capture-test")
}

/// One finished span with a typed attribute of each kind.
fn typed_span() -> TelemetryCapture {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer
        .span_builder("GET /users/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("server.port.text", "8080"),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("cached", true),
            KeyValue::new(
                "db.operation.batch",
                Value::Array(Array::String(vec!["SELECT".into(), "UPDATE".into()])),
            ),
        ])
        .start(&tracer);
    capture
}

#[test]
fn parallel_captures_never_mix() {
    const SPANS_PER_THREAD: usize = 200;
    let barrier = Barrier::new(2);
    thread::scope(|scope| {
        for name in ["left", "right"] {
            let barrier = &barrier;
            scope.spawn(move || {
                let capture = TelemetryCapture::new();
                let tracer = tracer(&capture);
                barrier.wait();
                for _ in 0..SPANS_PER_THREAD {
                    tracer.in_span(name, |_cx| {});
                }
                let spans = capture.spans();
                assert_eq!(spans.len(), SPANS_PER_THREAD);
                assert!(
                    spans.iter().all(|span| span.name() == name),
                    "{}",
                    spans.tree()
                );
            });
        }
    });
}

#[test]
fn typed_attribute_assertions_pass_on_the_right_type_and_value() {
    let capture = typed_span();
    let spans = capture.spans();
    spans
        .single("GET /users/{id}")
        .assert_attr_str("http.request.method", "GET")
        .assert_attr_i64("http.response.status_code", 200)
        .assert_attr_str("server.port.text", "8080")
        .assert_attr_f64("ratio", 0.5)
        .assert_attr_bool("cached", true)
        .assert_attr_str_array("db.operation.batch", &["SELECT", "UPDATE"])
        .assert_no_attr("url.full")
        .assert_kind(SpanKind::Server)
        .assert_status_unset()
        .assert_root();
}

#[test]
#[should_panic(
    expected = "attribute \"server.port.text\" has the wrong type: it is string \"8080\", expected int 8080"
)]
fn int_assertion_fails_on_a_string() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_i64("server.port.text", 8080);
}

#[test]
#[should_panic(expected = "has the wrong type: it is int 200, expected string")]
fn string_assertion_fails_on_an_int() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_str("http.response.status_code", "200");
}

#[test]
#[should_panic(expected = "attribute \"http.response.status_code\" is int 200, expected int 404")]
fn int_assertion_fails_on_another_value() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_i64("http.response.status_code", 404);
}

#[test]
#[should_panic(expected = "has the wrong type: it is boolean true, expected double")]
fn f64_assertion_fails_on_a_bool() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_f64("cached", 1.0);
}

#[test]
#[should_panic(expected = "expected string array [\"SELECT\"]")]
fn string_array_assertion_compares_every_item() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_str_array("db.operation.batch", &["SELECT"]);
}

#[test]
#[should_panic(expected = "attribute \"db.system.name\" is missing")]
fn missing_attribute_fails() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_attr_str("db.system.name", "postgresql");
}

#[test]
#[should_panic(expected = "attribute \"cached\" should not be set")]
fn no_attr_fails_when_set() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_no_attr("cached");
}

#[test]
#[should_panic(expected = "span tree:\ntrace ")]
fn failures_include_the_span_tree() {
    typed_span()
        .spans()
        .single("GET /users/{id}")
        .assert_kind(SpanKind::Client);
}

#[test]
#[should_panic(expected = "expected exactly one span named \"missing\", found 0")]
fn single_fails_without_a_match() {
    typed_span().spans().single("missing");
}

#[test]
fn parent_child_and_lookup() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer.in_span("parent", |_cx| {
        tracer
            .span_builder("db")
            .with_kind(SpanKind::Client)
            .start(&tracer);
        tracer.in_span("work", |_cx| {});
    });
    tracer.in_span("other trace", |_cx| {});

    let spans = capture.spans();
    assert_eq!(spans.len(), 4);
    assert!(!spans.is_empty());
    let parent = spans.single("parent");
    parent.assert_root();
    let db = spans.single("db");
    db.assert_child_of(&parent)
        .assert_parent_span_id(parent.span_context().span_id());
    spans.single("work").assert_child_of(&parent);
    assert_eq!(spans.by_kind(SpanKind::Client).len(), 1);
    assert_eq!(spans.named("work").len(), 1);
    assert!(spans.find("nothing").is_none());
    assert_eq!(
        parent
            .children()
            .iter()
            .map(|child| child.name())
            .collect::<Vec<_>>(),
        ["db", "work"]
    );
    let trace_ids = spans.trace_ids();
    assert_eq!(trace_ids.len(), 2);
    assert_eq!(
        trace_ids[0],
        db.span_context().trace_id(),
        "first-seen order"
    );
    assert!(parent.duration() <= std::time::Duration::from_secs(60));
}

#[test]
#[should_panic(expected = "expected a child of \"a\" but the trace ids differ")]
fn child_of_fails_across_traces() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer.in_span("a", |_cx| {});
    tracer.in_span("b", |_cx| {});
    let spans = capture.spans();
    spans.single("b").assert_child_of(&spans.single("a"));
}

#[test]
#[should_panic(expected = "expected a root span")]
fn root_fails_for_a_child() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer.in_span("a", |_cx| tracer.in_span("b", |_cx| {}));
    capture.spans().single("b").assert_root();
}

#[test]
fn remote_parent_links_status_and_events() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    let remote = Context::new().with_remote_span_context(remote_context());
    let server = tracer
        .span_builder("GET /orders")
        .with_kind(SpanKind::Server)
        .start_with_context(&tracer, &remote);
    let server_cx = Context::current_with_span(server);
    server_cx.span().add_event("request received", vec![]);
    server_cx
        .span()
        .set_status(Status::error("upstream unavailable"));
    server_cx.span().end();
    tracer
        .span_builder("consume")
        .with_kind(SpanKind::Consumer)
        .with_links(vec![Link::with_context(remote_context())])
        .start_with_context(&tracer, &Context::new());

    let spans = capture.spans();
    spans
        .single("GET /orders")
        .assert_parent_span_id(REMOTE_SPAN)
        .assert_has_event("request received")
        .assert_status_error()
        .assert_status_error_with_description("upstream unavailable");
    assert_eq!(
        spans.single("GET /orders").span_context().trace_id(),
        REMOTE_TRACE
    );
    let consumer = spans.single("consume");
    consumer
        .assert_root()
        .assert_kind(SpanKind::Consumer)
        .assert_linked_to(&remote_context());
    assert_eq!(consumer.links().len(), 1);
    assert!(consumer.events().is_empty());
}

#[test]
#[should_panic(
    expected = "expected status Error with description \"timeout\", found Error { description: \"upstream unavailable\" }"
)]
fn error_description_must_match() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer.in_span("call", |cx| {
        cx.span().set_status(Status::error("upstream unavailable"))
    });
    capture
        .spans()
        .single("call")
        .assert_status_error_with_description("timeout");
}

#[test]
#[should_panic(expected = "expected status Unset, found Ok")]
fn explicit_ok_is_not_unset() {
    let capture = TelemetryCapture::new();
    let tracer = tracer(&capture);
    tracer.in_span("call", |cx| cx.span().set_status(Status::Ok));
    let spans = capture.spans();
    spans
        .single("call")
        .assert_status_ok()
        .assert_status_unset();
}

#[test]
#[should_panic(expected = "expected a link to trace 4bf92f3577b34da6a3ce929d0e0e4736")]
fn missing_link_fails() {
    let capture = TelemetryCapture::new();
    tracer(&capture).in_span("no links", |_cx| {});
    capture
        .spans()
        .single("no links")
        .assert_linked_to(&remote_context());
}

#[test]
#[should_panic(expected = "expected an event named \"retry\"")]
fn missing_event_fails() {
    let capture = TelemetryCapture::new();
    tracer(&capture).in_span("call", |_cx| {});
    capture.spans().single("call").assert_has_event("retry");
}

#[test]
fn the_sampler_is_honoured() {
    let capture = TelemetryCapture::with_sampler(Sampler::AlwaysOff);
    tracer(&capture).in_span("dropped", |_cx| {});
    assert!(capture.spans().is_empty());
}

#[test]
fn reset_forgets_spans_and_logs() {
    let capture = TelemetryCapture::default();
    tracer(&capture).in_span("before", |_cx| {});
    let logger = capture.logger_provider().logger("capture-test");
    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("hello"));
    logger.emit(record);

    let logs = capture.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].record.body(), Some(&AnyValue::from("hello")));

    capture.reset();
    assert!(capture.spans().is_empty());
    assert!(capture.logs().is_empty());
    tracer(&capture).in_span("after", |_cx| {});
    assert_eq!(capture.spans().single("after").name(), "after");
}
