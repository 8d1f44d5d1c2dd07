//! OTLP exporters from an [`OtlpConfig`]: one configuration helper per transport, shared by the
//! three signals.
//!
//! The OTLP/HTTP client is built here (hyper, with rustls when the `tls` feature is on) and
//! handed to opentelemetry-otlp, which is compiled without any HTTP client feature of its own:
//! whichever client features an application enables on opentelemetry-otlp, ours never meets
//! them (see docs/design.md).

use std::collections::HashMap;

use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
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
    Http(Connector),
}

impl Transport {
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
                    Self::Http(HttpConnector::new())
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

impl OtlpExporter for SpanExporter {
    fn build(
        config: &OtlpConfig,
        _: Temporality,
        transport: &Transport,
    ) -> Result<Self, ExporterBuildError> {
        match transport {
            Transport::Http(connector) => {
                http_config(SpanExporter::builder().with_http(), config, connector).build()
            }
            Transport::Grpc { .. } => {
                tonic_config(SpanExporter::builder().with_tonic(), config, transport).build()
            }
        }
    }
}

impl OtlpExporter for MetricExporter {
    fn build(
        config: &OtlpConfig,
        temporality: Temporality,
        transport: &Transport,
    ) -> Result<Self, ExporterBuildError> {
        let builder = MetricExporter::builder().with_temporality(temporality);
        match transport {
            Transport::Http(connector) => {
                http_config(builder.with_http(), config, connector).build()
            }
            Transport::Grpc { .. } => tonic_config(builder.with_tonic(), config, transport).build(),
        }
    }
}

impl OtlpExporter for LogExporter {
    fn build(
        config: &OtlpConfig,
        _: Temporality,
        transport: &Transport,
    ) -> Result<Self, ExporterBuildError> {
        match transport {
            Transport::Http(connector) => {
                http_config(LogExporter::builder().with_http(), config, connector).build()
            }
            Transport::Grpc { .. } => {
                tonic_config(LogExporter::builder().with_tonic(), config, transport).build()
            }
        }
    }
}

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
        .with_http_client(HyperClient::new(connector.clone(), config.timeout, None));
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
