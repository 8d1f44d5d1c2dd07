//! The Prometheus endpoint scraped over loopback, with tracewire-axum's metrics from a real
//! axum server.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};

use axum::Router;
use axum::routing::get;
use opentelemetry::metrics::MeterProvider as _;
use tracewire_init::{EnvSource, TelemetryGuard, WarningKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn init(port: &str) -> Result<TelemetryGuard, tracewire_init::InitError> {
    tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", port),
        ]))
        .install_globals(false)
        .fmt_layer(false)
        .init()
}

/// One HTTP/1.1 GET on a connection of its own; the whole response as text.
fn http_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_returns_the_http_server_metrics_after_a_request() -> TestResult {
    let guard = init("0")?;
    assert_eq!(guard.warnings(), []);
    let endpoint = guard.prometheus_address().ok_or("no Prometheus endpoint")?;
    let layer = tracewire_axum::TelemetryLayer::builder()
        .meter_provider(guard.meter_provider().ok_or("no meter provider")?)
        .build();
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    // The naming rules on the other kinds: a counter gets `_total`, a unit in braces is dropped,
    // `By` becomes `_bytes`.
    let meter = guard
        .meter_provider()
        .ok_or("no meter provider")?
        .meter("test");
    meter
        .u64_counter("orders.placed")
        .with_unit("{order}")
        .build()
        .add(2, &[]);
    meter
        .u64_histogram("order.size")
        .with_unit("By")
        .build()
        .record(512, &[]);

    let (response, scrape) = tokio::task::spawn_blocking(move || {
        Ok::<_, std::io::Error>((
            http_get(server, "/orders/7")?,
            http_get(endpoint, "/metrics")?,
        ))
    })
    .await??;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (head, body) = scrape.split_once("\r\n\r\n").ok_or("no body")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    // OpenTelemetry's `http.server.request.duration` in seconds, Prometheus-named.
    assert!(
        body.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{body}"
    );
    let count = body
        .lines()
        .find(|line| line.starts_with("http_server_request_duration_seconds_count{"))
        .ok_or("no request count")?;
    for label in [
        r#"http_request_method="GET""#,
        r#"http_route="/orders/{id}""#,
        r#"http_response_status_code="200""#,
        r#"otel_scope_name="tracewire-axum""#,
    ] {
        assert!(count.contains(label), "no {label} in {count}");
    }
    assert!(count.ends_with("} 1"), "{count}");
    assert!(
        body.lines()
            .any(|line| line.starts_with("orders_placed_total{") && line.ends_with("} 2")),
        "{body}"
    );
    assert!(body.contains("# TYPE order_size_bytes histogram"), "{body}");
    assert!(body.contains(r#"target_info{"#) && body.contains(r#"service_name="checkout""#));

    let (not_found, _) = tokio::task::spawn_blocking(move || http_get(endpoint, "/"))
        .await??
        .split_once("\r\n")
        .map(|(status, rest)| (status.to_owned(), rest.to_owned()))
        .ok_or("no status line")?;
    assert_eq!(not_found, "HTTP/1.1 404 Not Found");

    assert!(guard.shutdown().is_clean());
    // The server stopped with the guard.
    assert!(TcpStream::connect(endpoint).is_err());
    Ok(())
}

#[test]
fn a_port_in_use_is_a_warning() -> TestResult {
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let guard = init(&port)?;
    assert_eq!(guard.prometheus_address(), None);
    let warning = guard
        .warnings()
        .iter()
        .find(|warning| warning.variable == "OTEL_EXPORTER_PROMETHEUS_PORT")
        .ok_or("no warning")?;
    assert_eq!(warning.kind, WarningKind::ExporterBuild);
    assert_eq!(warning.value, format!("127.0.0.1:{port}"));
    assert!(guard.shutdown().is_clean());
    Ok(())
}
