//! TLS for both transports with rustls and the ring provider: the certificate files of a signal,
//! read and checked once, then given to tonic (gRPC) or to the hyper connector (OTLP/HTTP).
//!
//! Trust: the CA certificates of `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE` when set (replacing,
//! as other OpenTelemetry SDKs do, the platform's roots), else the platform's root certificates
//! (rustls-native-certs: the OS store, or `SSL_CERT_FILE` / `SSL_CERT_DIR`).

use std::path::Path;
use std::sync::Arc;

use hyper_rustls::HttpsConnectorBuilder;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::{Transport, is_https, variable};
use crate::config::{OtlpConfig, Signal};
use crate::warning::{Warning, WarningKind};

const NO_CLIENT_CERTIFICATE: &str = "no client certificate";

/// The transport of one signal with TLS available; `None` (with a warning) only when no TLS
/// client configuration can be made at all.
pub(super) fn transport(
    signal: Signal,
    config: &OtlpConfig,
    warnings: &mut Vec<Warning>,
) -> Option<Transport> {
    let https = is_https(config);
    let material = Material::read(signal, config, warnings);
    if !config.protocol.is_http() {
        return Some(Transport::Grpc {
            tls: https.then(|| material.grpc()),
        });
    }
    // An http:// endpoint never starts a handshake; its connector needs no roots.
    let roots = match (&material.ca, https) {
        (_, false) => Arc::new(RootCertStore::empty()),
        (Some(ca), true) => Arc::clone(&ca.roots),
        (None, true) => platform_roots(signal, warnings),
    };
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| {
            let builder = builder.with_root_certificates(roots);
            match &material.identity {
                Some(identity) => builder.with_client_cert_resolver(Arc::new(
                    SingleCertAndKey::from(identity.certified.clone()),
                )),
                None => builder.with_no_client_auth(),
            }
        });
    match client {
        Ok(client) => Some(Transport::Http(
            HttpsConnectorBuilder::new()
                .with_tls_config(client)
                .https_or_http()
                .enable_all_versions()
                .build(),
            Arc::default(),
        )),
        Err(error) => {
            warnings.push(Warning::new(
                &variable(signal, "ENDPOINT"),
                &config.endpoint,
                WarningKind::ExporterBuild,
                format!("cannot configure TLS: {error}"),
                format!("no OTLP {signal} exporter"),
            ));
            None
        }
    }
}

/// The ring provider, named explicitly: the process default may be unset, or ambiguous when
/// another crate in the application enables rustls' aws-lc-rs provider too.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate files of one signal, each read once and checked.
struct Material {
    ca: Option<CaCertificates>,
    identity: Option<ClientIdentity>,
}

struct CaCertificates {
    pem: Vec<u8>,
    roots: Arc<RootCertStore>,
}

struct ClientIdentity {
    certificate_pem: Vec<u8>,
    key_pem: Vec<u8>,
    certified: CertifiedKey,
}

impl Material {
    /// Reads the files; each one that cannot be used is reported and left out.
    fn read(signal: Signal, config: &OtlpConfig, warnings: &mut Vec<Warning>) -> Self {
        let ca = config
            .certificate
            .as_deref()
            .and_then(|path| ca_certificates(signal, path, warnings));
        // One without the other was reported when the configuration was resolved.
        let identity = match (
            config.client_certificate.as_deref(),
            config.client_key.as_deref(),
        ) {
            (Some(certificate), Some(key)) => client_identity(signal, certificate, key, warnings),
            _ => None,
        };
        Self { ca, identity }
    }

    /// tonic's TLS settings: the same trust and identity as the HTTP connector's.
    fn grpc(&self) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new();
        let tls = match &self.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(&ca.pem)),
            None => tls.with_native_roots(),
        };
        match &self.identity {
            Some(identity) => tls.identity(Identity::from_pem(
                &identity.certificate_pem,
                &identity.key_pem,
            )),
            None => tls,
        }
    }
}

fn ca_certificates(
    signal: Signal,
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Option<CaCertificates> {
    const FALLBACK: &str = "the platform's root certificates";
    let (pem, certificates) = certificates(signal, "CERTIFICATE", path, FALLBACK, warnings)?;
    let mut roots = RootCertStore::empty();
    let (_added, ignored) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        warnings.push(Warning::new(
            &variable(signal, "CERTIFICATE"),
            &path.display().to_string(),
            WarningKind::Malformed,
            format!("none of its {ignored} certificates can be a trust anchor"),
            FALLBACK,
        ));
        return None;
    }
    Some(CaCertificates {
        pem,
        roots: Arc::new(roots),
    })
}

fn client_identity(
    signal: Signal,
    certificate: &Path,
    key: &Path,
    warnings: &mut Vec<Warning>,
) -> Option<ClientIdentity> {
    let chain = certificates(
        signal,
        "CLIENT_CERTIFICATE",
        certificate,
        NO_CLIENT_CERTIFICATE,
        warnings,
    );
    let key_pem = read(signal, "CLIENT_KEY", key, NO_CLIENT_CERTIFICATE, warnings);
    let ((certificate_pem, chain), key_pem) = chain.zip(key_pem)?;
    let parsed = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| format!("not a PEM private key: {error}"))
        .and_then(|key| {
            CertifiedKey::from_der(chain, key, &provider())
                .map_err(|error| format!("unusable with the client certificate: {error}"))
        });
    match parsed {
        Ok(certified) => Some(ClientIdentity {
            certificate_pem,
            key_pem,
            certified,
        }),
        Err(reason) => {
            warnings.push(Warning::new(
                &variable(signal, "CLIENT_KEY"),
                &key.display().to_string(),
                WarningKind::Malformed,
                reason,
                NO_CLIENT_CERTIFICATE,
            ));
            None
        }
    }
}

/// The file's text and the certificates in it, at least one.
fn certificates(
    signal: Signal,
    suffix: &str,
    path: &Path,
    fallback: &str,
    warnings: &mut Vec<Warning>,
) -> Option<(Vec<u8>, Vec<CertificateDer<'static>>)> {
    let pem = read(signal, suffix, path, fallback, warnings)?;
    let reason = match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
        Ok(certificates) if !certificates.is_empty() => return Some((pem, certificates)),
        Ok(_) => "no PEM certificate in the file".to_owned(),
        Err(error) => format!("not a valid PEM file: {error}"),
    };
    warnings.push(Warning::new(
        &variable(signal, suffix),
        &path.display().to_string(),
        WarningKind::Malformed,
        reason,
        fallback,
    ));
    None
}

fn read(
    signal: Signal,
    suffix: &str,
    path: &Path,
    fallback: &str,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<u8>> {
    std::fs::read(path)
        .map_err(|error| {
            warnings.push(Warning::new(
                &variable(signal, suffix),
                &path.display().to_string(),
                WarningKind::Unreadable,
                format!("cannot read the file: {error}"),
                fallback,
            ));
        })
        .ok()
}

/// The platform's root certificates; an empty store (a minimal container image) is reported,
/// since every https export would then fail.
fn platform_roots(signal: Signal, warnings: &mut Vec<Warning>) -> Arc<RootCertStore> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        warnings.push(Warning::new(
            &variable(signal, "CERTIFICATE"),
            "",
            WarningKind::Unreadable,
            format!(
                "no root certificate found on this platform ({}); install the CA certificates, \
                 or name a CA file with SSL_CERT_FILE or this variable",
                errors.join("; ")
            ),
            "no trusted certificate (https exports fail)",
        ));
    }
    Arc::new(roots)
}
