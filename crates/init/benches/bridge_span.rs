//! What tracewire's own spans cost through `init`'s subscriber, with the bridge's location,
//! thread, target and busy/idle attributes (`tracewire_span_details(true)`, what every span got
//! before) and without them (the default): a server span alone, and a request (the server span,
//! an `#[instrument]` handler span inside it, one event); each with the `fmt` layer (writing to
//! a sink) and without it. No span exporter: this is the instrumentation's cost. Prints the
//! OTLP-encoded size of one server span in each mode. For instruction counts, see
//! [`tracewire_benchmarks::bench_or_profile`] (group `bridge`, ids like `server/default`).

use criterion::Criterion;
use opentelemetry::trace::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
use prost::Message as _;
use tracewire_core::instrument::{Instrumentation, SpanStart};
use tracewire_init::{EnvSource, Signal, TelemetryGuard};

fn guard(details: bool, fmt: bool, spans: Option<&InMemorySpanExporter>) -> TelemetryGuard {
    let mut builder = tracewire_init::builder()
        .env(EnvSource::from_pairs([
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .exporters(Signal::Traces, [])
        .log_writer(std::io::sink)
        .tracewire_span_details(details)
        .fmt_layer(fmt)
        .install_globals(false);
    if let Some(spans) = spans {
        builder = builder.span_processor(SimpleSpanProcessor::new(spans.clone()));
    }
    match builder.init() {
        Ok(guard) => guard,
        Err(error) => panic!("init failed: {error}"),
    }
}

fn instrumentation(guard: &TelemetryGuard) -> Instrumentation {
    let mut builder = Instrumentation::builder("bench");
    if let Some(provider) = guard.tracer_provider() {
        builder = builder.tracer_provider(provider);
    }
    builder.build()
}

fn server_span(instrumentation: &Instrumentation) {
    instrumentation
        .start(SpanStart::new(SpanKind::Server, "GET /orders/{id}"))
        .end();
}

fn request(instrumentation: &Instrumentation) {
    let server = instrumentation.start(SpanStart::new(SpanKind::Server, "GET /orders/{id}"));
    server.in_scope(|| handler(7));
    server.end();
}

#[tracing::instrument]
fn handler(order: u64) {
    tracing::info!(items = 3, "order placed");
}

/// The encoded size of one exported server span (the span message alone, without the resource
/// and scope every batch shares).
fn server_span_bytes(details: bool) -> usize {
    let spans = InMemorySpanExporter::default();
    let guard = guard(details, false, Some(&spans));
    let instrumentation = instrumentation(&guard);
    if let Some(dispatch) = guard.dispatch() {
        tracing::dispatcher::with_default(dispatch, || server_span(&instrumentation));
    }
    let finished = spans.get_finished_spans().unwrap_or_default();
    finished
        .into_iter()
        .map(|span| ProtoSpan::from(span).encoded_len())
        .sum()
}

fn bench(c: &mut Criterion) {
    eprintln!(
        "OTLP bytes per server span: details {}, default {}",
        server_span_bytes(true),
        server_span_bytes(false)
    );
    let mut group = c.benchmark_group("bridge");
    for (mode, details, fmt) in [
        ("details", true, true),
        ("default", false, true),
        ("details/no-fmt", true, false),
        ("default/no-fmt", false, false),
    ] {
        let guard = guard(details, fmt, None);
        let instrumentation = instrumentation(&guard);
        let Some(dispatch) = guard.dispatch() else {
            continue;
        };
        tracing::dispatcher::with_default(dispatch, || {
            let mut case = |routine: &str, run: fn(&Instrumentation)| {
                let id = format!("{routine}/{mode}");
                tracewire_benchmarks::bench_or_profile(&mut group, "bridge", &id, || {
                    run(&instrumentation);
                });
            };
            case("server", server_span);
            case("request", request);
        });
    }
    group.finish();
}

// Written out rather than with `criterion_group!`, whose generated `pub fn` trips `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
