//! The fake OTLP collector, driven by real OTLP clients over loopback.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tracewire_testing::FakeCollector;

const WAIT: Duration = Duration::from_secs(10);

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn trace_request(service: &str, names: &[&str]) -> ExportTraceServiceRequest {
    let spans = names
        .iter()
        .map(|name| Span {
            name: (*name).into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(service)),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics_request(value: i64) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    };
    let metric = Metric {
        name: "requests".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point],
            is_monotonic: true,
            ..Default::default()
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request(bodies: &[&str]) -> ExportLogsServiceRequest {
    let log_records = bodies
        .iter()
        .map(|body| LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue((*body).into())),
            }),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn int_value(metric: &Metric) -> Option<i64> {
    match metric.data.as_ref()? {
        metric::Data::Sum(sum) => match sum.data_points.first()?.value? {
            number_data_point::Value::AsInt(value) => Some(value),
            number_data_point::Value::AsDouble(_) => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn grpc_records_spans_and_metadata() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start().await?;
    assert!(collector.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(collector.traces_endpoint(), collector.endpoint());

    let mut client = TraceServiceClient::connect(collector.endpoint()).await?;
    let mut request = tonic::Request::new(trace_request("checkout", &["GET /cart", "SELECT"]));
    request
        .metadata_mut()
        .insert("authorization", "Bearer secret".parse()?);
    client.export(request).await?;
    client.export(trace_request("billing", &["charge"])).await?;

    let spans = collector.wait_for_spans(3, WAIT).await;
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(names, ["GET /cart", "SELECT", "charge"]);
    assert_eq!(collector.requests(), 2);
    assert_eq!(collector.resource_spans().len(), 2);
    assert_eq!(collector.service_names(), ["checkout", "billing"]);
    // The last request carried no authorization header.
    let headers = collector.last_headers().ok_or("no headers recorded")?;
    assert!(headers.get("authorization").is_none());
    assert_eq!(
        headers.get("content-type").map(|value| value.as_bytes()),
        Some(&b"application/grpc"[..])
    );
    assert_eq!(collector.last_http_version(), Some(http::Version::HTTP_2));

    collector.reset();
    assert!(collector.spans().is_empty());
    assert_eq!(collector.requests(), 0);
    Ok(())
}

#[tokio::test]
async fn grpc_metadata_of_the_last_request_is_kept() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start().await?;
    let mut client = TraceServiceClient::connect(collector.endpoint()).await?;
    let mut request = tonic::Request::new(trace_request("svc", &["one"]));
    request.metadata_mut().insert("x-api-key", "abc".parse()?);
    client.export(request).await?;
    let headers = collector.last_headers().ok_or("no headers recorded")?;
    assert_eq!(
        headers.get("x-api-key").map(|value| value.as_bytes()),
        Some(&b"abc"[..])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_records_metrics_and_logs() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start().await?;
    let mut metrics = MetricsServiceClient::connect(collector.endpoint()).await?;
    let mut logs = LogsServiceClient::connect(collector.endpoint()).await?;

    metrics.export(metrics_request(1)).await?;
    metrics.export(metrics_request(4)).await?;
    logs.export(logs_request(&["started", "ready"])).await?;

    let latest = collector
        .wait_for_metric("requests", WAIT)
        .await
        .ok_or("metric not received")?;
    assert_eq!(int_value(&latest), Some(4), "the newest export wins");
    assert_eq!(collector.metrics().len(), 2);
    let records = collector.wait_for_log_records(2, WAIT).await;
    assert_eq!(records.len(), 2);
    assert_eq!(collector.logs().len(), 1);
    assert_eq!(collector.requests(), 3);
    Ok(())
}

#[tokio::test]
async fn waiting_returns_what_arrived_at_the_timeout() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start().await?;
    let started = std::time::Instant::now();
    let spans = collector.wait_for_spans(1, Duration::from_millis(50)).await;
    assert!(spans.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(
        collector
            .wait_for_metric("requests", Duration::from_millis(10))
            .await
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn dropping_the_collector_stops_the_server() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start_http().await?;
    let address = collector.local_addr();
    drop(collector);
    // The abort takes effect the next time the runtime polls the server task.
    for _ in 0..100 {
        if TcpStream::connect(address).await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("the server still accepts connections after the drop".into())
}

/// A minimal HTTP/1.1 client response.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `head` (request line and headers, without the final blank line) and `body`, and reads
/// one response, skipping interim `100 Continue` responses.
async fn exchange(
    stream: &mut BufReader<TcpStream>,
    head: &str,
    body: &[u8],
) -> Result<Response, Box<dyn std::error::Error>> {
    stream.get_mut().write_all(head.as_bytes()).await?;
    stream.get_mut().write_all(b"\r\n").await?;
    stream.get_mut().write_all(body).await?;
    loop {
        let mut status_line = String::new();
        stream.read_line(&mut status_line).await?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .ok_or("no status code")?
            .parse()?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or("bad header")?;
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        if status == 100 {
            continue;
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .ok_or("no content-length")?
            .1
            .parse()?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
}

async fn connect(collector: &FakeCollector) -> std::io::Result<BufReader<TcpStream>> {
    Ok(BufReader::new(
        TcpStream::connect(collector.local_addr()).await?,
    ))
}

fn protobuf_post(path: &str, body: &[u8], extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n{extra}",
        body.len()
    )
}

#[tokio::test]
async fn http_records_exports_on_a_keep_alive_connection() -> Result<(), Box<dyn std::error::Error>>
{
    let collector = FakeCollector::start_http().await?;
    assert_eq!(
        collector.traces_endpoint(),
        format!("{}/v1/traces", collector.endpoint())
    );
    assert!(collector.metrics_endpoint().ends_with("/v1/metrics"));
    assert!(collector.logs_endpoint().ends_with("/v1/logs"));
    let mut stream = connect(&collector).await?;

    let traces = trace_request("checkout", &["GET /cart"]).encode_to_vec();
    let response = exchange(
        &mut stream,
        &protobuf_post("/v1/traces", &traces, "Authorization: Bearer secret\r\n"),
        &traces,
    )
    .await?;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(response.header("connection"), None);
    assert_eq!(collector.last_http_version(), Some(http::Version::HTTP_11));
    ExportTraceServiceResponse::decode(response.body.as_slice())?;
    let headers = collector.last_headers().ok_or("no headers recorded")?;
    assert_eq!(
        headers.get("authorization").map(|value| value.as_bytes()),
        Some(&b"Bearer secret"[..])
    );

    let metrics = metrics_request(7).encode_to_vec();
    let response = exchange(
        &mut stream,
        &protobuf_post("/v1/metrics", &metrics, "Connection: close\r\n"),
        &metrics,
    )
    .await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));

    assert_eq!(collector.service_names(), ["checkout"]);
    assert_eq!(collector.spans()[0].name, "GET /cart");
    let metric = collector
        .wait_for_metric("requests", WAIT)
        .await
        .ok_or("metric not received")?;
    assert_eq!(int_value(&metric), Some(7));
    assert_eq!(collector.requests(), 2);
    Ok(())
}

#[tokio::test]
async fn http_accepts_chunked_bodies_and_expect_continue() -> Result<(), Box<dyn std::error::Error>>
{
    let collector = FakeCollector::start_http().await?;
    let mut stream = connect(&collector).await?;
    let logs = logs_request(&["hello"]).encode_to_vec();
    let (first, second) = logs.split_at(logs.len() / 2);
    let mut body = Vec::new();
    for chunk in [first, second] {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
                Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n";
    let response = exchange(&mut stream, head, &body).await?;
    assert_eq!(response.status, 200);
    let records = collector.wait_for_log_records(1, WAIT).await;
    assert_eq!(records.len(), 1);
    Ok(())
}

#[tokio::test]
async fn http_rejects_what_it_cannot_handle() -> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start_http().await?;
    let mut stream = connect(&collector).await?;
    let traces = trace_request("svc", &["span"]).encode_to_vec();

    let not_found = exchange(
        &mut stream,
        &protobuf_post("/v1/spans", &traces, ""),
        &traces,
    )
    .await?;
    assert_eq!(not_found.status, 404);

    let text = "POST /v1/traces HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n";
    let unsupported = exchange(&mut stream, text, b"{}").await?;
    assert_eq!(unsupported.status, 415);

    let json =
        "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n";
    let not_json = exchange(&mut stream, json, b"{oops").await?;
    assert_eq!(not_json.status, 400);

    let gzip = protobuf_post("/v1/traces", &traces, "Content-Encoding: gzip\r\n");
    assert_eq!(exchange(&mut stream, &gzip, &traces).await?.status, 415);

    let garbage = [0xff; 8];
    let invalid = exchange(
        &mut stream,
        &protobuf_post("/v1/traces", &garbage, ""),
        &garbage,
    )
    .await?;
    assert_eq!(invalid.status, 400);

    let get = exchange(&mut stream, "GET /v1/traces HTTP/1.1\r\n", b"").await?;
    assert_eq!(get.status, 405);

    // The connection survived every rejection, and nothing was recorded.
    assert_eq!(collector.requests(), 0);
    let ok = exchange(
        &mut stream,
        &protobuf_post("/v1/traces", &traces, ""),
        &traces,
    )
    .await?;
    assert_eq!(ok.status, 200);
    assert_eq!(collector.requests(), 1);

    let mut malformed = connect(&collector).await?;
    let response = exchange(&mut malformed, "NONSENSE\r\n", b"").await?;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection"), Some("close"));
    Ok(())
}

/// An OTLP/JSON body as the specification writes it (hex ids, enum values as integers, 64-bit
/// integers as strings, camelCase keys), not as any exporter of ours produces it.
const SPEC_JSON_TRACES: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [{"key": "http.response.status_code", "value": {"intValue": "200"}}],
        "status": {"code": 2, "message": "boom"}
      }]
    }]
  }]
}"#;

