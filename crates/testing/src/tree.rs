use std::fmt::Write as _;
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;

/// Attributes that identify what a span did, shown by [`TreeOptions::default`]: the HTTP, RPC,
/// database and messaging keys our instrumentations set, plus `error.type`.
const DEFAULT_KEYS: &[&str] = &[
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "rpc.system.name",
    "rpc.method",
    "rpc.status_code",
    "db.system.name",
    "db.query.summary",
    "messaging.system",
    "messaging.operation.type",
    "messaging.destination.name",
    "error.type",
];

/// What [`render_tree`] shows on each line.
///
/// ```
/// use tracewire_testing::TreeOptions;
///
/// // Deterministic output for snapshot tests: no durations, only the keys we care about.
/// let options = TreeOptions::default()
///     .with_durations(false)
///     .with_attribute_keys(["http.route", "http.response.status_code"]);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct TreeOptions {
    keys: AttributeKeys,
    durations: bool,
}

#[derive(Clone, Debug)]
enum AttributeKeys {
    Only(Vec<String>),
    All,
}

impl Default for TreeOptions {
    /// Durations on; the attributes in a short built-in list of key HTTP, RPC, database and
    /// messaging attributes.
    fn default() -> Self {
        Self {
            keys: AttributeKeys::Only(DEFAULT_KEYS.iter().map(|key| key.to_string()).collect()),
            durations: true,
        }
    }
}

impl TreeOptions {
    /// Shows only these attribute keys, in this order.
    pub fn with_attribute_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys = AttributeKeys::Only(keys.into_iter().map(Into::into).collect());
        self
    }

    /// Shows every attribute, in the order the span holds them.
    pub fn with_all_attributes(mut self) -> Self {
        self.keys = AttributeKeys::All;
        self
    }

    /// Shows (`true`) or hides span durations; hide them for deterministic output.
    pub fn with_durations(mut self, durations: bool) -> Self {
        self.durations = durations;
        self
    }
}

/// Renders spans as an indented tree per trace.
///
/// Traces are ordered by their earliest span, children by start time. Each line reads
/// `name [KIND] 12.3ms key=value ...`; string values are quoted so that `"200"` and `200` differ.
/// Error statuses are marked `✗ ERROR: description`. A span whose parent is not among `spans` is
/// shown as a root with a note saying whether that parent was remote.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use tracewire_testing::{TelemetryCapture, TreeOptions, render_tree};
///
/// let capture = TelemetryCapture::new();
/// let tracer = capture.tracer_provider().tracer("example");
/// tracer.in_span("checkout", |_cx| {
///     tracer.in_span("charge card", |_cx| {});
/// });
///
/// let spans = capture.spans();
/// let tree = render_tree(spans.as_slice(), &TreeOptions::default().with_durations(false));
/// let trace_id = spans.trace_ids()[0];
/// assert_eq!(
///     tree,
///     format!("trace {trace_id}\n└─ checkout [INTERNAL]\n   └─ charge card [INTERNAL]\n")
/// );
/// ```
pub fn render_tree(spans: &[SpanData], options: &TreeOptions) -> String {
    let mut out = String::new();
    for trace in group_by_trace(spans) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "trace {}", trace.id);
        let roots: Vec<&SpanData> = trace
            .spans
            .iter()
            .copied()
            .filter(|span| {
                span.parent_span_id == SpanId::INVALID || !trace.contains(span.parent_span_id)
            })
            .collect();
        write_level(&mut out, &trace, roots, "", options);
    }
    out
}

struct Trace<'a> {
    id: TraceId,
    /// Sorted by start time, then by end order, so every level comes out in start order.
    spans: Vec<&'a SpanData>,
}

impl Trace<'_> {
    fn contains(&self, span_id: SpanId) -> bool {
        self.spans
            .iter()
            .any(|span| span.span_context.span_id() == span_id)
    }
}

