//! The demo's scenario, asserted: one trace per order from the gateway's SERVER span to the
//! consumer's process span, every span kind, the key attributes with their types, and errors
//! exactly where they happened.

use opentelemetry::trace::SpanKind;
use tracewire_demo::{DatabaseChoice, FULFILLMENT, GATEWAY, INVENTORY, Options, PAYMENTS, Report};
use tracewire_init::EnvSource;
use tracewire_testing::{SpanView, Spans};

/// The spans `service` recorded in the trace of order `index`.
fn spans_of(report: &Report, index: usize, service: &str) -> Spans {
    let trace_id = report.orders[index]
        .trace_id
        .clone()
        .expect("the gateway returns the trace id");
    let spans = report.service_spans(service);
    Spans::new(
        spans
            .as_slice()
            .iter()
            .filter(|span| span.span_context.trace_id().to_string() == trace_id)
            .cloned()
            .collect(),
    )
}

fn one<'a>(spans: &'a Spans, name: &str, kind: SpanKind) -> SpanView<'a> {
    let matching: Vec<SpanView<'a>> = spans
        .named(name)
        .into_iter()
        .filter(|span| span.kind() == kind)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {kind:?} span {name:?} in\n{}",
        spans.tree()
    );
    matching.into_iter().next().expect("checked")
}

fn assert_fast_order(report: &Report) {
    let gateway = spans_of(report, 0, GATEWAY);
    let inventory = spans_of(report, 0, INVENTORY);
    let payments = spans_of(report, 0, PAYMENTS);
    let fulfillment = spans_of(report, 0, FULFILLMENT);

    let server = one(&gateway, "POST /orders", SpanKind::Server);
    server
        .assert_root()
        .assert_status_unset()
        .assert_attr_str("http.request.method", "POST")
        .assert_attr_str("http.route", "/orders")
        .assert_attr_i64("http.response.status_code", 201);

    let rpc = "demo.inventory.v1.Inventory/Reserve";
    let rpc_client = one(&gateway, rpc, SpanKind::Client);
    rpc_client
        .assert_child_of(&server)
        .assert_status_unset()
        .assert_attr_str("rpc.system.name", "grpc")
        .assert_attr_str("rpc.method", rpc)
        .assert_attr_str("rpc.status_code", "OK")
        .assert_attr_str("server.address", "127.0.0.1");
    assert!(rpc_client.attr("server.port").is_some());
    let rpc_server = one(&inventory, rpc, SpanKind::Server);
    rpc_server
        .assert_child_of(&rpc_client)
        .assert_attr_str("rpc.status_code", "OK");
    for name in ["BEGIN", "UPDATE demo_items", "COMMIT"] {
        one(&inventory, name, SpanKind::Client)
            .assert_child_of(&rpc_server)
            .assert_attr_str("db.system.name", "sqlite");
    }
    one(&inventory, "SELECT demo_items", SpanKind::Client)
        .assert_child_of(&rpc_server)
        .assert_attr_str("db.query.summary", "SELECT demo_items")
        .assert_attr_str(
            "db.query.text",
            "SELECT price_cents, stock FROM demo_items WHERE sku = $1",
        )
        .assert_attr_i64("db.response.returned_rows", 1);
    one(&inventory, "UPDATE demo_items", SpanKind::Client)
        .assert_attr_str("db.operation.name", "reserve")
        .assert_attr_str("db.collection.name", "demo_items");

    let http_client = one(&gateway, "PUT /payments/{order_id}", SpanKind::Client);
    http_client
        .assert_child_of(&server)
        .assert_status_unset()
        .assert_attr_str("http.request.method", "PUT")
        .assert_attr_str("url.template", "/payments/{order_id}")
        .assert_attr_i64("http.response.status_code", 200);
    assert!(matches!(
        http_client.attr("server.port"),
        Some(opentelemetry::Value::I64(_))
    ));
    one(&payments, "PUT /payments/{order_id}", SpanKind::Server)
        .assert_child_of(&http_client)
        .assert_attr_str("http.route", "/payments/{order_id}")
        .assert_attr_i64("http.response.status_code", 200);

    let send = one(&gateway, "send orders", SpanKind::Producer);
    send.assert_child_of(&server)
        .assert_status_unset()
        .assert_attr_str("messaging.system", "kafka")
        .assert_attr_str("messaging.operation.type", "send")
        .assert_attr_str("messaging.destination.name", "orders")
        .assert_attr_str("messaging.destination.partition.id", "0")
        .assert_attr_str("messaging.client.id", "gateway");
    assert!(matches!(
        send.attr("messaging.kafka.offset"),
        Some(opentelemetry::Value::I64(_))
    ));
    // ProcessParent::Auto with no ambient span: the process span is the producer's child.
    let process = one(&fulfillment, "process orders", SpanKind::Consumer);
    process
        .assert_child_of(&send)
        .assert_status_unset()
        .assert_attr_str("messaging.operation.type", "process")
        .assert_attr_str("messaging.consumer.group.name", "fulfillment");
    assert_eq!(
        process.span_context().trace_id(),
        server.span_context().trace_id()
    );
    one(&fulfillment, "INSERT demo_shipments", SpanKind::Client)
        .assert_child_of(&process)
        .assert_attr_str("db.system.name", "sqlite");
    one(&fulfillment, "commit orders", SpanKind::Client).assert_child_of(&process);

    let all = report.spans();
    let trace = server.span_context().trace_id();
    let in_trace: Vec<SpanView<'_>> = all
        .iter()
        .filter(|span| span.span_context().trace_id() == trace)
        .collect();
    for kind in [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ] {
        assert!(
            in_trace.iter().any(|span| span.kind() == kind),
            "no {kind:?} span in the trace"
        );
    }
    assert_eq!(in_trace.len(), 13, "{}", all.tree());
}

