//! Server spans: names, start and end attributes, status, parents, routes of every kind.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] functions, unwrap.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::*;
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId};
use tower::{Layer, ServiceExt};
use tracewire_core::sampling::{Decision, RuleSampler};
use tracewire_core::semconv::url::QueryRedaction;
use tracewire_testing::TelemetryCapture;

#[tokio::test]
async fn credentials_in_the_query_are_redacted_by_default_and_the_list_is_configurable() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let query = "token=tok123&password=hunter2&sig=xyz&api_key=k1&Session=s&page=2";
    send(&app, get_request(&format!("/users/1?{query}"))).await;
    capture.spans().single("GET /users/{id}").assert_attr_str(
        "url.query",
        "token=REDACTED&password=REDACTED&sig=REDACTED&api_key=REDACTED&Session=REDACTED&page=2",
    );

    let capture = TelemetryCapture::new();
    let redaction = QueryRedaction::conventions_only().with_keys(["page"]);
    let app = routes().layer(otel_builder(&capture).query_redaction(redaction).build());
    send(&app, get_request(&format!("/users/1?{query}"))).await;
    capture.spans().single("GET /users/{id}").assert_attr_str(
        "url.query",
        "token=tok123&password=hunter2&sig=REDACTED&api_key=k1&Session=s&page=REDACTED",
    );
}

#[tokio::test]
async fn matched_route_span_has_the_conventions_attributes() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let request = Request::get("/users/42?sig=secret&page=2")
        .header("host", "example.com:8080")
        .header("user-agent", "curl/8.0")
        .header("traceparent", traceparent())
        .body(Body::empty())
        .unwrap();
    let (response, _) = send(&app, request).await;
    assert_eq!(response.status(), 200);

    let spans = capture.spans();
    spans
        .single("GET /users/{id}")
        .assert_kind(SpanKind::Server)
        .assert_parent_span_id(remote_parent().span_id())
        .assert_attr_str("http.request.method", "GET")
        .assert_no_attr("http.request.method_original")
        .assert_attr_str("url.path", "/users/42")
        .assert_attr_str("url.query", "sig=REDACTED&page=2")
        .assert_attr_str("url.scheme", "http")
        .assert_attr_str("http.route", "/users/{id}")
        .assert_attr_str("server.address", "example.com")
        .assert_attr_i64("server.port", 8080)
        .assert_attr_str("network.protocol.version", "1.1")
        .assert_attr_str("user_agent.original", "curl/8.0")
        .assert_attr_i64("http.response.status_code", 200)
        .assert_no_attr("client.address")
        .assert_no_attr("error.type")
        .assert_status_unset();
    assert_eq!(
        spans.single("GET /users/{id}").span_context().trace_id(),
        remote_parent().trace_id()
    );
}

#[tokio::test]
async fn unmatched_requests_are_named_by_method_without_route() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let (response, _) = send(&app, get_request("/nope/123")).await;
    assert_eq!(response.status(), 404);
    let fallback = routes()
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "custom") })
        .layer(otel_builder(&capture).build());
    let (response, body) = send(&fallback, get_request("/missing")).await;
    assert_eq!((response.status().as_u16(), body.as_str()), (404, "custom"));

    let spans = capture.spans();
    let named = spans.named("GET");
    assert_eq!(named.len(), 2, "{}", spans.tree());
    for span in named {
        span.assert_no_attr("http.route")
            .assert_attr_i64("http.response.status_code", 404)
            .assert_status_unset()
            .assert_no_attr("error.type");
    }
    // The raw path is never the name.
    assert!(spans.find("GET /nope/123").is_none());
}

#[tokio::test]
async fn nested_routers_get_the_full_template_and_nest_service_none() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    assert_eq!(send(&app, get_request("/api/items/7")).await.1, "item");
    assert_eq!(
        send(&app, get_request("/static/a/b.css")).await.1,
        "mounted"
    );

    let spans = capture.spans();
    spans
        .single("GET /api/items/{id}")
        .assert_attr_str("http.route", "/api/items/{id}")
        // The path the client sent, not the one `nest` strips for the inner router.
        .assert_attr_str("url.path", "/api/items/7");
    // `nest_service` hides its match from layers outside it: no route, never the raw path.
    spans
        .single("GET")
        .assert_no_attr("http.route")
        .assert_attr_str("url.path", "/static/a/b.css");
}

