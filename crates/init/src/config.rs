//! The resolved configuration: environment, then builder overrides, with a warning for every
//! value that was ignored.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::Temporality;
use percent_encoding::percent_decode_str;
use tonic::codegen::http::Uri;
use tracewire_core::propagation::{OTEL_PROPAGATORS, PropagatorKind, parse_propagators};

use crate::env::{EnvSource, Reader, Zero, lookup_variant, names_of};
use crate::format::{LOG_FORMATS, LogFormat};
use crate::warning::{Warning, WarningKind};

/// One of the three signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Traces (spans).
    Traces,
    /// Metrics.
    Metrics,
    /// Logs.
    Logs,
}

impl Signal {
    /// `traces`, `metrics` or `logs`, as in `v1/<signal>` and the variable names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
            Self::Logs => "LOGS",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sampler, from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// The ratio samplers are consistent probability samplers
/// ([`tracewire_core::sampling`]): a trace's randomness (the trace id's rightmost 7 bytes, or
/// `ot=rv:…`) against a threshold recorded as `ot=th:…` in `tracestate`, as the OpenTelemetry
/// specification now defines `TraceIdRatioBased`, so that services sampling at different ratios
/// keep consistent sub-traces (opentelemetry_sdk 0.33's own ratio sampler does not).
#[derive(Clone, Debug, PartialEq)]
pub enum SamplerConfig {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with its ratio: every span decides by the trace's randomness.
    TraceIdRatio(f64),
    /// `parentbased_always_on` (the default).
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio` with its ratio.
    ParentBasedTraceIdRatio(f64),
    /// `tracewire_rules`: rules in [the syntax of `tracewire_core::sampling`](
    /// tracewire_core::sampling#rule-syntax), from `OTEL_TRACES_SAMPLER_ARG` or the file named by
    /// `TRACEWIRE_SAMPLING_RULES_FILE`; spans no rule matches are kept (parent-based).
    Rules(String),
    /// `tracewire_rate_limited` with its rate: at most this many new traces a second,
    /// parent-based.
    RateLimited(f64),
}

impl SamplerConfig {
    pub(crate) fn build(&self) -> ConfiguredSampler {
        use opentelemetry_sdk::trace::Sampler;
        use tracewire_core::sampling::{Decision, Rule, RuleSampler};
        let sdk = |sampler| ConfiguredSampler::Sdk(sampler);
        match self {
            Self::AlwaysOn => sdk(Sampler::AlwaysOn),
            Self::AlwaysOff => sdk(Sampler::AlwaysOff),
            Self::ParentBasedAlwaysOn => sdk(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            Self::ParentBasedAlwaysOff => sdk(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
            Self::TraceIdRatio(ratio) => ConfiguredSampler::Rules(RuleSampler::new(
                [Rule::new(Decision::ratio(*ratio)).ignore_parent()],
                Decision::ratio(*ratio),
            )),
            Self::ParentBasedTraceIdRatio(ratio) => {
                ConfiguredSampler::Rules(RuleSampler::new([], Decision::ratio(*ratio)))
            }
            // Validated when the configuration was read; a failure here cannot happen, and
            // keeps the default sampler all the same.
            Self::Rules(rules) => RuleSampler::parse(rules, Decision::Keep).map_or_else(
                |_| sdk(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
                ConfiguredSampler::Rules,
            ),
            Self::RateLimited(per_second) => {
                ConfiguredSampler::Rules(RuleSampler::new([], Decision::rate_limit(*per_second)))
            }
        }
    }
}

/// The sampler a configuration builds: the SDK's, or tracewire's rules.
#[derive(Clone, Debug)]
pub(crate) enum ConfiguredSampler {
    Sdk(opentelemetry_sdk::trace::Sampler),
    Rules(tracewire_core::sampling::RuleSampler),
}

impl opentelemetry_sdk::trace::ShouldSample for ConfiguredSampler {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        span_kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        match self {
            Self::Sdk(sampler) => {
                sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
            Self::Rules(sampler) => {
                sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

/// Where a signal is exported, from `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExporterKind {
    /// `otlp`.
    Otlp,
    /// `console`: one compact line per item on stdout (or the builder's writer).
    Console,
    /// `prometheus` (metrics only): served for scraping at
    /// `http://<OTEL_EXPORTER_PROMETHEUS_HOST>:<OTEL_EXPORTER_PROMETHEUS_PORT>/metrics`.
    Prometheus,
}

/// The OTLP transport, from `OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// `grpc`.
    Grpc,
    /// `http/protobuf` (the specification's default).
    HttpProtobuf,
    /// `http/json`: OTLP/HTTP with JSON bodies.
    HttpJson,
}

impl Protocol {
    /// Whether this is one of the OTLP/HTTP protocols (endpoints end in `v1/<signal>`).
    pub fn is_http(self) -> bool {
        matches!(self, Self::HttpProtobuf | Self::HttpJson)
    }
}

/// OTLP payload compression, from `OTEL_EXPORTER_OTLP[_SIGNAL]_COMPRESSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `gzip`.
    Gzip,
}

