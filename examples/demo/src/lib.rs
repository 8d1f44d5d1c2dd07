//! The tracewire demo: one order traced across HTTP, gRPC, SQL and Kafka, in one process.
//!
//! [`run`] starts four services, each with its own telemetry pipeline (its own `service.name`)
//! built by `tracewire-init` from the `OTEL_*` variables:
//!
//! - `gateway` (axum + `tracewire-axum`): `POST /orders` reserves stock through `inventory`
//!   (tonic client + `tracewire-tonic`), charges the order through `payments` (reqwest +
//!   `tracewire-reqwest`) and publishes it to Kafka (`tracewire-kafka`, librdkafka's mock
//!   cluster in process);
//! - `inventory` (tonic server): reserves the stock in a database transaction (`tracewire-sqlx`);
//! - `payments` (axum): slow for large amounts, unavailable (503) above a limit;
//! - `fulfillment` (Kafka consumer): records a shipment for each order event.
//!
//! It then places three orders (a fast one, a slow one and a failing one), waits for the
//! consumer, and returns a [`Report`] with every span and metric, captured in memory (and also
//! exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tracewire_demo::Error> {
//! let report = tracewire_demo::run(tracewire_demo::Options::default()).await?;
//! println!("{}", report.render_traces());
//! # Ok(()) }
//! ```

mod database;
mod fulfillment;
mod gateway;
mod inventory;
mod payments;
mod report;
mod telemetry;

/// The generated gRPC code of `proto/inventory.proto` (see the README to regenerate it).
#[allow(missing_docs, unreachable_pub, clippy::all, rustdoc::all)]
mod proto {
    include!("generated/demo.inventory.v1.rs");
}

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracewire_init::EnvSource;

pub use database::DatabaseChoice;
pub use gateway::{Order, TRACE_ID_HEADER};
pub use report::{OrderOutcome, Report};
pub use telemetry::ServiceReport;

use crate::database::Database;
use crate::telemetry::ServiceTelemetry;

/// Any error of the demo.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The `service.name` of the HTTP entry point.
pub const GATEWAY: &str = "gateway";
/// The `service.name` of the gRPC stock service.
pub const INVENTORY: &str = "inventory";
/// The `service.name` of the HTTP payment service.
pub const PAYMENTS: &str = "payments";
/// The `service.name` of the Kafka consumer.
pub const FULFILLMENT: &str = "fulfillment";

/// The Kafka topic of order events.
pub const ORDERS_TOPIC: &str = "orders";

/// How long the demo waits for the consumer before giving up.
const CONSUMER_WAIT: Duration = Duration::from_secs(15);

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct Options {
    /// The database of `inventory` and `fulfillment`.
    pub database: DatabaseChoice,
    /// Where the `OTEL_*` variables are read from (the process environment by default).
    pub env: EnvSource,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database: DatabaseChoice::default(),
            env: EnvSource::process(),
        }
    }
}

