//! Every variable, valid and invalid: the resolved configuration and the warnings, without
//! installing anything (the environment is injected, so these tests run in parallel).

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::Temporality;
use tracewire_core::propagation::{PropagatorKind, PropagatorWarning};
use tracewire_init::{
    Compression, Config, EnvSource, ExporterKind, LogFormat, Protocol, SamplerConfig,
    ServiceNameSource, Signal, Warning, WarningKind,
};

fn resolve(vars: &[(&str, &str)]) -> (Config, Vec<Warning>) {
    tracewire_init::builder()
        .env(EnvSource::from_pairs(vars.iter().copied()))
        .resolve()
}

/// Resolves `vars`, expecting exactly one warning about `variable` of `kind`.
fn resolve_warning(vars: &[(&str, &str)], variable: &str, kind: WarningKind) -> (Config, Warning) {
    let (config, warnings) = resolve(vars);
    assert_eq!(warnings.len(), 1, "expected one warning, got {warnings:#?}");
    let warning = warnings[0].clone();
    assert_eq!(warning.variable, variable, "{warning}");
    assert_eq!(warning.kind, kind, "{warning}");
    (config, warning)
}

fn attr<'a>(config: &'a Config, key: &str) -> Option<&'a KeyValue> {
    config
        .resource_attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
}

#[test]
fn defaults_follow_the_specification() {
    let (config, warnings) = resolve(&[]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!config.sdk_disabled);
    assert!(config.service_name.starts_with("unknown_service:"));
    assert_eq!(config.service_name_source, ServiceNameSource::Default);
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(
        config.span_batch.schedule_delay,
        Duration::from_millis(5000)
    );
    assert_eq!(
        config.span_batch.export_timeout,
        Duration::from_millis(30_000)
    );
    assert_eq!(config.span_batch.max_queue_size, 2048);
    assert_eq!(config.span_batch.max_export_batch_size, 512);
    assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(1000));
    assert_eq!(config.span_limits.attributes_per_span, 128);
    assert_eq!(config.span_limits.events_per_span, 128);
    assert_eq!(config.metric_export_interval, Duration::from_secs(60));
    assert_eq!(config.metric_export_timeout, Duration::from_secs(30));
    assert_eq!(config.temporality, Temporality::Cumulative);
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        assert_eq!(config.exporters(signal), [ExporterKind::Otlp]);
        let otlp = config.otlp(signal);
        assert_eq!(otlp.protocol, Protocol::HttpProtobuf);
        assert_eq!(otlp.endpoint, format!("http://localhost:4318/v1/{signal}"));
        assert_eq!(otlp.timeout, Duration::from_secs(10));
        assert_eq!(otlp.compression, None);
        assert!(otlp.headers.is_empty());
    }
    assert_eq!(
        config.propagators,
        [PropagatorKind::TraceContext, PropagatorKind::Baggage]
    );
    assert_eq!(config.log_filter, "info");
}

#[test]
fn empty_values_are_unset() {
    let (config, warnings) = resolve(&[
        ("OTEL_SERVICE_NAME", ""),
        ("OTEL_TRACES_SAMPLER", ""),
        ("OTEL_BSP_MAX_QUEUE_SIZE", ""),
        ("OTEL_TRACES_EXPORTER", ""),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.service_name_source, ServiceNameSource::Default);
    assert_eq!(config.span_batch.max_queue_size, 2048);
    assert_eq!(config.traces_exporters, [ExporterKind::Otlp]);
}

#[test]
fn service_name_precedence_is_builder_then_variable_then_attributes() {
    let attrs = (
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attrs,team=core",
    );
    let (config, _) = resolve(&[attrs]);
    assert_eq!(config.service_name, "from-attrs");
    assert_eq!(
        config.service_name_source,
        ServiceNameSource::ResourceAttributes
    );
    assert!(attr(&config, "service.name").is_none());

    let (config, _) = resolve(&[attrs, ("OTEL_SERVICE_NAME", "from-var")]);
    assert_eq!(config.service_name, "from-var");
    assert_eq!(
        config.service_name_source,
        ServiceNameSource::ServiceNameVariable
    );

    let (config, _) = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            attrs,
            ("OTEL_SERVICE_NAME", "from-var"),
        ]))
        .service_name("from-builder")
        .resolve();
    assert_eq!(config.service_name, "from-builder");
    assert_eq!(config.service_name_source, ServiceNameSource::Builder);
}

