//! OTLP exporters from an [`OtlpConfig`]: one configuration helper per transport, shared by the
//! three signals.

use std::collections::HashMap;

use opentelemetry_otlp::{
    ExporterBuildError, LogExporter, MetricExporter, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::Temporality;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use crate::config::{Compression, OtlpConfig, Protocol, Signal};
use crate::warning::{Warning, WarningKind};

/// Builds the OTLP exporter of one signal. Must run inside the export runtime: the gRPC channel
/// starts its worker task when it is created.
pub(crate) trait OtlpExporter: Sized {
    fn build(config: &OtlpConfig, temporality: Temporality) -> Result<Self, ExporterBuildError>;
}

impl OtlpExporter for SpanExporter {
    fn build(config: &OtlpConfig, _: Temporality) -> Result<Self, ExporterBuildError> {
        match config.protocol {
            Protocol::Grpc => tonic_config(SpanExporter::builder().with_tonic(), config).build(),
            Protocol::HttpProtobuf => {
                http_config(SpanExporter::builder().with_http(), config).build()
            }
        }
    }
}

impl OtlpExporter for MetricExporter {
    fn build(config: &OtlpConfig, temporality: Temporality) -> Result<Self, ExporterBuildError> {
        let builder = MetricExporter::builder().with_temporality(temporality);
        match config.protocol {
            Protocol::Grpc => tonic_config(builder.with_tonic(), config).build(),
            Protocol::HttpProtobuf => http_config(builder.with_http(), config).build(),
        }
    }
}

impl OtlpExporter for LogExporter {
    fn build(config: &OtlpConfig, _: Temporality) -> Result<Self, ExporterBuildError> {
        match config.protocol {
            Protocol::Grpc => tonic_config(LogExporter::builder().with_tonic(), config).build(),
            Protocol::HttpProtobuf => {
                http_config(LogExporter::builder().with_http(), config).build()
            }
        }
    }
}

fn tonic_config<B: WithExportConfig + WithTonicConfig>(builder: B, config: &OtlpConfig) -> B {
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
    #[cfg(feature = "tls")]
    let builder = match tls::client_config(config) {
        Some(tls) => builder.with_tls_config(tls),
        None => builder,
    };
    builder
}

fn http_config<B: WithExportConfig + WithHttpConfig>(builder: B, config: &OtlpConfig) -> B {
    let builder = builder
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(config.headers.iter().cloned().collect::<HashMap<_, _>>());
    match config.compression {
        Some(Compression::Gzip) => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
        None => builder,
    }
}

/// Warnings about TLS settings this build cannot apply, reported once per signal.
pub(crate) fn tls_warnings(signal: Signal, config: &OtlpConfig) -> Vec<Warning> {
    let files: Vec<String> = [
        &config.certificate,
        &config.client_certificate,
        &config.client_key,
    ]
    .into_iter()
    .flatten()
    .map(|path| path.display().to_string())
    .collect();
    let variable = format!(
        "OTEL_EXPORTER_OTLP_{}_CERTIFICATE",
        signal.name().to_uppercase()
    );
    let mut warnings = Vec::new();
    if config.protocol == Protocol::HttpProtobuf
        && (!files.is_empty() || config.endpoint.starts_with("https://"))
    {
        warnings.push(Warning::new(
            &variable,
            &files.join(","),
            WarningKind::Unsupported,
            "TLS is only supported for OTLP/gRPC (the HTTP client is plain HTTP)",
            "no TLS for this signal",
        ));
    } else if !files.is_empty() && !cfg!(feature = "tls") {
        warnings.push(Warning::new(
            &variable,
            &files.join(","),
            WarningKind::Unsupported,
            "certificates need the `tls` feature of tracewire-init",
            "no certificates",
        ));
    }
    #[cfg(feature = "tls")]
    if config.protocol == Protocol::Grpc {
        warnings.extend(tls::unreadable(signal, config));
    }
    warnings
}

#[cfg(feature = "tls")]
mod tls {
    use std::path::Path;

    use tonic::transport::{Certificate, ClientTlsConfig, Identity};

    use crate::config::{OtlpConfig, Signal};
    use crate::warning::{Warning, WarningKind};

    fn read(path: Option<&Path>) -> Option<Vec<u8>> {
        std::fs::read(path?).ok()
    }

    /// The TLS configuration from the certificate files; `None` when none is given.
    pub(super) fn client_config(config: &OtlpConfig) -> Option<ClientTlsConfig> {
        let ca = read(config.certificate.as_deref());
        let cert = read(config.client_certificate.as_deref());
        let key = read(config.client_key.as_deref());
        if ca.is_none() && cert.is_none() {
            return None;
        }
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = ca {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let (Some(cert), Some(key)) = (cert, key) {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Some(tls)
    }

    pub(super) fn unreadable(signal: Signal, config: &OtlpConfig) -> Vec<Warning> {
        [
            ("CERTIFICATE", &config.certificate),
            ("CLIENT_CERTIFICATE", &config.client_certificate),
            ("CLIENT_KEY", &config.client_key),
        ]
        .into_iter()
        .filter_map(|(suffix, path)| {
            let path = path.as_deref()?;
            let error = std::fs::metadata(path).err()?;
            Some(Warning::new(
                &format!(
                    "OTEL_EXPORTER_OTLP_{}_{suffix}",
                    signal.name().to_uppercase()
                ),
                &path.display().to_string(),
                WarningKind::Unreadable,
                format!("cannot read the file: {error}"),
                "no such file in the TLS configuration",
            ))
        })
        .collect()
    }
}