/// The orders the demo places, with what each shows.
pub fn orders() -> [(&'static str, Order); 3] {
    let order = |sku: &str, quantity| Order {
        sku: sku.to_owned(),
        quantity,
    };
    [
        ("fast", order("keyboard", 1)),
        ("slow: payments reviews large amounts", order("monitor", 2)),
        (
            "failing: payments is unavailable for this amount",
            order("laptop", 1),
        ),
    ]
}

/// Tells every server and the consumer to stop.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    fn new() -> (watch::Sender<bool>, Self) {
        let (stop, stopped) = watch::channel(false);
        (stop, Self(stopped))
    }

    /// Resolves once a stop was requested (or the sender is gone).
    pub(crate) async fn requested(mut self) {
        let _sender_gone = self.0.wait_for(|stop| *stop).await;
    }
}

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Runs the whole scenario and returns what every service recorded.
pub async fn run(options: Options) -> Result<Report, Error> {
    let [gateway, inventory, payments, fulfillment] = [GATEWAY, INVENTORY, PAYMENTS, FULFILLMENT]
        .map(|name| ServiceTelemetry::start(name, &options.env));
    let (gateway, inventory, payments, fulfillment) =
        (gateway?, inventory?, payments?, fulfillment?);

    let kafka = MockCluster::new(1)?;
    kafka.create_topic(ORDERS_TOPIC, 1, 1)?;
    let bootstrap = kafka.bootstrap_servers();

    let inventory_db = Database::connect(
        &options.database,
        inventory.tracer_provider(),
        inventory.meter_provider(),
    )
    .await?;
    inventory_db.set_up_inventory().await?;
    let fulfillment_db = Database::connect(
        &options.database,
        fulfillment.tracer_provider(),
        fulfillment.meter_provider(),
    )
    .await?;
    fulfillment_db.set_up_fulfillment().await?;

    let (stop, shutdown) = Shutdown::new();
    let inventory_listener = TcpListener::bind(LOOPBACK).await?;
    let payments_listener = TcpListener::bind(LOOPBACK).await?;
    let gateway_listener = TcpListener::bind(LOOPBACK).await?;
    let gateway_address = gateway_listener.local_addr()?;
    let downstream = gateway::Downstream {
        inventory_url: format!("http://{}", inventory_listener.local_addr()?),
        payments_url: format!("http://{}", payments_listener.local_addr()?),
        kafka_bootstrap: bootstrap.clone(),
    };
    let servers = [
        tokio::spawn(inventory::serve(
            inventory_listener,
            &inventory,
            inventory_db,
            shutdown.clone(),
        )),
        tokio::spawn(payments::serve(
            payments_listener,
            &payments,
            shutdown.clone(),
        )),
        tokio::spawn(gateway::serve(
            gateway_listener,
            &gateway,
            downstream,
            shutdown.clone(),
        )?),
    ];
    let (processed, mut processed_orders) = mpsc::unbounded_channel();
    let consumer = tokio::spawn(fulfillment::consume(
        fulfillment::consumer(&fulfillment, &bootstrap)?,
        fulfillment_db,
        processed,
        shutdown,
    ));

    let outcomes = place_orders(gateway_address).await?;
    let placed = outcomes
        .iter()
        .filter(|outcome| outcome.status == 201)
        .count();
    for _ in 0..placed {
        tokio::time::timeout(CONSUMER_WAIT, processed_orders.recv())
            .await?
            .ok_or("the consumer stopped")?;
    }

    let _receivers_gone = stop.send(true);
    for server in servers {
        server.await??;
    }
    consumer.await?;
    // Clients first: the producer and the consumer are gone with their tasks.
    drop(kafka);

    let services = finish([gateway, inventory, payments, fulfillment]).await?;
    Ok(Report {
        orders: outcomes,
        services,
    })
}

/// Places every order of [`orders`] with the gateway, as a customer would.
async fn place_orders(gateway: SocketAddr) -> Result<Vec<OrderOutcome>, Error> {
    // The customer is outside the system: a plain client, so the gateway starts each trace.
    let customer = reqwest::Client::new();
    let mut outcomes = Vec::new();
    for (label, order) in orders() {
        let response = customer
            .post(format!("http://{gateway}/orders"))
            .json(&order)
            .send()
            .await?;
        let trace_id = response
            .headers()
            .get(TRACE_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        outcomes.push(OrderOutcome {
            label,
            order,
            status: response.status().as_u16(),
            trace_id,
        });
    }
    Ok(outcomes)
}

/// Shuts every pipeline down and collects what each recorded. Each shutdown waits for its
/// exports (with a collector), so they run side by side, off the async workers.
async fn finish(services: [ServiceTelemetry; 4]) -> Result<Vec<ServiceReport>, Error> {
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let finishing = services.map(|service| scope.spawn(move || service.finish()));
            finishing
                .into_iter()
                .map(|finished| {
                    finished
                        .join()
                        .map_err(|_| Error::from("a shutdown panicked"))?
                })
                .collect()
        })
    })
    .await?
}