#[tokio::test]
async fn http_decodes_otlp_json_as_the_specification_writes_it()
-> Result<(), Box<dyn std::error::Error>> {
    let collector = FakeCollector::start_http().await?;
    let mut stream = connect(&collector).await?;
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
        SPEC_JSON_TRACES.len()
    );
    let response = exchange(&mut stream, &head, SPEC_JSON_TRACES.as_bytes()).await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body, b"{}");

    assert_eq!(collector.service_names(), ["json-svc"]);
    let span = collector.spans().pop().ok_or("no span")?;
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(
        span.trace_id,
        [
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(
        span.parent_span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73]
    );
    assert_eq!(span.kind, 2);
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    let status = span.status.as_ref().ok_or("no status")?;
    assert_eq!((status.code, status.message.as_str()), (2, "boom"));
    let value = span.attributes[0]
        .value
        .as_ref()
        .and_then(|value| value.value.as_ref());
    assert_eq!(value, Some(&any_value::Value::IntValue(200)));
    Ok(())
}

#[tokio::test]
async fn tls_collectors_need_a_certificate_and_enforce_client_auth()
-> Result<(), Box<dyn std::error::Error>> {
    let ca = tracewire_testing::TestCertificateAuthority::new("collector test CA");
    let server = ca.server_certificate();
    let no_certificate = FakeCollector::builder()
        .client_auth(&ca.certificate_pem())
        .start()
        .await;
    assert!(no_certificate.is_err());
    let not_pem = FakeCollector::builder()
        .tls("not a certificate", server.private_key_pem())
        .start()
        .await;
    assert_eq!(
        not_pem.err().map(|error| error.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );

    let collector = FakeCollector::builder()
        .http()
        .tls(server.certificate_pem(), server.private_key_pem())
        .client_auth(&ca.certificate_pem())
        .start()
        .await?;
    assert!(
        collector
            .traces_endpoint()
            .starts_with("https://127.0.0.1:")
    );
    // A plain-text request is not a TLS handshake: refused and counted.
    let mut plain = connect(&collector).await?;
    let traces = trace_request("svc", &["span"]).encode_to_vec();
    let refused = exchange(
        &mut plain,
        &protobuf_post("/v1/traces", &traces, ""),
        &traces,
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(collector.wait_for_tls_failures(1, WAIT).await, 1);
    assert_eq!(collector.requests(), 0);
    Ok(())
}
