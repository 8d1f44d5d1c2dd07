//! The instrumentation API in both span worlds: an OpenTelemetry-only application and one that
//! uses `tracing` with a `tracing-opentelemetry` layer, including a filter that hides our spans.

use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Sampler;
use tracewire_core::context::{self, ContextFutureExt};
use tracewire_core::instrument::{Instrumentation, Parent, SpanBackend, SpanStart};
use tracewire_testing::TelemetryCapture;
use tracing_subscriber::filter::LevelFilter;

const REMOTE_TRACE: TraceId = TraceId::from_bytes([0x4b; 16]);
const REMOTE_SPAN: SpanId = SpanId::from_bytes([0x0f; 8]);

fn remote_parent() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        REMOTE_TRACE,
        REMOTE_SPAN,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn instrumentation(capture: &TelemetryCapture, backend: SpanBackend) -> Instrumentation {
    Instrumentation::builder("tracewire-core-tests")
        .version("0.0.0")
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .backend(backend)
        .build()
}

fn server_start() -> SpanStart {
    SpanStart::new(SpanKind::Server, "GET /users/{id}")
        .attribute(KeyValue::new("http.request.method", "GET"))
        .attribute(KeyValue::new("server.port", 8080_i64))
        .parent(Parent::Context(remote_parent()))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Serves one request: a server span from a remote parent, `work` run inside it, then the end.
fn serve<F: std::future::Future>(instrumentation: &Instrumentation, work: F) {
    let span = instrumentation.start(server_start());
    block_on(span.instrument(work));
    span.end();
}

/// Work a handler does: an OpenTelemetry API span, then a `tracing` span with an event.
async fn handler(capture: &TelemetryCapture) {
    let tracer = capture.tracer_provider().tracer("app");
    tracer.in_span("otel-child", |_| ());
    instrumented_step().await;
}

#[tracing::instrument(name = "step")]
async fn instrumented_step() {
    tracing::info!("inside step");
    tokio::task::yield_now().await;
}

#[test]
fn opentelemetry_only_world_parents_attributes_and_nesting() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    let span = instrumentation.start(server_start());
    block_on(span.instrument(handler(&capture)));
    span.set_attribute(KeyValue::new("http.response.status_code", 200_i64));
    span.end();

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server
        .assert_kind(SpanKind::Server)
        .assert_attr_str("http.request.method", "GET")
        .assert_attr_i64("server.port", 8080)
        .assert_attr_i64("http.response.status_code", 200)
        .assert_parent_span_id(REMOTE_SPAN)
        .assert_status_unset();
    assert_eq!(server.span_context().trace_id(), REMOTE_TRACE);
    spans.single("otel-child").assert_child_of(&server);
    // No tracing subscriber: the `#[instrument]` span does not exist at all.
    assert!(spans.find("step").is_none(), "{}", spans.tree());
}

#[test]
fn tracing_world_events_instrument_and_otel_spans_nest() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
        serve(&instrumentation, async {
            tracing::info!("handler started");
            handler(&capture).await;
        });
    });

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server
        .assert_kind(SpanKind::Server)
        .assert_attr_i64("server.port", 8080)
        .assert_parent_span_id(REMOTE_SPAN)
        .assert_has_event("handler started");
    spans.single("otel-child").assert_child_of(&server);
    let step = spans.single("step");
    step.assert_child_of(&server)
        .assert_has_event("inside step");
}

/// A callsite declaring the attributes of `server_start`'s span, as an adapter's would.
fn declared_server_span(name: &str) -> tracing::Span {
    tracing::info_span!(target: "tracewire", "server", otel.name = name, otel.kind = "server",
        "http.request.method" = tracing::field::Empty, "server.port" = tracing::field::Empty)
}

#[test]
fn a_custom_callsite_makes_the_tracing_span_and_records_none_of_its_fields() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    let fields = tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
        let span = instrumentation.start(server_start().tracing_callsite(declared_server_span));
        let fields = span.in_scope(|| {
            let current = tracing::Span::current();
            let metadata = current.metadata().expect("the server span is current");
            metadata
                .fields()
                .iter()
                .map(|field| field.name())
                .collect::<Vec<_>>()
        });
        span.end();
        fields
    });

    assert_eq!(
        fields,
        [
            "otel.name",
            "otel.kind",
            "http.request.method",
            "server.port"
        ]
    );
    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    // Typed as set (an integer port), each once: the declared fields added nothing.
    server
        .assert_kind(SpanKind::Server)
        .assert_attr_i64("server.port", 8080)
        .assert_attr_str("http.request.method", "GET")
        .assert_parent_span_id(REMOTE_SPAN);
    let ports = server
        .data()
        .attributes
        .iter()
        .filter(|attribute| attribute.key.as_str() == "server.port")
        .count();
    assert_eq!(ports, 1);
}

