//! Placement relative to `reqwest-retry`: per-attempt spans under it, one span above it.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use opentelemetry::trace::{SpanKind, Tracer, TracerProvider};
use reqwest_middleware::ClientBuilder;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tracewire_testing::TelemetryCapture;

use common::{TestServer, middleware, traceparent_of};

fn retry() -> RetryTransientMiddleware<ExponentialBackoff> {
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(3);
    RetryTransientMiddleware::new_with_policy(policy)
}

#[tokio::test]
async fn under_the_retry_middleware_each_attempt_is_a_span() {
    let capture = TelemetryCapture::new();
    let server = TestServer::flaky(2).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(retry())
        .with(middleware(&capture).build())
        .build();

    let tracer = capture.tracer_provider().tracer("test");
    let response = tracer
        .in_span("caller", |cx| {
            tracewire_core::context::ContextFutureExt::in_context(
                client.get(server.url("/flaky")).send(),
                cx,
            )
        })
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let spans = capture.spans();
    let caller = spans.single("caller");
    let mut attempts = spans.by_kind(SpanKind::Client);
    attempts.sort_by_key(|span| span.data().start_time);
    let [first, second, third] = &attempts[..] else {
        panic!("{}", spans.tree())
    };
    first
        .assert_no_attr("http.request.resend_count")
        .assert_attr_i64("http.response.status_code", 503)
        .assert_attr_str("error.type", "503")
        .assert_status_error();
    second
        .assert_attr_i64("http.request.resend_count", 1)
        .assert_attr_i64("http.response.status_code", 503)
        .assert_status_error();
    third
        .assert_attr_i64("http.request.resend_count", 2)
        .assert_attr_i64("http.response.status_code", 200)
        .assert_no_attr("error.type")
        .assert_status_unset();
    for attempt in &attempts {
        attempt.assert_child_of(&caller);
    }
    let sent: Vec<String> = attempts
        .iter()
        .map(|span| traceparent_of(span.span_context()))
        .collect();
    assert_eq!(server.flaky_traceparents(), sent);
}

#[tokio::test]
async fn above_the_retry_middleware_the_logical_call_is_one_span() {
    let capture = TelemetryCapture::new();
    let server = TestServer::flaky(2).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware(&capture).build())
        .with(retry())
        .build();

    let response = client.get(server.url("/flaky")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let spans = capture.spans();
    let span = spans.single("GET");
    span.assert_no_attr("http.request.resend_count")
        .assert_attr_i64("http.response.status_code", 200)
        .assert_status_unset();
    let traceparent = traceparent_of(span.span_context());
    assert_eq!(
        server.flaky_traceparents(),
        [traceparent.clone(), traceparent.clone(), traceparent]
    );
}

#[tokio::test]
async fn a_failure_behind_the_retry_middleware_keeps_its_error_type() {
    let capture = TelemetryCapture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware(&capture).build())
        .with(retry())
        .build();

    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_middleware(), "{error:?}");

    capture
        .spans()
        .single("GET")
        .assert_attr_str("error.type", "connect")
        .assert_status_error();
}