#[tokio::test]
async fn status_classes_follow_the_server_rules() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    for code in [101_u16, 200, 204, 302, 404, 429, 500, 503] {
        let (response, _) = send(&app, get_request(&format!("/status/{code}"))).await;
        assert_eq!(response.status().as_u16(), code);
    }
    let spans = capture.spans();
    let by_code = |code: i64| {
        spans
            .named("GET /status/{code}")
            .into_iter()
            .find(|span| {
                span.attr("http.response.status_code") == Some(&opentelemetry::Value::I64(code))
            })
            .unwrap_or_else(|| panic!("no span for {code}"))
    };
    for code in [101, 200, 204, 302, 404, 429] {
        by_code(code)
            .assert_status_unset()
            .assert_no_attr("error.type");
    }
    for code in [500, 503] {
        by_code(code)
            .assert_status_error()
            .assert_attr_str("error.type", &code.to_string());
    }
}

#[tokio::test]
async fn methods_are_normalised_case_sensitively() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    for method in ["BREW", "get"] {
        let request = Request::builder()
            .method(method)
            .uri("/any")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.0.status(), 200);
    }
    let spans = capture.spans();
    let other = spans.named("HTTP /any");
    assert_eq!(other.len(), 2, "{}", spans.tree());
    let mut originals: Vec<_> = other
        .iter()
        .map(|span| {
            span.assert_attr_str("http.request.method", "_OTHER");
            span.attr("http.request.method_original")
                .unwrap()
                .as_str()
                .into_owned()
        })
        .collect();
    originals.sort();
    assert_eq!(originals, ["BREW", "get"]);
}

#[tokio::test]
async fn service_errors_end_the_span_with_the_error_type() {
    let capture = TelemetryCapture::new();
    let service =
        otel_builder(&capture)
            .build()
            .layer(tower::service_fn(|_: Request<Body>| async {
                Err::<axum::http::Response<Body>, _>(std::io::Error::other("backend down"))
            }));
    let error = service.oneshot(get_request("/x")).await.unwrap_err();
    assert_eq!(error.to_string(), "backend down");
    capture
        .spans()
        .single("GET")
        .assert_status_error()
        .assert_attr_str("error.type", "std::io::error::Error")
        .assert_no_attr("http.response.status_code");
    capture
        .metrics()
        .histogram_f64("http.server.request.duration")
        .assert_attr_keys(&[
            "http.request.method",
            "url.scheme",
            "network.protocol.version",
            "error.type",
        ]);
}

#[tokio::test]
async fn streamed_body_is_covered_by_the_span_and_the_metric() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).opt_in_metrics(true).build());
    let response = app.clone().oneshot(get_request("/stream")).await.unwrap();
    // The head has left; the span has not ended yet.
    assert!(capture.spans().is_empty());
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 15);

    let spans = capture.spans();
    let span = spans.single("GET /stream");
    assert!(
        span.duration() >= Duration::from_millis(120),
        "{:?}",
        span.duration()
    );
    let metrics = capture.metrics();
    let duration = metrics.histogram_f64("http.server.request.duration");
    let recorded = duration.points()[0].sum();
    let span_secs = span.duration().as_secs_f64();
    assert!(
        (recorded - span_secs).abs() < 0.005,
        "metric {recorded} vs span {span_secs}"
    );
    assert_eq!(
        metrics
            .histogram_u64("http.server.response.body.size")
            .points()[0]
            .sum(),
        15
    );
}

#[tokio::test]
async fn malformed_and_duplicate_traceparents_start_new_traces() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let bad = [
        format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase()),
        format!("00-{TRACE_ID}-{PARENT_ID}-1"),
        format!("ff-{TRACE_ID}-{PARENT_ID}-01"),
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_owned(),
        "garbage".to_owned(),
    ];
    for value in &bad {
        let request = Request::get("/users/1")
            .header("traceparent", value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.0.status(), 200);
    }
    let duplicate = Request::get("/users/1")
        .header("traceparent", traceparent())
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, duplicate).await.0.status(), 200);

    let spans = capture.spans();
    let servers = spans.named("GET /users/{id}");
    assert_eq!(servers.len(), bad.len() + 1);
    for span in servers {
        span.assert_root();
        assert_ne!(span.span_context().trace_id(), remote_parent().trace_id());
        assert_ne!(span.span_context().trace_id(), TraceId::INVALID);
    }
}

