//! The builder: code-level overrides, then `init`.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use std::sync::OnceLock;

use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanLimits, SpanProcessor, TracerProviderBuilder,
};
use tracewire_core::propagation::{Propagator, install_global};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::config::{
    Config, ConfiguredSampler, ExporterKind, Overrides, Protocol, SamplerConfig, Signal, resolve,
};
use crate::console::{Console, ConsoleOutput};
use crate::env::EnvSource;
use crate::format::{BoxedLayer, LogFormat};
use crate::guard::TelemetryGuard;
use crate::otlp::{OtlpExporter, Transport};
use crate::pipeline::{
    BoundedSpanProcessor, ExportContext, Exporting, FAILURE_NOTICE_INTERVAL, FailureNotice, Sink,
    SpanStats, duration_histogram, register_span_metrics,
};
use crate::prometheus;
use crate::runtime::ExportRuntime;
use crate::subscriber::{self, Parts};
use crate::warning::{Warning, WarningKind};

const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the builder's propagator, installing it globally when asked to.
type InstallPropagator = Arc<dyn Fn(bool) -> Propagator + Send + Sync>;

/// Adds one user-supplied span processor to the tracer provider being built.
type AddSpanProcessor = Box<dyn FnOnce(TracerProviderBuilder) -> TracerProviderBuilder + Send>;

/// Adds one user-supplied metric exporter, behind a periodic reader with the configured
/// interval, to the meter provider being built.
type AddMetricReader =
    Box<dyn FnOnce(MeterProviderBuilder, &Config) -> MeterProviderBuilder + Send>;

/// Why `init` failed. Configuration problems never fail: they are [`Warning`]s.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A global `tracing` subscriber is already installed (call `init` once, or use
    /// [`Builder::install_globals`]`(false)`).
    SubscriberAlreadySet,
    /// The export runtime thread could not be started.
    Runtime(std::io::Error),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SubscriberAlreadySet => f.write_str("a global tracing subscriber is already set"),
            Self::Runtime(error) => write!(f, "cannot start the export runtime: {error}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::SubscriberAlreadySet => None,
            Self::Runtime(error) => Some(error),
        }
    }
}

/// Code-level settings; each one wins over the environment. Start with [`builder`](crate::builder).
///
/// ```
/// use tracewire_init::{EnvSource, ExporterKind, SamplerConfig, Signal};
///
/// let (config, warnings) = tracewire_init::builder()
///     .env(EnvSource::from_pairs([
///         ("OTEL_SERVICE_NAME", "from-env"),
///         ("OTEL_TRACES_SAMPLER", "sometimes"),
///     ]))
///     .service_name("checkout")
///     .exporters(Signal::Metrics, [ExporterKind::Console])
///     .resolve();
/// assert_eq!(config.service_name, "checkout");
/// assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
/// assert_eq!(config.metrics_exporters, [ExporterKind::Console]);
/// assert_eq!(warnings[0].variable, "OTEL_TRACES_SAMPLER");
/// ```
#[must_use]
pub struct Builder {
    env: EnvSource,
    overrides: Overrides,
    propagator: Option<InstallPropagator>,
    /// `None`: on for `init`, off for `build` (the application has its own).
    fmt: Option<bool>,
    log_writer: Option<BoxMakeWriter>,
    layers: Vec<BoxedLayer<Registry>>,
    tracewire_span_details: bool,
    install_globals: bool,
    shutdown_timeout: Duration,
    console: Option<ConsoleOutput>,
    span_processors: Vec<AddSpanProcessor>,
    metric_readers: Vec<AddMetricReader>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("overrides", &self.overrides)
            .field("fmt", &self.fmt)
            .field("layers", &self.layers.len())
            .field("tracewire_span_details", &self.tracewire_span_details)
            .field("install_globals", &self.install_globals)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("span_processors", &self.span_processors.len())
            .field("metric_readers", &self.metric_readers.len())
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            env: EnvSource::process(),
            overrides: Overrides::default(),
            propagator: None,
            fmt: None,
            log_writer: None,
            layers: Vec::new(),
            tracewire_span_details: false,
            install_globals: true,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            console: None,
            span_processors: Vec::new(),
            metric_readers: Vec::new(),
        }
    }
}