#[test]
fn resource_attributes_are_percent_decoded_and_builder_attributes_win() {
    let (config, warnings) = tracewire_init::builder()
        .env(EnvSource::from_pairs([(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod%2Ceu , note=a%3Db%20c,team=env",
        )]))
        .resource_attribute(KeyValue::new("team", "builder"))
        .service_version("1.2.3")
        .resolve();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        attr(&config, "deployment.environment").map(|kv| kv.value.to_string()),
        Some("prod,eu".to_owned())
    );
    assert_eq!(
        attr(&config, "note").map(|kv| kv.value.to_string()),
        Some("a=b c".to_owned())
    );
    assert_eq!(
        attr(&config, "service.version").map(|kv| kv.value.to_string()),
        Some("1.2.3".to_owned())
    );
    // The builder's value comes last, so it wins when the resource is built.
    let teams: Vec<String> = config
        .resource_attributes
        .iter()
        .filter(|kv| kv.key.as_str() == "team")
        .map(|kv| kv.value.to_string())
        .collect();
    assert_eq!(teams.last().map(String::as_str), Some("builder"));
}

#[test]
fn a_malformed_resource_attributes_value_is_dropped_whole() {
    for value in ["a=1,broken", "a=1,b=%zz", "=x", "a=%FF"] {
        let (config, warning) = resolve_warning(
            &[
                ("OTEL_RESOURCE_ATTRIBUTES", value),
                ("OTEL_SERVICE_NAME", "svc"),
            ],
            "OTEL_RESOURCE_ATTRIBUTES",
            WarningKind::Malformed,
        );
        assert!(config.resource_attributes.is_empty(), "{value}");
        assert_eq!(config.service_name, "svc");
        assert_eq!(warning.fallback, "no attributes from this variable");
    }
}

#[test]
fn samplers_and_ratios() {
    let cases: &[(&[(&str, &str)], SamplerConfig)] = &[
        (
            &[("OTEL_TRACES_SAMPLER", "always_on")],
            SamplerConfig::AlwaysOn,
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "ALWAYS_OFF")],
            SamplerConfig::AlwaysOff,
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "traceidratio")],
            SamplerConfig::TraceIdRatio(1.0),
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            SamplerConfig::TraceIdRatio(0.25),
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0"),
            ],
            SamplerConfig::ParentBasedTraceIdRatio(0.0),
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
            SamplerConfig::ParentBasedAlwaysOff,
        ),
        // The argument only matters to ratio samplers.
        (
            &[
                ("OTEL_TRACES_SAMPLER", "always_on"),
                ("OTEL_TRACES_SAMPLER_ARG", "junk"),
            ],
            SamplerConfig::AlwaysOn,
        ),
    ];
    for (vars, expected) in cases {
        let (config, warnings) = resolve(vars);
        assert!(warnings.is_empty(), "{vars:?}: {warnings:?}");
        assert_eq!(config.sampler, *expected, "{vars:?}");
    }
}

#[test]
fn invalid_samplers_warn_and_fall_back() {
    let (config, warning) = resolve_warning(
        &[("OTEL_TRACES_SAMPLER", "sometimes")],
        "OTEL_TRACES_SAMPLER",
        WarningKind::Unknown,
    );
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(warning.fallback, "parentbased_always_on");

    let (config, _) = resolve_warning(
        &[("OTEL_TRACES_SAMPLER", "jaeger_remote")],
        "OTEL_TRACES_SAMPLER",
        WarningKind::Unsupported,
    );
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);

    for (arg, kind) in [
        ("1.5", WarningKind::OutOfRange),
        ("half", WarningKind::InvalidNumber),
    ] {
        let (config, warning) = resolve_warning(
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
            kind,
        );
        assert_eq!(config.sampler, SamplerConfig::TraceIdRatio(1.0));
        assert_eq!(warning.fallback, "1.0");
    }
}

