//! Certificates for TLS tests, issued at test time so no private key is ever checked in.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A throwaway certificate authority that issues server and client certificates, for tests of
/// TLS and mTLS against the [`FakeCollector`](crate::FakeCollector).
///
/// Keys are ECDSA P-256, generated in memory each time; nothing touches the disk unless the test
/// writes the PEM strings out (the `OTEL_EXPORTER_OTLP_*CERTIFICATE` variables name files).
///
/// ```
/// use tracewire_testing::TestCertificateAuthority;
///
/// let ca = TestCertificateAuthority::new("test CA");
/// let server = ca.server_certificate();
/// assert!(ca.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(server.private_key_pem().contains("PRIVATE KEY"));
/// ```
pub struct TestCertificateAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM, issued by a [`TestCertificateAuthority`].
#[derive(Clone)]
pub struct TestCertificate {
    certificate_pem: String,
    private_key_pem: String,
}

impl TestCertificateAuthority {
    /// A new self-signed CA whose subject common name is `name`.
    ///
    /// # Panics
    ///
    /// If the key cannot be generated or the certificate signed (a test setup failure).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = generate_key()
            .and_then(|key| CertifiedIssuer::self_signed(params, key))
            .unwrap_or_else(|error| panic!("cannot create the test CA {name:?}: {error}"));
        Self { issuer }
    }

    /// The CA certificate, PEM: what a client trusts (`OTEL_EXPORTER_OTLP_CERTIFICATE`) or a
    /// server accepts client certificates from.
    pub fn certificate_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and `127.0.0.1` (where the fake collector listens).
    ///
    /// # Panics
    ///
    /// If the key cannot be generated or the certificate signed.
    pub fn server_certificate(&self) -> TestCertificate {
        self.issue(
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate (for mTLS) whose subject common name is `name`.
    ///
    /// # Panics
    ///
    /// If the key cannot be generated or the certificate signed.
    pub fn client_certificate(&self, name: &str) -> TestCertificate {
        self.issue(Vec::new(), name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        subject_alt_names: Vec<String>,
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> TestCertificate {
        let issued = CertificateParams::new(subject_alt_names).and_then(|mut params| {
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            params.use_authority_key_identifier_extension = true;
            let key = generate_key()?;
            let certificate = params.signed_by(&key, &self.issuer)?;
            Ok(TestCertificate {
                certificate_pem: certificate.pem(),
                private_key_pem: key.serialize_pem(),
            })
        });
        issued.unwrap_or_else(|error| {
            panic!("cannot issue a certificate for {common_name:?}: {error}")
        })
    }
}

impl TestCertificate {
    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The private key, PEM (PKCS#8).
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }
}

fn generate_key() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
}

impl fmt::Debug for TestCertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCertificateAuthority")
            .finish_non_exhaustive()
    }
}

// The key stays out of debug output, like any key would.
impl fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .finish_non_exhaustive()
    }
}
