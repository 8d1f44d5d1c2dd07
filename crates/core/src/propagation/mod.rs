//! Context propagation: carriers, propagators, `OTEL_PROPAGATORS` parsing and the propagator
//! handle every adapter stores.
//!
//! - Carriers adapt where headers live to the OpenTelemetry [`Extractor`] and [`Injector`]
//!   traits: [`HeaderExtractor`] and [`HeaderInjector`] for [`http::HeaderMap`],
//!   [`PairExtractor`] and [`PairInjector`] for key/value lists such as Kafka record headers and
//!   gRPC metadata.
//! - [`TraceContextPropagator`] is a strict W3C Trace Context propagator, and
//!   [`JaegerPropagator`] a Jaeger one; B3 ([`PropagatorKind::B3`] and
//!   [`PropagatorKind::B3Multi`]) is also ours, and so is the W3C [`BaggagePropagator`].
//! - [`parse_propagators`] and [`propagator_from_env`] build the composite `OTEL_PROPAGATORS`
//!   selects.
//! - [`Propagator`] is the handle adapters call, and [`install_global`] sets the global
//!   propagator it reads without a lock.
//!
//! OpenTelemetry trace flags carry only "sampled" across formats: B3 debug extracts as sampled
//! and B3 "defer" (no sampling state) as not sampled. The W3C Level 2 "random trace id" flag
//! (`0x02`) is read and written by Trace Context only; a trace extracted from B3 or Jaeger is
//! marked as not known to be random, so Trace Context does not claim the flag for it.
//!
//! [`Extractor`]: opentelemetry::propagation::Extractor
//! [`Injector`]: opentelemetry::propagation::Injector

mod b3;
mod baggage;
mod carrier;
mod env;
mod handle;
mod hex;
mod jaeger;
mod remote;
mod trace_context;
mod tracestate;

pub use baggage::BaggagePropagator;
pub use carrier::{HeaderExtractor, HeaderInjector, PairExtractor, PairInjector};
pub use env::{
    OTEL_PROPAGATORS, ParsedPropagators, PropagatorKind, PropagatorWarning, parse_propagators,
    propagator_from_env,
};
pub use handle::{Propagator, install_global};
pub use jaeger::JaegerPropagator;
pub use trace_context::TraceContextPropagator;

pub(crate) use remote::remote_random;
