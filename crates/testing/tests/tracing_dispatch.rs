//! The `tracing` dispatcher of a capture.

use opentelemetry::trace::SpanKind;
use tracewire_testing::TelemetryCapture;
use tracing::instrument;
use tracing::level_filters::LevelFilter;

#[instrument(name = "load user", fields(db.system.name = "postgresql"))]
fn load_user(id: u64) {
    tracing::info!(id, "loading");
}

fn handle_request() {
    let _request = tracing::info_span!(
        "request",
        otel.name = "GET /users/{id}",
        otel.kind = "server",
        http.response.status_code = 200_i64,
    )
    .entered();
    load_user(7);
}

#[test]
fn otel_fields_name_and_kind_the_span() {
    let capture = TelemetryCapture::new();
    tracing::dispatcher::with_default(&capture.tracing_dispatch(), handle_request);

    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "{}", spans.tree());
    let server = spans.single("GET /users/{id}");
    server
        .assert_kind(SpanKind::Server)
        .assert_attr_i64("http.response.status_code", 200)
        .assert_root();
    spans
        .single("load user")
        .assert_kind(SpanKind::Internal)
        .assert_attr_str("db.system.name", "postgresql")
        .assert_child_of(&server)
        .assert_has_event("loading");
}

#[test]
fn context_activation_exposes_the_tracing_span_to_the_otel_api() {
    use opentelemetry::trace::TraceContextExt as _;

    let capture = TelemetryCapture::new();
    let seen = tracing::dispatcher::with_default(&capture.tracing_dispatch(), || {
        let _span = tracing::info_span!("outer").entered();
        opentelemetry::Context::current()
            .span()
            .span_context()
            .clone()
    });
    let spans = capture.spans();
    assert_eq!(
        spans.single("outer").span_context().span_id(),
        seen.span_id()
    );
}

#[test]
fn a_filter_that_hides_info_hides_the_spans() {
    let capture = TelemetryCapture::new();
    let dispatch = capture.tracing_dispatch_with_filter(LevelFilter::WARN);
    tracing::dispatcher::with_default(&dispatch, || {
        handle_request();
        let _kept = tracing::warn_span!("kept").entered();
    });

    let spans = capture.spans();
    assert!(spans.find("GET /users/{id}").is_none(), "{}", spans.tree());
    assert!(spans.find("load user").is_none(), "{}", spans.tree());
    spans.single("kept").assert_root();
}
