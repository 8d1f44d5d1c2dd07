//! TLS end to end: the fake collector over TLS (and mTLS) with certificates issued at test time,
//! for gRPC, HTTP/protobuf and HTTP/JSON, configured only through the `OTEL_*` variables.

#![cfg(feature = "tls")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracewire_init::{Warning, WarningKind};
use tracewire_testing::{FakeCollector, TestCertificate, TestCertificateAuthority};

mod support;

use support::{TestResult, WAIT, check_collector, emit, init, shutdown, vars};

/// A directory of PEM files for one test, removed when dropped.
struct PemFiles(PathBuf);

impl PemFiles {
    fn new() -> std::io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tracewire-init-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn write(&self, name: &str, contents: &str) -> std::io::Result<String> {
        let path = self.0.join(name);
        std::fs::write(&path, contents)?;
        Ok(path.display().to_string())
    }

    /// Writes the client certificate and key; returns their paths.
    fn client(&self, certificate: &TestCertificate) -> std::io::Result<(String, String)> {
        Ok((
            self.write("client.pem", certificate.certificate_pem())?,
            self.write("client.key", certificate.private_key_pem())?,
        ))
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _removed = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Transport {
    const ALL: [Self; 3] = [Self::Grpc, Self::HttpProtobuf, Self::HttpJson];

    /// The `Content-Type` of its export requests.
    fn content_type(self) -> &'static str {
        match self {
            Self::Grpc => "application/grpc",
            Self::HttpProtobuf => "application/x-protobuf",
            Self::HttpJson => "application/json",
        }
    }

    fn protocol(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }

    /// A TLS collector for this transport, with the server certificate of `ca`; mTLS when
    /// `client_ca` is given.
    async fn collector(
        self,
        ca: &TestCertificateAuthority,
        client_ca: Option<&TestCertificateAuthority>,
    ) -> std::io::Result<FakeCollector> {
        let server = ca.server_certificate();
        let builder = match self {
            Self::Grpc => FakeCollector::builder().grpc(),
            Self::HttpProtobuf | Self::HttpJson => FakeCollector::builder().http(),
        }
        .tls(server.certificate_pem(), server.private_key_pem());
        match client_ca {
            Some(client_ca) => builder.client_auth(&client_ca.certificate_pem()),
            None => builder,
        }
        .start()
        .await
    }
}

/// What an export must come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every signal arrives, with no handshake refused.
    Delivered,
    /// The handshake is refused: nothing arrives, and the failure is reported.
    Refused,
}

