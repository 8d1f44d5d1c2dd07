//! The load benchmark's server for `anchor-axum-tracing`: `axum-tracing-opentelemetry` 0.42's
//! layers and `init-tracing-opentelemetry` 0.44's production preset (JSON logs on stdout, the
//! `tracing-opentelemetry` bridge, OTLP from the `OTEL_*` environment), as their READMEs show
//! them. The `tracing` world; the layer records no metrics.

use std::process::ExitCode;

use axum_tracing_opentelemetry::middleware::{OtelAxumLayer, OtelInResponseLayer};
use load_common::{router, serve};

fn main() -> ExitCode {
    load_common::main(&["anchor-axum-tracing"], |_, listen| {
        let guard = init_tracing_opentelemetry::TracingConfig::production().init_subscriber()?;
        let app = router()
            .layer(OtelInResponseLayer)
            .layer(OtelAxumLayer::default());
        let served = serve(listen, app);
        // Dropping the guard flushes and shuts the providers down, as the README's `_guard` does.
        drop(guard);
        served
    })
}