fn group_by_trace(spans: &[SpanData]) -> Vec<Trace<'_>> {
    let mut traces: Vec<Trace<'_>> = Vec::new();
    for span in spans {
        let id = span.span_context.trace_id();
        match traces.iter_mut().find(|trace| trace.id == id) {
            Some(trace) => trace.spans.push(span),
            None => traces.push(Trace {
                id,
                spans: vec![span],
            }),
        }
    }
    for trace in &mut traces {
        // Stable sort: spans that started at the same instant keep their end order.
        trace.spans.sort_by_key(|span| span.start_time);
    }
    traces.sort_by_key(|trace| trace.spans.first().map(|span| span.start_time));
    traces
}

fn write_level(
    out: &mut String,
    trace: &Trace<'_>,
    level: Vec<&SpanData>,
    prefix: &str,
    options: &TreeOptions,
) {
    let count = level.len();
    for (index, span) in level.into_iter().enumerate() {
        let last = index + 1 == count;
        let branch = if last { "└─ " } else { "├─ " };
        let _ = writeln!(out, "{prefix}{branch}{}", span_line(span, trace, options));
        let own_id = span.span_context.span_id();
        let children: Vec<&SpanData> = trace
            .spans
            .iter()
            .copied()
            .filter(|child| child.parent_span_id == own_id && !std::ptr::eq(*child, span))
            .collect();
        let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
        write_level(out, trace, children, &child_prefix, options);
    }
}

fn span_line(span: &SpanData, trace: &Trace<'_>, options: &TreeOptions) -> String {
    let mut line = format!("{} [{}]", span.name, kind_label(&span.span_kind));
    if options.durations {
        let duration = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let _ = write!(line, " {}", format_duration(duration));
    }
    let shown = span.attributes.iter().filter(|kv| match &options.keys {
        AttributeKeys::All => true,
        AttributeKeys::Only(keys) => keys.iter().any(|key| key == kv.key.as_str()),
    });
    let mut shown: Vec<_> = shown.collect();
    if let AttributeKeys::Only(keys) = &options.keys {
        shown.sort_by_key(|kv| keys.iter().position(|key| key == kv.key.as_str()));
    }
    for kv in shown {
        let _ = write!(line, " {}={}", kv.key, render_value(&kv.value));
    }
    match &span.status {
        Status::Error { description } if description.is_empty() => line.push_str(" ✗ ERROR"),
        Status::Error { description } => {
            let _ = write!(line, " ✗ ERROR: {description}");
        }
        Status::Ok => line.push_str(" ✓ OK"),
        Status::Unset => {}
    }
    let parent = span.parent_span_id;
    if parent != SpanId::INVALID && !trace.contains(parent) {
        let origin = if span.parent_span_is_remote {
            "remote parent"
        } else {
            "parent not captured"
        };
        let _ = write!(line, " ({origin} {parent})");
    }
    line
}

/// Upper-case kind name, as in the OTLP enum without its prefix.
pub(crate) fn kind_label(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "CLIENT",
        SpanKind::Server => "SERVER",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    }
}

/// Attribute value with strings quoted, so that types can be told apart.
pub(crate) fn render_value(value: &Value) -> String {
    fn list<T>(items: &[T], render: impl Fn(&T) -> String) -> String {
        let items: Vec<String> = items.iter().map(render).collect();
        format!("[{}]", items.join(", "))
    }
    match value {
        Value::String(text) => format!("{:?}", text.as_str()),
        Value::Array(Array::String(items)) => list(items, |item| format!("{:?}", item.as_str())),
        Value::Array(Array::Bool(items)) => list(items, ToString::to_string),
        Value::Array(Array::I64(items)) => list(items, ToString::to_string),
        Value::Array(Array::F64(items)) => list(items, ToString::to_string),
        other => other.to_string(),
    }
}

fn format_duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1}µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1}ms", micros / 1_000.0)
    } else {
        format!("{:.2}s", micros / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_a_readable_unit() {
        assert_eq!(format_duration(Duration::from_micros(250)), "250.0µs");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(format_duration(Duration::from_millis(2_500)), "2.50s");
    }

    #[test]
    fn values_show_their_type() {
        assert_eq!(render_value(&Value::from("200")), "\"200\"");
        assert_eq!(render_value(&Value::from(200_i64)), "200");
        assert_eq!(
            render_value(&Value::Array(Array::String(vec!["a".into(), "b".into()]))),
            "[\"a\", \"b\"]"
        );
    }
}