#[test]
fn the_builder_sampler_wins_over_the_environment() {
    let (config, warnings) = tracewire_init::builder()
        .env(EnvSource::from_pairs([(
            "OTEL_TRACES_SAMPLER",
            "sometimes",
        )]))
        .sampler(SamplerConfig::AlwaysOff)
        .resolve();
    assert!(warnings.is_empty());
    assert_eq!(config.sampler, SamplerConfig::AlwaysOff);
}

#[test]
fn batch_settings_are_read_for_spans_and_logs() {
    let (config, warnings) = resolve(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "32"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.span_batch.schedule_delay, Duration::from_millis(100));
    // 0 means no limit.
    assert!(config.span_batch.export_timeout > Duration::from_secs(86_400));
    assert_eq!(config.span_batch.max_queue_size, 64);
    assert_eq!(config.span_batch.max_export_batch_size, 16);
    assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(200));
    assert_eq!(config.log_batch.max_queue_size, 32);
    assert_eq!(config.log_batch.max_export_batch_size, 32);
}

#[test]
fn invalid_batch_settings_warn_and_fall_back() {
    let cases = [
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            "-5",
            WarningKind::NegativeDuration,
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "0", WarningKind::OutOfRange),
        ("OTEL_BSP_SCHEDULE_DELAY", "5s", WarningKind::InvalidNumber),
        (
            "OTEL_BSP_EXPORT_TIMEOUT",
            "-1",
            WarningKind::NegativeDuration,
        ),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", WarningKind::OutOfRange),
        (
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "lots",
            WarningKind::InvalidNumber,
        ),
        (
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
            "-3",
            WarningKind::OutOfRange,
        ),
    ];
    for (variable, value, kind) in cases {
        let (config, warning) = resolve_warning(&[(variable, value)], variable, kind);
        assert_eq!(
            config.span_batch.schedule_delay,
            Duration::from_millis(5000)
        );
        assert_eq!(
            config.span_batch.export_timeout,
            Duration::from_millis(30_000)
        );
        assert_eq!(config.span_batch.max_queue_size, 2048);
        assert_eq!(config.log_batch.max_export_batch_size, 512);
        assert!(warning.fallback.starts_with("the default"), "{warning}");
        assert!(
            warning.to_string().starts_with(&format!("{variable}=")),
            "{warning}"
        );
    }
    let (config, warning) = resolve_warning(
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
        ],
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        WarningKind::Conflict,
    );
    assert_eq!(config.span_batch.max_export_batch_size, 100);
    assert_eq!(warning.fallback, "100");
}