fn assert_slow_order(report: &Report) {
    let payments = spans_of(report, 1, PAYMENTS);
    one(&payments, "PUT /payments/{order_id}", SpanKind::Server)
        .assert_has_event("fraud review")
        .assert_status_unset();
    one(
        &spans_of(report, 1, FULFILLMENT),
        "process orders",
        SpanKind::Consumer,
    );
}

fn assert_failing_order(report: &Report) {
    let gateway = spans_of(report, 2, GATEWAY);
    let payments = spans_of(report, 2, PAYMENTS);
    // The error is where it happened (payments), on the call that saw it, and on the request
    // that failed because of it; the inventory call before it succeeded.
    one(&payments, "PUT /payments/{order_id}", SpanKind::Server)
        .assert_status_error()
        .assert_attr_str("error.type", "503")
        .assert_attr_i64("http.response.status_code", 503);
    one(&gateway, "PUT /payments/{order_id}", SpanKind::Client)
        .assert_status_error()
        .assert_attr_str("error.type", "503");
    one(&gateway, "POST /orders", SpanKind::Server)
        .assert_status_error()
        .assert_attr_str("error.type", "502")
        .assert_attr_i64("http.response.status_code", 502);
    one(
        &gateway,
        "demo.inventory.v1.Inventory/Reserve",
        SpanKind::Client,
    )
    .assert_status_unset()
    .assert_no_attr("error.type");
    assert!(
        gateway.by_kind(SpanKind::Producer).is_empty(),
        "a failed order is not published"
    );
    assert!(spans_of(report, 2, FULFILLMENT).is_empty());
}

fn assert_metrics(report: &Report) {
    let names = |service: &str| -> Vec<String> {
        let metrics = report
            .services
            .iter()
            .find(|report| report.name == service)
            .and_then(|report| report.metrics.as_ref())
            .expect("metrics");
        metrics
            .scope_metrics()
            .flat_map(|scope| scope.metrics())
            .map(|metric| metric.name().to_owned())
            .collect()
    };
    let gateway = names(GATEWAY);
    for name in [
        "http.server.request.duration",
        "rpc.client.call.duration",
        "http.client.request.duration",
        "messaging.client.operation.duration",
    ] {
        assert!(gateway.iter().any(|n| n == name), "{name} in {gateway:?}");
    }
    let summary = report.render_metrics();
    assert!(
        summary.contains("http.server.request.duration             3 x mean"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_is_one_trace_across_http_grpc_sql_and_kafka() {
    let options = Options {
        database: DatabaseChoice::Sqlite,
        // No collector, whatever the environment says: only the in-memory copy.
        env: EnvSource::from_pairs::<&str, &str>([]),
    };
    let report = tracewire_demo::run(options).await.expect("the demo runs");
    let statuses: Vec<u16> = report.orders.iter().map(|order| order.status).collect();
    assert_eq!(statuses, [201, 201, 502]);

    assert_fast_order(&report);
    assert_slow_order(&report);
    assert_failing_order(&report);
    assert_metrics(&report);

    let printed = report.render_traces();
    assert!(
        printed.contains("fulfillment: process orders [CONSUMER]"),
        "{printed}"
    );
    assert!(
        printed.contains("payments: PUT /payments/{order_id} [SERVER]"),
        "{printed}"
    );
    assert!(!printed.contains("other traces"), "{printed}");
}
