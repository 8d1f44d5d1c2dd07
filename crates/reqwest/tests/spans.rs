//! Spans, propagation and errors against a real local server.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use reqwest::Method;
use tracewire_core::propagation::Propagator;
use tracewire_core::semconv::url::QueryRedaction;
use tracewire_reqwest::{DisableInjection, PathTemplates, UrlTemplate};
use tracewire_testing::TelemetryCapture;

use common::{TestServer, client, echoed, middleware, traceparent_of};

/// Runs `f` inside an OpenTelemetry API span called `caller` (the OpenTelemetry-only world).
async fn in_otel_span<F: Future>(capture: &TelemetryCapture, f: F) -> F::Output {
    let tracer = capture.tracer_provider().tracer("test");
    let span = tracer.start("caller");
    let cx = Context::current_with_span(span);
    let output = tracewire_core::context::ContextFutureExt::in_context(f, cx.clone()).await;
    cx.span().end();
    output
}

#[tokio::test]
async fn injects_the_client_span_and_the_server_continues_the_trace() {
    let capture = TelemetryCapture::new();
    let server = TestServer::with_server_spans(&capture).await;
    let client = client(middleware(&capture).build());

    let body = in_otel_span(&capture, async {
        let response = client.get(server.url("/echo")).send().await.unwrap();
        response.text().await.unwrap()
    })
    .await;

    let spans = capture.spans();
    let caller = spans.single("caller");
    let span = spans.single("GET");
    span.assert_kind(SpanKind::Client)
        .assert_child_of(&caller)
        .assert_attr_str("http.request.method", "GET")
        .assert_attr_str("server.address", "127.0.0.1")
        .assert_attr_i64("server.port", server.port())
        .assert_attr_str("url.full", &server.url("/echo"))
        .assert_attr_str("url.scheme", "http")
        .assert_attr_i64("http.response.status_code", 200)
        .assert_attr_str("network.protocol.version", "1.1")
        .assert_no_attr("http.request.method_original")
        .assert_no_attr("url.template")
        .assert_no_attr("http.request.resend_count")
        .assert_no_attr("error.type")
        .assert_status_unset();
    assert_eq!(
        echoed(&body, "traceparent"),
        [traceparent_of(span.span_context())]
    );
    // The tracewire-axum layer on the server continues the trace under the client span.
    spans
        .single("GET /echo")
        .assert_kind(SpanKind::Server)
        .assert_child_of(&span)
        .assert_attr_str("http.route", "/echo")
        .assert_attr_i64("http.response.status_code", 200);
}

#[tracing::instrument(skip_all)]
async fn handler(client: &reqwest_middleware::ClientWithMiddleware, url: String) -> String {
    let response = client.get(url).send().await.unwrap();
    response.text().await.unwrap()
}

#[tokio::test]
async fn nests_under_an_instrumented_tracing_span() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());

    let body = handler(&client, server.url("/echo")).await;

    let spans = capture.spans();
    let span = spans.single("GET");
    span.assert_kind(SpanKind::Client)
        .assert_child_of(&spans.single("handler"))
        .assert_attr_i64("http.response.status_code", 200);
    assert_eq!(
        echoed(&body, "traceparent"),
        [traceparent_of(span.span_context())]
    );
}

#[tokio::test]
async fn replaces_stale_propagation_headers() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let body = client
        .get(server.url("/echo"))
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .header(
            "traceparent",
            "00-33333333333333333333333333333333-4444444444444444-01",
        )
        .header("tracestate", "stale=1")
        .header("baggage", "stale=1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let spans = capture.spans();
    let span = spans.single("GET");
    span.assert_root();
    assert_eq!(
        echoed(&body, "traceparent"),
        [traceparent_of(span.span_context())]
    );
    assert!(echoed(&body, "tracestate").is_empty(), "{body}");
    assert!(echoed(&body, "baggage").is_empty(), "{body}");
}

#[tokio::test]
async fn disable_injection_keeps_the_span_but_sends_no_context() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let body = in_otel_span(&capture, async {
        let response = client
            .get(server.url("/echo"))
            .with_extension(DisableInjection)
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    })
    .await;

    assert!(echoed(&body, "traceparent").is_empty(), "{body}");
    let spans = capture.spans();
    spans
        .single("GET")
        .assert_child_of(&spans.single("caller"))
        .assert_attr_i64("http.response.status_code", 200);
}

#[tokio::test]
async fn url_templates_name_the_span() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let templates = PathTemplates::new(["/users/me", "/users/{id}"]).unwrap();
    let client = client(middleware(&capture).path_templates(templates).build());

    client.get(server.url("/users/42")).send().await.unwrap();
    client
        .post(server.url("/users/43"))
        .with_extension(UrlTemplate::new("/users/{user_id}"))
        .send()
        .await
        .unwrap();
    client.get(server.url("/echo")).send().await.unwrap();

    let spans = capture.spans();
    spans
        .single("GET /users/{id}")
        .assert_attr_str("url.template", "/users/{id}")
        .assert_attr_str("url.full", &server.url("/users/42"));
    spans
        .single("POST /users/{user_id}")
        .assert_attr_str("url.template", "/users/{user_id}");
    spans.single("GET").assert_no_attr("url.template");
}

