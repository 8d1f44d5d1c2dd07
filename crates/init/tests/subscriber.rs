//! tracewire's layers in the application's own subscriber and the application's layers in
//! `init`'s, the log formats, and what the bridge puts on tracewire's spans. Each test keeps its
//! subscriber to itself (globals off), so the tests of this binary run in parallel.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use tracewire_core::instrument::{Instrumentation, SpanStart};
use tracewire_init::{EnvSource, LogFormat, TelemetryGuard};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The attributes `tracing-opentelemetry` adds that describe where a span's code is and which
/// thread ran it.
const BRIDGE_LOCATION: &[&str] = &[
    "code.file.path",
    "code.module.name",
    "code.line.number",
    "thread.id",
    "thread.name",
    "target",
];

/// The busy and idle times `tracing-opentelemetry` adds when the span closes (tracewire ends
/// its spans itself, before, so they never get these).
const BRIDGE_TIMINGS: &[&str] = &["busy_ns", "idle_ns"];

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn writer(&self) -> impl for<'w> MakeWriter<'w> + Send + Sync + 'static {
        let lines = self.clone();
        move || lines.clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// The line of the event the handler logs.
    fn order_line(&self) -> Result<String, String> {
        let text = self.text();
        text.lines()
            .find(|line| line.contains("order placed"))
            .map(str::to_owned)
            .ok_or_else(|| format!("no `order placed` line in {text:?}"))
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The application's own `fmt` layer.
fn plain_fmt<S>(lines: &Lines) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(lines.writer())
        .with_ansi(false)
}

/// Exports nothing over the network: spans go to `spans`, log lines to `lines`.
fn builder(
    vars: &[(&str, &str)],
    spans: &InMemorySpanExporter,
    lines: &Lines,
) -> tracewire_init::Builder {
    let mut all = vec![
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ];
    all.extend_from_slice(vars);
    tracewire_init::builder()
        .env(EnvSource::from_pairs(all))
        .span_processor(SimpleSpanProcessor::new(spans.clone()))
        .log_writer(lines.writer())
        .install_globals(false)
}

/// A request as an integration handles it: a tracewire server span, the application's
/// `#[instrument]` handler inside it, an event inside that.
fn request(guard: &TelemetryGuard) {
    let mut instrumentation = Instrumentation::builder("test");
    if let Some(provider) = guard.tracer_provider() {
        instrumentation = instrumentation.tracer_provider(provider);
    }
    let instrumentation = instrumentation.build();
    let server = instrumentation.start(SpanStart::new(SpanKind::Server, "GET /orders"));
    server.in_scope(|| handler(7));
    server.end();
}

#[tracing::instrument]
fn handler(order: u64) {
    tracing::info!(items = 3, "order placed");
}

/// The server span and the handler span, checked to be parent and child in one trace.
fn server_and_handler(spans: &InMemorySpanExporter) -> Result<(SpanData, SpanData), String> {
    let finished = spans.get_finished_spans().map_err(|e| e.to_string())?;
    let find = |name: &str| {
        finished
            .iter()
            .find(|span| span.name == name)
            .cloned()
            .ok_or_else(|| format!("no span {name} in {:?}", names(&finished)))
    };
    let (server, handler) = (find("GET /orders")?, find("handler")?);
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(
        handler.span_context.trace_id(),
        server.span_context.trace_id()
    );
    assert_eq!(handler.parent_span_id, server.span_context.span_id());
    Ok((server, handler))
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_ref()).collect()
}

fn keys(span: &SpanData) -> Vec<&str> {
    span.attributes.iter().map(|kv| kv.key.as_str()).collect()
}

/// `trace_id=… span_id=…` of `span`, as the text formats append it.
fn ids_text(span: &SpanData) -> String {
    format!(
        "trace_id={} span_id={}",
        span.span_context.trace_id(),
        span.span_context.span_id()
    )
}

/// The spans are parent and child, tracewire's line carries the handler span's ids, and the
/// application's own `fmt` layer saw the event in its span.
fn assert_both_logged(spans: &InMemorySpanExporter, lines: &Lines, own: &Lines) -> TestResult {
    let (_, handler) = server_and_handler(spans)?;
    assert!(lines.order_line()?.ends_with(&ids_text(&handler)));
    assert!(
        own.order_line()?.contains("handler{order=7}"),
        "{:?}",
        own.text()
    );
    Ok(())
}

#[test]
fn tracewire_layers_join_a_registry_of_the_application() -> TestResult {
    // The application's own layer before tracewire's, then after it: both must compile and work.
    for own_layer_first in [true, false] {
        let (spans, lines, own) = (
            InMemorySpanExporter::default(),
            Lines::default(),
            Lines::default(),
        );
        let builder = builder(&[], &spans, &lines).fmt_layer(true);
        // The layer's type follows the subscriber under it, hence one `build` per order.
        let guard = if own_layer_first {
            let (guard, tracewire) = builder.build()?;
            let subscriber = tracing_subscriber::registry()
                .with(plain_fmt(&own))
                .with(tracewire);
            tracing::subscriber::with_default(subscriber, || request(&guard));
            guard
        } else {
            let (guard, tracewire) = builder.build()?;
            let subscriber = tracing_subscriber::registry()
                .with(tracewire)
                .with(plain_fmt(&own));
            tracing::subscriber::with_default(subscriber, || request(&guard));
            guard
        };
        assert_both_logged(&spans, &lines, &own)?;
        assert!(guard.shutdown().is_clean());
    }
    Ok(())
}

#[test]
fn build_leaves_the_fmt_layer_to_the_application_by_default() -> TestResult {
    let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
    let (guard, tracewire) = builder(&[], &spans, &lines).build()?;
    let subscriber = tracing_subscriber::registry().with(tracewire);
    tracing::subscriber::with_default(subscriber, || request(&guard));
    server_and_handler(&spans)?;
    assert_eq!(lines.text(), "");
    Ok(())
}

