//! The `gateway` service: `POST /orders` reserves stock (gRPC to `inventory`), charges the
//! customer (HTTP to `payments`) and publishes the order to Kafka for `fulfillment`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use rdkafka::producer::FutureRecord;
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;
use tracewire_axum::{ResponsePropagation, TelemetryLayer};
use tracewire_core::instrument::SpanBackend;
use tracewire_kafka::TracedProducer;
use tracewire_reqwest::{TelemetryMiddleware, UrlTemplate};
use tracewire_tonic::{ClientLayer, ClientService};

use crate::payments::Charge;
use crate::proto::ReserveRequest;
use crate::proto::inventory_client::InventoryClient;
use crate::telemetry::ServiceTelemetry;
use crate::{Error, ORDERS_TOPIC, Shutdown};

/// The response header carrying the request's trace id (the driver prints it).
pub const TRACE_ID_HEADER: HeaderName = HeaderName::from_static("x-trace-id");

/// An order, as customers send it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Order {
    /// The item.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// The event published for each placed order.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct OrderPlaced {
    pub(crate) order_id: String,
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Serialize)]
struct Placed {
    order_id: String,
}

/// Where the gateway's downstream services are.
pub(crate) struct Downstream {
    pub(crate) inventory_url: String,
    pub(crate) payments_url: String,
    pub(crate) kafka_bootstrap: String,
}

#[derive(Clone)]
struct Gateway {
    inventory: InventoryClient<ClientService<Channel>>,
    payments: ClientWithMiddleware,
    payments_url: Arc<str>,
    producer: Arc<TracedProducer>,
    next_order: Arc<AtomicU64>,
}

type Failure = (StatusCode, String);

async fn place_order(
    State(gateway): State<Gateway>,
    Json(order): Json<Order>,
) -> Result<(StatusCode, Json<Placed>), Failure> {
    let order_id = format!("ord-{}", gateway.next_order.fetch_add(1, Ordering::Relaxed));

    let reserved = gateway
        .inventory
        .clone()
        .reserve(ReserveRequest {
            sku: order.sku.clone(),
            quantity: order.quantity,
        })
        .await
        .map_err(|status| {
            let code = match status.code() {
                Code::NotFound => StatusCode::NOT_FOUND,
                Code::FailedPrecondition => StatusCode::CONFLICT,
                _ => StatusCode::BAD_GATEWAY,
            };
            (code, status.message().to_owned())
        })?
        .into_inner();

    let charge = Charge {
        amount_cents: reserved.unit_price_cents * i64::from(order.quantity),
    };
    let payment = gateway
        .payments
        .put(format!("{}/payments/{order_id}", gateway.payments_url))
        .with_extension(UrlTemplate::new("/payments/{order_id}"))
        .json(&charge)
        .send()
        .await
        .map_err(|error| (StatusCode::BAD_GATEWAY, error.to_string()))?;
    if !payment.status().is_success() {
        let reason = format!("payment failed with {}", payment.status());
        return Err((StatusCode::BAD_GATEWAY, reason));
    }

    let event = OrderPlaced {
        order_id: order_id.clone(),
        sku: order.sku,
        quantity: order.quantity,
    };
    let payload = serde_json::to_vec(&event)
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    gateway
        .producer
        .send(
            FutureRecord::<str, [u8]>::to(ORDERS_TOPIC)
                .key(&order_id)
                .payload(&payload),
            Duration::from_secs(5),
        )
        .await
        .map_err(|(error, _message)| (StatusCode::BAD_GATEWAY, error.to_string()))?;
    Ok((StatusCode::CREATED, Json(Placed { order_id })))
}

/// The gateway server on `listener`, running until `shutdown`.
pub(crate) fn serve(
    listener: TcpListener,
    telemetry: &ServiceTelemetry,
    downstream: Downstream,
    shutdown: Shutdown,
) -> Result<impl Future<Output = Result<(), Error>> + Send + 'static, Error> {
    let (tracer, meter) = (telemetry.tracer_provider(), telemetry.meter_provider());

    // gRPC client: the layer wraps the channel, under the generated client.
    let grpc = ClientLayer::builder()
        .tracer_provider(tracer)
        .meter_provider(meter)
        .propagator(telemetry.propagator())
        .span_backend(SpanBackend::OpenTelemetry)
        .target(&downstream.inventory_url)
        .build();
    let channel = Channel::from_shared(downstream.inventory_url)?.connect_lazy();
    let inventory = InventoryClient::new(tower::Layer::layer(&grpc, channel));

    // HTTP client: one CLIENT span per request, named after the URL template.
    let http = TelemetryMiddleware::builder()
        .tracer_provider(tracer)
        .meter_provider(meter)
        .propagator(telemetry.propagator())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    let payments = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(http)
        .build();

    // Kafka producer: a PRODUCER span per record, its context in the record's headers.
    let kafka = tracewire_kafka::KafkaInstrumentation::builder()
        .tracer_provider(tracer)
        .meter_provider(meter)
        .propagator(telemetry.propagator())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &downstream.kafka_bootstrap)
        .set("client.id", "gateway")
        .set("message.timeout.ms", "5000");
    let producer = TracedProducer::from_config(&config, &kafka)?;

    let gateway = Gateway {
        inventory,
        payments,
        payments_url: downstream.payments_url.into(),
        producer: Arc::new(producer),
        next_order: Arc::new(AtomicU64::new(1)),
    };
    let app = Router::new()
        .route("/orders", post(place_order))
        .with_state(gateway)
        .layer(
            TelemetryLayer::builder()
                .tracer_provider(tracer)
                .meter_provider(meter)
                .propagator(telemetry.propagator())
                .span_backend(SpanBackend::OpenTelemetry)
                .response_propagation(ResponsePropagation::new().trace_id_header(TRACE_ID_HEADER))
                .build(),
        );
    Ok(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.requested())
            .await?;
        Ok(())
    })
}