#[tokio::test]
async fn handlers_see_the_request_span_and_can_annotate_it() {
    let capture = TelemetryCapture::new();
    let app = routes().layer(otel_builder(&capture).build());
    let request = traced_request("/whoami", &[("baggage", "tenant=acme,region=eu")]);
    let (_, body) = send(&app, request).await;
    assert_eq!(send(&app, get_request("/annotate")).await.1, "annotated");

    let spans = capture.spans();
    let server = spans.single("GET /whoami");
    let sc = server.span_context();
    assert_eq!(
        body,
        format!("{} {} region=eu,tenant=acme", sc.trace_id(), sc.span_id())
    );
    spans
        .single("GET /annotate")
        .assert_attr_i64("app.items", 3)
        .assert_attr_str("error.type", "quota_exceeded")
        .assert_status_error()
        .assert_attr_i64("http.response.status_code", 200);
}

#[tokio::test]
async fn sampled_out_requests_still_expose_and_propagate_their_trace() {
    let capture = TelemetryCapture::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let app = routes().layer(otel_builder(&capture).build());
    let request = Request::get("/whoami")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-00"))
        .body(Body::empty())
        .unwrap();
    let (_, body) = send(&app, request).await;
    assert!(capture.spans().is_empty());
    let mut fields = body.split(' ');
    assert_eq!(fields.next(), Some(TRACE_ID));
    let span_id = fields.next().unwrap();
    assert_ne!(span_id, PARENT_ID, "the server span has its own id");
    assert_ne!(span_id, "0000000000000000");
    // Metrics do not depend on sampling.
    assert_eq!(
        capture
            .metrics()
            .histogram_f64("http.server.request.duration")
            .total_count(),
        1
    );
}

#[tokio::test]
async fn custom_span_names_see_the_whole_request() {
    let capture = TelemetryCapture::new();
    let layer = otel_builder(&capture)
        .span_name(|request| format!("{} tenant-api", request.method))
        .build();
    let app = routes().layer(layer);
    send(&app, get_request("/users/1")).await;
    capture
        .spans()
        .single("GET tenant-api")
        .assert_attr_str("http.route", "/users/{id}");
}

#[tokio::test]
async fn any_tower_service_can_be_wrapped() {
    let capture = TelemetryCapture::new();
    // Outside the router: no route is known, so the name is the method alone.
    let service = otel_builder(&capture).build().layer(routes());
    let response = service.oneshot(get_request("/users/9")).await.unwrap();
    assert_eq!(response.status(), 200);
    // The span ends with the body.
    assert!(capture.spans().is_empty());
    drop(response);
    capture
        .spans()
        .single("GET")
        .assert_no_attr("http.route")
        .assert_attr_str("url.path", "/users/9");
}

#[tokio::test]
async fn outgoing_work_nests_under_the_server_span() {
    use opentelemetry::trace::{Tracer, TracerProvider};
    let capture = TelemetryCapture::new();
    let tracer = capture.tracer_provider().tracer("app");
    let app = axum::Router::new()
        .route(
            "/work",
            axum::routing::get(move || {
                let tracer = tracer.clone();
                async move {
                    // An OpenTelemetry API span started from the current context, after an await.
                    tokio::task::yield_now().await;
                    let cx = opentelemetry::Context::current();
                    let _child = tracer.start_with_context("db query", &cx);
                    assert!(cx.has_active_span());
                    "done"
                }
            }),
        )
        .layer(otel_builder(&capture).build());
    send(&app, get_request("/work")).await;
    let spans = capture.spans();
    spans
        .single("db query")
        .assert_child_of(&spans.single("GET /work"));
}

#[tokio::test]
async fn sampling_rules_see_the_route_at_span_start() {
    let sampler = RuleSampler::parse(
        "http.route=/health => drop; kind=server, http.route=/users/* => keep",
        Decision::Drop,
    )
    .expect("valid rules");
    let capture = TelemetryCapture::with_sampler(sampler);
    let app = routes().layer(otel_builder(&capture).build());
    for uri in ["/health", "/users/7", "/api/items/1"] {
        send(&app, get_request(uri)).await;
    }
    let spans = capture.spans();
    assert_eq!(spans.len(), 1, "{}", spans.tree());
    spans
        .single("GET /users/{id}")
        .assert_attr_str("http.route", "/users/{id}");
}