impl Builder {
    /// Reads variables from `env` instead of the process environment.
    pub fn env(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// `service.name`, over `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// `service.version`, over `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.overrides.service_version = Some(version.into());
        self
    }

    /// A resource attribute, over `OTEL_RESOURCE_ATTRIBUTES` (`service.name` is ignored here:
    /// use [`service_name`](Self::service_name)).
    pub fn resource_attribute(mut self, attribute: KeyValue) -> Self {
        self.overrides.resource_attributes.push(attribute);
        self
    }

    /// The sampler, over `OTEL_TRACES_SAMPLER[_ARG]`.
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.overrides.sampler = Some(sampler);
        self
    }

    /// The exporters of `signal`, over `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`; empty for none.
    pub fn exporters(
        mut self,
        signal: Signal,
        kinds: impl IntoIterator<Item = ExporterKind>,
    ) -> Self {
        self.overrides.exporters.retain(|(s, _)| *s != signal);
        self.overrides
            .exporters
            .push((signal, kinds.into_iter().collect()));
        self
    }

    /// The exporters of `signal` when neither `OTEL_{SIGNAL}_EXPORTER` nor an OTLP endpoint
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`, the signal's own, or [`otlp_endpoint`](Self::otlp_endpoint))
    /// is set, instead of the specification's default `otlp` to `localhost`. For applications
    /// and examples that should print to the console until a collector is configured;
    /// [`exporters`](Self::exporters) still wins.
    ///
    /// ```
    /// use tracewire_init::{EnvSource, ExporterKind, Signal};
    ///
    /// let builder = |vars: &[(&str, &str)]| {
    ///     tracewire_init::builder()
    ///         .env(EnvSource::from_pairs(vars.iter().copied()))
    ///         .exporters_without_endpoint(Signal::Traces, [ExporterKind::Console])
    /// };
    /// let (config, _) = builder(&[]).resolve();
    /// assert_eq!(config.traces_exporters, [ExporterKind::Console]);
    /// let (config, _) = builder(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).resolve();
    /// assert_eq!(config.traces_exporters, [ExporterKind::Otlp]);
    /// ```
    pub fn exporters_without_endpoint(
        mut self,
        signal: Signal,
        kinds: impl IntoIterator<Item = ExporterKind>,
    ) -> Self {
        let without = &mut self.overrides.exporters_without_endpoint;
        without.retain(|(s, _)| *s != signal);
        without.push((signal, kinds.into_iter().collect()));
        self
    }

    /// Adds a span processor to the tracer provider, after the configured exporters' own: for
    /// an in-memory copy of the spans next to OTLP, or a processor that enriches spans. It gets
    /// the same resource. Not used when `OTEL_SDK_DISABLED=true` (no provider is built).
    ///
    /// ```
    /// use opentelemetry::trace::{Tracer, TracerProvider};
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
    /// use tracewire_init::{EnvSource, Signal};
    ///
    /// let spans = InMemorySpanExporter::default();
    /// let telemetry = tracewire_init::builder()
    ///     .env(EnvSource::from_pairs([("OTEL_SERVICE_NAME", "checkout")]))
    ///     .exporters(Signal::Traces, [])
    ///     .span_processor(SimpleSpanProcessor::new(spans.clone()))
    ///     .install_globals(false)
    ///     .init()?;
    /// telemetry.tracer_provider().unwrap().tracer("example").in_span("work", |_| {});
    /// assert_eq!(spans.get_finished_spans().unwrap()[0].name, "work");
    /// # Ok::<(), tracewire_init::InitError>(())
    /// ```
    pub fn span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.span_processors.push(Box::new(move |builder| {
            builder.with_span_processor(processor)
        }));
        self
    }

    /// Adds a metric exporter next to the configured ones, read by its own periodic reader at
    /// `OTEL_METRIC_EXPORT_INTERVAL` (and on [`TelemetryGuard::force_flush`] and shutdown): for
    /// an in-memory copy of the metrics. It gets the same resource. Not used when
    /// `OTEL_SDK_DISABLED=true`.
    pub fn metric_exporter(mut self, exporter: impl PushMetricExporter) -> Self {
        self.metric_readers.push(Box::new(move |builder, config| {
            builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(config.metric_export_interval)
                    .build(),
            )
        }));
        self
    }

    /// The OTLP protocol of every signal, over `OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL`.
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// The OTLP base endpoint of every signal (`v1/<signal>` is appended for HTTP), over
    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_ENDPOINT`.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(endpoint.into());
        self
    }

    /// The propagator, over `OTEL_PROPAGATORS`.
    pub fn propagator<P: TextMapPropagator + Clone + Send + Sync + 'static>(
        mut self,
        propagator: P,
    ) -> Self {
        self.propagator = Some(Arc::new(move |global| {
            if global {
                install_global(propagator.clone());
            }
            Propagator::new(propagator.clone())
        }));
        self
    }

    /// Whether to add the `fmt` layer that writes log lines (on by default with
    /// [`init`](Self::init), off with [`build`](Self::build)); every line carries the current
    /// `trace_id` and `span_id` (see [`LogFormat`]).
    pub fn fmt_layer(mut self, enabled: bool) -> Self {
        self.fmt = Some(enabled);
        self
    }

    /// The format of the `fmt` layer's lines, over `TRACEWIRE_LOG_FORMAT` (default
    /// [`LogFormat::Full`]).
    ///
    /// ```
    /// use tracewire_init::{EnvSource, LogFormat};
    ///
    /// let (config, warnings) = tracewire_init::builder()
    ///     .env(EnvSource::from_pairs([("TRACEWIRE_LOG_FORMAT", "yaml")]))
    ///     .resolve();
    /// assert_eq!(config.log_format, LogFormat::Full);
    /// assert_eq!(warnings[0].variable, "TRACEWIRE_LOG_FORMAT");
    /// let (config, _) = tracewire_init::builder().log_format(LogFormat::Json).resolve();
    /// assert_eq!(config.log_format, LogFormat::Json);
    /// ```
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.overrides.log_format = Some(format);
        self
    }

    /// Where the `fmt` layer writes (stdout by default): any `tracing-subscriber`
    /// [`MakeWriter`], such as `std::io::stderr` or a non-blocking file appender.
    pub fn log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Adds a layer of the application's own to the subscriber [`init`](Self::init) builds,
    /// after tracewire's (a second `fmt` layer, a filter, a metrics layer...). It sees every
    /// span and event, with the OpenTelemetry context already attached to tracewire's spans.
    /// Filter it with `with_filter` (a per-layer filter): a filter that is a layer of its own
    /// applies to the whole subscriber, tracewire's spans included. To add tracewire's layers
    /// to a subscriber of your own instead, see [`build`](Self::build).
    ///
    /// ```
    /// use tracewire_init::{EnvSource, Signal};
    /// use tracing_subscriber::filter::LevelFilter;
    /// use tracing_subscriber::Layer as _;
    ///
    /// let telemetry = tracewire_init::builder()
    ///     .env(EnvSource::from_pairs([("OTEL_SDK_DISABLED", "true")]))
    ///     .fmt_layer(false)
    ///     .with_layer(
    ///         tracing_subscriber::fmt::layer()
    ///             .with_writer(std::io::stderr)
    ///             .with_filter(LevelFilter::WARN),
    ///     )
    ///     .install_globals(false)
    ///     .init()?;
    /// # drop(telemetry);
    /// # Ok::<(), tracewire_init::InitError>(())
    /// ```
    pub fn with_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        self.layers.push(Box::new(layer));
        self
    }

    /// Whether the spans tracewire creates (target `tracewire`: the server, consumer and
    /// internal spans of the integrations) also carry `tracing-opentelemetry`'s
    /// `code.file.path`, `code.module.name`, `code.line.number`, `thread.id`, `thread.name`,
    /// `target`, `busy_ns` and `idle_ns` attributes (off by default: they would describe
    /// tracewire's code, not the application's). The application's own spans always get the
    /// bridge's defaults.
    pub fn tracewire_span_details(mut self, enabled: bool) -> Self {
        self.tracewire_span_details = enabled;
        self
    }

    /// The filter used when `RUST_LOG` is unset (default `info`).
    pub fn default_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.default_log_filter = Some(directives.into());
        self
    }

    /// Whether to install the global `tracing` subscriber, tracer and meter providers and
    /// propagator (on by default). Off, the guard hands them out instead
    /// ([`TelemetryGuard::dispatch`] and the provider getters): for tests and for
    /// applications that compose their own subscriber.
    pub fn install_globals(mut self, enabled: bool) -> Self {
        self.install_globals = enabled;
        self
    }

    /// The longest [`TelemetryGuard::shutdown`] (and drop) waits overall (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Where `console` exporters write (stdout by default).
    pub fn console_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.console = Some(ConsoleOutput::new(writer));
        self
    }

    /// The configuration `init` would use, and its warnings, without installing anything.
    pub fn resolve(&self) -> (Config, Vec<Warning>) {
        resolve(&self.env, &self.overrides)
    }

    /// Builds and installs everything; see the [crate documentation](crate).
    pub fn init(mut self) -> Result<TelemetryGuard, InitError> {
        if self.install_globals && tracing::dispatcher::has_been_set() {
            return Err(InitError::SubscriberAlreadySet);
        }
        let fmt = self.fmt.unwrap_or(true);
        let user_layers = std::mem::take(&mut self.layers);
        let (mut guard, mut warnings) = self.start()?;
        let mut layers = subscriber::layers::<Registry>(self.parts(&guard, fmt), &mut warnings);
        layers.extend(user_layers);
        let dispatch = Dispatch::new(Registry::default().with(layers));
        // Without an output, a `tracing` warning would vanish: fall back to stderr.
        let has_output =
            fmt || guard.logger_provider.is_some() && !guard.config.logs_exporters.is_empty();
        if self.install_globals {
            install_providers(&guard);
            // Lost a race with another initialisation; the guard's drop shuts our providers down.
            tracing::dispatcher::set_global_default(dispatch)
                .map_err(|_| InitError::SubscriberAlreadySet)?;
            crate::report::config_warnings(&warnings, has_output);
        } else {
            tracing::dispatcher::with_default(&dispatch, || {
                crate::report::config_warnings(&warnings, has_output);
            });
            guard.dispatch = Some(dispatch);
        }
        guard.warnings = warnings;
        Ok(guard)
    }

    /// Builds everything but the subscriber, and returns tracewire's layers (the OpenTelemetry
    /// bridge, the log appender, the `fmt` layer when [`fmt_layer`](Self::fmt_layer)`(true)`,
    /// each behind its own filter) as one [`Layer`] for a subscriber of the application's own.
    /// The guard flushes and shuts down as with [`init`](Self::init); the tracer and meter
    /// providers and the propagator are installed globally unless
    /// [`install_globals`](Self::install_globals)`(false)`, the subscriber is the
    /// application's to install. Configuration warnings go to stderr (no subscriber exists
    /// yet) and to [`TelemetryGuard::warnings`].
    ///
    /// The layer works on any subscriber built on a `Registry`, with layers of your own
    /// before or after it; [`with_layer`](Self::with_layer) layers are for `init` only (they
    /// are reported as a warning here: add them to your own subscriber).
    ///
    /// ```
    /// use tracewire_init::EnvSource;
    /// use tracing_subscriber::filter::LevelFilter;
    /// use tracing_subscriber::prelude::*;
    ///
    /// let (telemetry, tracewire) = tracewire_init::builder()
    ///     .env(EnvSource::from_pairs([("OTEL_TRACES_EXPORTER", "none")]))
    ///     .install_globals(false)
    ///     .build()?;
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracing_subscriber::fmt::layer().with_filter(LevelFilter::INFO))
    ///     .with(tracewire);
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("composed"));
    /// drop(telemetry);
    /// # Ok::<(), tracewire_init::InitError>(())
    /// ```
    pub fn build<S>(
        mut self,
    ) -> Result<(TelemetryGuard, Box<dyn Layer<S> + Send + Sync>), InitError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let fmt = self.fmt.unwrap_or(false);
        let (mut guard, mut warnings) = self.start()?;
        if !self.layers.is_empty() {
            warnings.push(Warning::new(
                "Builder::with_layer",
                &format!("{} layers", self.layers.len()),
                WarningKind::Conflict,
                "layers added with `with_layer` belong to the subscriber `init` builds",
                "not used: add them to your own subscriber",
            ));
        }
        let layers = subscriber::layers::<S>(self.parts(&guard, fmt), &mut warnings);
        if self.install_globals {
            install_providers(&guard);
        }
        crate::report::config_warnings(&warnings, false);
        guard.warnings = warnings;
        Ok((guard, Box::new(layers)))
    }

    /// What the layers are built from.
    fn parts<'a>(&mut self, guard: &'a TelemetryGuard, fmt: bool) -> Parts<'a> {
        let writer = self
            .log_writer
            .take()
            .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
        Parts {
            tracer_provider: guard.tracer_provider.as_ref(),
            logger_provider: guard.logger_provider.as_ref(),
            fmt: fmt.then_some((guard.config.log_format, writer)),
            filter: &guard.config.log_filter,
            tracewire_span_details: self.tracewire_span_details,
        }
    }

    /// Resolves the configuration and builds the propagator and the providers.
    fn start(&mut self) -> Result<(TelemetryGuard, Vec<Warning>), InitError> {
        let (config, mut warnings) = self.resolve();
        let propagator = self.install_propagator(&config);
        let mut guard = TelemetryGuard {
            config,
            warnings: Vec::new(),
            tracer_provider: None,
            meter_provider: None,
            logger_provider: None,
            span_stats: Vec::new(),
            runtime: None,
            dispatch: None,
            propagator,
            prometheus: None,
            shutdown_timeout: self.shutdown_timeout,
            shut_down: false,
        };
        if !guard.config.sdk_disabled {
            let runtime = ExportRuntime::start().map_err(InitError::Runtime)?;
            let extras = Extras {
                span_processors: std::mem::take(&mut self.span_processors),
                metric_readers: std::mem::take(&mut self.metric_readers),
            };
            self.build_providers(&mut guard, &runtime, extras, &mut warnings);
            guard.runtime = Some(runtime);
        }
        Ok((guard, warnings))
    }

    fn install_propagator(&self, config: &Config) -> Propagator {
        if let Some(make) = &self.propagator {
            return make(self.install_globals);
        }
        let composite = || {
            TextMapCompositePropagator::new(config.propagators.iter().map(|k| k.build()).collect())
        };
        if self.install_globals {
            install_global(composite());
        }
        Propagator::new(composite())
    }

    fn build_providers(
        &self,
        guard: &mut TelemetryGuard,
        runtime: &ExportRuntime,
        extras: Extras,
        warnings: &mut Vec<Warning>,
    ) {
        let config = &guard.config;
        let resource = resource(config);
        let console = self.console.clone().unwrap_or_else(ConsoleOutput::stdout);
        let duration = Arc::new(OnceLock::new());
        let mut pipelines = Pipelines {
            config,
            runtime,
            console,
            notice: Arc::new(FailureNotice::new(FAILURE_NOTICE_INTERVAL)),
            duration: Arc::clone(&duration),
            warnings,
        };
        // The gRPC channels start their worker tasks when built.
        let _entered = runtime.handle().enter();

        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
        for (_, exporter) in pipelines.build::<opentelemetry_otlp::MetricExporter>(
            Signal::Metrics,
            config.metric_export_timeout,
        ) {
            meter_builder = meter_builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(config.metric_export_interval)
                    .build(),
            );
        }
        for add in extras.metric_readers {
            meter_builder = add(meter_builder, config);
        }
        if config.metrics_exporters.contains(&ExporterKind::Prometheus)
            && let Some((reader, server)) = prometheus::start(config, pipelines.warnings)
        {
            meter_builder = meter_builder.with_reader(reader);
            guard.prometheus = Some(server);
        }
        let meter_provider = meter_builder.build();
        let meter = meter_provider.meter("tracewire-init");
        let _first = duration.set(duration_histogram(&meter));

        let sampler = config.sampler.build();
        if let ConfiguredSampler::Rules(rules) = &sampler {
            for limiter in rules.rate_limiters() {
                limiter.observe(&meter);
            }
        }
        let mut tracer_builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler)
            .with_span_limits(span_limits(config));
        let mut span_stats = Vec::new();
        for (kind, mut exporter) in pipelines.build::<opentelemetry_otlp::SpanExporter>(
            Signal::Traces,
            config.span_batch.export_timeout,
        ) {
            let stats = Arc::new(SpanStats::default());
            exporter.context.stats = Some(Arc::clone(&stats));
            register_span_metrics(&meter, &stats, kind);
            span_stats.push(Arc::clone(&stats));
            tracer_builder = tracer_builder.with_span_processor(BoundedSpanProcessor {
                inner: BatchSpanProcessor::builder(exporter)
                    .with_batch_config(
                        opentelemetry_sdk::trace::BatchConfigBuilder::default()
                            .with_max_queue_size(config.span_batch.max_queue_size)
                            .with_max_export_batch_size(config.span_batch.max_export_batch_size)
                            .with_scheduled_delay(config.span_batch.schedule_delay)
                            .build(),
                    )
                    .build(),
                stats,
                max_queue_size: config.span_batch.max_queue_size,
            });
        }

        for add in extras.span_processors {
            tracer_builder = add(tracer_builder);
        }

        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource);
        for (_, exporter) in pipelines
            .build::<opentelemetry_otlp::LogExporter>(Signal::Logs, config.log_batch.export_timeout)
        {
            logger_builder = logger_builder.with_log_processor(
                BatchLogProcessor::builder(exporter)
                    .with_batch_config(
                        opentelemetry_sdk::logs::BatchConfigBuilder::default()
                            .with_max_queue_size(config.log_batch.max_queue_size)
                            .with_max_export_batch_size(config.log_batch.max_export_batch_size)
                            .with_scheduled_delay(config.log_batch.schedule_delay)
                            .build(),
                    )
                    .build(),
            );
        }
        guard.tracer_provider = Some(tracer_builder.build());
        guard.meter_provider = Some(meter_provider);
        guard.logger_provider = Some(logger_builder.build());
        guard.span_stats = span_stats;
    }
}

