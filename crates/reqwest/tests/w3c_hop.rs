//! W3C Trace Context Level 2 through a service built the way users build one: the
//! `tracewire-axum` server layer, and a `tracewire-reqwest` client called inside the handler.
//! What the downstream server receives is compared with what the service received, in both span
//! worlds.
#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::*;
use reqwest_middleware::ClientWithMiddleware;
use tracewire_testing::TelemetryCapture;
use tracewire_testing::w3c::{HopCase, hop_cases, service_capture};

#[derive(Clone)]
struct Downstream {
    client: ClientWithMiddleware,
    url: String,
}

/// Calls the downstream echo server and answers with what it received.
async fn hop(State(downstream): State<Downstream>) -> String {
    let response = downstream.client.get(&downstream.url).send().await.unwrap();
    response.text().await.unwrap()
}

/// The service on loopback: its URL.
async fn service(capture: &TelemetryCapture, downstream: &TestServer) -> String {
    let layer = tracewire_axum::TelemetryLayer::builder()
        .tracer_provider(capture.tracer_provider())
        .meter_provider(capture.meter_provider())
        .propagator(w3c())
        .build();
    let app = Router::new()
        .route("/hop", get(hop))
        .with_state(Downstream {
            client: client(middleware(capture).build()),
            url: downstream.url("/echo"),
        })
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hop", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn run_cases(capture: &TelemetryCapture) {
    let downstream = TestServer::start().await;
    let url = service(capture, &downstream).await;
    let caller = reqwest::Client::new();
    for case in hop_cases() {
        let request = case
            .incoming_headers()
            .into_iter()
            .fold(caller.get(&url), |request, (name, value)| {
                request.header(name, value)
            });
        let echo = request.send().await.unwrap().text().await.unwrap();
        assert_hop(&case, &echo);
    }
}

fn assert_hop(case: &HopCase, echo: &str) {
    case.assert_sent(&echoed(echo, "traceparent"), &echoed(echo, "tracestate"));
}

#[tokio::test]
async fn opentelemetry_world_sends_on_what_level_2_requires() {
    run_cases(&service_capture()).await;
}

#[tokio::test]
async fn tracing_world_sends_on_what_level_2_requires() {
    let capture = service_capture();
    let _dispatch = tracing::dispatcher::set_default(&capture.tracing_dispatch());
    run_cases(&capture).await;
}