/// The OTLP settings of one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The transport.
    pub protocol: Protocol,
    /// The full endpoint: for HTTP, the URL including `v1/<signal>`.
    pub endpoint: String,
    /// Headers (gRPC metadata) sent with every export, percent-decoded.
    pub headers: Vec<(String, String)>,
    /// The timeout of one export request.
    pub timeout: Duration,
    /// The compression, `None` for none.
    pub compression: Option<Compression>,
    /// PEM file of the CA certificates trusted for the collector's certificate, instead of the
    /// platform's root certificates.
    pub certificate: Option<PathBuf>,
    /// PEM file of the client certificate, for mTLS.
    pub client_certificate: Option<PathBuf>,
    /// PEM file of the client key, for mTLS.
    pub client_key: Option<PathBuf>,
}

/// Batch processor settings (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchSettings {
    /// The delay between two exports.
    pub schedule_delay: Duration,
    /// The timeout of one export, enforced by tracewire around the exporter.
    pub export_timeout: Duration,
    /// The queue bound: items beyond it are dropped (and counted, for spans).
    pub max_queue_size: usize,
    /// The largest batch; never more than `max_queue_size`.
    pub max_export_batch_size: usize,
}

/// Span limits, from `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` and
/// `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanLimitsConfig {
    /// Attributes per span.
    pub attributes_per_span: u32,
    /// Events per span.
    pub events_per_span: u32,
    /// Links per span.
    pub links_per_span: u32,
    /// Attributes per event.
    pub attributes_per_event: u32,
    /// Attributes per link.
    pub attributes_per_link: u32,
}

/// Where `service.name` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceNameSource {
    /// [`Builder::service_name`](crate::Builder::service_name).
    Builder,
    /// `OTEL_SERVICE_NAME`.
    ServiceNameVariable,
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`.
    ResourceAttributes,
    /// `unknown_service:<executable>`.
    Default,
}

/// Everything `init` sets up, resolved from the environment and the builder. Inspect it with
/// [`Builder::resolve`](crate::Builder::resolve) without installing anything.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `OTEL_SDK_DISABLED`: no provider is built and nothing is exported.
    pub sdk_disabled: bool,
    /// `service.name`.
    pub service_name: String,
    /// Where `service.name` came from.
    pub service_name_source: ServiceNameSource,
    /// Other resource attributes: `OTEL_RESOURCE_ATTRIBUTES`, then the builder's (which win).
    pub resource_attributes: Vec<KeyValue>,
    /// The sampler.
    pub sampler: SamplerConfig,
    /// The span batch processor.
    pub span_batch: BatchSettings,
    /// The log batch processor.
    pub log_batch: BatchSettings,
    /// The span limits.
    pub span_limits: SpanLimitsConfig,
    /// `OTEL_METRIC_EXPORT_INTERVAL`.
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`, enforced by tracewire around the exporter.
    pub metric_export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Temporality,
    /// Exporters of spans.
    pub traces_exporters: Vec<ExporterKind>,
    /// Exporters of metrics.
    pub metrics_exporters: Vec<ExporterKind>,
    /// Exporters of logs.
    pub logs_exporters: Vec<ExporterKind>,
    /// OTLP settings for traces.
    pub traces_otlp: OtlpConfig,
    /// OTLP settings for metrics.
    pub metrics_otlp: OtlpConfig,
    /// OTLP settings for logs.
    pub logs_otlp: OtlpConfig,
    /// The propagators from `OTEL_PROPAGATORS` (ignored when the builder sets a propagator).
    pub propagators: Vec<PropagatorKind>,
    /// The `tracing` filter directives: `RUST_LOG`, else the builder's default (`info`).
    pub log_filter: String,
    /// The `fmt` layer's line format: the builder's, else `TRACEWIRE_LOG_FORMAT`, else `full`.
    pub log_format: LogFormat,
    /// The host the Prometheus exporter listens on: `OTEL_EXPORTER_PROMETHEUS_HOST`
    /// (default `localhost`).
    pub prometheus_host: String,
    /// The port the Prometheus exporter listens on: `OTEL_EXPORTER_PROMETHEUS_PORT`
    /// (default 9464).
    pub prometheus_port: u16,
}

