//! The propagator handle adapters store, and the lock-free global slot behind it.

use std::{fmt, sync::Arc};

use arc_swap::ArcSwapOption;
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
};

type DynPropagator = dyn TextMapPropagator + Send + Sync;

/// A shared propagator; the slot needs a sized type, and the OpenTelemetry global needs an owned
/// propagator that is the same one.
#[derive(Debug)]
struct Shared(Arc<DynPropagator>);

impl TextMapPropagator for Shared {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// The propagator installed through [`install_global`], read without a lock.
static INSTALLED: ArcSwapOption<Shared> = ArcSwapOption::const_empty();

/// Installs `propagator` as the global propagator, for [`Propagator::global`] and for
/// third-party code.
///
/// It is stored in a slot [`Propagator::global`] reads without a lock, and also set as the
/// OpenTelemetry global (`opentelemetry::global::set_text_map_propagator`) so code that reads
/// that one agrees. Once this has been called, [`Propagator::global`] no longer consults the
/// OpenTelemetry global: a later `set_text_map_propagator` that bypasses this function is not
/// seen by tracewire adapters. `tracewire-init` calls this function.
///
/// # Example
///
/// ```
/// use opentelemetry::propagation::TextMapCompositePropagator;
/// use opentelemetry_sdk::propagation::BaggagePropagator;
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator, install_global};
///
/// install_global(TextMapCompositePropagator::new(vec![
///     Box::new(TraceContextPropagator::new()),
///     Box::new(BaggagePropagator::new()),
/// ]));
/// let mut fields = Propagator::global().fields();
/// fields.sort();
/// assert_eq!(fields, ["baggage", "traceparent", "tracestate"]);
/// ```
pub fn install_global<P: TextMapPropagator + Send + Sync + 'static>(propagator: P) {
    let shared: Arc<DynPropagator> = Arc::new(propagator);
    INSTALLED.store(Some(Arc::new(Shared(Arc::clone(&shared)))));
    opentelemetry::global::set_text_map_propagator(Shared(shared));
}

#[derive(Clone)]
enum Source {
    Global,
    Custom(Arc<DynPropagator>),
}

/// The propagator an adapter uses: the global one (the default) or a specific one.
///
/// Cloning is cheap. The global variant resolves the propagator on every call, so a handle
/// created before [`install_global`] runs still follows it:
///
/// - after [`install_global`], the propagator is read from a lock-free slot;
/// - before it, from `opentelemetry::global::get_text_map_propagator`, which takes a read lock
///   per call and is a no-op propagator until something is set.
///
/// Extraction never panics on bad input; a propagator that finds nothing valid returns the
/// input context unchanged.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::{
///     Context,
///     trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
/// };
/// use tracewire_core::propagation::{
///     HeaderExtractor, HeaderInjector, Propagator, TraceContextPropagator,
/// };
///
/// let propagator = Propagator::new(TraceContextPropagator::new());
/// let span_context = SpanContext::new(
///     TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
///     SpanId::from(0x00f0_67aa_0ba9_02b7),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::NONE,
/// );
/// let mut headers = HeaderMap::new();
/// propagator.inject_context(
///     &Context::new().with_remote_span_context(span_context.clone()),
///     &mut HeaderInjector(&mut headers),
/// );
/// // A trace started here: sampled (01) and, the SDK's ids being random, random (02).
/// assert_eq!(
///     headers["traceparent"],
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
/// );
///
/// let cx = propagator.extract(&HeaderExtractor::new(&headers));
/// assert_eq!(cx.span().span_context().trace_id(), span_context.trace_id());
/// assert_eq!(propagator.fields(), ["traceparent", "tracestate"]);
/// ```
#[derive(Clone)]
pub struct Propagator(Source);

impl Propagator {
    /// The global propagator, resolved on every call (see [`install_global`]).
    pub fn global() -> Self {
        Self(Source::Global)
    }

    /// A specific propagator, ignoring the global one.
    pub fn new<P: TextMapPropagator + Send + Sync + 'static>(propagator: P) -> Self {
        Self(Source::Custom(Arc::new(propagator)))
    }

    /// The propagator `OTEL_PROPAGATORS` selects, read now (see
    /// [`propagator_from_env`](super::propagator_from_env), which also logs the warnings).
    pub fn from_env() -> Self {
        Self::new(super::propagator_from_env().0)
    }

    fn with<T>(&self, mut f: impl FnMut(&dyn TextMapPropagator) -> T) -> T {
        match &self.0 {
            Source::Custom(propagator) => f(propagator.as_ref()),
            Source::Global => match INSTALLED.load().as_deref() {
                Some(installed) => f(installed.0.as_ref()),
                None => opentelemetry::global::get_text_map_propagator(f),
            },
        }
    }

    /// Extracts onto an empty context.
    pub fn extract(&self, extractor: &dyn Extractor) -> Context {
        self.extract_with_context(&Context::new(), extractor)
    }

    /// Extracts onto `cx`; what is not found in the carrier stays as it is in `cx`.
    pub fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.with(|propagator| propagator.extract_with_context(cx, extractor))
    }

    /// Injects the span context and baggage of `cx`.
    pub fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.with(|propagator| propagator.inject_context(cx, injector));
    }

    /// The fields the propagator writes, for clearing stale copies from a reused carrier.
    pub fn fields(&self) -> Vec<String> {
        self.with(|propagator| propagator.fields().map(str::to_owned).collect())
    }

    /// Calls `f` with each field the propagator writes, without allocating: an adapter clears
    /// stale copies from an outgoing carrier with it on every request.
    ///
    /// ```
    /// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
    /// let mut fields = Vec::new();
    /// Propagator::new(TraceContextPropagator::new()).for_each_field(|f| fields.push(f.to_owned()));
    /// assert_eq!(fields, ["traceparent", "tracestate"]);
    /// ```
    pub fn for_each_field(&self, mut f: impl FnMut(&str)) {
        self.with(|propagator| propagator.fields().for_each(&mut f));
    }
}

impl Default for Propagator {
    fn default() -> Self {
        Self::global()
    }
}

impl fmt::Debug for Propagator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Global => f.write_str("Propagator::Global"),
            Source::Custom(propagator) => f
                .debug_tuple("Propagator::Custom")
                .field(propagator)
                .finish(),
        }
    }
}
