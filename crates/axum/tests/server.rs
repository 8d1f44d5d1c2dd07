//! A real server on 127.0.0.1:0: concurrency without context leaks, panics, socket addresses.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use opentelemetry::trace::{SpanId, TraceId};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tracewire_testing::{Spans, TelemetryCapture};

const CLIENTS: usize = 50;
const REQUESTS_PER_CLIENT: usize = 200;

/// Waits until `count` spans have ended: the last ones may end just after the client has read
/// the response.
async fn spans_when(capture: &TelemetryCapture, count: usize) -> Spans {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = capture.spans();
        if spans.len() >= count || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_requests_keep_their_own_context() {
    let capture = TelemetryCapture::new();
    let addr = serve(routes().layer(builder(&capture).build())).await;

    let clients = (0..CLIENTS).map(|client| {
        tokio::spawn(async move {
            let mut connection = Client::connect(addr).await;
            let mut seen = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for request in 0..REQUESTS_PER_CLIENT {
                let n = (client * REQUESTS_PER_CLIENT + request + 1) as u128;
                let trace_id = format!("{:032x}", n << 64 | n);
                let parent_id = format!("{:016x}", n);
                let traceparent = format!("00-{trace_id}-{parent_id}-01");
                let (status, body) = connection
                    .get("/current", &[("traceparent", &traceparent)])
                    .await
                    .expect("response");
                assert_eq!(status, 200);
                seen.push((trace_id, parent_id, body));
            }
            seen
        })
    });
    let mut expected = HashMap::new();
    for client in clients {
        for (trace_id, parent_id, body) in client.await.unwrap() {
            // What the handler saw as current: the server span of this very request.
            let mut fields = body.split(' ');
            assert_eq!(fields.next(), Some(trace_id.as_str()), "context leaked");
            let span_id = fields.next().unwrap().to_owned();
            expected.insert(trace_id, (parent_id, span_id));
        }
    }
    let total = CLIENTS * REQUESTS_PER_CLIENT;
    assert_eq!(expected.len(), total);

    let spans = spans_when(&capture, total).await;
    let servers = spans.named("GET /current");
    assert_eq!(servers.len(), total);
    for span in servers {
        let sc = span.span_context();
        let (parent_id, span_id) = expected
            .remove(&sc.trace_id().to_string())
            .unwrap_or_else(|| panic!("unexpected or repeated trace {}", sc.trace_id()));
        span.assert_parent_span_id(SpanId::from_hex(&parent_id).unwrap());
        assert_eq!(sc.span_id().to_string(), span_id);
    }
    assert!(expected.is_empty());
}

#[tokio::test]
async fn panics_caught_inside_the_layer_are_500s_and_the_server_keeps_serving() {
    let capture = TelemetryCapture::new();
    let app = routes()
        .layer(CatchPanicLayer::new())
        .layer(otel_builder(&capture).build());
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/panic", &[]).await.unwrap().0, 500);
    assert_eq!(client.get("/users/1", &[]).await.unwrap().0, 200);

    let spans = spans_when(&capture, 2).await;
    spans
        .single("GET /panic")
        .assert_status_error()
        .assert_attr_str("error.type", "500")
        .assert_attr_i64("http.response.status_code", 500);
    spans.single("GET /users/{id}").assert_status_unset();
}

#[tokio::test]
async fn uncaught_panics_end_the_span_as_errors_and_the_server_keeps_serving() {
    let capture = TelemetryCapture::new();
    let addr = serve(routes().layer(otel_builder(&capture).build())).await;
    // The connection dies with the panicking task.
    assert_eq!(Client::connect(addr).await.get("/panic", &[]).await, None);
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/users/1", &[]).await.unwrap().0, 200);

    let spans = spans_when(&capture, 2).await;
    spans
        .single("GET /panic")
        .assert_status_error_with_description("panicked")
        .assert_attr_str("error.type", "_OTHER")
        .assert_no_attr("http.response.status_code");
    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("http.server.request.duration");
    assert_eq!(duration.total_count(), 2);
}

#[tokio::test]
async fn panics_caught_outside_the_layer_still_mark_the_span() {
    let capture = TelemetryCapture::new();
    let app = routes()
        .layer(otel_builder(&capture).build())
        .layer(CatchPanicLayer::new());
    let response = app.oneshot(get_request("/panic")).await.unwrap();
    assert_eq!(response.status(), 500);
    capture
        .spans()
        .single("GET /panic")
        .assert_status_error()
        .assert_attr_str("error.type", "_OTHER");
}

#[tokio::test]
async fn socket_peer_gives_client_and_peer_addresses() {
    let capture = TelemetryCapture::new();
    let addr = serve(routes().layer(otel_builder(&capture).build())).await;
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/users/1", &[]).await.unwrap().0, 200);
    let spans = spans_when(&capture, 1).await;
    let span = spans.single("GET /users/{id}");
    span.assert_attr_str("client.address", "127.0.0.1")
        .assert_attr_str("network.peer.address", "127.0.0.1")
        .assert_attr_str("server.address", "localhost")
        .assert_no_attr("server.port");
    let port = span.attr("network.peer.port").unwrap();
    assert!(
        matches!(port, opentelemetry::Value::I64(p) if *p > 0),
        "{port:?}"
    );
    assert_ne!(span.span_context().trace_id(), TraceId::INVALID);
}
