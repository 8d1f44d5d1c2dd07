//! The shared core of the tracewire OpenTelemetry integrations.
//!
//! Every framework crate (`tracewire-axum`, `tracewire-tonic`, `tracewire-reqwest`, `tracewire-sqlx`,
//! `tracewire-kafka`) is a thin adapter over this crate, which owns the semantics:
//!
//! - [`propagation`]: carriers for HTTP headers and key/value pairs, a strict W3C trace-context
//!   propagator, `OTEL_PROPAGATORS` parsing, and a global propagator slot read without a lock;
//! - [`semconv`]: attribute keys, enum values and the rules of the OpenTelemetry semantic
//!   conventions (method normalisation, status and `error.type`, URL redaction, address parsing);
//! - [`metrics`]: the instruments the adapters record, with the advised units and buckets;
//! - [`instrument`]: the one API every adapter uses to start, enrich and end spans, in an
//!   application that uses `tracing` with `tracing-opentelemetry` and in one that uses only the
//!   OpenTelemetry SDK;
//! - [`intern`]: process-wide copies of route templates and span names, so requests need not
//!   allocate them;
//! - [`context`]: spawning work with the current context and reading the current trace id;
//! - [`sampling`]: rule-based, rate-limited and consistent probability samplers.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod ascii;

pub mod context;
pub mod instrument;
pub mod intern;
pub mod metrics;
pub mod propagation;
pub mod sampling;
pub mod semconv;

/// Paths the exported macros expand to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use opentelemetry::metrics::MeterProvider;
    pub use opentelemetry::trace::{Tracer, TracerProvider};
}