impl Config {
    /// The exporters of `signal`.
    pub fn exporters(&self, signal: Signal) -> &[ExporterKind] {
        match signal {
            Signal::Traces => &self.traces_exporters,
            Signal::Metrics => &self.metrics_exporters,
            Signal::Logs => &self.logs_exporters,
        }
    }

    /// The OTLP settings of `signal`.
    pub fn otlp(&self, signal: Signal) -> &OtlpConfig {
        match signal {
            Signal::Traces => &self.traces_otlp,
            Signal::Metrics => &self.metrics_otlp,
            Signal::Logs => &self.logs_otlp,
        }
    }
}

/// The code-level settings that win over the environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) resource_attributes: Vec<KeyValue>,
    pub(crate) sampler: Option<SamplerConfig>,
    pub(crate) exporters: Vec<(Signal, Vec<ExporterKind>)>,
    pub(crate) exporters_without_endpoint: Vec<(Signal, Vec<ExporterKind>)>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) endpoint: Option<String>,
    pub(crate) default_log_filter: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_VERSION: &str = "service.version";
const DEFAULT_FILTER: &str = "info";
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_LIMIT: usize = 128;

/// Reads every variable from `source`, applies `overrides`, and returns the warnings.
pub(crate) fn resolve(source: &EnvSource, overrides: &Overrides) -> (Config, Vec<Warning>) {
    let mut r = Reader::new(source);
    if let Some(file) = r.string("OTEL_CONFIG_FILE") {
        r.warn(
            "OTEL_CONFIG_FILE",
            &file,
            WarningKind::Unsupported,
            "declarative configuration files are not supported",
            "the environment variables",
        );
    }
    let sdk_disabled = r.boolean("OTEL_SDK_DISABLED");
    let (service_name, service_name_source, resource_attributes) = resource(&mut r, overrides);
    let sampler = overrides.sampler.clone().unwrap_or_else(|| sampler(&mut r));
    let span_batch = batch(&mut r, "OTEL_BSP", Duration::from_millis(5000));
    let log_batch = batch(&mut r, "OTEL_BLRP", Duration::from_millis(1000));
    let span_limits = span_limits(&mut r);
    let metric_export_interval = r.millis(
        "OTEL_METRIC_EXPORT_INTERVAL",
        Duration::from_millis(60_000),
        Zero::Invalid,
    );
    let metric_export_timeout = r.millis(
        "OTEL_METRIC_EXPORT_TIMEOUT",
        Duration::from_millis(30_000),
        Zero::NoLimit,
    );
    let temporality = r.enumeration(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        &[
            ("cumulative", Temporality::Cumulative),
            ("delta", Temporality::Delta),
            ("lowmemory", Temporality::LowMemory),
        ],
        Temporality::Cumulative,
    );
    let [traces_exporters, metrics_exporters, logs_exporters] =
        [Signal::Traces, Signal::Metrics, Signal::Logs].map(|signal| {
            let without_endpoint = overrides
                .exporters_without_endpoint
                .iter()
                .find(|(s, _)| *s == signal)
                .filter(|_| !exporter_or_endpoint_set(&r, signal, overrides));
            match overrides.exporters.iter().find(|(s, _)| *s == signal) {
                Some((_, kinds)) => kinds.clone(),
                None => match without_endpoint {
                    Some((_, kinds)) => kinds.clone(),
                    None => exporters(&mut r, signal),
                },
            }
        });
    let [traces_otlp, metrics_otlp, logs_otlp] = [Signal::Traces, Signal::Metrics, Signal::Logs]
        .map(|signal| otlp(&mut r, signal, overrides));
    let parsed = parse_propagators(&r.string(OTEL_PROPAGATORS).unwrap_or_default());
    for warning in parsed.warnings() {
        r.warn(
            OTEL_PROPAGATORS,
            &r.string(OTEL_PROPAGATORS).unwrap_or_default(),
            WarningKind::Propagator(warning.clone()),
            warning.to_string(),
            format!("the propagators {:?}", parsed.kinds()),
        );
    }
    let log_filter = r.string("RUST_LOG").unwrap_or_else(|| {
        overrides
            .default_log_filter
            .clone()
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned())
    });
    let log_format = overrides
        .log_format
        .unwrap_or_else(|| r.enumeration(LOG_FORMAT, LOG_FORMATS, LogFormat::default()));
    let (prometheus_host, prometheus_port) = prometheus(&mut r);
    let config = Config {
        sdk_disabled,
        service_name,
        service_name_source,
        resource_attributes,
        sampler,
        span_batch,
        log_batch,
        span_limits,
        metric_export_interval,
        metric_export_timeout,
        temporality,
        traces_exporters,
        metrics_exporters,
        logs_exporters,
        traces_otlp,
        metrics_otlp,
        logs_otlp,
        propagators: parsed.kinds().to_vec(),
        log_filter,
        log_format,
        prometheus_host,
        prometheus_port,
    };
    // Signals share the generic variables: report each problem once.
    let mut warnings: Vec<Warning> = Vec::with_capacity(r.warnings.len());
    for warning in r.warnings {
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
    (config, warnings)
}

