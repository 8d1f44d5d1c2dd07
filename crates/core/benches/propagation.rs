//! Extract and inject through the global propagator: what users do today (the SDK propagators
//! behind `opentelemetry::global::get_text_map_propagator`, with the `opentelemetry-http`
//! carriers) against tracewire (`Propagator::global()` after `install_global`, with our
//! propagator and carriers). Each group holds the two, so criterion prints them side by side.

use std::hint::black_box;

use criterion::Criterion;
use http::{HeaderMap, HeaderValue};
use opentelemetry::{
    Context,
    propagation::{TextMapCompositePropagator, TextMapPropagator},
};
use opentelemetry_sdk::propagation::BaggagePropagator;
use tracewire_core::propagation::{
    HeaderExtractor, HeaderInjector, Propagator, TraceContextPropagator, install_global,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const BAGGAGE: &str = "user.id=42,tenant=acme,region=eu-west-1,feature=checkout-v2";

fn stock_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

fn our_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(tracewire_core::propagation::BaggagePropagator::new()),
    ])
}

fn incoming(with_baggage: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    if with_baggage {
        headers.insert("baggage", HeaderValue::from_static(BAGGAGE));
    }
    // Typical request noise around the propagation headers.
    headers.insert("host", HeaderValue::from_static("api.example.com"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers
}

fn stock_extract(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(
            &Context::new(),
            &opentelemetry_http::HeaderExtractor(headers),
        )
    })
}

fn stock_inject(cx: &Context, headers: &mut HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut opentelemetry_http::HeaderInjector(headers));
    });
}

fn ours_extract(propagator: &Propagator, headers: &HeaderMap) -> Context {
    propagator.extract(&HeaderExtractor::new(headers))
}

fn ours_inject(propagator: &Propagator, cx: &Context, headers: &mut HeaderMap) {
    propagator.inject_context(cx, &mut HeaderInjector(headers));
}

/// Measures `stock` with `stock_propagator` as the OpenTelemetry global, then `ours` with
/// `our_propagator` installed through `install_global` (which overwrites the OpenTelemetry
/// global too, hence the set-up inside each function).
fn compare(
    c: &mut Criterion,
    name: &str,
    propagators: [fn() -> TextMapCompositePropagator; 2],
    mut stock: impl FnMut(),
    mut ours: impl FnMut(),
) {
    let [stock_propagator, our_propagator] = propagators;
    let mut group = c.benchmark_group(name);
    group.bench_function("anchor/opentelemetry_sdk", |b| {
        opentelemetry::global::set_text_map_propagator(stock_propagator());
        b.iter(&mut stock);
    });
    group.bench_function("tracewire", |b| {
        install_global(our_propagator());
        b.iter(&mut ours);
    });
    group.finish();
}

fn scenario(c: &mut Criterion, name: &str, with_baggage: bool) {
    let propagators = [stock_propagator as fn() -> _, our_propagator];
    let headers = incoming(with_baggage);
    let ours = Propagator::global();
    let cx =
        our_propagator().extract_with_context(&Context::new(), &HeaderExtractor::new(&headers));
    let (mut stock_out, mut our_out) = (HeaderMap::with_capacity(8), HeaderMap::with_capacity(8));

    compare(
        c,
        &format!("{name}/extract"),
        propagators,
        || drop(black_box(stock_extract(black_box(&headers)))),
        || drop(black_box(ours_extract(&ours, black_box(&headers)))),
    );
    compare(
        c,
        &format!("{name}/inject"),
        propagators,
        || stock_inject(black_box(&cx), &mut stock_out),
        || ours_inject(&ours, black_box(&cx), &mut our_out),
    );
    compare(
        c,
        &format!("{name}/extract+inject"),
        propagators,
        || stock_inject(&stock_extract(black_box(&headers)), &mut stock_out),
        || {
            ours_inject(
                &ours,
                &ours_extract(&ours, black_box(&headers)),
                &mut our_out,
            )
        },
    );
}

fn no_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(Vec::new())
}

/// The cost of reaching the global propagator alone: a propagator that does nothing, and the
/// same carrier on both sides.
fn global_lookup(c: &mut Criterion) {
    let empty = HeaderMap::new();
    let carrier = opentelemetry_http::HeaderExtractor(&empty);
    let ours = Propagator::global();
    compare(
        c,
        "propagation/global_lookup",
        [no_propagator, no_propagator],
        || {
            opentelemetry::global::get_text_map_propagator(|propagator| {
                drop(black_box(
                    propagator.extract_with_context(&Context::new(), black_box(&carrier)),
                ));
            });
        },
        || drop(black_box(ours.extract(black_box(&carrier)))),
    );
}

// Written out rather than with `criterion_group!`, whose generated `pub fn` trips `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    scenario(&mut c, "propagation/traceparent", false);
    scenario(&mut c, "propagation/traceparent+baggage", true);
    global_lookup(&mut c);
    c.final_summary();
}
