//! The tracewire demo.
//!
//! The full-stack demo (axum gateway, tonic inventory, SQLite, reqwest, Kafka) arrives with the
//! framework crates. Until then this shows the core on its own: a "gateway" handles an order,
//! calls an "inventory" service over an HTTP header carrier, the inventory fails, and the one trace
//! across both is printed as a tree.
#![allow(clippy::print_stdout, reason = "a demo prints its result")]

use http::HeaderMap;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tracewire_core::instrument::{Instrumentation, Parent, SpanStart};
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, Propagator, TraceContextPropagator,
};
use tracewire_testing::{TelemetryCapture, TreeOptions};

fn main() {
    let capture = TelemetryCapture::new();
    let service = |name: &'static str| {
        Instrumentation::builder(name)
            .tracer_provider(capture.tracer_provider())
            .build()
    };
    let (gateway, inventory) = (service("gateway"), service("inventory"));
    let propagator = Propagator::new(TraceContextPropagator::new());

    let order = gateway.start(
        SpanStart::new(SpanKind::Server, "POST /orders")
            .parent(Parent::Root)
            .attribute(KeyValue::new("http.request.method", "POST"))
            .attribute(KeyValue::new("http.route", "/orders")),
    );
    order.in_scope(|| {
        let call = gateway.start(
            SpanStart::new(SpanKind::Client, "GET")
                .attribute(KeyValue::new("server.address", "inventory"))
                .attribute(KeyValue::new("server.port", 8080_i64)),
        );
        let mut headers = HeaderMap::new();
        propagator.inject_context(call.context(), &mut HeaderInjector(&mut headers));

        // The inventory side sees only the headers.
        let parent = propagator.extract(&HeaderExtractor::new(&headers));
        let lookup = inventory.start(
            SpanStart::new(SpanKind::Server, "GET /items/{sku}")
                .parent(Parent::Context(parent))
                .attribute(KeyValue::new("http.route", "/items/{sku}")),
        );
        lookup.set_attribute(KeyValue::new("http.response.status_code", 503_i64));
        lookup.set_error("503");
        lookup.end();

        call.set_attribute(KeyValue::new("http.response.status_code", 503_i64));
        call.set_error("503");
        call.end();
    });
    order.set_attribute(KeyValue::new("http.response.status_code", 502_i64));
    order.set_error("502");
    order.end();

    println!("One trace across two services, propagated through W3C trace-context headers:\n");
    println!("{}", capture.spans().tree_with(&TreeOptions::default()));
    println!(
        "The full-stack demo (axum, tonic, reqwest, sqlx, Kafka) is not yet built: it arrives with the framework crates."
    );
}
