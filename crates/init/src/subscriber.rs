//! tracewire's `tracing` layers: the OpenTelemetry bridge, the log appender and `fmt`, each with
//! its own filter, for `init`'s `Registry` or for the application's own subscriber.

use std::any::TypeId;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{self, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::format::{BoxedLayer, LogFormat, fmt_layer};
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

/// The parts of the layers that exist.
pub(crate) struct Parts<'a> {
    pub(crate) tracer_provider: Option<&'a SdkTracerProvider>,
    pub(crate) logger_provider: Option<&'a SdkLoggerProvider>,
    /// The `fmt` layer's format and output, `None` for no `fmt` layer.
    pub(crate) fmt: Option<(LogFormat, BoxMakeWriter)>,
    pub(crate) filter: &'a str,
    /// Whether tracewire's own spans get the bridge's location, thread, target and busy/idle
    /// attributes too.
    pub(crate) tracewire_span_details: bool,
}

/// Builds the layers; an invalid filter warns and falls back to `info`.
pub(crate) fn layers<S>(parts: Parts<'_>, warnings: &mut Vec<Warning>) -> Vec<BoxedLayer<S>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
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
    let mut layers: Vec<BoxedLayer<S>> = Vec::new();
    if let Some(provider) = parts.tracer_provider {
        let tracer = provider.tracer("tracewire-init");
        let full = tracing_opentelemetry::layer().with_tracer(tracer.clone());
        let filter = env_filter().or(CoreSpans);
        if parts.tracewire_span_details {
            layers.push(Box::new(full.with_filter(filter)));
        } else {
            let clean = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false);
            layers.push(Box::new(SplitBridge { full, clean }.with_filter(filter)));
        }
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
    if let Some((format, writer)) = parts.fmt {
        layers.push(fmt_layer(format, writer, env_filter()));
    }
    layers
}

/// The spans tracewire creates (target `tracewire`), decided once per callsite.
#[derive(Clone, Copy)]
struct CoreSpans;

impl CoreSpans {
    fn matches(meta: &Metadata<'_>) -> bool {
        meta.is_span() && meta.target() == CORE_TARGET
    }
}

impl<S> Filter<S> for CoreSpans {
    fn enabled(&self, meta: &Metadata<'_>, _: &layer::Context<'_, S>) -> bool {
        Self::matches(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::matches(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// The bridge, with tracewire's spans started by a copy that adds none of the location, thread,
/// target and busy/idle attributes. Only `on_new_span` reads those settings (busy and idle times
/// are kept only for spans that got a timer there), so every later callback goes to the full
/// bridge: the split costs no second filter and no lookup.
struct SplitBridge<S> {
    full: OpenTelemetryLayer<S, SdkTracer>,
    clean: OpenTelemetryLayer<S, SdkTracer>,
}

impl<S> Layer<S> for SplitBridge<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: layer::Context<'_, S>) {
        if CoreSpans::matches(attrs.metadata()) {
            self.clean.on_new_span(attrs, id, ctx);
        } else {
            self.full.on_new_span(attrs, id, ctx);
        }
    }

    fn on_enter(&self, id: &Id, ctx: layer::Context<'_, S>) {
        self.full.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: layer::Context<'_, S>) {
        self.full.on_exit(id, ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: layer::Context<'_, S>) {
        self.full.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: layer::Context<'_, S>) {
        self.full.on_follows_from(id, follows, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: layer::Context<'_, S>) {
        self.full.on_event(event, ctx);
    }

    fn on_close(&self, id: Id, ctx: layer::Context<'_, S>) {
        self.full.on_close(id, ctx);
    }

    // `downcast_raw` is `unsafe` by `Layer`'s signature; a wrapper must forward it or
    // `OpenTelemetrySpanExt` (which finds the bridge and its tracer this way) stops working.
    // SAFETY: the pointer is to `self` for `Self`'s id, else the full bridge's own answer, which
    // lives as long as `self`.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: forwarded unchanged, under the same contract.
        unsafe { self.full.downcast_raw(id) }
    }
}
