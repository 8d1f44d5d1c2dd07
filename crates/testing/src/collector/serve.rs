//! One server for both transports: TCP, then TLS when configured, then hyper (HTTP/1.1 and
//! HTTP/2, told apart by the connection preface), then the gRPC routes or the OTLP/HTTP handler.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tonic::body::Body;
use tonic::service::Routes;
use tower::ServiceExt;

use super::{Store, otlp_http};

/// What answers the requests of a connection.
#[derive(Clone)]
pub(super) enum Handler {
    Grpc(Routes),
    Http,
}

impl Handler {
    async fn handle(
        self,
        request: http::Request<Incoming>,
        store: Arc<Store>,
    ) -> Result<http::Response<Body>, Infallible> {
        store.request(request.version());
        match self {
            Self::Grpc(routes) => routes.oneshot(request).await,
            Self::Http => Ok(otlp_http::handle(request, &store).await.map(Body::new)),
        }
    }
}

/// Accepts connections until the task is aborted; the connection tasks live in a `JoinSet` so
/// that aborting this task also ends them.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Handler,
    store: Arc<Store>,
) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                connections.spawn(connection(
                    stream,
                    tls.clone(),
                    handler.clone(),
                    Arc::clone(&store),
                ));
            }
            // Accept errors are transient (e.g. out of file descriptors); back off briefly
            // instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    handler: Handler,
    store: Arc<Store>,
) {
    let service_store = Arc::clone(&store);
    let service =
        service_fn(move |request| handler.clone().handle(request, Arc::clone(&service_store)));
    let server = auto::Builder::new(TokioExecutor::new());
    // A connection that fails mid-request only loses that request; the client sees the error.
    let _served = match tls {
        None => server.serve_connection(TokioIo::new(stream), service).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => server.serve_connection(TokioIo::new(stream), service).await,
            Err(_) => {
                store.tls_failure();
                return;
            }
        },
    };
}

/// The TLS acceptor for a server certificate chain and key, requiring client certificates
/// signed by `client_ca` when given (mTLS). `alpn` lists the protocols offered, most preferred
/// first.
pub(super) fn acceptor(
    certificate_chain_pem: &str,
    private_key_pem: &str,
    client_ca_pem: Option<&str>,
    alpn: &[&[u8]],
) -> io::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(certificate_chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()).map_err(invalid)?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(ca)? {
                roots.add(certificate).map_err(invalid)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(invalid)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(invalid)?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(pem: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if certificates.is_empty() {
        return Err(invalid("no certificate in the PEM text"));
    }
    Ok(certificates)
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}