#[tokio::test]
async fn span_name_formatter_and_filter() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(
        middleware(&capture)
            .span_name(|request, template| {
                format!("{} {}", request.method(), template.unwrap_or("?"))
            })
            .filter(|request| request.url().path() != "/users/skip")
            .build(),
    );

    let body = in_otel_span(&capture, async {
        client
            .get(server.url("/echo"))
            .with_extension(UrlTemplate::new("/echo"))
            .send()
            .await
            .unwrap();
        let response = client.get(server.url("/users/skip")).send().await.unwrap();
        response.text().await.unwrap()
    })
    .await;

    let spans = capture.spans();
    let caller = spans.single("caller");
    spans.single("GET /echo").assert_child_of(&caller);
    assert_eq!(spans.by_kind(SpanKind::Client).len(), 1, "{}", spans.tree());
    // A filtered request still carries the caller's context.
    assert_eq!(
        echoed(&body, "traceparent"),
        [traceparent_of(caller.span_context())]
    );
}

#[tokio::test]
async fn unknown_methods_are_other() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let method = Method::from_bytes(b"BREW").unwrap();
    client
        .request(method, server.url("/echo"))
        .send()
        .await
        .unwrap();

    capture
        .spans()
        .single("HTTP")
        .assert_attr_str("http.request.method", "_OTHER")
        .assert_attr_str("http.request.method_original", "BREW");
}

#[tokio::test]
async fn client_and_server_errors_are_errors() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    for code in [404, 503] {
        let response = client
            .get(server.url(&format!("/status/{code}")))
            .with_extension(UrlTemplate::new(format!("/status/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }

    let spans = capture.spans();
    spans
        .single("GET /status/404")
        .assert_attr_i64("http.response.status_code", 404)
        .assert_attr_str("error.type", "404")
        .assert_status_error();
    spans
        .single("GET /status/503")
        .assert_attr_i64("http.response.status_code", 503)
        .assert_attr_str("error.type", "503")
        .assert_status_error();
}

#[tokio::test]
async fn a_redirect_chain_is_one_span() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let body = client
        .get(server.url("/redirect"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let spans = capture.spans();
    let span = spans.single("GET");
    span.assert_attr_str("url.full", &server.url("/redirect"))
        .assert_attr_i64("http.response.status_code", 200)
        .assert_status_unset();
    assert_eq!(
        echoed(&body, "traceparent"),
        [traceparent_of(span.span_context())]
    );
}

#[tokio::test]
async fn too_many_redirects_is_a_redirect_error() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    client.get(server.url("/loop")).send().await.unwrap_err();

    capture
        .spans()
        .single("GET")
        .assert_attr_str("error.type", "redirect")
        .assert_no_attr("http.response.status_code")
        .assert_status_error();
}

#[tokio::test]
async fn reqwest_timeouts_are_errors() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let error = client
        .get(server.url("/slow"))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout());

    capture
        .spans()
        .single("GET")
        .assert_attr_str("error.type", "timeout")
        .assert_no_attr("http.response.status_code")
        .assert_status_error();
}

#[tokio::test]
async fn caller_cancellation_is_not_an_error() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let outcome = tokio::time::timeout(
        Duration::from_millis(100),
        client.get(server.url("/slow")).send(),
    )
    .await;
    assert!(outcome.is_err(), "the caller's timeout fires first");

    capture
        .spans()
        .single("GET")
        .assert_no_attr("error.type")
        .assert_no_attr("http.response.status_code")
        .assert_status_unset();
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let capture = TelemetryCapture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client(middleware(&capture).build());

    client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();

    let spans = capture.spans();
    let span = spans.single("GET");
    span.assert_attr_str("error.type", "connect")
        .assert_attr_i64("server.port", i64::from(addr.port()))
        .assert_status_error();
    let opentelemetry::trace::Status::Error { description } = span.status() else {
        unreachable!()
    };
    assert!(!description.contains("127.0.0.1"), "{description}");
}

#[tokio::test]
async fn credential_query_values_are_redacted_by_default_and_the_list_is_configurable() {
    let server = TestServer::start().await;
    let query = "token=tok123&PassWord=hunter2&client%5Fsecret=cs&code=c&state=s&page=2";
    let url = server.url(&format!("/echo?{query}"));

    let capture = TelemetryCapture::new();
    let default = client(middleware(&capture).build());
    default.get(&url).send().await.unwrap();
    capture.spans().single("GET").assert_attr_str(
        "url.full",
        &server.url(
            "/echo?token=REDACTED&PassWord=REDACTED&client%5Fsecret=REDACTED&code=REDACTED\
             &state=REDACTED&page=2",
        ),
    );

    let capture = TelemetryCapture::new();
    let redaction = QueryRedaction::parse("none,page");
    let configured = client(middleware(&capture).query_redaction(redaction).build());
    configured.get(&url).send().await.unwrap();
    capture.spans().single("GET").assert_attr_str(
        "url.full",
        &server.url(&format!(
            "/echo?{}",
            query.replace("page=2", "page=REDACTED")
        )),
    );
}