#[test]
fn a_filter_that_hides_our_span_does_not_break_the_trace() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    let dispatch = capture.tracing_dispatch_with_filter(LevelFilter::WARN);
    tracing::dispatcher::with_default(&dispatch, || {
        serve(&instrumentation, handler(&capture));
    });

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server
        .assert_kind(SpanKind::Server)
        .assert_attr_i64("server.port", 8080)
        .assert_parent_span_id(REMOTE_SPAN);
    spans.single("otel-child").assert_child_of(&server);
    assert!(spans.find("step").is_none(), "INFO spans are filtered out");
}

#[test]
fn forced_opentelemetry_backend_still_parents_instrumented_functions() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::OpenTelemetry);

    tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
        serve(&instrumentation, handler(&capture));
    });

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    spans.single("step").assert_child_of(&server);
    spans.single("otel-child").assert_child_of(&server);
}

#[test]
fn client_spans_nest_under_the_current_span_in_both_worlds() {
    for world in ["opentelemetry", "tracing"] {
        let capture = TelemetryCapture::new();
        let instrumentation = instrumentation(&capture, SpanBackend::Auto);
        let run = || {
            let outer = instrumentation.start(server_start());
            outer.in_scope(|| {
                instrumentation
                    .start(SpanStart::new(SpanKind::Client, "GET"))
                    .end();
            });
            outer.end();
        };
        if world == "tracing" {
            tracing::dispatcher::with_default(&capture.tracing_dispatch(), run);
        } else {
            run();
        }
        let spans = capture.spans();
        let server = spans.single("GET /users/{id}");
        spans
            .single("GET")
            .assert_kind(SpanKind::Client)
            .assert_child_of(&server);
    }
}

#[test]
fn errors_set_status_and_error_type_and_drop_ends_the_span() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    let span = instrumentation.start(SpanStart::new(SpanKind::Client, "GET"));
    span.set_error("timeout");
    drop(span);
    let failed = instrumentation.start(SpanStart::new(SpanKind::Client, "POST"));
    failed.set_error_with_description("connect", "connection refused");
    failed.end();

    let spans = capture.spans();
    spans
        .single("GET")
        .assert_status_error()
        .assert_attr_str("error.type", "timeout");
    spans
        .single("POST")
        .assert_status_error_with_description("connection refused")
        .assert_attr_str("error.type", "connect");
}

#[test]
fn root_spans_can_link_to_an_untrusted_context() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);
    let remote = remote_parent().span().span_context().clone();

    instrumentation
        .start(
            SpanStart::new(SpanKind::Server, "GET /public")
                .parent(Parent::Root)
                .link(Link::with_context(remote.clone())),
        )
        .end();

    let spans = capture.spans();
    let span = spans.single("GET /public");
    span.assert_root().assert_linked_to(&remote);
    assert_ne!(span.span_context().trace_id(), REMOTE_TRACE);
}

#[test]
fn sampled_out_spans_record_nothing_but_keep_a_valid_context() {
    let capture = TelemetryCapture::with_sampler(Sampler::AlwaysOff);
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);

    let span =
        instrumentation.start(SpanStart::new(SpanKind::Server, "GET /").parent(Parent::Root));
    assert!(!span.is_recording());
    assert!(span.span_context().is_valid());
    assert!(!span.span_context().is_sampled());
    span.end();

    assert!(capture.spans().is_empty());
}

#[test]
fn current_ids_and_spawned_work_follow_the_span_in_both_worlds() {
    for world in ["opentelemetry", "tracing"] {
        let capture = TelemetryCapture::new();
        let instrumentation = instrumentation(&capture, SpanBackend::Auto);
        let tracer = capture.tracer_provider().tracer("app");
        let run = || {
            let span = instrumentation.start(server_start());
            let expected = span.trace_id();
            block_on(span.instrument(async {
                assert_eq!(context::current_trace_id(), Some(expected));
                let ids = context::current_ids().expect("inside a span");
                assert_eq!(
                    ids.to_string(),
                    format!("trace_id={expected} span_id={}", ids.span_id)
                );
                let thread_tracer = tracer.clone();
                context::spawn_thread(move || thread_tracer.in_span("from-thread", |_| ()))
                    .join()
                    .expect("thread");
                let task_tracer = tracer.clone();
                async move { task_tracer.in_span("from-future", |_| ()) }
                    .in_current_context()
                    .await;
            }));
            span.end();
        };
        if world == "tracing" {
            tracing::dispatcher::with_default(&capture.tracing_dispatch(), run);
        } else {
            run();
        }
        let spans = capture.spans();
        let server = spans.single("GET /users/{id}");
        spans.single("from-thread").assert_child_of(&server);
        spans.single("from-future").assert_child_of(&server);
        assert_eq!(context::current_trace_id(), None);
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_keep_the_context_on_other_threads() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::OpenTelemetry);
    let tracer = capture.tracer_provider().tracer("app");

    let span = instrumentation.start(server_start());
    span.instrument(async move {
        context::spawn(async move { tracer.in_span("spawned", |_| ()) })
            .await
            .expect("task");
    })
    .await;
    span.end();

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    spans.single("spawned").assert_child_of(&server);
}

