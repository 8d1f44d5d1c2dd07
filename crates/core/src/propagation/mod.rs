//! Context propagation: carriers, propagators, `OTEL_PROPAGATORS` parsing and the propagator
//! handle every adapter stores.
//!
//! - Carriers adapt where headers live to the OpenTelemetry [`Extractor`] and [`Injector`]
//!   traits: [`HeaderExtractor`] and [`HeaderInjector`] for [`http::HeaderMap`],
//!   [`PairExtractor`] and [`PairInjector`] for key/value lists such as Kafka record headers and
//!   gRPC metadata.
//! - [`TraceContextPropagator`] is a strict W3C Trace Context propagator, and
//!   [`JaegerPropagator`] a Jaeger one; W3C Baggage and B3 come from `opentelemetry_sdk` and
//!   `opentelemetry_zipkin`.
//! - [`parse_propagators`] and [`propagator_from_env`] build the composite `OTEL_PROPAGATORS`
//!   selects.
//! - [`Propagator`] is the handle adapters call, and [`install_global`] sets the global
//!   propagator it reads without a lock.
//!
//! Note that B3 (`opentelemetry_zipkin`) stores "sampling deferred" as trace flag `0x02`,
//! the bit W3C Trace Context Level 2 uses for "random trace id": combining `b3` with
//! `tracecontext` can turn one into the other.
//!
//! [`Extractor`]: opentelemetry::propagation::Extractor
//! [`Injector`]: opentelemetry::propagation::Injector

mod b3;
mod carrier;
mod env;
mod handle;
mod hex;
mod jaeger;
mod trace_context;

pub use carrier::{HeaderExtractor, HeaderInjector, PairExtractor, PairInjector};
pub use env::{
    OTEL_PROPAGATORS, ParsedPropagators, PropagatorKind, PropagatorWarning, parse_propagators,
    propagator_from_env,
};
pub use handle::{Propagator, install_global};
pub use jaeger::JaegerPropagator;
pub use trace_context::TraceContextPropagator;
