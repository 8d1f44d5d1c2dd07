//! OTLP exporters from an [`OtlpConfig`]: one configuration helper per transport, shared by the
//! three signals.
//!
//! The OTLP/HTTP client is built here (hyper, with rustls when the `tls` feature is on) and
//! handed to opentelemetry-otlp, which is compiled without any HTTP client feature of its own:
//! whichever client features an application enables on opentelemetry-otlp, ours never meets
//! them (see docs/design.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{
    ExporterBuildError, LogExporter, MetricExporter, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::Temporality;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use crate::config::{Compression, OtlpConfig, Protocol, Signal};
use crate::warning::Warning;

#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// How the exporters of one signal reach the collector, resolved once with its warnings.
pub(crate) enum Transport {
    /// OTLP/gRPC, with tonic's TLS settings for an `https` endpoint.
    Grpc {
        #[cfg(feature = "tls")]
        tls: Option<tonic::transport::ClientTlsConfig>,
    },
    /// OTLP/HTTP through this connector (plain TCP, or TLS for `https`).
    Http(Connector, Arc<FailureCause>),
}

/// Why the last OTLP/HTTP request failed to get a response. opentelemetry-otlp reports every
/// such failure as "network error"; the cause (connection refused, untrusted certificate, client
/// certificate refused) is what an operator needs, so the client keeps it for the failure notice.
#[derive(Debug, Default)]
pub(crate) struct FailureCause(Mutex<Option<String>>);

impl FailureCause {
    fn set(&self, cause: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(cause);
    }

    /// The cause of the last failure, if it was not taken yet.
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// opentelemetry-http's hyper client, recording the cause of each failed request.
#[derive(Debug)]
struct DiagnosedClient {
    inner: HyperClient<Connector>,
    cause: Arc<FailureCause>,
}

#[async_trait]
impl HttpClient for DiagnosedClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let result = self.inner.send_bytes(request).await;
        if let Err(error) = &result {
            let mut cause = error.to_string();
            let mut source = error.source();
            while let Some(error) = source {
                cause.push_str(": ");
                cause.push_str(&error.to_string());
                source = error.source();
            }
            self.cause.set(cause);
        }
        result
    }
}

impl Transport {
    /// Where the cause of an export failure is kept, for transports whose exporter loses it.
    pub(crate) fn failure_cause(&self) -> Option<Arc<FailureCause>> {
        match self {
            Self::Http(_, cause) => Some(Arc::clone(cause)),
            Self::Grpc { .. } => None,
        }
    }

    /// The transport of `signal`, or `None` (with a warning saying why) when the endpoint cannot
    /// be reached with this build.
    pub(crate) fn resolve(
        signal: Signal,
        config: &OtlpConfig,
        warnings: &mut Vec<Warning>,
    ) -> Option<Self> {
        #[cfg(feature = "tls")]
        {
            tls::transport(signal, config, warnings)
        }
        #[cfg(not(feature = "tls"))]
        {
            without_tls(signal, config, warnings).then(|| {
                if config.protocol.is_http() {
                    Self::Http(HttpConnector::new(), Arc::default())
                } else {
                    Self::Grpc {}
                }
            })
        }
    }
}

/// Builds the OTLP exporter of one signal. Must run inside the export runtime: the gRPC channel
/// starts its worker task when it is created.
pub(crate) trait OtlpExporter: Sized {
    fn build(
        config: &OtlpConfig,
        temporality: Temporality,
        transport: &Transport,
    ) -> Result<Self, ExporterBuildError>;
}

/// One [`OtlpExporter`] impl per signal: `$builder` starts the signal's exporter builder (with the
/// temporality, for metrics), then the transport decides between OTLP/HTTP and gRPC.
macro_rules! otlp_exporter {
    ($exporter:ty, |$temporality:pat_param| $builder:expr) => {
        impl OtlpExporter for $exporter {
            fn build(
                config: &OtlpConfig,
                $temporality: Temporality,
                transport: &Transport,
            ) -> Result<Self, ExporterBuildError> {
                let builder = $builder;
                match transport {
                    Transport::Http(connector, cause) => {
                        http_config(builder.with_http(), config, connector, cause).build()
                    }
                    Transport::Grpc { .. } => {
                        tonic_config(builder.with_tonic(), config, transport).build()
                    }
                }
            }
        }
    };
}

otlp_exporter!(SpanExporter, |_| SpanExporter::builder());
otlp_exporter!(MetricExporter, |temporality| {
    MetricExporter::builder().with_temporality(temporality)
});
otlp_exporter!(LogExporter, |_| LogExporter::builder());

