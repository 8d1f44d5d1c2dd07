//! One call that sets up OpenTelemetry traces, metrics and logs, and the `tracing` bridge, from
//! the standard `OTEL_*` environment.
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Keep the guard until the end of `main`: dropping it flushes and shuts down.
//!     let telemetry = tracewire_init::init()?;
//!     tracing::info!("started");
//!     // ... serve ...
//!     let report = telemetry.shutdown();
//!     if !report.is_clean() {
//!         eprintln!("telemetry: {report}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! What `init` sets up:
//!
//! - a resource: `service.name` (builder, else `OTEL_SERVICE_NAME`, else `service.name` in
//!   `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable>`), the other
//!   `OTEL_RESOURCE_ATTRIBUTES` (percent-decoded; a malformed value is dropped whole),
//!   `telemetry.sdk.*`, `process.*`, `host.arch`, `os.type`;
//! - traces: the sampler (`OTEL_TRACES_SAMPLER[_ARG]`), a batch span processor (`OTEL_BSP_*`)
//!   with an exactly counted queue bound, span limits (`OTEL_SPAN_*_LIMIT`);
//! - metrics: a periodic reader (`OTEL_METRIC_EXPORT_INTERVAL` / `_TIMEOUT`) and the temporality
//!   preference;
//! - logs: `tracing` events become OpenTelemetry log records carrying the current span's ids,
//!   and a `fmt` layer whose lines carry `trace_id` and `span_id` ([`LogFormat`]: full,
//!   compact, pretty, JSON or logfmt, from `TRACEWIRE_LOG_FORMAT`);
//! - exporters per `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` (`otlp`, `console`, `none`, and
//!   `prometheus` for metrics, served at `OTEL_EXPORTER_PROMETHEUS_HOST:_PORT/metrics`): OTLP
//!   over gRPC, HTTP/protobuf or HTTP/JSON with endpoint, headers, timeout, gzip and TLS (the
//!   default feature `tls`: rustls, the platform's roots or a custom CA, mTLS);
//! - the propagator from `OTEL_PROPAGATORS`, installed with
//!   [`tracewire_core::propagation::install_global`];
//! - the global `tracing` subscriber, tracer provider and meter provider.
//!
//! With a subscriber of your own, [`Builder::build`] returns tracewire's layers to add to it;
//! [`Builder::with_layer`] adds yours to the one `init` builds. The spans tracewire creates
//! carry only their semantic-convention attributes, not the bridge's location, thread and timing
//! ones ([`Builder::tracewire_span_details`]).
//!
//! `OTEL_SDK_DISABLED=true` builds no provider (nothing is exported); propagation and the `fmt`
//! layer stay. Every value that had to be ignored becomes a [`Warning`] on the guard
//! ([`TelemetryGuard::warnings`]) and is logged once. Exports run on a dedicated thread and never
//! block the application: with an unreachable collector, spans beyond the queue are dropped and
//! counted ([`TelemetryGuard::span_counts`]) and a warning is logged at most once a minute.

mod builder;
mod config;
mod console;
mod env;
mod format;
mod guard;
mod otlp;
mod pipeline;
mod prometheus;
mod report;
mod runtime;
mod subscriber;
mod warning;

pub use builder::{Builder, InitError};
pub use config::{
    BatchSettings, Compression, Config, ExporterKind, OtlpConfig, Protocol, SamplerConfig,
    ServiceNameSource, Signal, SpanLimitsConfig,
};
pub use env::EnvSource;
pub use format::LogFormat;
pub use guard::{ShutdownReport, TelemetryGuard};
pub use pipeline::SpanCounts;
pub use warning::{Warning, WarningKind};

/// Sets everything up from the process environment; see the [crate documentation](crate).
///
/// Fails only if a global `tracing` subscriber is already set or the export thread cannot
/// start; configuration problems are [`Warning`]s.
pub fn init() -> Result<TelemetryGuard, InitError> {
    builder().init()
}

/// A [`Builder`] reading the process environment, for code-level overrides.
///
/// ```no_run
/// use tracewire_init::{ExporterKind, Signal};
///
/// let _telemetry = tracewire_init::builder()
///     .service_name("checkout")
///     .service_version(env!("CARGO_PKG_VERSION"))
///     .exporters(Signal::Logs, [])
///     .init()?;
/// # Ok::<(), tracewire_init::InitError>(())
/// ```
pub fn builder() -> Builder {
    Builder::default()
}