#[test]
fn with_layer_adds_an_application_layer_to_the_init_subscriber() -> TestResult {
    let (spans, lines, own) = (
        InMemorySpanExporter::default(),
        Lines::default(),
        Lines::default(),
    );
    let guard = builder(&[], &spans, &lines)
        .with_layer(plain_fmt(&own))
        .init()?;
    let dispatch = guard.dispatch().ok_or("no dispatch")?;
    tracing::dispatcher::with_default(dispatch, || request(&guard));
    assert_both_logged(&spans, &lines, &own)
}

#[test]
fn with_layer_is_reported_when_build_cannot_use_it() -> TestResult {
    let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
    let (guard, _tracewire) = builder(&[], &spans, &lines)
        .with_layer(tracing_subscriber::fmt::layer())
        .build::<tracing_subscriber::Registry>()?;
    assert!(
        guard
            .warnings()
            .iter()
            .any(|warning| warning.variable == "Builder::with_layer")
    );
    Ok(())
}

#[test]
fn tracewire_spans_carry_no_bridge_details_and_application_spans_keep_them() -> TestResult {
    let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
    let guard = builder(&[], &spans, &lines).init()?;
    let dispatch = guard.dispatch().ok_or("no dispatch")?;
    tracing::dispatcher::with_default(dispatch, || request(&guard));
    let (server, handler) = server_and_handler(&spans)?;
    for detail in BRIDGE_LOCATION.iter().chain(BRIDGE_TIMINGS) {
        assert!(!keys(&server).contains(detail), "{detail} on {server:?}");
        assert!(
            keys(&handler).contains(detail),
            "no {detail} on {handler:?}"
        );
    }
    let code_line = handler
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "code.line.number")
        .ok_or("no code.line.number")?;
    assert!(matches!(code_line.value, opentelemetry::Value::I64(line) if line > 0));
    Ok(())
}

#[test]
fn the_option_gives_tracewire_spans_the_bridge_details_back() -> TestResult {
    let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
    let guard = builder(&[], &spans, &lines)
        .tracewire_span_details(true)
        .init()?;
    let dispatch = guard.dispatch().ok_or("no dispatch")?;
    tracing::dispatcher::with_default(dispatch, || request(&guard));
    let (server, handler) = server_and_handler(&spans)?;
    for detail in BRIDGE_LOCATION {
        assert!(keys(&server).contains(detail), "no {detail} on {server:?}");
    }
    for detail in BRIDGE_LOCATION.iter().chain(BRIDGE_TIMINGS) {
        assert!(
            keys(&handler).contains(detail),
            "no {detail} on {handler:?}"
        );
    }
    Ok(())
}

/// The handler span and the line of its event, in `format` chosen by the builder or, when
/// `format` is `None`, by `vars`.
fn logged(
    vars: &[(&str, &str)],
    format: Option<LogFormat>,
) -> Result<(SpanData, String), Box<dyn std::error::Error>> {
    let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
    let mut builder = builder(vars, &spans, &lines);
    if let Some(format) = format {
        builder = builder.log_format(format);
    }
    let guard = builder.init()?;
    assert_eq!(guard.warnings(), []);
    let dispatch = guard.dispatch().ok_or("no dispatch")?;
    tracing::dispatcher::with_default(dispatch, || request(&guard));
    let (_, handler) = server_and_handler(&spans)?;
    Ok((handler, lines.order_line()?))
}

#[test]
fn json_lines_are_objects_with_the_ids_as_members() -> TestResult {
    let (handler, line) = logged(&[], Some(LogFormat::Json))?;
    let object: serde_json::Value = serde_json::from_str(&line)?;
    assert_eq!(
        object["trace_id"],
        handler.span_context.trace_id().to_string()
    );
    assert_eq!(
        object["span_id"],
        handler.span_context.span_id().to_string()
    );
    assert_eq!(object["level"], "INFO");
    assert_eq!(object["fields"]["message"], "order placed");
    assert_eq!(object["fields"]["items"], 3);
    assert_eq!(object["span"]["name"], "handler");
    assert_eq!(object["span"]["order"], 7);
    assert_ne!(handler.span_context.trace_id(), TraceId::INVALID);
    Ok(())
}

#[test]
fn logfmt_lines_carry_the_ids_as_pairs() -> TestResult {
    let (handler, line) = logged(&[("TRACEWIRE_LOG_FORMAT", "logfmt")], None)?;
    let trace_id = format!(" trace_id={}", handler.span_context.trace_id());
    let span_id = format!(" span_id={}", handler.span_context.span_id());
    for pair in [
        " level=info",
        " target=subscriber",
        " span=handler",
        r#" msg="order placed""#,
        " items=3",
        &trace_id,
        &span_id,
    ] {
        assert!(line.contains(pair), "no `{pair}` in {line:?}");
    }
    assert!(line.starts_with("time="));
    Ok(())
}

#[test]
fn text_formats_append_the_ids() -> TestResult {
    for format in [LogFormat::Full, LogFormat::Compact, LogFormat::Pretty] {
        let (spans, lines) = (InMemorySpanExporter::default(), Lines::default());
        let guard = builder(&[], &spans, &lines).log_format(format).init()?;
        let dispatch = guard.dispatch().ok_or("no dispatch")?;
        tracing::dispatcher::with_default(dispatch, || request(&guard));
        let (_, handler) = server_and_handler(&spans)?;
        assert!(
            lines.text().contains(&ids_text(&handler)),
            "{format:?}: {}",
            lines.text()
        );
        assert!(lines.text().contains("order placed"), "{format:?}");
    }
    Ok(())
}
