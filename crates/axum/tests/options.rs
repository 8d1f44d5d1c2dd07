//! Builder options: filter, public endpoints, header capture, response propagation, proxies.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

mod common;

use axum::body::Body;
use axum::http::{HeaderName, Request};
use common::*;
use tracewire_axum::ResponsePropagation;
use tracewire_testing::TelemetryCapture;

#[tokio::test]
async fn filtered_requests_get_nothing_but_still_propagate() {
    let capture = TelemetryCapture::new();
    let layer = otel_builder(&capture)
        .filter(|request| request.uri.path() != "/whoami")
        .build();
    let app = routes().layer(layer);
    let request = traced_request("/whoami", &[("baggage", "tenant=acme")]);
    let (_, body) = send(&app, request).await;
    assert_eq!(body, format!("{TRACE_ID} {PARENT_ID} tenant=acme"));
    send(&app, get_request("/users/1")).await;

    let spans = capture.spans();
    assert_eq!(spans.len(), 1, "{}", spans.tree());
    spans.single("GET /users/{id}");
    assert_eq!(
        capture
            .metrics()
            .histogram_f64("http.server.request.duration")
            .total_count(),
        1
    );
}

#[tokio::test]
async fn public_endpoints_link_to_the_caller_and_drop_its_baggage() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).public_endpoint(true).build());
    let request = traced_request("/whoami", &[("baggage", "role=admin")]);
    let (_, body) = send(&app, request).await;

    let spans = capture.spans();
    let span = spans.single("GET /whoami");
    span.assert_root().assert_linked_to(&remote_parent());
    assert_ne!(span.span_context().trace_id(), remote_parent().trace_id());
    assert!(body.ends_with(' '), "baggage dropped: {body:?}");

    // The predicate form trusts some requests.
    let capture = TelemetryCapture::new();
    let layer = otel_builder(&capture)
        .public_endpoint_if(|request| !request.headers.contains_key("x-internal"))
        .build();
    let app = routes().layer(layer);
    let request = traced_request("/users/1", &[("x-internal", "1")]);
    send(&app, request).await;
    capture
        .spans()
        .single("GET /users/{id}")
        .assert_parent_span_id(remote_parent().span_id());
}

#[tokio::test]
async fn header_capture_honours_the_allow_list_and_the_deny_list() {
    let capture = TelemetryCapture::new();
    let layer = otel_builder(&capture)
        .capture_request_headers(["X-Request-Id", "Authorization", "cookie", "accept"])
        .capture_response_headers(["content-type", "set-cookie"])
        .build();
    let app = routes().layer(layer);
    let request = Request::get("/users/1")
        .header("x-request-id", "r-1")
        .header("accept", "text/plain")
        .header("accept", "application/json")
        .header("authorization", "Bearer secret")
        .header("cookie", "session=secret")
        .body(Body::empty())
        .unwrap();
    send(&app, request).await;
    capture
        .spans()
        .single("GET /users/{id}")
        .assert_attr_str_array("http.request.header.x-request-id", &["r-1"])
        .assert_attr_str_array(
            "http.request.header.accept",
            &["text/plain", "application/json"],
        )
        .assert_attr_str_array(
            "http.response.header.content-type",
            &["text/plain; charset=utf-8"],
        )
        .assert_no_attr("http.request.header.authorization")
        .assert_no_attr("http.request.header.cookie")
        .assert_no_attr("http.response.header.set-cookie");
}

#[tokio::test]
async fn response_propagation_is_off_by_default_and_names_the_server_span() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let (response, _) = send(&app, get_request("/users/1")).await;
    assert!(response.headers().get("traceresponse").is_none());

    let capture = TelemetryCapture::new();
    let layer = otel_builder(&capture)
        .response_propagation(
            ResponsePropagation::new()
                .traceresponse()
                .trace_id_header(HeaderName::from_static("x-trace-id")),
        )
        .build();
    let app = routes().layer(layer);
    let request = traced_request("/users/1", &[("baggage", "secret=1")]);
    let (response, _) = send(&app, request).await;
    let spans = capture.spans();
    let sc = spans.single("GET /users/{id}").span_context().clone();
    assert_eq!(
        response.headers()["traceresponse"],
        format!("00-{}-{}-01", sc.trace_id(), sc.span_id()).as_str()
    );
    assert_eq!(response.headers()["x-trace-id"], TRACE_ID);
    assert!(response.headers().get("baggage").is_none());
    assert!(response.headers().get("traceparent").is_none());
}

#[tokio::test]
async fn client_address_comes_from_proxies_only_when_trusted() {
    let request = || {
        Request::get("/users/1")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap()
    };
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    send(&app, request()).await;
    capture
        .spans()
        .single("GET /users/{id}")
        .assert_no_attr("client.address")
        .assert_attr_str("url.scheme", "http");

    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).trusted_proxies(true).build());
    send(&app, request()).await;
    capture
        .spans()
        .single("GET /users/{id}")
        .assert_attr_str("client.address", "203.0.113.7")
        .assert_attr_str("url.scheme", "https");
}
