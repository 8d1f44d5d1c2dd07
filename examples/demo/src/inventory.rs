//! The `inventory` service: a tonic server whose one method reserves stock in the database.

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tracewire_core::instrument::SpanBackend;
use tracewire_tonic::ServerLayer;

use crate::database::{Database, Reservation};
use crate::proto::inventory_server::{Inventory, InventoryServer};
use crate::proto::{ReserveReply, ReserveRequest};
use crate::telemetry::ServiceTelemetry;
use crate::{Error, Shutdown};

struct InventoryService {
    database: Database,
}

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let ReserveRequest { sku, quantity } = request.into_inner();
        // The handler runs inside the SERVER span: the database spans are its children.
        match self.database.reserve(&sku, i64::from(quantity)).await {
            Ok(Reservation::Reserved {
                unit_price_cents,
                remaining,
            }) => Ok(Response::new(ReserveReply {
                unit_price_cents,
                remaining,
            })),
            Ok(Reservation::UnknownItem) => Err(Status::not_found(format!("no item {sku}"))),
            Ok(Reservation::OutOfStock) => Err(Status::failed_precondition(format!(
                "not enough {sku} in stock"
            ))),
            Err(error) => Err(Status::internal(error.to_string())),
        }
    }
}

/// The inventory server on `listener`, running until `shutdown`.
pub(crate) fn serve(
    listener: TcpListener,
    telemetry: &ServiceTelemetry,
    database: Database,
    shutdown: Shutdown,
) -> impl Future<Output = Result<(), Error>> + Send + 'static {
    let layer = ServerLayer::builder()
        .tracer_provider(telemetry.tracer_provider())
        .meter_provider(telemetry.meter_provider())
        .propagator(telemetry.propagator())
        .span_backend(SpanBackend::OpenTelemetry)
        .build();
    let server = Server::builder()
        .layer(layer)
        .add_service(InventoryServer::new(InventoryService { database }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.requested());
    async move {
        server.await?;
        Ok(())
    }
}