fn resource(
    r: &mut Reader<'_>,
    overrides: &Overrides,
) -> (String, ServiceNameSource, Vec<KeyValue>) {
    let mut attributes: Vec<KeyValue> = Vec::new();
    let mut from_attributes = None;
    if let Some(value) = r.string("OTEL_RESOURCE_ATTRIBUTES") {
        match parse_key_values(&value) {
            Ok(pairs) => {
                for (key, val) in pairs {
                    if key == SERVICE_NAME {
                        from_attributes = Some(val);
                    } else {
                        attributes.push(KeyValue::new(key, val));
                    }
                }
            }
            Err(reason) => r.warn(
                "OTEL_RESOURCE_ATTRIBUTES",
                &value,
                WarningKind::Malformed,
                reason,
                "no attributes from this variable",
            ),
        }
    }
    if let Some(version) = &overrides.service_version {
        attributes.push(KeyValue::new(SERVICE_VERSION, version.clone()));
    }
    attributes.extend(overrides.resource_attributes.iter().cloned());
    let (name, source) = if let Some(name) = &overrides.service_name {
        (name.clone(), ServiceNameSource::Builder)
    } else if let Some(name) = r.string("OTEL_SERVICE_NAME") {
        (name, ServiceNameSource::ServiceNameVariable)
    } else if let Some(name) = from_attributes {
        (name, ServiceNameSource::ResourceAttributes)
    } else {
        (unknown_service(), ServiceNameSource::Default)
    };
    // A later duplicate wins when the resource is built, so builder attributes override the
    // variable; `service.name` is set separately and never taken from this list.
    attributes.retain(|kv| kv.key.as_str() != SERVICE_NAME);
    (name, source, attributes)
}

fn unknown_service() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name()?.to_str().map(str::to_owned))
        .map_or_else(
            || "unknown_service".to_owned(),
            |exe| format!("unknown_service:{exe}"),
        )
}

