//! Shared set-up for the overhead benchmarks in `benches/`.
//!
//! Every benchmark measures, in one run, the bare framework (the floor), tracewire, and the anchor
//! crates configured equivalently; reports compare the overheads over the floor as ratios, because
//! absolute times on shared machines are noise.

use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

/// A tracer provider that samples everything and exports nowhere: it measures instrumentation
/// cost, not exporter cost.
pub fn sampled_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build()
}

/// A tracer provider whose sampler drops every span: the cost of instrumentation that records
/// nothing.
pub fn dropping_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build()
}
