//! The `payments` service: an axum server that charges orders, slowly for large amounts and
//! not at all above a limit (its simulated high-value processor is down).

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tracewire_axum::TelemetryLayer;
use tracewire_axum::extract::RequestSpan;
use tracewire_core::instrument::SpanBackend;

use crate::telemetry::ServiceTelemetry;
use crate::{Error, Shutdown};

/// Charges from this amount (in cents) go through a manual fraud review.
const REVIEW_FROM_CENTS: i64 = 50_000;
/// How long a review takes: the demo's slow request.
const REVIEW_TIME: Duration = Duration::from_millis(250);
/// Charges from this amount fail: the demo's failing request.
const UNAVAILABLE_FROM_CENTS: i64 = 100_000;

/// The body of `PUT /payments/{order_id}`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct Charge {
    pub(crate) amount_cents: i64,
}

#[derive(Debug, Serialize)]
struct Receipt {
    payment_id: String,
}

async fn charge(
    span: RequestSpan,
    Path(order_id): Path<String>,
    Json(charge): Json<Charge>,
) -> Result<Json<Receipt>, (StatusCode, &'static str)> {
    if charge.amount_cents >= UNAVAILABLE_FROM_CENTS {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "high-value card processor unavailable",
        ));
    }
    if charge.amount_cents >= REVIEW_FROM_CENTS {
        span.add_event("fraud review", Vec::new());
        tokio::time::sleep(REVIEW_TIME).await;
    }
    Ok(Json(Receipt {
        payment_id: format!("pay-{order_id}"),
    }))
}

/// The payments server on `listener`, running until `shutdown`.
pub(crate) fn serve(
    listener: TcpListener,
    telemetry: &ServiceTelemetry,
    shutdown: Shutdown,
) -> impl Future<Output = Result<(), Error>> + Send + 'static {
    let app = Router::new()
        .route("/payments/{order_id}", put(charge))
        .layer(
            TelemetryLayer::builder()
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider())
                .propagator(telemetry.propagator())
                .span_backend(SpanBackend::OpenTelemetry)
                .build(),
        );
    async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.requested())
            .await?;
        Ok(())
    }
}