#[tokio::test]
async fn credentials_and_signed_query_values_never_reach_an_attribute() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(
        middleware(&capture)
            .capture_request_headers(["authorization", "x-request-id"])
            .capture_response_headers(["set-cookie", "x-served-by"])
            .build(),
    );
    let query = "sig=secret-sig&X-Amz-Signature=secret-amz&color=blue";
    let with_userinfo = format!("http://user:secret-pass@{}/echo?{query}", server.addr);

    // Built by hand, the request keeps its userinfo in the URL the middleware sees.
    let request = reqwest::Request::new(Method::GET, with_userinfo.parse().unwrap());
    client.execute(request).await.unwrap();
    // Through the builder, reqwest moves it into an `Authorization` header.
    client
        .get(&with_userinfo)
        .header("x-request-id", "r-1")
        .send()
        .await
        .unwrap();

    let spans = capture.spans();
    let redacted_query = "sig=REDACTED&X-Amz-Signature=REDACTED&color=blue";
    let [first, second] = spans.named("GET")[..] else {
        panic!("{}", spans.tree())
    };
    first.assert_attr_str(
        "url.full",
        &format!(
            "http://REDACTED:REDACTED@{}/echo?{redacted_query}",
            server.addr
        ),
    );
    second
        .assert_attr_str("url.full", &server.url(&format!("/echo?{redacted_query}")))
        .assert_attr_str_array("http.request.header.x-request-id", &["r-1"])
        .assert_attr_str_array("http.response.header.x-served-by", &["echo"])
        .assert_no_attr("http.request.header.authorization")
        .assert_no_attr("http.response.header.set-cookie");
    for span in spans.iter() {
        for kv in &span.data().attributes {
            assert!(!kv.value.as_str().contains("secret"), "{kv:?}");
        }
    }
    let metrics = capture.metrics();
    for point in metrics
        .histogram_f64("http.client.request.duration")
        .points()
    {
        for kv in point.attributes() {
            assert!(!kv.value.as_str().contains("secret"), "{kv:?}");
        }
    }
}

#[tokio::test]
async fn user_agent_is_opt_in() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let plain = client(middleware(&capture).build());
    let opted_in = client(middleware(&capture).capture_user_agent(true).build());

    for client in [&plain, &opted_in] {
        client
            .get(server.url("/echo"))
            .header("user-agent", "tw-test/1.0")
            .send()
            .await
            .unwrap();
    }

    let spans = capture.spans();
    let [first, second] = spans.named("GET")[..] else {
        panic!("{}", spans.tree())
    };
    first.assert_no_attr("user_agent.original");
    second.assert_attr_str("user_agent.original", "tw-test/1.0");
}

/// A propagator that writes invalid header names and values next to a valid one.
#[derive(Debug)]
struct Hostile;

impl TextMapPropagator for Hostile {
    fn inject_context(&self, _cx: &Context, injector: &mut dyn Injector) {
        injector.set("bad name", "value".to_owned());
        injector.set("x-non-ascii", "caf\u{e9}".to_owned());
        injector.set("x-newline", "a\r\nb".to_owned());
        injector.set("", "empty".to_owned());
        injector.set("x-good", "ok".to_owned());
    }

    fn extract_with_context(
        &self,
        cx: &Context,
        _extractor: &dyn opentelemetry::propagation::Extractor,
    ) -> Context {
        cx.clone()
    }

    fn fields(&self) -> FieldIter<'_> {
        static FIELDS: [String; 0] = [];
        FieldIter::new(&FIELDS)
    }
}

#[tokio::test]
async fn invalid_headers_from_a_custom_propagator_are_skipped() {
    let capture = TelemetryCapture::new();
    let server = TestServer::start().await;
    let client = client(
        middleware(&capture)
            .propagator(Propagator::new(Hostile))
            .build(),
    );

    let body = client
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(echoed(&body, "x-good"), ["ok"]);
    for skipped in ["bad name", "x-non-ascii", "x-newline"] {
        assert!(echoed(&body, skipped).is_empty(), "{body}");
    }
    capture
        .spans()
        .single("GET")
        .assert_attr_i64("http.response.status_code", 200);
}

#[tokio::test]
async fn a_sampled_out_request_still_propagates() {
    let capture = TelemetryCapture::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let server = TestServer::start().await;
    let client = client(middleware(&capture).build());

    let body = client
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(capture.spans().is_empty());
    let [traceparent] = &echoed(&body, "traceparent")[..] else {
        panic!("{body}")
    };
    let flags = u8::from_str_radix(&traceparent[53..], 16).unwrap();
    assert_eq!(flags & 1, 0, "not sampled: {traceparent}");
}