/// The processors and readers added with the builder, taken out of it by `init`.
struct Extras {
    span_processors: Vec<AddSpanProcessor>,
    metric_readers: Vec<AddMetricReader>,
}

/// Builds the exporters of each signal the same way.
struct Pipelines<'a> {
    config: &'a Config,
    runtime: &'a ExportRuntime,
    console: ConsoleOutput,
    notice: Arc<FailureNotice>,
    duration: Arc<OnceLock<Histogram<f64>>>,
    warnings: &'a mut Vec<Warning>,
}

impl Pipelines<'_> {
    /// One wrapped exporter per configured kind; an OTLP exporter that cannot be built is
    /// reported and left out.
    fn build<E: OtlpExporter>(
        &mut self,
        signal: Signal,
        timeout: Duration,
    ) -> Vec<(&'static str, Exporting<Sink<E>>)> {
        let mut built = Vec::new();
        for kind in self.config.exporters(signal) {
            let mut cause = None;
            let (name, destination, sink) = match kind {
                // Pulled, not pushed: the meter provider gets its reader in `build_providers`.
                ExporterKind::Prometheus => {
                    if signal != Signal::Metrics {
                        self.warnings.push(Warning::new(
                            &format!("OTEL_{}_EXPORTER", signal.name().to_uppercase()),
                            "prometheus",
                            WarningKind::Unsupported,
                            "the Prometheus exporter exports metrics only",
                            "nothing for this entry",
                        ));
                    }
                    continue;
                }
                ExporterKind::Console => (
                    "console",
                    "the console".to_owned(),
                    Sink::Console(Console::new(self.console.clone(), self.config.temporality)),
                ),
                ExporterKind::Otlp => {
                    let otlp = self.config.otlp(signal);
                    let Some(transport) = Transport::resolve(signal, otlp, self.warnings) else {
                        continue;
                    };
                    match E::build(otlp, self.config.temporality, &transport) {
                        Ok(exporter) => {
                            cause = transport.failure_cause();
                            ("otlp", otlp.endpoint.clone(), Sink::Otlp(exporter))
                        }
                        Err(error) => {
                            self.warnings.push(Warning::new(
                                &format!(
                                    "OTEL_EXPORTER_OTLP_{}_ENDPOINT",
                                    signal.name().to_uppercase()
                                ),
                                &otlp.endpoint,
                                WarningKind::ExporterBuild,
                                format!("cannot build the OTLP {signal} exporter: {error}"),
                                format!("no OTLP {signal} exporter"),
                            ));
                            continue;
                        }
                    }
                }
            };
            built.push((
                name,
                Exporting {
                    inner: sink,
                    context: ExportContext {
                        runtime: self.runtime.handle().clone(),
                        timeout,
                        signal,
                        exporter: name,
                        destination,
                        stats: None,
                        notice: Arc::clone(&self.notice),
                        cause,
                        duration: Arc::clone(&self.duration),
                    },
                },
            ));
        }
        built
    }
}

fn resource(config: &Config) -> Resource {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name()?.to_str().map(str::to_owned));
    let mut detected = vec![
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", "rust"),
        KeyValue::new("host.arch", std::env::consts::ARCH),
        KeyValue::new("os.type", std::env::consts::OS),
    ];
    if let Some(executable) = executable {
        detected.push(KeyValue::new("process.executable.name", executable));
    }
    // Later attributes win: detected, then configured, then the service name.
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(detected)
        .with_attributes(config.resource_attributes.iter().cloned())
        .with_service_name(config.service_name.clone())
        .build()
}

fn span_limits(config: &Config) -> SpanLimits {
    let limits = config.span_limits;
    SpanLimits {
        max_events_per_span: limits.events_per_span,
        max_attributes_per_span: limits.attributes_per_span,
        max_links_per_span: limits.links_per_span,
        max_attributes_per_event: limits.attributes_per_event,
        max_attributes_per_link: limits.attributes_per_link,
    }
}

/// Installs the tracer and meter providers as OpenTelemetry's globals.
fn install_providers(guard: &TelemetryGuard) {
    if let Some(provider) = &guard.tracer_provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    if let Some(provider) = &guard.meter_provider {
        opentelemetry::global::set_meter_provider(provider.clone());
    }
}
