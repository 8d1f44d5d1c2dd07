//! The `tracing` subscriber: Registry + OpenTelemetry bridge + log appender + `fmt`, each with
//! its own filter.

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::warning::{Warning, WarningKind};

/// The target of the spans `tracewire-core` creates; the bridge must always see them.
const CORE_TARGET: &str = "tracewire";

/// Targets whose events must never become exported log records: exporting them would log
/// again (a feedback loop through the exporter's own diagnostics).
const INTERNAL_TARGETS: &[&str] = &[
    "opentelemetry",
    "tracewire_init::export",
    "tonic",
    "h2",
    "hyper",
    "tower",
];

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The parts of the subscriber that exist.
pub(crate) struct Parts<'a> {
    pub(crate) tracer_provider: Option<&'a SdkTracerProvider>,
    pub(crate) logger_provider: Option<&'a SdkLoggerProvider>,
    pub(crate) fmt: bool,
    pub(crate) filter: &'a str,
}

/// Builds the subscriber; an invalid filter warns and falls back to `info`.
pub(crate) fn build(
    parts: &Parts<'_>,
    warnings: &mut Vec<Warning>,
) -> impl Subscriber + Send + Sync {
    let filter = match EnvFilter::builder().parse(parts.filter) {
        Ok(_) => parts.filter.to_owned(),
        Err(error) => {
            warnings.push(Warning::new(
                "RUST_LOG",
                parts.filter,
                WarningKind::Malformed,
                format!("invalid filter: {error}"),
                "`info`",
            ));
            "info".to_owned()
        }
    };
    // EnvFilter is not Clone; each layer gets its own copy of the validated directives.
    let env_filter = || EnvFilter::builder().parse_lossy(&filter);
    let mut layers: Vec<BoxedLayer> = Vec::new();
    if let Some(provider) = parts.tracer_provider {
        let bridge = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("tracewire-init"))
            .with_filter(
                env_filter().or(Targets::new().with_target(CORE_TARGET, LevelFilter::TRACE)),
            );
        layers.push(Box::new(bridge));
    }
    if let Some(provider) = parts.logger_provider {
        let appender = OpenTelemetryTracingBridge::new(provider).with_filter(env_filter().and(
            filter_fn(|meta| {
                !INTERNAL_TARGETS
                    .iter()
                    .any(|internal| meta.target().starts_with(internal))
            }),
        ));
        layers.push(Box::new(appender));
    }
    if parts.fmt {
        let fmt = tracing_subscriber::fmt::layer()
            .event_format(WithTraceIds(Format::default()))
            .with_filter(env_filter());
        layers.push(Box::new(fmt));
    }
    Registry::default().with(layers)
}

/// Appends `trace_id=… span_id=…` of the current span to each line of the wrapped format.
struct WithTraceIds(Format<Full>);

impl<S> FormatEvent<S, DefaultFields> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, DefaultFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        match tracewire_core::context::current_ids() {
            Some(ids) => writeln!(writer, "{line} {ids}"),
            None => writeln!(writer, "{line}"),
        }
    }
}
