//! A tonic gRPC service (`greeter.v1.Greeter`: unary `SayHello`, server-streaming `SayHellos`)
//! with the `tracewire-tonic` server and client layers. See the README.
//!
//! ```text
//! cargo run -p example-tonic-greeter                  # serves on 127.0.0.1:50051 (LISTEN_ADDR, --listen)
//! cargo run -p example-tonic-greeter -- --smoke       # serves, calls itself through the client layer, exits
//! ```

use std::net::SocketAddr;
use std::pin::Pin;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tracewire_init::{ExporterKind, InitError, Signal, TelemetryGuard};
use tracewire_tonic::{ClientLayer, ServerLayer};
use tracing::Instrument as _;

/// The generated code of `proto/greeter.proto` (see the README to regenerate it).
#[allow(missing_docs, unreachable_pub, clippy::all, rustdoc::all)]
mod proto {
    include!("generated/greeter.v1.rs");
}

use proto::greeter_client::GreeterClient;
use proto::greeter_server::{Greeter, GreeterServer};
use proto::{HelloReply, HelloRequest};

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
/// The most greetings one `SayHellos` call streams.
const MAX_GREETINGS: u32 = 100;

#[derive(Debug, Default)]
struct MyGreeter;

#[tonic::async_trait]
impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        // Runs inside the SERVER span: this log line carries its trace id.
        tracing::info!(%name, "greeting");
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }

    type SayHellosStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

    async fn say_hellos(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHellosStream>, Status> {
        let HelloRequest { name, count } = request.into_inner();
        if count > MAX_GREETINGS {
            // INVALID_ARGUMENT: an error on the client span, not on the server's.
            return Err(Status::invalid_argument(format!(
                "at most {MAX_GREETINGS} greetings"
            )));
        }
        // The SERVER span lasts until the stream ends (the trailers).
        let replies = tokio_stream::iter(1..=count).map(move |n| {
            Ok(HelloReply {
                message: format!("Hello #{n}, {name}!"),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// Traces, metrics and logs from the `OTEL_*` variables; printed to the console until
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
fn telemetry() -> Result<TelemetryGuard, InitError> {
    tracewire_init::builder()
        .service_name(env!("CARGO_PKG_NAME"))
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Metrics, [ExporterKind::Console])
        .exporters_without_endpoint(Signal::Logs, [])
        .init()
}

struct Args {
    listen: SocketAddr,
    smoke: bool,
}

fn args() -> Result<Args, String> {
    let mut listen =
        std::env::var("LISTEN_ADDR").unwrap_or_else(|_| DEFAULT_LISTEN_ADDR.to_owned());
    let mut smoke = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--smoke" => smoke = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--listen ADDR, --smoke)"
                ));
            }
        }
    }
    let listen = listen
        .parse()
        .map_err(|error| format!("invalid address {listen:?}: {error}"))?;
    Ok(Args { listen, smoke })
}

/// Calls both methods through the client layer, as another service would.
async fn smoke(address: SocketAddr) -> Result<(), Error> {
    let target = format!("http://{address}");
    let channel = tower::ServiceBuilder::new()
        // `target` gives the client spans `server.address` and `server.port`.
        .layer(ClientLayer::builder().target(&target).build())
        .service(Channel::from_shared(target)?.connect().await?);
    let mut client = GreeterClient::new(channel);

    let reply = client
        .say_hello(HelloRequest {
            name: "Ada".to_owned(),
            count: 0,
        })
        .await?;
    tracing::info!(message = reply.get_ref().message, "unary reply");
    let mut stream = client
        .say_hellos(HelloRequest {
            name: "Ada".to_owned(),
            count: 3,
        })
        .await?
        .into_inner();
    while let Some(reply) = stream.message().await? {
        tracing::info!(message = reply.message, "streamed reply");
    }
    let refused = client
        .say_hellos(HelloRequest {
            name: "Ada".to_owned(),
            count: MAX_GREETINGS + 1,
        })
        .await;
    if refused.is_ok() {
        return Err("an oversized request was accepted".into());
    }
    Ok(())
}

/// Ctrl-C, or `stop` (the smoke run).
async fn shutdown_signal(stop: oneshot::Receiver<()>) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Ok(()) = stop => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    // Keep the guard until the end of `main`: its shutdown flushes what is still queued.
    let telemetry = telemetry()?;

    let listener = TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(
        Server::builder()
            // Every service behind the router gets SERVER spans and `rpc.server.call.duration`.
            .layer(ServerLayer::new())
            .add_service(GreeterServer::new(MyGreeter))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown_signal(stopped),
            ),
    );
    if args.smoke {
        let outcome = smoke(address)
            .instrument(tracing::info_span!("greet"))
            .await;
        let _server_gone = stop.send(());
        outcome?;
    }
    // Otherwise `stop` stays alive and unused: the server runs until Ctrl-C.
    server.await??;

    tracing::info!("server stopped; flushing telemetry");
    let report = telemetry.shutdown();
    if !report.is_clean() {
        eprintln!("telemetry: {report}");
    }
    Ok(())
}
