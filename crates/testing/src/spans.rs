use std::fmt::{self, Write as _};
use std::time::Duration;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::tree::{TreeOptions, kind_label, render_tree, render_value};

/// The finished spans of a [`TelemetryCapture`](crate::TelemetryCapture), in the order they ended.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use tracewire_testing::TelemetryCapture;
///
/// let capture = TelemetryCapture::new();
/// let tracer = capture.tracer_provider().tracer("example");
/// tracer.in_span("parent", |_cx| {
///     tracer.in_span("child", |_cx| {});
/// });
///
/// let spans = capture.spans();
/// assert_eq!(spans.len(), 2);
/// let parent = spans.single("parent");
/// parent.assert_root();
/// spans.single("child").assert_child_of(&parent);
/// assert_eq!(spans.trace_ids().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Spans {
    spans: Vec<SpanData>,
}

impl Spans {
    /// Wraps spans obtained elsewhere, e.g. from an `InMemorySpanExporter` of your own.
    pub fn new(spans: Vec<SpanData>) -> Self {
        Self { spans }
    }

    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no span was captured.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The raw span data.
    pub fn as_slice(&self) -> &[SpanData] {
        &self.spans
    }

    /// All spans, in the order they ended.
    pub fn iter(&self) -> impl Iterator<Item = SpanView<'_>> {
        self.spans
            .iter()
            .map(|span| SpanView::new(span, &self.spans))
    }

    /// All spans called `name`.
    pub fn named(&self, name: &str) -> Vec<SpanView<'_>> {
        self.iter().filter(|span| span.name() == name).collect()
    }

    /// The first span (in end order) called `name`.
    pub fn find(&self, name: &str) -> Option<SpanView<'_>> {
        self.iter().find(|span| span.name() == name)
    }

    /// The only span called `name`.
    ///
    /// # Panics
    ///
    /// If there is no such span or more than one; the message includes the span tree.
    #[track_caller]
    pub fn single(&self, name: &str) -> SpanView<'_> {
        let mut matching = self.named(name);
        match matching.len() {
            1 => matching.remove(0),
            count => panic!(
                "expected exactly one span named {name:?}, found {count}\n\nspan tree:\n{}",
                self.tree()
            ),
        }
    }

    /// All spans of `kind`.
    pub fn by_kind(&self, kind: SpanKind) -> Vec<SpanView<'_>> {
        self.iter().filter(|span| span.kind() == kind).collect()
    }

    /// The span tree with [`TreeOptions::default`] (durations shown).
    pub fn tree(&self) -> String {
        render_tree(&self.spans, &TreeOptions::default())
    }

    /// The span tree with custom options, e.g. durations off for a snapshot.
    pub fn tree_with(&self, options: &TreeOptions) -> String {
        render_tree(&self.spans, options)
    }

    /// The distinct trace ids, in first-seen order.
    pub fn trace_ids(&self) -> Vec<TraceId> {
        let mut ids = Vec::new();
        for span in &self.spans {
            let id = span.span_context.trace_id();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

impl<'a> IntoIterator for &'a Spans {
    type Item = SpanView<'a>;
    type IntoIter = Box<dyn Iterator<Item = SpanView<'a>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// One captured span, with assertions.
///
/// Every `assert_*` method returns `&Self` so checks can be chained, and panics with a message
/// that shows the span in full and the whole span tree.
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    span: &'a SpanData,
    all: &'a [SpanData],
}

impl fmt::Debug for SpanView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.span, f)
    }
}

impl<'a> SpanView<'a> {
    fn new(span: &'a SpanData, all: &'a [SpanData]) -> Self {
        Self { span, all }
    }

