//! Both span worlds: an application using `tracing` with `tracing-opentelemetry`, and one using
//! only the OpenTelemetry SDK. The same assertions hold in each.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use opentelemetry::trace::{SpanKind, Tracer, TracerProvider};
use tracewire_axum::SpanBackend;
use tracewire_testing::TelemetryCapture;
use tracing::level_filters::LevelFilter;

#[tracing::instrument]
async fn load_user() -> &'static str {
    tokio::task::yield_now().await;
    tracing::info!("user loaded");
    "user"
}

fn app(capture: &TelemetryCapture, backend: SpanBackend) -> Router {
    let tracer = capture.tracer_provider().tracer("app");
    Router::new()
        .route(
            "/users/{id}",
            get(move || {
                let tracer = tracer.clone();
                async move {
                    tracing::info!("handling");
                    let user = load_user().await;
                    // An OpenTelemetry API span, started from whatever is current.
                    drop(tracer.start("cache lookup"));
                    user
                }
            }),
        )
        .layer(builder(capture).span_backend(backend).build())
}

async fn request(app: &Router) {
    let request = traced_request("/users/7", &[]);
    assert_eq!(send(app, request).await.1, "user");
}

fn assert_nested(capture: &TelemetryCapture) {
    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server
        .assert_kind(SpanKind::Server)
        .assert_parent_span_id(remote_parent().span_id())
        .assert_attr_str("http.route", "/users/{id}")
        .assert_attr_i64("http.response.status_code", 200)
        .assert_status_unset();
    spans.single("cache lookup").assert_child_of(&server);
}

#[tokio::test]
async fn tracing_world_nests_instrumented_functions_and_events() {
    let capture = TelemetryCapture::new();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    request(&app(&capture, SpanBackend::Auto)).await;
    assert_nested(&capture);
    let spans = capture.spans();
    let server = spans.single("GET /users/{id}");
    server.assert_has_event("handling");
    spans
        .single("load_user")
        .assert_child_of(&server)
        .assert_has_event("user loaded");
}

#[tokio::test]
async fn tracing_world_with_a_filter_hiding_our_spans_keeps_the_trace() {
    let capture = TelemetryCapture::new();
    let _dispatch =
        tracing::dispatcher::set_default(&capture.tracing_dispatch_with_filter(LevelFilter::WARN));
    request(&app(&capture, SpanBackend::Auto)).await;
    assert_nested(&capture);
}

#[tokio::test]
async fn opentelemetry_only_world() {
    let capture = TelemetryCapture::new();
    request(&app(&capture, SpanBackend::Auto)).await;
    assert_nested(&capture);
    // The `#[instrument]` span has no subscriber to record it.
    assert!(capture.spans().find("load_user").is_none());
}

#[tokio::test]
async fn opentelemetry_backend_ignores_tracing() {
    let capture = TelemetryCapture::new();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    request(&app(&capture, SpanBackend::OpenTelemetry)).await;
    assert_nested(&capture);
}
