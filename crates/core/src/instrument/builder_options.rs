//! The builder options every adapter shares, written once.

/// Generates, inside an adapter builder's `impl` block, the options every tracewire adapter
/// offers: `tracer_provider`, `meter_provider`, `span_backend` and, when the builder has a
/// [`Propagator`](crate::propagation::Propagator) field, `propagator`.
///
/// Name the builder's [`InstrumentationBuilder`](crate::instrument::InstrumentationBuilder) field
/// and, optionally, its `Propagator` field. Every adapter thereby exposes the same option names,
/// signatures and documented defaults. The generated documentation links to
/// `tracewire_core` items by that crate name, so depend on it under its own name.
///
/// ```
/// use tracewire_core::instrument::{Instrumentation, InstrumentationBuilder, SpanBackend};
/// use tracewire_core::propagation::Propagator;
///
/// /// Builds the example adapter.
/// pub struct ExampleBuilder {
///     instrumentation: InstrumentationBuilder,
///     propagator: Propagator,
/// }
///
/// impl ExampleBuilder {
///     tracewire_core::adapter_builder_options!(
///         instrumentation: instrumentation,
///         propagator: propagator,
///     );
/// }
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let builder = ExampleBuilder {
///     instrumentation: Instrumentation::builder("example-adapter"),
///     propagator: Propagator::global(),
/// }
/// .tracer_provider(&provider)
/// .span_backend(SpanBackend::OpenTelemetry)
/// .propagator(Propagator::global());
/// let instrumentation = builder.instrumentation.build();
/// assert_eq!(instrumentation.backend(), SpanBackend::OpenTelemetry);
/// ```
#[macro_export]
macro_rules! adapter_builder_options {
    (instrumentation: $instrumentation:ident $(,)?) => {
        /// Records spans with this tracer provider.
        ///
        /// Default: the global tracer provider, read when the first span starts, so a builder
        /// used before the application installs its providers still reports.
        pub fn tracer_provider<P>(mut self, provider: &P) -> Self
        where
            P: $crate::__private::TracerProvider + ::core::clone::Clone + ::core::marker::Send + 'static,
            P::Tracer: ::core::marker::Send + ::core::marker::Sync + 'static,
            <P::Tracer as $crate::__private::Tracer>::Span:
                ::core::marker::Send + ::core::marker::Sync + 'static,
        {
            self.$instrumentation = self.$instrumentation.tracer_provider(provider);
            self
        }

        /// Records metrics with this meter provider.
        ///
        /// Default: the global meter provider, read when the first measurement is recorded.
        pub fn meter_provider<P>(mut self, provider: &P) -> Self
        where
            P: $crate::__private::MeterProvider + ::core::clone::Clone + ::core::marker::Send + 'static,
        {
            self.$instrumentation = self.$instrumentation.meter_provider(provider);
            self
        }

        /// Where spans come from; see
        /// [`SpanBackend`](tracewire_core::instrument::SpanBackend).
        ///
        /// Default: [`SpanBackend::Auto`](tracewire_core::instrument::SpanBackend::Auto), a
        /// `tracing` span when a `tracing-opentelemetry` layer records it, else an OpenTelemetry
        /// API span, so a subscriber filter never breaks the trace.
        pub fn span_backend(mut self, backend: $crate::instrument::SpanBackend) -> Self {
            self.$instrumentation = self.$instrumentation.backend(backend);
            self
        }
    };
    (instrumentation: $instrumentation:ident, propagator: $propagator:ident $(,)?) => {
        $crate::adapter_builder_options!(instrumentation: $instrumentation);

        /// The propagator that carries the trace context (and baggage) across this adapter's
        /// boundary: extracted from what comes in, injected into what goes out.
        ///
        /// Default: [`Propagator::global`](tracewire_core::propagation::Propagator::global),
        /// whatever the application installed as the global propagator, read on each use.
        pub fn propagator(mut self, propagator: $crate::propagation::Propagator) -> Self {
            self.$propagator = propagator;
            self
        }
    };
}
