//! The services' database: SQLite in memory by default, PostgreSQL with `--postgres URL`.
//!
//! Each service connects its own pool, wrapped with `tracewire_sqlx::Pool` and that service's
//! providers, so its queries are CLIENT spans of that service. The SQL is the same for both
//! databases (`$n` placeholders work in SQLite too).

use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use sqlx::{Postgres, Sqlite};
use tracewire_core::instrument::SpanBackend;
use tracewire_sqlx::{Annotation, Pool};

use crate::Error;

/// Where the services keep their data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// A private in-memory SQLite database per service (the default: nothing to install).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by the services (tables `demo_items`, `demo_shipments`).
    Postgres(String),
}

/// One service's instrumented pool.
#[derive(Clone, Debug)]
pub(crate) enum Database {
    Sqlite(Pool<Sqlite>),
    Postgres(Pool<Postgres>),
}

/// Runs the same code on whichever pool the database holds.
macro_rules! with_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// What a reservation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reservation {
    Reserved {
        unit_price_cents: i64,
        remaining: i64,
    },
    UnknownItem,
    OutOfStock,
}

/// The items the inventory starts with: SKU, price in cents, stock.
const ITEMS: [(&str, i64, i64); 3] = [
    ("keyboard", 4_900, 100),
    ("monitor", 34_900, 20),
    ("laptop", 189_900, 5),
];

impl Database {
    /// Connects a pool for one service and instruments it with that service's providers.
    pub(crate) async fn connect(
        choice: &DatabaseChoice,
        tracer_provider: &SdkTracerProvider,
        meter_provider: &SdkMeterProvider,
    ) -> Result<Self, Error> {
        Ok(match choice {
            DatabaseChoice::Sqlite => {
                let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
                Self::Sqlite(
                    Pool::builder(pool)
                        .tracer_provider(tracer_provider)
                        .meter_provider(meter_provider)
                        .span_backend(SpanBackend::OpenTelemetry)
                        .build(),
                )
            }
            DatabaseChoice::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await?;
                Self::Postgres(
                    Pool::builder(pool)
                        .tracer_provider(tracer_provider)
                        .meter_provider(meter_provider)
                        .span_backend(SpanBackend::OpenTelemetry)
                        .build(),
                )
            }
        })
    }

    /// Creates and seeds the inventory's table. Setup runs on the uninstrumented pool: it is not
    /// part of any request.
    pub(crate) async fn set_up_inventory(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS demo_items \
                 (sku TEXT PRIMARY KEY, price_cents BIGINT NOT NULL, stock BIGINT NOT NULL)",
            )
            .execute(pool.inner())
            .await?;
            for (sku, price_cents, stock) in ITEMS {
                sqlx::query(
                    "INSERT INTO demo_items (sku, price_cents, stock) VALUES ($1, $2, $3) \
                     ON CONFLICT (sku) DO UPDATE SET price_cents = $2, stock = $3",
                )
                .bind(sku)
                .bind(price_cents)
                .bind(stock)
                .execute(pool.inner())
                .await?;
            }
        });
        Ok(())
    }

    /// Creates (or empties) the fulfillment service's table, untraced like the inventory's.
    pub(crate) async fn set_up_fulfillment(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS demo_shipments \
                 (order_id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity BIGINT NOT NULL)",
            )
            .execute(pool.inner())
            .await?;
            sqlx::query("DELETE FROM demo_shipments").execute(pool.inner()).await?;
        });
        Ok(())
    }

    /// Takes `quantity` items of `sku` out of stock, in a transaction (spans `BEGIN`,
    /// `SELECT demo_items`, `UPDATE demo_items`, `COMMIT`).
    pub(crate) async fn reserve(
        &self,
        sku: &str,
        quantity: i64,
    ) -> Result<Reservation, sqlx::Error> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let item: Option<(i64, i64)> =
                sqlx::query_as("SELECT price_cents, stock FROM demo_items WHERE sku = $1")
                    .bind(sku)
                    .fetch_optional(&mut tx)
                    .await?;
            let Some((unit_price_cents, stock)) = item else {
                tx.rollback().await?;
                return Ok(Reservation::UnknownItem);
            };
            if stock < quantity {
                tx.rollback().await?;
                return Ok(Reservation::OutOfStock);
            }
            sqlx::query("UPDATE demo_items SET stock = stock - $1 WHERE sku = $2")
                .bind(quantity)
                .bind(sku)
                .execute(tx.annotate(Annotation::new().operation("reserve").collection("demo_items")))
                .await?;
            tx.commit().await?;
            Ok(Reservation::Reserved {
                unit_price_cents,
                remaining: stock - quantity,
            })
        })
    }

    /// Records a shipment for an order (span `INSERT demo_shipments`).
    pub(crate) async fn record_shipment(
        &self,
        order_id: &str,
        sku: &str,
        quantity: i64,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO demo_shipments (order_id, sku, quantity) VALUES ($1, $2, $3)")
                .bind(order_id)
                .bind(sku)
                .bind(quantity)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
