//! One telemetry pipeline per service, each with an in-memory copy of what it records.
//!
//! The demo plays four services in one process. `service.name` is a resource attribute, and a
//! tracer provider has one resource, so each service gets its own providers from
//! `tracewire-init` (`install_globals(false)`): a collector then shows four services, exactly
//! as if they ran as four processes. Next to the exporters configured by the `OTEL_*`
//! variables, each pipeline gets an in-memory span processor and metric exporter (init's
//! `span_processor` and `metric_exporter` hooks): that copy is what the demo prints.

use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor, SpanData,
};
use tracewire_core::propagation::Propagator;
use tracewire_init::{EnvSource, ShutdownReport, Signal, TelemetryGuard};

use crate::Error;

/// The telemetry of one service.
pub(crate) struct ServiceTelemetry {
    name: &'static str,
    guard: TelemetryGuard,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
}

impl ServiceTelemetry {
    /// Starts the pipeline of service `name`, configured from `env` (the `OTEL_*` variables).
    pub(crate) fn start(name: &'static str, env: &EnvSource) -> Result<Self, Error> {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let guard = tracewire_init::builder()
            .env(env.clone())
            .service_name(name)
            .service_version(env!("CARGO_PKG_VERSION"))
            .install_globals(false)
            .fmt_layer(false)
            // Without a collector nothing is exported: the in-memory copy is printed instead.
            .exporters_without_endpoint(Signal::Traces, [])
            .exporters_without_endpoint(Signal::Metrics, [])
            .exporters_without_endpoint(Signal::Logs, [])
            .span_processor(SimpleSpanProcessor::new(spans.clone()))
            .metric_exporter(metrics.clone())
            .init()?;
        let (Some(tracer_provider), Some(meter_provider)) =
            (guard.tracer_provider(), guard.meter_provider())
        else {
            return Err("the demo records telemetry: unset OTEL_SDK_DISABLED".into());
        };
        Ok(Self {
            name,
            tracer_provider: tracer_provider.clone(),
            meter_provider: meter_provider.clone(),
            guard,
            spans,
            metrics,
        })
    }

    pub(crate) fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    pub(crate) fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    pub(crate) fn propagator(&self) -> Propagator {
        self.guard.propagator().clone()
    }

    /// Shuts the pipeline down (exporting everything to the collector, if one is configured)
    /// and returns the in-memory copy.
    pub(crate) fn finish(self) -> Result<ServiceReport, Error> {
        // Every span has ended (the servers stopped) and the simple processor exported it at
        // once; read them before the shutdown, which empties the in-memory exporter.
        let spans = self.spans.get_finished_spans()?;
        let shutdown = self.guard.shutdown();
        // The shutdown collected the metrics one last time: the newest collection has the totals.
        let metrics = self.metrics.get_finished_metrics()?.pop();
        Ok(ServiceReport {
            name: self.name,
            spans,
            metrics,
            shutdown,
        })
    }
}

/// What one service recorded.
pub struct ServiceReport {
    /// The service's `service.name`.
    pub name: &'static str,
    /// Its finished spans.
    pub spans: Vec<SpanData>,
    /// Its metrics (cumulative totals), if any were recorded.
    pub metrics: Option<ResourceMetrics>,
    /// What its pipeline could not export (only meaningful with a collector).
    pub shutdown: ShutdownReport,
}