#[test]
fn the_meter_comes_from_the_configured_provider() {
    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);
    let counter = instrumentation
        .meter()
        .u64_counter("tracewire.test")
        .build();
    counter.add(2, &[]);

    let metrics = capture.metrics();
    assert!(metrics.names().iter().any(|name| name == "tracewire.test"));
}

/// A `fmt` writer that keeps what it is given, to assert what a developer would see.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("writer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("writer")).into_owned()
    }
}

fn fmt_layer<S>(out: &Captured) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let out = out.clone();
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || out.clone())
}

#[test]
fn a_fmt_only_subscriber_shows_the_span_and_the_trace_stays_whole() {
    use tracing_subscriber::layer::SubscriberExt;

    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Auto);
    let out = Captured::default();
    let subscriber = tracing_subscriber::registry().with(fmt_layer(&out));

    tracing::subscriber::with_default(subscriber, || {
        serve(&instrumentation, async {
            tracing::info!("handled");
            handler(&capture).await;
        });
    });

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server.assert_parent_span_id(REMOTE_SPAN);
    spans.single("otel-child").assert_child_of(&server);
    let printed = out.text();
    assert!(
        printed.contains(r#"server{otel.name="GET /users/{id}" otel.kind="server"}"#)
            && printed.contains("handled"),
        "{printed}"
    );
}

#[test]
fn a_per_layer_filter_on_the_bridge_falls_back_without_losing_the_parent() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};

    let capture = TelemetryCapture::new();
    let instrumentation = instrumentation(&capture, SpanBackend::Tracing);
    let out = Captured::default();
    let bridge = tracing_opentelemetry::layer()
        .with_tracer(capture.tracer_provider().tracer("bridge"))
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target() != "tracewire"
        }));
    let subscriber = tracing_subscriber::registry()
        .with(bridge)
        .with(fmt_layer(&out));

    tracing::subscriber::with_default(subscriber, || {
        serve(&instrumentation, handler(&capture));
    });

    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server
        .assert_parent_span_id(REMOTE_SPAN)
        .assert_attr_i64("server.port", 8080);
    // The application's own `#[instrument]` span is bridged and nests under our fallback span.
    spans.single("step").assert_child_of(&server);
    spans.single("otel-child").assert_child_of(&server);
    assert!(
        out.text().contains("otel.name=\"GET /users/{id}\""),
        "{}",
        out.text()
    );
}

#[test]
fn auto_keeps_client_spans_out_of_the_subscriber_and_tracing_puts_them_in() {
    use tracing_subscriber::layer::SubscriberExt;

    for (backend, client_printed) in [(SpanBackend::Auto, false), (SpanBackend::Tracing, true)] {
        let capture = TelemetryCapture::new();
        let instrumentation = instrumentation(&capture, backend);
        let out = Captured::default();
        let bridge =
            tracing_opentelemetry::layer().with_tracer(capture.tracer_provider().tracer("bridge"));
        let subscriber = tracing_subscriber::registry()
            .with(bridge)
            .with(fmt_layer(&out));

        tracing::subscriber::with_default(subscriber, || {
            let outer = instrumentation.start(server_start());
            outer.in_scope(|| {
                let client = instrumentation.start(SpanStart::new(SpanKind::Client, "GET"));
                client.in_scope(|| tracing::info!("in the client call"));
                client.end();
            });
            outer.end();
        });

        let spans = capture.spans();
        let server = spans.single("GET /users/{id}");
        spans
            .single("GET")
            .assert_kind(SpanKind::Client)
            .assert_child_of(&server);
        let printed = out.text();
        assert_eq!(
            printed.contains(r#"client{otel.name="GET" otel.kind="client"}"#),
            client_printed,
            "{backend:?}: {printed}"
        );
        // The server span is a `tracing` span either way: the event lands inside it.
        assert!(printed.contains("server{"), "{printed}");
    }
}

#[test]
fn api_spans_nest_whether_or_not_the_layer_activates_contexts() {
    use tracing_subscriber::layer::SubscriberExt;

    for activation in [true, false] {
        let capture = TelemetryCapture::new();
        let instrumentation = instrumentation(&capture, SpanBackend::Auto);
        let bridge = tracing_opentelemetry::layer()
            .with_tracer(capture.tracer_provider().tracer("bridge"))
            .with_context_activation(activation);
        let subscriber = tracing_subscriber::registry().with(bridge);

        tracing::subscriber::with_default(subscriber, || {
            serve(&instrumentation, handler(&capture));
            let span = instrumentation.start(server_start());
            span.in_scope(|| {
                capture
                    .tracer_provider()
                    .tracer("app")
                    .in_span("in-scope-child", |_| {});
            });
            span.end();
        });

        let spans = capture.spans();
        let servers = spans.named("GET /users/{id}");
        assert_eq!(servers.len(), 2, "activation {activation}");
        spans.single("otel-child").assert_child_of(&servers[0]);
        spans.single("in-scope-child").assert_child_of(&servers[1]);
    }
}