#[test]
fn span_limits() {
    let (config, warnings) = resolve(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "64"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "0"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "3"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let limits = config.span_limits;
    assert_eq!(limits.attributes_per_span, 64);
    assert_eq!(limits.attributes_per_event, 64);
    assert_eq!(limits.events_per_span, 10);
    assert_eq!(limits.links_per_span, 0);
    assert_eq!(limits.attributes_per_link, 3);

    let (config, _) = resolve_warning(
        &[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1")],
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        WarningKind::OutOfRange,
    );
    assert_eq!(config.span_limits.attributes_per_span, 128);
    resolve_warning(
        &[("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")],
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        WarningKind::Unsupported,
    );
}

#[test]
fn metric_reader_and_temporality() {
    let (config, warnings) = resolve(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "700"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.metric_export_interval, Duration::from_millis(1500));
    assert_eq!(config.metric_export_timeout, Duration::from_millis(700));
    assert_eq!(config.temporality, Temporality::Delta);
    let (config, _) = resolve(&[(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "lowmemory",
    )]);
    assert_eq!(config.temporality, Temporality::LowMemory);

    let (config, _) = resolve_warning(
        &[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        )],
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        WarningKind::Unknown,
    );
    assert_eq!(config.temporality, Temporality::Cumulative);
    let (config, _) = resolve_warning(
        &[("OTEL_METRIC_EXPORT_INTERVAL", "-1")],
        "OTEL_METRIC_EXPORT_INTERVAL",
        WarningKind::NegativeDuration,
    );
    assert_eq!(config.metric_export_interval, Duration::from_secs(60));
}

#[test]
fn exporter_lists() {
    let (config, warnings) = resolve(&[
        ("OTEL_TRACES_EXPORTER", "otlp, CONSOLE,otlp"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "console"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config.traces_exporters,
        [ExporterKind::Otlp, ExporterKind::Console]
    );
    assert!(config.metrics_exporters.is_empty());
    assert_eq!(config.logs_exporters, [ExporterKind::Console]);
}

#[test]
fn unknown_unsupported_and_deprecated_exporters_warn() {
    let (config, warning) = resolve_warning(
        &[("OTEL_TRACES_EXPORTER", "otlp,jaegerx")],
        "OTEL_TRACES_EXPORTER",
        WarningKind::Unknown,
    );
    assert_eq!(config.traces_exporters, [ExporterKind::Otlp]);
    assert_eq!(warning.value, "jaegerx");

    let (config, _) = resolve_warning(
        &[("OTEL_TRACES_EXPORTER", "prometheus")],
        "OTEL_TRACES_EXPORTER",
        WarningKind::Unsupported,
    );
    assert!(config.traces_exporters.is_empty());

    let (config, _) = resolve_warning(
        &[("OTEL_LOGS_EXPORTER", "logging")],
        "OTEL_LOGS_EXPORTER",
        WarningKind::Deprecated,
    );
    assert_eq!(config.logs_exporters, [ExporterKind::Console]);

    let (config, _) = resolve_warning(
        &[("OTEL_TRACES_EXPORTER", "none,otlp")],
        "OTEL_TRACES_EXPORTER",
        WarningKind::Conflict,
    );
    assert!(config.traces_exporters.is_empty());
}

#[test]
fn builder_exporters_win() {
    let (config, _) = tracewire_init::builder()
        .env(EnvSource::from_pairs([("OTEL_TRACES_EXPORTER", "console")]))
        .exporters(Signal::Traces, [])
        .resolve();
    assert!(config.traces_exporters.is_empty());
    assert_eq!(config.metrics_exporters, [ExporterKind::Otlp]);
}

#[test]
fn endpoints_follow_the_url_rules() {
    // HTTP: the generic variable is a base URL; `v1/<signal>` is appended.
    let (config, _) = resolve(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/")]);
    assert_eq!(
        config.traces_otlp.endpoint,
        "http://collector:4318/base/v1/traces"
    );
    assert_eq!(
        config.logs_otlp.endpoint,
        "http://collector:4318/base/v1/logs"
    );
    // The signal-specific variable is used as is; an empty path becomes `/`.
    let (config, _) = resolve(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9999"),
    ]);
    assert_eq!(config.traces_otlp.endpoint, "http://traces:9999/custom");
    assert_eq!(config.metrics_otlp.endpoint, "http://metrics:9999/");
    assert_eq!(config.logs_otlp.endpoint, "http://collector:4318/v1/logs");
    // gRPC: used as is; the default port differs; no scheme means https unless insecure.
    let (config, _) = resolve(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(config.traces_otlp.endpoint, "http://localhost:4317");
    let (config, _) = resolve(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
    ]);
    assert_eq!(config.traces_otlp.endpoint, "https://collector:4317");
    let (config, _) = resolve(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    assert_eq!(config.traces_otlp.endpoint, "http://collector:4317");
}

#[test]
fn a_malformed_endpoint_warns_and_uses_the_default() {
    let (config, warning) = resolve_warning(
        &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://nowhere")],
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        WarningKind::Malformed,
    );
    assert_eq!(
        config.traces_otlp.endpoint,
        "http://localhost:4318/v1/traces"
    );
    assert_eq!(warning.fallback, "http://localhost:4318/v1/traces");
}

#[test]
fn protocols_per_signal() {
    let (config, warnings) = resolve(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
    ]);
    assert!(warnings.is_empty());
    assert_eq!(config.traces_otlp.protocol, Protocol::Grpc);
    assert_eq!(config.logs_otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(config.logs_otlp.endpoint, "http://localhost:4318/v1/logs");

    let (config, warnings) = resolve(&[
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "HTTP/JSON"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:443",
        ),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.traces_otlp.protocol, Protocol::HttpJson);
    assert!(config.traces_otlp.protocol.is_http());
    assert_eq!(
        config.traces_otlp.endpoint,
        "https://collector.example:443/v1/traces"
    );
    assert_eq!(config.metrics_otlp.protocol, Protocol::HttpProtobuf);
    let (config, _) = resolve(&[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json")]);
    assert_eq!(config.logs_otlp.endpoint, "http://localhost:4318/v1/logs");
    let (config, _) = resolve(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "https://metrics:4318",
        ),
    ]);
    assert_eq!(config.metrics_otlp.endpoint, "https://metrics:4318/");
    let (config, warnings) = resolve(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")]);
    assert_eq!(warnings[0].fallback, "http/protobuf");
    // Each signal reads the generic variable, but the same warning is reported once.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.kind == WarningKind::Unknown));
    assert_eq!(config.metrics_otlp.protocol, Protocol::HttpProtobuf);
}

#[test]
fn headers_are_percent_decoded_and_signal_headers_win() {
    let (config, warnings) = resolve(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Api-Key=secret%20one,x-team=core",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-logs=1"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config.traces_otlp.headers,
        [
            ("api-key".to_owned(), "secret one".to_owned()),
            ("x-team".to_owned(), "core".to_owned())
        ]
    );
    assert_eq!(
        config.logs_otlp.headers,
        [("x-logs".to_owned(), "1".to_owned())]
    );
}

#[test]
fn malformed_headers_warn() {
    let (config, warnings) = resolve(&[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue")]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].kind, WarningKind::Malformed);
    assert!(config.traces_otlp.headers.is_empty());

    let (config, warnings) = resolve(&[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad name=1,ok=2")]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].value, "bad name=1");
    assert_eq!(
        config.traces_otlp.headers,
        [("ok".to_owned(), "2".to_owned())]
    );
}

#[test]
fn timeouts_compression_and_certificates() {
    let (config, warnings) = resolve(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "100"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "/etc/client.pem",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.traces_otlp.timeout, Duration::from_millis(2500));
    assert_eq!(config.metrics_otlp.timeout, Duration::from_millis(100));
    assert_eq!(config.traces_otlp.compression, Some(Compression::Gzip));
    assert_eq!(config.logs_otlp.compression, None);
    assert_eq!(
        config.metrics_otlp.certificate.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert!(config.traces_otlp.client_key.is_some());
    assert!(config.metrics_otlp.client_key.is_none());

    let (config, _) = resolve_warning(
        &[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd")],
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        WarningKind::Unknown,
    );
    assert_eq!(config.traces_otlp.compression, None);
    let (config, _) = resolve_warning(
        &[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "ten")],
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        WarningKind::InvalidNumber,
    );
    assert_eq!(config.traces_otlp.timeout, Duration::from_secs(10));
    resolve_warning(
        &[("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key")],
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        WarningKind::Conflict,
    );
}

#[test]
fn certificate_variables_per_signal_win_over_the_generic_ones() {
    let (config, warnings) = resolve(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/etc/logs-ca.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/client.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/client.key"),
        ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "/etc/metrics.key"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let path = |p: &str| Some(std::path::PathBuf::from(p));
    assert_eq!(config.traces_otlp.certificate, path("/etc/ca.pem"));
    assert_eq!(config.logs_otlp.certificate, path("/etc/logs-ca.pem"));
    assert_eq!(config.logs_otlp.client_certificate, path("/etc/client.pem"));
    assert_eq!(config.traces_otlp.client_key, path("/etc/client.key"));
    assert_eq!(config.metrics_otlp.client_key, path("/etc/metrics.key"));
}

#[test]
fn insecure_only_decides_the_scheme_of_a_grpc_endpoint_without_one() {
    let grpc = |endpoint: &str, insecure: &str| {
        let (config, warnings) = resolve(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", insecure),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        config.traces_otlp.endpoint
    };
    assert_eq!(grpc("collector:4317", "false"), "https://collector:4317");
    assert_eq!(grpc("collector:4317", "true"), "http://collector:4317");
    // An explicit scheme wins over the variable.
    assert_eq!(
        grpc("https://collector:4317", "true"),
        "https://collector:4317"
    );
    assert_eq!(
        grpc("http://collector:4317", "false"),
        "http://collector:4317"
    );
    // The generic variable applies to every signal.
    let (config, _) = resolve(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    assert_eq!(config.logs_otlp.endpoint, "http://collector:4317");
    resolve_warning(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "yes"),
        ],
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        WarningKind::InvalidBoolean,
    );
}

#[test]
fn booleans_only_accept_true() {
    let (config, warnings) = resolve(&[("OTEL_SDK_DISABLED", "TRUE")]);
    assert!(warnings.is_empty());
    assert!(config.sdk_disabled);
    let (config, warning) = resolve_warning(
        &[("OTEL_SDK_DISABLED", "yes")],
        "OTEL_SDK_DISABLED",
        WarningKind::InvalidBoolean,
    );
    assert!(!config.sdk_disabled);
    assert_eq!(warning.fallback, "false");
    let (config, warnings) = resolve(&[("OTEL_SDK_DISABLED", "false")]);
    assert!(warnings.is_empty());
    assert!(!config.sdk_disabled);
}

#[test]
fn propagators_come_from_the_core_parser() {
    let (config, warnings) = resolve(&[("OTEL_PROPAGATORS", "b3multi,xray,bogus")]);
    assert_eq!(config.propagators, [PropagatorKind::B3Multi]);
    let kinds: Vec<WarningKind> = warnings.iter().map(|w| w.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            WarningKind::Propagator(PropagatorWarning::Unsupported("xray".to_owned())),
            WarningKind::Propagator(PropagatorWarning::Unknown("bogus".to_owned())),
        ]
    );
    assert!(warnings.iter().all(|w| w.variable == "OTEL_PROPAGATORS"));
    let (config, _) = resolve(&[("OTEL_PROPAGATORS", "none")]);
    assert!(config.propagators.is_empty());
}

#[test]
fn log_filter_and_config_file() {
    let (config, _) = resolve(&[("RUST_LOG", "debug,hyper=off")]);
    assert_eq!(config.log_filter, "debug,hyper=off");
    let (config, _) = tracewire_init::builder()
        .env(EnvSource::from_pairs([("UNRELATED", "1")]))
        .default_log_filter("warn")
        .resolve();
    assert_eq!(config.log_filter, "warn");
    resolve_warning(
        &[("OTEL_CONFIG_FILE", "/etc/otel.yaml")],
        "OTEL_CONFIG_FILE",
        WarningKind::Unsupported,
    );
}

#[test]
fn an_env_source_can_be_a_closure() {
    let env =
        EnvSource::from_fn(|name| (name == "OTEL_SERVICE_NAME").then(|| "closure".to_owned()));
    let (config, _) = tracewire_init::builder().env(env).resolve();
    assert_eq!(config.service_name, "closure");
}

#[test]
fn the_log_format_comes_from_tracewire_log_format() {
    for (value, format) in [
        ("full", LogFormat::Full),
        ("Compact", LogFormat::Compact),
        ("pretty", LogFormat::Pretty),
        ("JSON", LogFormat::Json),
        ("logfmt", LogFormat::Logfmt),
    ] {
        let (config, warnings) = resolve(&[("TRACEWIRE_LOG_FORMAT", value)]);
        assert_eq!(config.log_format, format, "{value}");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    let (config, warning) = resolve_warning(
        &[("TRACEWIRE_LOG_FORMAT", "yaml")],
        "TRACEWIRE_LOG_FORMAT",
        WarningKind::Unknown,
    );
    assert_eq!(config.log_format, LogFormat::Full);
    assert_eq!(warning.value, "yaml");
    let (config, _) = tracewire_init::builder()
        .env(EnvSource::from_pairs([("TRACEWIRE_LOG_FORMAT", "json")]))
        .log_format(LogFormat::Logfmt)
        .resolve();
    assert_eq!(config.log_format, LogFormat::Logfmt);
}

#[test]
fn prometheus_serves_metrics_at_the_configured_address() {
    let (config, warnings) = resolve(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config.metrics_exporters,
        [ExporterKind::Prometheus, ExporterKind::Otlp]
    );
    assert_eq!(
        (config.prometheus_host.as_str(), config.prometheus_port),
        ("localhost", 9464)
    );
    let (config, warnings) = resolve(&[
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9100"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        (config.prometheus_host.as_str(), config.prometheus_port),
        ("0.0.0.0", 9100)
    );
    for (port, kind) in [
        ("65536", WarningKind::OutOfRange),
        ("-1", WarningKind::OutOfRange),
        ("http", WarningKind::InvalidNumber),
    ] {
        let (config, _) = resolve_warning(
            &[("OTEL_EXPORTER_PROMETHEUS_PORT", port)],
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            kind,
        );
        assert_eq!(config.prometheus_port, 9464, "{port}");
    }
}

#[test]
fn tracewire_rules_are_read_inline_or_from_a_file() {
    let rules = "http.route=/health* => drop; * => ratio 0.1";
    let (config, warnings) = resolve(&[
        ("OTEL_TRACES_SAMPLER", "tracewire_rules"),
        ("OTEL_TRACES_SAMPLER_ARG", rules),
    ]);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(config.sampler, SamplerConfig::Rules(rules.to_owned()));

    let file = std::env::temp_dir().join(format!("tracewire-rules-{}.txt", std::process::id()));
    std::fs::write(&file, "# probes\nhttp.route=/health* => drop\n").expect("write rules");
    let path = file.to_str().expect("UTF-8 path");
    let (config, warnings) = resolve(&[
        ("OTEL_TRACES_SAMPLER", "tracewire_rules"),
        ("TRACEWIRE_SAMPLING_RULES_FILE", path),
    ]);
    std::fs::remove_file(&file).expect("remove rules");
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(
        config.sampler,
        SamplerConfig::Rules("# probes\nhttp.route=/health* => drop\n".to_owned())
    );
}

#[test]
fn malformed_or_missing_rules_warn_and_fall_back_whole() {
    let (config, warnings) = resolve(&[
        ("OTEL_TRACES_SAMPLER", "tracewire_rules"),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "http.route=/health* => drop; url.path=/x => sometimes; kind=sideways => keep",
        ),
    ]);
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    for warning in &warnings {
        assert_eq!(warning.variable, "OTEL_TRACES_SAMPLER_ARG");
        assert_eq!(warning.kind, WarningKind::Malformed);
        assert_eq!(warning.fallback, "parentbased_always_on");
    }
    assert!(
        warnings[0].to_string().contains("rule 2"),
        "{}",
        warnings[0]
    );

    let (config, _) = resolve_warning(
        &[("OTEL_TRACES_SAMPLER", "tracewire_rules")],
        "OTEL_TRACES_SAMPLER",
        WarningKind::Malformed,
    );
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    let (config, _) = resolve_warning(
        &[
            ("OTEL_TRACES_SAMPLER", "tracewire_rules"),
            (
                "TRACEWIRE_SAMPLING_RULES_FILE",
                "/nonexistent/tracewire-rules",
            ),
        ],
        "TRACEWIRE_SAMPLING_RULES_FILE",
        WarningKind::Unreadable,
    );
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
}

#[test]
fn tracewire_rate_limited_reads_its_rate() {
    let (config, warnings) = resolve(&[
        ("OTEL_TRACES_SAMPLER", "tracewire_rate_limited"),
        ("OTEL_TRACES_SAMPLER_ARG", "25"),
    ]);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(config.sampler, SamplerConfig::RateLimited(25.0));
    let (config, _) = resolve(&[("OTEL_TRACES_SAMPLER", "tracewire_rate_limited")]);
    assert_eq!(config.sampler, SamplerConfig::RateLimited(100.0));
    for (arg, kind) in [
        ("0", WarningKind::OutOfRange),
        ("lots", WarningKind::InvalidNumber),
    ] {
        let (config, warning) = resolve_warning(
            &[
                ("OTEL_TRACES_SAMPLER", "tracewire_rate_limited"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
            kind,
        );
        assert_eq!(config.sampler, SamplerConfig::RateLimited(100.0));
        assert_eq!(warning.fallback, "100");
    }
}