    /// The underlying span data.
    pub fn data(&self) -> &'a SpanData {
        self.span
    }

    /// The span name.
    pub fn name(&self) -> &'a str {
        &self.span.name
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.span.span_kind.clone()
    }

    /// The span's own context (trace id, span id, flags, trace state).
    pub fn span_context(&self) -> &'a SpanContext {
        &self.span.span_context
    }

    /// The parent span id; [`SpanId::INVALID`] for a root span.
    pub fn parent_span_id(&self) -> SpanId {
        self.span.parent_span_id
    }

    /// End time minus start time (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.span
            .end_time
            .duration_since(self.span.start_time)
            .unwrap_or_default()
    }

    /// The span status.
    pub fn status(&self) -> &'a Status {
        &self.span.status
    }

    /// The value of attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&'a Value> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// The span's links.
    pub fn links(&self) -> &'a [Link] {
        &self.span.links
    }

    /// The span's events.
    pub fn events(&self) -> &'a [Event] {
        &self.span.events
    }

    /// The captured spans whose parent is this span, in end order.
    pub fn children(&self) -> Vec<SpanView<'a>> {
        self.all
            .iter()
            .filter(|other| {
                other.parent_span_id == self.span.span_context.span_id()
                    && other.span_context.trace_id() == self.span.span_context.trace_id()
            })
            .map(|other| SpanView::new(other, self.all))
            .collect()
    }

    /// Asserts that attribute `key` is a string equal to `expected`.
    #[track_caller]
    pub fn assert_attr_str(&self, key: &str, expected: &str) -> &Self {
        self.assert_typed_attr(key, "string", &expected, |value| match value {
            Value::String(actual) => Some(actual.as_str() == expected),
            _ => None,
        })
    }

    /// Asserts that attribute `key` is an integer equal to `expected` (a string `"200"` fails).
    #[track_caller]
    pub fn assert_attr_i64(&self, key: &str, expected: i64) -> &Self {
        self.assert_typed_attr(key, "int", &expected, |value| match value {
            Value::I64(actual) => Some(*actual == expected),
            _ => None,
        })
    }

    /// Asserts that attribute `key` is a double exactly equal to `expected`.
    #[track_caller]
    pub fn assert_attr_f64(&self, key: &str, expected: f64) -> &Self {
        self.assert_typed_attr(key, "double", &expected, |value| match value {
            Value::F64(actual) => Some(actual.to_bits() == expected.to_bits()),
            _ => None,
        })
    }

    /// Asserts that attribute `key` is a boolean equal to `expected`.
    #[track_caller]
    pub fn assert_attr_bool(&self, key: &str, expected: bool) -> &Self {
        self.assert_typed_attr(key, "boolean", &expected, |value| match value {
            Value::Bool(actual) => Some(*actual == expected),
            _ => None,
        })
    }

    /// Asserts that attribute `key` is a string array equal to `expected`, in order.
    #[track_caller]
    pub fn assert_attr_str_array(&self, key: &str, expected: &[&str]) -> &Self {
        self.assert_typed_attr(key, "string array", &expected, |value| match value {
            Value::Array(Array::String(actual)) => Some(
                actual
                    .iter()
                    .map(|item| item.as_str())
                    .eq(expected.iter().copied()),
            ),
            _ => None,
        })
    }

    /// The one check behind the typed attribute assertions: `compare` returns `None` when the
    /// value has another type, else whether it equals the expected value.
    #[track_caller]
    fn assert_typed_attr<E: fmt::Debug + ?Sized>(
        &self,
        key: &str,
        expected_type: &str,
        expected: &E,
        compare: impl FnOnce(&Value) -> Option<bool>,
    ) -> &Self {
        let Some(actual) = self.attr(key) else {
            self.fail(format_args!(
                "attribute {key:?} is missing (expected {expected_type} {expected:?})"
            ));
        };
        match compare(actual) {
            Some(true) => self,
            Some(false) => self.fail(format_args!(
                "attribute {key:?} is {}, expected {expected_type} {expected:?}",
                describe_value(actual)
            )),
            None => self.fail(format_args!(
                "attribute {key:?} has the wrong type: it is {}, expected {expected_type} {expected:?}",
                describe_value(actual)
            )),
        }
    }

    /// Asserts that attribute `key` is not set.
    #[track_caller]
    pub fn assert_no_attr(&self, key: &str) -> &Self {
        if let Some(actual) = self.attr(key) {
            self.fail(format_args!(
                "attribute {key:?} should not be set, but it is {}",
                describe_value(actual)
            ));
        }
        self
    }

    /// Asserts the span kind.
    #[track_caller]
    pub fn assert_kind(&self, kind: SpanKind) -> &Self {
        if self.span.span_kind != kind {
            self.fail(format_args!(
                "expected kind {}, found {}",
                kind_label(&kind),
                kind_label(&self.span.span_kind)
            ));
        }
        self
    }

    /// Asserts that the status is `Unset` (neither error nor explicitly OK).
    #[track_caller]
    pub fn assert_status_unset(&self) -> &Self {
        if self.span.status != Status::Unset {
            self.fail(format_args!(
                "expected status Unset, found {:?}",
                self.span.status
            ));
        }
        self
    }

    /// Asserts that the status is `Ok`, which only an application (not instrumentation) should set.
    #[track_caller]
    pub fn assert_status_ok(&self) -> &Self {
        if self.span.status != Status::Ok {
            self.fail(format_args!(
                "expected status Ok, found {:?}",
                self.span.status
            ));
        }
        self
    }

    /// Asserts that the status is `Error`, whatever its description.
    #[track_caller]
    pub fn assert_status_error(&self) -> &Self {
        if !matches!(self.span.status, Status::Error { .. }) {
            self.fail(format_args!(
                "expected status Error, found {:?}",
                self.span.status
            ));
        }
        self
    }

    /// Asserts that the status is `Error` with exactly this description.
    #[track_caller]
    pub fn assert_status_error_with_description(&self, description: &str) -> &Self {
        match &self.span.status {
            Status::Error {
                description: actual,
            } if actual == description => self,
            other => self.fail(format_args!(
                "expected status Error with description {description:?}, found {other:?}"
            )),
        }
    }

    /// Asserts that this span is a child of `parent`: same trace id, and `parent` is its parent.
    #[track_caller]
    pub fn assert_child_of(&self, parent: &SpanView<'_>) -> &Self {
        let parent_cx = parent.span_context();
        let own_cx = self.span_context();
        if own_cx.trace_id() != parent_cx.trace_id() {
            self.fail(format_args!(
                "expected a child of {:?} but the trace ids differ: {} vs {}",
                parent.name(),
                own_cx.trace_id(),
                parent_cx.trace_id()
            ));
        }
        if self.span.parent_span_id != parent_cx.span_id() {
            self.fail(format_args!(
                "expected a child of {:?} ({}), but the parent span id is {}",
                parent.name(),
                parent_cx.span_id(),
                self.span.parent_span_id
            ));
        }
        self
    }

    /// Asserts that this span has no parent.
    #[track_caller]
    pub fn assert_root(&self) -> &Self {
        if self.span.parent_span_id != SpanId::INVALID {
            self.fail(format_args!(
                "expected a root span, but the parent span id is {}",
                self.span.parent_span_id
            ));
        }
        self
    }

    /// Asserts the parent span id, e.g. the span id of an incoming `traceparent` header.
    #[track_caller]
    pub fn assert_parent_span_id(&self, id: SpanId) -> &Self {
        if self.span.parent_span_id != id {
            self.fail(format_args!(
                "expected parent span id {id}, found {}",
                self.span.parent_span_id
            ));
        }
        self
    }

    /// Asserts that the span has a link to `cx` (same trace id and span id).
    #[track_caller]
    pub fn assert_linked_to(&self, cx: &SpanContext) -> &Self {
        let linked = self.links().iter().any(|link| {
            link.span_context.trace_id() == cx.trace_id()
                && link.span_context.span_id() == cx.span_id()
        });
        if !linked {
            self.fail(format_args!(
                "expected a link to trace {} span {}",
                cx.trace_id(),
                cx.span_id()
            ));
        }
        self
    }

    /// Asserts that the span has an event called `name`.
    #[track_caller]
    pub fn assert_has_event(&self, name: &str) -> &Self {
        if !self.events().iter().any(|event| event.name == name) {
            self.fail(format_args!("expected an event named {name:?}"));
        }
        self
    }

    #[track_caller]
    fn fail(&self, problem: fmt::Arguments<'_>) -> ! {
        panic!(
            "span {:?}: {problem}\n\n{}\nspan tree:\n{}",
            self.name(),
            self.describe(),
            render_tree(self.all, &TreeOptions::default())
        )
    }

    /// Everything about this span, for failure messages.
    fn describe(&self) -> String {
        let span = self.span;
        let cx = &span.span_context;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "  name: {}\n  kind: {}\n  trace id: {}\n  span id: {}\n  parent span id: {}{}\n  status: {:?}",
            span.name,
            kind_label(&span.span_kind),
            cx.trace_id(),
            cx.span_id(),
            span.parent_span_id,
            if span.parent_span_is_remote {
                " (remote)"
            } else {
                ""
            },
            span.status
        );
        out.push_str("  attributes:\n");
        for kv in &span.attributes {
            let _ = writeln!(out, "    {}={}", kv.key, render_value(&kv.value));
        }
        for link in span.links.iter() {
            let _ = writeln!(
                out,
                "  link: trace {} span {}",
                link.span_context.trace_id(),
                link.span_context.span_id()
            );
        }
        for event in span.events.iter() {
            let _ = writeln!(out, "  event: {}", event.name);
        }
        out
    }
}

/// A value with its type, so that `"200"` and `200` are told apart in messages.
fn describe_value(value: &Value) -> String {
    let type_name = match value {
        Value::Bool(_) => "boolean",
        Value::I64(_) => "int",
        Value::F64(_) => "double",
        Value::String(_) => "string",
        Value::Array(Array::Bool(_)) => "boolean array",
        Value::Array(Array::I64(_)) => "int array",
        Value::Array(Array::F64(_)) => "double array",
        Value::Array(Array::String(_)) => "string array",
        _ => "value",
    };
    format!("{type_name} {}", render_value(value))
}
