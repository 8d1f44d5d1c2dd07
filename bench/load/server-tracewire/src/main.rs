//! The load benchmark's server for `bare` and tracewire's two span worlds:
//!
//! - `bare`: the route alone, no telemetry.
//! - `tracewire-readme`: what the READMEs tell users, `tracewire_init::init()` (the `tracing`
//!   world: global subscriber with the `tracing-opentelemetry` bridge, global providers and
//!   propagator) and `TelemetryLayer::new()`.
//! - `tracewire-otel`: the OpenTelemetry-only world, `install_globals(false)` and the layer given
//!   the guard's providers and propagator; no `tracing` subscriber is installed.
//!
//! Exporting is configured by the `OTEL_*` environment the driver sets.

use std::net::SocketAddr;
use std::process::ExitCode;

use load_common::{BoxError, router, serve};
use tracewire_axum::TelemetryLayer;

const SETUPS: [&str; 3] = ["bare", "tracewire-readme", "tracewire-otel"];

fn main() -> ExitCode {
    load_common::main(&SETUPS, |setup, listen| match setup {
        "bare" => serve(listen, router()),
        "tracewire-readme" => readme(listen),
        _ => opentelemetry_only(listen),
    })
}

fn readme(listen: SocketAddr) -> Result<(), BoxError> {
    let telemetry = tracewire_init::init()?;
    serve(listen, router().layer(TelemetryLayer::new()))?;
    report(telemetry.shutdown());
    Ok(())
}

fn opentelemetry_only(listen: SocketAddr) -> Result<(), BoxError> {
    let telemetry = tracewire_init::builder().install_globals(false).init()?;
    let mut layer = TelemetryLayer::builder().propagator(telemetry.propagator().clone());
    if let Some(provider) = telemetry.tracer_provider() {
        layer = layer.tracer_provider(provider);
    }
    if let Some(provider) = telemetry.meter_provider() {
        layer = layer.meter_provider(provider);
    }
    serve(listen, router().layer(layer.build()))?;
    report(telemetry.shutdown());
    Ok(())
}

/// A shutdown that timed out (the never-answering collector) is expected; it is said, not fatal.
fn report(shutdown: tracewire_init::ShutdownReport) {
    if !shutdown.is_clean() {
        eprintln!("telemetry shutdown: {shutdown}");
    }
}