fn tonic_config<B: WithExportConfig + WithTonicConfig>(
    builder: B,
    config: &OtlpConfig,
    transport: &Transport,
) -> B {
    let mut metadata = MetadataMap::new();
    for (name, value) in &config.headers {
        // Validated when the configuration was resolved; a failure here only skips the header.
        if let (Ok(name), Ok(value)) = (
            MetadataKey::from_bytes(name.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            metadata.insert(name, value);
        }
    }
    let builder = builder
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_metadata(metadata);
    let builder = match config.compression {
        Some(Compression::Gzip) => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
        None => builder,
    };
    match transport {
        #[cfg(feature = "tls")]
        Transport::Grpc { tls: Some(tls) } => builder.with_tls_config(tls.clone()),
        _ => builder,
    }
}

fn http_config<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    config: &OtlpConfig,
    connector: &Connector,
    cause: &Arc<FailureCause>,
) -> B {
    let protocol = match config.protocol {
        Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
        _ => opentelemetry_otlp::Protocol::HttpBinary,
    };
    let builder = builder
        .with_protocol(protocol)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(config.headers.iter().cloned().collect::<HashMap<_, _>>())
        .with_http_client(DiagnosedClient {
            inner: HyperClient::new(connector.clone(), config.timeout, None),
            cause: Arc::clone(cause),
        });
    match config.compression {
        Some(Compression::Gzip) => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
        None => builder,
    }
}

fn is_https(config: &OtlpConfig) -> bool {
    config
        .endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The name of the signal's variable with `suffix`, as warnings report it.
fn variable(signal: Signal, suffix: &str) -> String {
    format!(
        "OTEL_EXPORTER_OTLP_{}_{suffix}",
        signal.name().to_uppercase()
    )
}

/// Without the `tls` feature: certificates are ignored with a warning, and an `https` endpoint
/// gets no exporter (it could only fail). Returns whether the exporter can be built.
#[cfg(not(feature = "tls"))]
fn without_tls(signal: Signal, config: &OtlpConfig, warnings: &mut Vec<Warning>) -> bool {
    use crate::warning::WarningKind;

    let files: Vec<String> = [
        &config.certificate,
        &config.client_certificate,
        &config.client_key,
    ]
    .into_iter()
    .flatten()
    .map(|path| path.display().to_string())
    .collect();
    if !files.is_empty() {
        warnings.push(Warning::new(
            &variable(signal, "CERTIFICATE"),
            &files.join(","),
            WarningKind::Unsupported,
            "certificates need the `tls` feature of tracewire-init (a default feature)",
            "no certificates",
        ));
    }
    if is_https(config) {
        warnings.push(Warning::new(
            &variable(signal, "ENDPOINT"),
            &config.endpoint,
            WarningKind::Unsupported,
            "https endpoints need the `tls` feature of tracewire-init (a default feature)",
            format!("no OTLP {signal} exporter"),
        ));
        return false;
    }
    true
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use std::time::Duration;

    use tracewire_testing::{FakeCollector, TestCertificateAuthority};

    use super::*;

    fn http_config(endpoint: String) -> OtlpConfig {
        OtlpConfig {
            protocol: Protocol::HttpProtobuf,
            endpoint,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            compression: None,
            certificate: None,
            client_certificate: None,
            client_key: None,
        }
    }

    /// The client of an OTLP/HTTP transport and the place it keeps failure causes.
    fn client(config: &OtlpConfig) -> Result<DiagnosedClient, &'static str> {
        let mut warnings = Vec::new();
        match Transport::resolve(Signal::Traces, config, &mut warnings) {
            Some(Transport::Http(connector, cause)) => Ok(DiagnosedClient {
                inner: HyperClient::new(connector, config.timeout, None),
                cause,
            }),
            _ => Err("no HTTP transport"),
        }
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_named_as_the_cause()
    -> Result<(), Box<dyn std::error::Error>> {
        let ca = TestCertificateAuthority::new("a CA nobody trusts");
        let server = ca.server_certificate();
        let collector = FakeCollector::builder()
            .http()
            .tls(server.certificate_pem(), server.private_key_pem())
            .start()
            .await?;
        // No CERTIFICATE variable: the platform's roots, which do not include the test CA.
        let client = client(&http_config(collector.traces_endpoint()))?;
        let request = Request::post(collector.traces_endpoint()).body(Bytes::new())?;
        assert!(client.send_bytes(request).await.is_err());
        let cause = client.cause.take().ok_or("no cause recorded")?;
        assert!(cause.contains("invalid peer certificate"), "{cause}");
        assert_eq!(client.cause.take(), None, "a cause is reported once");
        Ok(())
    }

    #[tokio::test]
    async fn a_successful_request_records_no_cause() -> Result<(), Box<dyn std::error::Error>> {
        let collector = FakeCollector::start_http().await?;
        let client = client(&http_config(collector.traces_endpoint()))?;
        let request = Request::post(collector.traces_endpoint())
            .header("content-type", "application/x-protobuf")
            .body(Bytes::new())?;
        let response = client
            .send_bytes(request)
            .await
            .map_err(|error| error.to_string())?;
        assert_eq!(response.status(), 200);
        assert_eq!(client.cause.take(), None);
        Ok(())
    }
}
