//! The load benchmark's server for the setups written against the OpenTelemetry API, both
//! exporting through the stock pipeline (`opentelemetry-otlp`'s HTTP/protobuf exporters at their
//! defaults, the SDK's batch span processor and periodic metric reader), configured by the
//! `OTEL_*` environment the driver sets:
//!
//! - `direct`: the floor, the telemetry of `tracewire-readme` (a SERVER span with the same start
//!   attributes and status code, `http.server.request.duration` on a bound instrument) written by
//!   hand for this one route.
//! - `anchor-tower`: `opentelemetry-instrumentation-tower` 0.19's layer as its README shows it,
//!   reading the global providers and propagator (its spans and all four HTTP server metrics).

mod direct;

use std::process::ExitCode;

use load_common::{BoxError, router, serve};
use opentelemetry::global;
use opentelemetry_otlp::{MetricExporter, SpanExporter};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

const SETUPS: [&str; 2] = ["direct", "anchor-tower"];

fn main() -> ExitCode {
    load_common::main(&SETUPS, |setup, listen| {
        let providers = Providers::stock()?;
        let app = if setup == "direct" {
            router().layer(direct::layer(&providers.tracer, &providers.meter))
        } else {
            providers.install_globals();
            router().layer(opentelemetry_instrumentation_tower::http::server::Layer::new())
        };
        let served = serve(listen, app);
        providers.shutdown();
        served
    })
}

/// The stock OTLP/HTTP pipeline: a batch span processor and a periodic metric reader.
struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl Providers {
    fn stock() -> Result<Self, BoxError> {
        // HTTP/protobuf is the default protocol of `with_http()`; the endpoint comes from
        // `OTEL_EXPORTER_OTLP_ENDPOINT`.
        let spans = SpanExporter::builder().with_http().build()?;
        let metrics = MetricExporter::builder().with_http().build()?;
        Ok(Self {
            tracer: SdkTracerProvider::builder()
                .with_batch_exporter(spans)
                .build(),
            meter: SdkMeterProvider::builder()
                .with_periodic_exporter(metrics)
                .build(),
        })
    }

    /// The anchor reads the globals; without the W3C propagator it would ignore `traceparent`.
    fn install_globals(&self) {
        global::set_tracer_provider(self.tracer.clone());
        global::set_meter_provider(self.meter.clone());
        global::set_text_map_propagator(TraceContextPropagator::new());
    }

    /// Flushes and stops both pipelines; failures (the never-answering collector) are said.
    fn shutdown(self) {
        if let Err(e) = self.tracer.shutdown() {
            eprintln!("tracer provider shutdown: {e}");
        }
        if let Err(e) = self.meter.shutdown() {
            eprintln!("meter provider shutdown: {e}");
        }
    }
}
