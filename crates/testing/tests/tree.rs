//! Snapshot of the span-tree renderer.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use tracewire_testing::{Spans, TreeOptions, render_tree};

const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
const OTHER_TRACE: u128 = 0x0af7651916cd43dd8448eb211c80319c;
const REMOTE_PARENT: u64 = 0x00f067aa0ba902b7;

/// `ids` is (trace id, span id, parent span id).
fn span(
    (trace, id, parent): (u128, u64, u64),
    name: &'static str,
    kind: SpanKind,
    start_ms: u64,
    attributes: Vec<KeyValue>,
    status: Status,
) -> SpanData {
    let start_time = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(trace.to_be_bytes()),
            SpanId::from_bytes(id.to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from_bytes(parent.to_be_bytes()),
        parent_span_is_remote: parent == REMOTE_PARENT,
        span_kind: kind,
        name: Cow::Borrowed(name),
        start_time,
        end_time: start_time + Duration::from_micros(12_345),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("tree-test").build(),
    }
}

/// Spans in end order (children before parents), as an exporter sees them.
fn spans() -> Vec<SpanData> {
    vec![
        span(
            (TRACE, 2, 1),
            "SELECT users",
            SpanKind::Client,
            5,
            vec![
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.query.summary", "SELECT users"),
            ],
            Status::Unset,
        ),
        span(
            (TRACE, 3, 1),
            "GET",
            SpanKind::Client,
            8,
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 503_i64),
                KeyValue::new("error.type", "503"),
                KeyValue::new("url.full", "https://billing/internal"),
            ],
            Status::error("Service Unavailable"),
        ),
        span(
            (TRACE, 4, 3),
            "connect",
            SpanKind::Internal,
            9,
            vec![],
            Status::Unset,
        ),
        span(
            (TRACE, 1, REMOTE_PARENT),
            "GET /users/{id}",
            SpanKind::Server,
            1,
            vec![
                KeyValue::new("http.route", "/users/{id}"),
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 500_i64),
            ],
            Status::error(""),
        ),
        span(
            (OTHER_TRACE, 9, 8),
            "orphan",
            SpanKind::Consumer,
            0,
            vec![],
            Status::Ok,
        ),
    ]
}

#[test]
fn deterministic_snapshot() {
    let tree = render_tree(&spans(), &TreeOptions::default().with_durations(false));
    let expected = "\
trace 0af7651916cd43dd8448eb211c80319c
└─ orphan [CONSUMER] ✓ OK (parent not captured 0000000000000008)
trace 4bf92f3577b34da6a3ce929d0e0e4736
└─ GET /users/{id} [SERVER] http.request.method=\"GET\" http.route=\"/users/{id}\" http.response.status_code=500 ✗ ERROR (remote parent 00f067aa0ba902b7)
   ├─ SELECT users [CLIENT] db.system.name=\"postgresql\" db.query.summary=\"SELECT users\"
   └─ GET [CLIENT] http.request.method=\"GET\" http.response.status_code=503 error.type=\"503\" ✗ ERROR: Service Unavailable
      └─ connect [INTERNAL]
";
    assert_eq!(tree, expected, "\n{tree}");
}

#[test]
fn durations_and_attribute_selection() {
    let options = TreeOptions::default().with_attribute_keys(["url.full"]);
    let tree = render_tree(&spans(), &options);
    assert!(
        tree.contains("└─ GET [CLIENT] 12.3ms url.full=\"https://billing/internal\" ✗ ERROR: Service Unavailable\n"),
        "{tree}"
    );
    let all = render_tree(
        &spans(),
        &TreeOptions::default()
            .with_all_attributes()
            .with_durations(false),
    );
    assert!(all.contains("SELECT users [CLIENT] db.system.name=\"postgresql\" db.query.summary=\"SELECT users\"\n"), "{all}");
}

#[test]
fn spans_render_their_own_tree() {
    let spans = Spans::new(spans());
    assert_eq!(
        spans.tree_with(&TreeOptions::default().with_durations(false)),
        render_tree(
            spans.as_slice(),
            &TreeOptions::default().with_durations(false)
        )
    );
    assert!(spans.tree().contains("12.3ms"));
    assert!(render_tree(&[], &TreeOptions::default()).is_empty());
}