/// Starts a TLS collector for `transport` (server certificate from `server_ca`, mTLS with
/// `client_ca`), exports to it with the variables `extra`, and checks the `outcome`.
async fn export(
    transport: Transport,
    server_ca: &TestCertificateAuthority,
    client_ca: Option<&TestCertificateAuthority>,
    extra: &[(&str, &str)],
    outcome: Outcome,
) -> TestResult {
    let collector = transport.collector(server_ca, client_ca).await?;
    let endpoint = collector.endpoint();
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    let mut pairs = vec![
        ("OTEL_SERVICE_NAME", "e2e-service"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", transport.protocol()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ];
    pairs.extend_from_slice(extra);
    if outcome == Outcome::Refused {
        // One span is enough to be refused.
        pairs.extend([
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]);
    }
    let guard = init(vars(&pairs))?;
    assert!(guard.warnings().is_empty(), "{:?}", guard.warnings());
    let trace_id = emit(&guard)?;
    let report = shutdown(guard).await?;
    match outcome {
        Outcome::Delivered => {
            assert!(report.is_clean(), "{report}");
            assert_eq!(report.spans.exported, 1, "{report}");
            check_collector(&collector, &trace_id).await?;
            assert_eq!(collector.tls_failures(), 0);
            let headers = collector.last_headers().ok_or("no request")?;
            let content_type = headers.get("content-type").map(|value| value.as_bytes());
            assert_eq!(content_type, Some(transport.content_type().as_bytes()));
            // ALPN agreed on HTTP/2, for OTLP/HTTP too.
            assert_eq!(
                collector.last_http_version(),
                Some(tonic::codegen::http::Version::HTTP_2)
            );
        }
        Outcome::Refused => {
            // Reported as a failed export (the shutdown report counts it), refused by the
            // collector during the handshake, and nothing arrived.
            assert!(!report.is_clean(), "{report}");
            assert_eq!(report.spans.exported, 0, "{report}");
            assert!(report.spans.failed >= 1, "{report}");
            assert!(collector.wait_for_tls_failures(1, WAIT).await >= 1);
            assert_eq!(collector.requests(), 0);
        }
    }
    Ok(())
}

/// [`export`] over every transport, naming the transport in a failure.
async fn export_over_each_transport(
    server_ca: &TestCertificateAuthority,
    client_ca: Option<&TestCertificateAuthority>,
    extra: &[(&str, &str)],
    outcome: Outcome,
) -> TestResult {
    for transport in Transport::ALL {
        export(transport, server_ca, client_ca, extra, outcome)
            .await
            .map_err(|error| format!("{transport:?}, expecting {outcome:?}: {error}"))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_arrives_over_tls_with_a_custom_ca() -> TestResult {
    let ca = TestCertificateAuthority::new("tracewire test CA");
    let files = PemFiles::new()?;
    let ca_file = files.write("ca.pem", &ca.certificate_pem())?;
    let trust = [("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_str())];
    export_over_each_transport(&ca, None, &trust, Outcome::Delivered).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_signed_by_another_ca_is_refused_without_a_panic() -> TestResult {
    let trusted = TestCertificateAuthority::new("the CA the client trusts");
    let other = TestCertificateAuthority::new("the collector's CA");
    let files = PemFiles::new()?;
    let ca_file = files.write("ca.pem", &trusted.certificate_pem())?;
    let trust = [("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_str())];
    export_over_each_transport(&other, None, &trust, Outcome::Refused).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_accepts_the_client_certificate_and_refuses_its_absence() -> TestResult {
    let ca = TestCertificateAuthority::new("server and client CA");
    let files = PemFiles::new()?;
    let ca_file = files.write("ca.pem", &ca.certificate_pem())?;
    let (certificate, key) = files.client(&ca.client_certificate("checkout"))?;
    let with_certificate = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_str()),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            certificate.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str()),
    ];
    export_over_each_transport(&ca, Some(&ca), &with_certificate, Outcome::Delivered).await?;
    export_over_each_transport(&ca, Some(&ca), &with_certificate[..1], Outcome::Refused).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused() -> TestResult {
    let ca = TestCertificateAuthority::new("server CA");
    let stranger = TestCertificateAuthority::new("some other CA");
    let files = PemFiles::new()?;
    let ca_file = files.write("ca.pem", &ca.certificate_pem())?;
    let (certificate, key) = files.client(&stranger.client_certificate("intruder"))?;
    let settings = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_str()),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            certificate.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str()),
    ];
    export(
        Transport::HttpProtobuf,
        &ca,
        Some(&ca),
        &settings,
        Outcome::Refused,
    )
    .await
}

/// The warnings about the file `value` of `variable`.
fn warnings_about<'a>(warnings: &'a [Warning], variable: &str, value: &str) -> Vec<&'a Warning> {
    warnings
        .iter()
        .filter(|w| w.variable == variable && w.value == value)
        .collect()
}

fn init_warnings(extra: &[(&str, &str)]) -> Result<Vec<Warning>, Box<dyn std::error::Error>> {
    let mut pairs = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:9"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ];
    pairs.extend_from_slice(extra);
    let guard = init(vars(&pairs))?;
    let warnings = guard.warnings().to_vec();
    // Nothing was emitted: shutting down has nothing to send to the unreachable endpoint.
    drop(guard);
    Ok(warnings)
}

#[test]
fn unusable_certificate_files_warn_and_never_panic() -> TestResult {
    let ca = TestCertificateAuthority::new("warnings CA");
    let client = ca.client_certificate("client");
    let other = ca.client_certificate("other");
    let files = PemFiles::new()?;
    let missing = files.0.join("missing.pem").display().to_string();
    let not_pem = files.write("not.pem", "this is not PEM")?;
    let (certificate, _) = files.client(&client)?;
    let other_key = files.write("other.key", other.private_key_pem())?;

    for protocol in ["grpc", "http/protobuf", "http/json"] {
        let warnings = init_warnings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &missing),
        ])?;
        let found = warnings_about(&warnings, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &missing);
        assert_eq!(found.len(), 1, "{protocol}: {warnings:?}");
        assert_eq!(found[0].kind, WarningKind::Unreadable);
        assert_eq!(found[0].fallback, "the platform's root certificates");

        let warnings = init_warnings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &not_pem),
        ])?;
        let found = warnings_about(&warnings, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &not_pem);
        assert_eq!(found.len(), 1, "{protocol}: {warnings:?}");
        assert_eq!(found[0].kind, WarningKind::Malformed);

        // A key that belongs to another certificate.
        let warnings = init_warnings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &certificate),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &other_key),
        ])?;
        let found = warnings_about(
            &warnings,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            &other_key,
        );
        assert_eq!(found.len(), 1, "{protocol}: {warnings:?}");
        assert_eq!(found[0].kind, WarningKind::Malformed);
        assert_eq!(found[0].fallback, "no client certificate");

        // A certificate file given as the key.
        let warnings = init_warnings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &certificate),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &certificate),
        ])?;
        let found = warnings_about(
            &warnings,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            &certificate,
        );
        assert_eq!(found.len(), 1, "{protocol}: {warnings:?}");
        assert!(found[0].reason.contains("private key"), "{}", found[0]);
    }
    Ok(())
}

#[test]
fn valid_certificate_files_give_no_warning() -> TestResult {
    let ca = TestCertificateAuthority::new("quiet CA");
    let files = PemFiles::new()?;
    let ca_file = files.write("ca.pem", &ca.certificate_pem())?;
    let (certificate, key) = files.client(&ca.client_certificate("client"))?;
    for protocol in ["grpc", "http/protobuf", "http/json"] {
        let warnings = init_warnings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca_file),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &certificate),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
        ])?;
        assert!(warnings.is_empty(), "{protocol}: {warnings:?}");
    }
    Ok(())
}