/// Parses `k1=v1,k2=v2` with percent-decoded keys and values (the format of
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`). Empty entries are skipped.
pub(crate) fn parse_key_values(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (key, val) = entry
                .split_once('=')
                .ok_or_else(|| format!("entry `{entry}` has no `=`"))?;
            let key = decode(key.trim())?;
            if key.is_empty() {
                return Err(format!("entry `{entry}` has an empty key"));
            }
            Ok((key, decode(val.trim())?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, b)| {
        *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err(format!("`{text}` has an invalid percent escape"));
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("`{text}` does not decode to UTF-8"))
}

const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// The file `tracewire_rules` reads when `OTEL_TRACES_SAMPLER_ARG` is unset.
const SAMPLING_RULES_FILE: &str = "TRACEWIRE_SAMPLING_RULES_FILE";
/// `tracewire_rate_limited` without an argument.
const DEFAULT_TRACES_PER_SECOND: f64 = 100.0;

fn sampler(r: &mut Reader<'_>) -> SamplerConfig {
    #[derive(Clone, Copy, Debug)]
    enum Name {
        On,
        Off,
        Ratio,
        ParentOn,
        ParentOff,
        ParentRatio,
        Rules,
        RateLimited,
    }
    const NAMES: &[(&str, Name)] = &[
        ("always_on", Name::On),
        ("always_off", Name::Off),
        ("traceidratio", Name::Ratio),
        ("parentbased_always_on", Name::ParentOn),
        ("parentbased_always_off", Name::ParentOff),
        ("parentbased_traceidratio", Name::ParentRatio),
        ("tracewire_rules", Name::Rules),
        ("tracewire_rate_limited", Name::RateLimited),
    ];
    const UNSUPPORTED: &[&str] = &["jaeger_remote", "parentbased_jaeger_remote", "xray"];
    let default = SamplerConfig::ParentBasedAlwaysOn;
    let Some(value) = r.string(SAMPLER) else {
        return default;
    };
    let name = match lookup_variant(NAMES, &value) {
        Some(name) => name,
        None => {
            let (kind, reason) = if UNSUPPORTED.iter().any(|u| u.eq_ignore_ascii_case(&value)) {
                (
                    WarningKind::Unsupported,
                    "sampler not supported by tracewire".to_owned(),
                )
            } else {
                (
                    WarningKind::Unknown,
                    format!("unknown sampler (expected one of {})", names_of(NAMES)),
                )
            };
            r.warn(SAMPLER, &value, kind, reason, "parentbased_always_on");
            return default;
        }
    };
    match name {
        Name::On => SamplerConfig::AlwaysOn,
        Name::Off => SamplerConfig::AlwaysOff,
        Name::ParentOn => SamplerConfig::ParentBasedAlwaysOn,
        Name::ParentOff => SamplerConfig::ParentBasedAlwaysOff,
        Name::Ratio => SamplerConfig::TraceIdRatio(ratio(r)),
        Name::ParentRatio => SamplerConfig::ParentBasedTraceIdRatio(ratio(r)),
        Name::Rules => rules(r).map_or(default, SamplerConfig::Rules),
        Name::RateLimited => SamplerConfig::RateLimited(traces_per_second(r)),
    }
}

/// The rules of `tracewire_rules`, checked; `None` (after a warning per problem) when they are
/// missing or any rule is malformed: a partial rule set could keep what a dropped rule was
/// written to drop.
fn rules(r: &mut Reader<'_>) -> Option<String> {
    let fallback = "parentbased_always_on";
    let (source, text) = match (r.string(SAMPLER_ARG), r.string(SAMPLING_RULES_FILE)) {
        (Some(inline), _) => (SAMPLER_ARG, inline),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => (SAMPLING_RULES_FILE, text),
            Err(error) => {
                r.warn(
                    SAMPLING_RULES_FILE,
                    &path,
                    WarningKind::Unreadable,
                    format!("cannot read the rules: {error}"),
                    fallback,
                );
                return None;
            }
        },
        (None, None) => {
            r.warn(
                SAMPLER,
                "tracewire_rules",
                WarningKind::Malformed,
                format!("no rules: set {SAMPLER_ARG} or {SAMPLING_RULES_FILE}"),
                fallback,
            );
            return None;
        }
    };
    match tracewire_core::sampling::RuleSampler::parse(
        &text,
        tracewire_core::sampling::Decision::Keep,
    ) {
        Ok(_) => Some(text),
        Err(errors) => {
            for error in errors {
                r.warn(
                    source,
                    &error.rule,
                    WarningKind::Malformed,
                    error.to_string(),
                    fallback,
                );
            }
            None
        }
    }
}

fn traces_per_second(r: &mut Reader<'_>) -> f64 {
    sampler_number(
        r,
        |rate| rate.is_finite() && rate > 0.0,
        "the rate must be a positive number of traces a second",
        (DEFAULT_TRACES_PER_SECOND, "100"),
    )
}

fn ratio(r: &mut Reader<'_>) -> f64 {
    sampler_number(
        r,
        |ratio| (0.0..=1.0).contains(&ratio),
        "the ratio must be in [0, 1]",
        (1.0, "1.0"),
    )
}

/// `OTEL_TRACES_SAMPLER_ARG` as a number `valid` accepts; else a warning and `default`.
fn sampler_number(
    r: &mut Reader<'_>,
    valid: fn(f64) -> bool,
    out_of_range: &str,
    (default, shown): (f64, &str),
) -> f64 {
    let Some(value) = r.string(SAMPLER_ARG) else {
        return default;
    };
    let (kind, reason) = match value.parse::<f64>() {
        Ok(number) if valid(number) => return number,
        Ok(_) => (WarningKind::OutOfRange, out_of_range),
        Err(_) => (WarningKind::InvalidNumber, "not a number"),
    };
    r.warn(SAMPLER_ARG, &value, kind, reason, shown);
    default
}

fn batch(r: &mut Reader<'_>, prefix: &str, default_delay: Duration) -> BatchSettings {
    let schedule_delay = r.millis(
        &format!("{prefix}_SCHEDULE_DELAY"),
        default_delay,
        Zero::Invalid,
    );
    let export_timeout = r.millis(
        &format!("{prefix}_EXPORT_TIMEOUT"),
        Duration::from_millis(30_000),
        Zero::NoLimit,
    );
    let max_queue_size = r.count(&format!("{prefix}_MAX_QUEUE_SIZE"), 2048, 1);
    let batch_name = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
    let mut max_export_batch_size = r.count(&batch_name, 512, 1);
    // The default batch size shrinks silently to a smaller queue; an explicit one warns.
    if max_export_batch_size > max_queue_size && r.string(&batch_name).is_some() {
        r.warn(
            &batch_name,
            &max_export_batch_size.to_string(),
            WarningKind::Conflict,
            format!("larger than the queue size {max_queue_size}"),
            format!("{max_queue_size}"),
        );
    }
    max_export_batch_size = max_export_batch_size.min(max_queue_size);
    BatchSettings {
        schedule_delay,
        export_timeout,
        max_queue_size,
        max_export_batch_size,
    }
}

fn span_limits(r: &mut Reader<'_>) -> SpanLimitsConfig {
    for name in [
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    ] {
        if let Some(value) = r.string(name) {
            r.warn(
                name,
                &value,
                WarningKind::Unsupported,
                "the Rust SDK cannot truncate attribute values",
                "no length limit",
            );
        }
    }
    // OTEL_ATTRIBUTE_COUNT_LIMIT is the general default the span-specific variables refine.
    let general = r.count("OTEL_ATTRIBUTE_COUNT_LIMIT", DEFAULT_LIMIT, 0);
    let mut limit =
        |name: &str, default: usize| u32::try_from(r.count(name, default, 0)).unwrap_or(u32::MAX);
    SpanLimitsConfig {
        attributes_per_span: limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", general),
        events_per_span: limit("OTEL_SPAN_EVENT_COUNT_LIMIT", DEFAULT_LIMIT),
        links_per_span: limit("OTEL_SPAN_LINK_COUNT_LIMIT", DEFAULT_LIMIT),
        attributes_per_event: limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", general),
        attributes_per_link: limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", general),
    }
}

/// Whether `OTEL_{SIGNAL}_EXPORTER` or an OTLP endpoint for `signal` (generic, specific or from
/// the builder) is configured.
fn exporter_or_endpoint_set(r: &Reader<'_>, signal: Signal, overrides: &Overrides) -> bool {
    let upper = signal.upper();
    overrides.endpoint.is_some()
        || r.string(&format!("OTEL_{upper}_EXPORTER")).is_some()
        || r.string("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || r.string(&format!("OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"))
            .is_some()
}

fn exporters(r: &mut Reader<'_>, signal: Signal) -> Vec<ExporterKind> {
    let name = format!("OTEL_{}_EXPORTER", signal.upper());
    let Some(value) = r.string(&name) else {
        return vec![ExporterKind::Otlp];
    };
    let mut kinds = Vec::new();
    let mut none = false;
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let kind = match entry.to_ascii_lowercase().as_str() {
            "none" => {
                none = true;
                continue;
            }
            "otlp" => ExporterKind::Otlp,
            "console" => ExporterKind::Console,
            "logging" => {
                r.warn(
                    &name,
                    entry,
                    WarningKind::Deprecated,
                    "`logging` is deprecated",
                    "`console`",
                );
                ExporterKind::Console
            }
            "prometheus" if signal == Signal::Metrics => ExporterKind::Prometheus,
            "zipkin" | "prometheus" | "otlp/stdout" => {
                r.warn(
                    &name,
                    entry,
                    WarningKind::Unsupported,
                    "exporter not supported by tracewire",
                    "nothing for this entry",
                );
                continue;
            }
            _ => {
                r.warn(
                    &name,
                    entry,
                    WarningKind::Unknown,
                    "unknown exporter (expected `otlp`, `console` or `none`)",
                    "nothing for this entry",
                );
                continue;
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if none && !kinds.is_empty() {
        r.warn(
            &name,
            &value,
            WarningKind::Conflict,
            "`none` disables the signal's exporters",
            "no exporter",
        );
        kinds.clear();
    }
    kinds
}

/// Reads the OTLP settings of one signal: each setting from the signal-specific variable if set,
/// else from the generic one.
fn otlp(r: &mut Reader<'_>, signal: Signal, overrides: &Overrides) -> OtlpConfig {
    let specific = |suffix: &str| format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.upper());
    let generic = |suffix: &str| format!("OTEL_EXPORTER_OTLP_{suffix}");
    // The name of the variable that provides `suffix`: the specific one when it is set.
    let pick = |r: &Reader<'_>, suffix: &str| {
        let name = specific(suffix);
        if r.string(&name).is_some() {
            name
        } else {
            generic(suffix)
        }
    };

    let protocol = overrides.protocol.unwrap_or_else(|| {
        let name = pick(r, "PROTOCOL");
        let Some(value) = r.string(&name) else {
            return Protocol::HttpProtobuf;
        };
        match value.to_ascii_lowercase().as_str() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            "http/json" => Protocol::HttpJson,
            _ => {
                r.warn(
                    &name,
                    &value,
                    WarningKind::Unknown,
                    "unknown protocol (expected `grpc`, `http/protobuf` or `http/json`)",
                    "http/protobuf",
                );
                Protocol::HttpProtobuf
            }
        }
    });

    let insecure_name = pick(r, "INSECURE");
    let insecure = r.boolean(&insecure_name);
    let endpoint = endpoint(r, signal, protocol, insecure, overrides);

    let headers_name = pick(r, "HEADERS");
    let headers = match r.string(&headers_name) {
        None => Vec::new(),
        Some(value) => match parse_key_values(&value) {
            Ok(pairs) => pairs
                .into_iter()
                .filter(|(key, val)| {
                    let valid = valid_header(key, val);
                    if !valid {
                        r.warn(
                            &headers_name,
                            &format!("{key}={val}"),
                            WarningKind::Malformed,
                            "not a valid header name or value",
                            "this header is not sent",
                        );
                    }
                    valid
                })
                .map(|(key, val)| (key.to_ascii_lowercase(), val))
                .collect(),
            Err(reason) => {
                r.warn(
                    &headers_name,
                    &value,
                    WarningKind::Malformed,
                    reason,
                    "no headers from this variable",
                );
                Vec::new()
            }
        },
    };

    let timeout_name = pick(r, "TIMEOUT");
    let timeout = r.millis(&timeout_name, DEFAULT_EXPORT_TIMEOUT, Zero::NoLimit);

    let compression_name = pick(r, "COMPRESSION");
    let compression = match r.string(&compression_name) {
        None => None,
        Some(value) if value.eq_ignore_ascii_case("none") => None,
        Some(value) if value.eq_ignore_ascii_case("gzip") => Some(Compression::Gzip),
        Some(value) => {
            r.warn(
                &compression_name,
                &value,
                WarningKind::Unknown,
                "unknown compression (expected `gzip` or `none`)",
                "no compression",
            );
            None
        }
    };

    let path = |suffix: &str| r.string(&pick(r, suffix)).map(PathBuf::from);
    let certificate = path("CERTIFICATE");
    let client_certificate = path("CLIENT_CERTIFICATE");
    let client_key = path("CLIENT_KEY");
    if client_certificate.is_some() != client_key.is_some() {
        let value = client_certificate
            .as_ref()
            .or(client_key.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        r.warn(
            &specific("CLIENT_CERTIFICATE"),
            &value,
            WarningKind::Conflict,
            "mTLS needs both a client certificate and a client key",
            "no client certificate",
        );
    }
    OtlpConfig {
        protocol,
        endpoint,
        headers,
        timeout,
        compression,
        certificate,
        client_certificate,
        client_key,
    }
}

fn endpoint(
    r: &mut Reader<'_>,
    signal: Signal,
    protocol: Protocol,
    insecure: bool,
    overrides: &Overrides,
) -> String {
    let default_base = if protocol.is_http() {
        "http://localhost:4318"
    } else {
        "http://localhost:4317"
    };
    let for_base = |base: &str| {
        if protocol.is_http() {
            format!("{}/v1/{}", base.trim_end_matches('/'), signal.name())
        } else {
            base.to_owned()
        }
    };
    let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper());
    let generic = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let (name, value, is_base) = if let Some(base) = &overrides.endpoint {
        ("endpoint (builder)".to_owned(), base.clone(), true)
    } else if let Some(value) = r.string(&specific) {
        (specific, value, false)
    } else if let Some(value) = r.string(generic) {
        (generic.to_owned(), value, true)
    } else {
        return for_base(default_base);
    };
    let with_scheme = if value.contains("://") {
        value.clone()
    } else if protocol == Protocol::Grpc {
        // For gRPC, a missing scheme is allowed and `_INSECURE` decides between http and https.
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{value}")
    } else {
        value.clone()
    };
    match with_scheme.parse::<Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            if is_base {
                for_base(&with_scheme)
            } else if protocol.is_http() && !has_path(&with_scheme) {
                format!("{with_scheme}/")
            } else {
                with_scheme
            }
        }
        _ => {
            let fallback = for_base(default_base);
            r.warn(
                &name,
                &value,
                WarningKind::Malformed,
                "not an http:// or https:// URL",
                fallback.clone(),
            );
            fallback
        }
    }
}

fn has_path(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'))
}

fn valid_header(name: &str, value: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty()
        && name.bytes().all(token)
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

const LOG_FORMAT: &str = "TRACEWIRE_LOG_FORMAT";
const PROMETHEUS_HOST: &str = "OTEL_EXPORTER_PROMETHEUS_HOST";
const PROMETHEUS_PORT: &str = "OTEL_EXPORTER_PROMETHEUS_PORT";
const DEFAULT_PROMETHEUS_PORT: u16 = 9464;

/// The Prometheus exporter's host and port (read whether or not it is configured, like the
/// OTLP settings).
fn prometheus(r: &mut Reader<'_>) -> (String, u16) {
    let host = r
        .string(PROMETHEUS_HOST)
        .unwrap_or_else(|| "localhost".to_owned());
    let port = r.count(PROMETHEUS_PORT, DEFAULT_PROMETHEUS_PORT.into(), 0);
    let port = u16::try_from(port).unwrap_or_else(|_| {
        r.warn(
            PROMETHEUS_PORT,
            &port.to_string(),
            WarningKind::OutOfRange,
            "a port is at most 65535",
            format!("the default {DEFAULT_PROMETHEUS_PORT}"),
        );
        DEFAULT_PROMETHEUS_PORT
    });
    (host, port)
}
