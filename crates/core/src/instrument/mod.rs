//! The one instrumentation API every tracewire adapter calls.
//!
//! An adapter builds one [`Instrumentation`] per layer (it names the instrumentation scope and
//! chooses where spans come from), then per operation calls [`Instrumentation::start`] with a
//! [`SpanStart`] and receives an [`ActiveSpan`]: it records attributes and errors on it, keeps its
//! context current while the operation runs ([`ActiveSpan::enter`], [`ActiveSpan::instrument`]),
//! and ends it. Its builder offers the options every adapter shares (providers, span backend,
//! propagator) through [`adapter_builder_options!`](crate::adapter_builder_options).
//!
//! # Two span worlds
//!
//! Applications live in one of two worlds, and the same adapter code serves both:
//!
//! - **`tracing` with a `tracing-opentelemetry` layer.** The span is created as a `tracing` span
//!   (`otel.name` / `otel.kind` fields) so that `tracing::info!` inside a handler becomes an event
//!   on it, `#[instrument]` functions nest under it and a `fmt` layer can print it.
//! - **OpenTelemetry only.** The span is created with the OpenTelemetry tracer API and its context
//!   is attached on every poll, so OpenTelemetry API spans nest under it.
//!
//! [`SpanBackend::Auto`] (the default) decides per span: it creates the `tracing` span and keeps
//! it only if a `tracing-opentelemetry` layer actually produced an OpenTelemetry span for it. A
//! subscriber filter that hides the span, or a subscriber without the layer, falls back to an
//! OpenTelemetry API span, so a filter can never break propagation (the failure mode of crates
//! whose spans exist only in `tracing`). Whatever the world, attributes, status and the end are
//! recorded on the OpenTelemetry span directly, with typed values.
//!
//! Only spans that run application code get a `tracing` span under `Auto`: server and consumer
//! spans (a handler's events and `#[instrument]` functions belong under them) and internal ones.
//! Client and producer spans wrap a library call, so they are OpenTelemetry API spans in both
//! worlds, parented on the current `tracing` span's context; this skips the subscriber's span
//! bookkeeping on every outgoing call. [`SpanBackend::Tracing`] makes them `tracing` spans too,
//! for applications that want every call in their `fmt` output, and an adapter whose library
//! emits useful events of its own (sqlx's query log) asks for them with
//! [`InstrumentationBuilder::library_events`].
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::SpanKind;
//! use tracewire_core::instrument::{Instrumentation, SpanStart};
//!
//! let instrumentation = Instrumentation::builder("tracewire-example").build();
//! let span = instrumentation.start(
//!     SpanStart::new(SpanKind::Internal, "work").attribute(KeyValue::new("work.items", 3_i64)),
//! );
//! span.in_scope(|| { /* work that should see the span as current */ });
//! span.end();
//! ```

mod builder_options;
mod span;

pub use span::{ActiveSpan, SpanGuard, SpanHandle};

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Once, OnceLock};
use std::time::{Instant, SystemTime};

use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::{Link, SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::current_context;

/// Where an adapter's spans come from; see the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanBackend {
    /// Use a `tracing` span for spans that run application code (server, consumer, internal)
    /// when a `tracing-opentelemetry` layer records it, otherwise an OpenTelemetry API span.
    #[default]
    Auto,
    /// Use a `tracing` span for every kind, client and producer included, and warn (once) when
    /// it could not be used, for applications that expect every span in their `tracing`
    /// subscriber.
    Tracing,
    /// Always use the OpenTelemetry tracer API and never touch `tracing`: the cheapest path.
    OpenTelemetry,
}

/// Which context a new span is parented on.
#[derive(Clone, Debug, Default)]
pub enum Parent {
    /// The current context: the active OpenTelemetry span, or else the current `tracing` span.
    #[default]
    Current,
    /// An explicit context, typically one extracted from incoming headers.
    Context(Context),
    /// No parent: the span starts a new trace.
    Root,
}

/// Everything needed to start a span: kind, name, the attributes samplers must see, parent and
/// links.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanKind;
/// use tracewire_core::instrument::{Parent, SpanStart};
///
/// let start = SpanStart::new(SpanKind::Server, "GET /users/{id}")
///     .attribute(KeyValue::new("http.request.method", "GET"))
///     .parent(Parent::Root);
/// assert_eq!(start.name(), "GET /users/{id}");
/// ```
#[derive(Debug)]
pub struct SpanStart {
    kind: SpanKind,
    name: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    parent: Parent,
    links: Vec<Link>,
    started_at: Option<Instant>,
    callsite: Option<TracingCallsite>,
}

/// Creates the `tracing` span of a [`SpanStart`] named `name`; see
/// [`SpanStart::tracing_callsite`].
pub type TracingCallsite = fn(name: &str) -> tracing::Span;

impl SpanStart {
    /// A span of `kind` named `name`, parented on the current context.
    #[inline]
    pub fn new(kind: SpanKind, name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            name: name.into(),
            attributes: Vec::new(),
            parent: Parent::Current,
            links: Vec::new(),
            started_at: None,
            callsite: None,
        }
    }

    /// Adds one start attribute.
    #[inline]
    pub fn attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Replaces the start attributes (pass a vector built with the right capacity to avoid
    /// reallocations).
    #[inline]
    pub fn attributes(mut self, attributes: Vec<KeyValue>) -> Self {
        self.attributes = attributes;
        self
    }

    /// Sets the parent.
    #[inline]
    pub fn parent(mut self, parent: Parent) -> Self {
        self.parent = parent;
        self
    }

    /// Adds a link (for example to an untrusted caller's context, or to a message's creation
    /// context).
    pub fn link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// Backdates the span to `instant`, for operations whose links and attributes are only known
    /// when they end (a poll learns its messages when it returns). [`ActiveSpan::elapsed`] then
    /// counts from `instant` too.
    ///
    /// A backdated span is always an OpenTelemetry API span: `tracing` spans cannot be
    /// backdated. Use it only for leaf spans, which run no user code that could nest under them.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use opentelemetry::trace::SpanKind;
    /// use tracewire_core::instrument::{Instrumentation, SpanStart};
    ///
    /// let started = Instant::now();
    /// std::thread::sleep(Duration::from_millis(2)); // the operation runs
    /// let span = Instrumentation::builder("example")
    ///     .build()
    ///     .start(SpanStart::new(SpanKind::Client, "poll").started_at(started));
    /// assert!(span.elapsed() >= Duration::from_millis(2));
    /// ```
    pub fn started_at(mut self, instant: Instant) -> Self {
        self.started_at = Some(instant);
        self
    }

    /// The callsite that creates this span when it is a `tracing` span, instead of the one
    /// shared by its kind (`tracing::info_span!(target: "tracewire", "server", otel.name,
    /// otel.kind)`, and likewise for the other kinds). The callsite must make a span of the
    /// same target, level, name and `otel.*` fields; what it adds are the attributes the span
    /// will carry, declared as `tracing::field::Empty`.
    ///
    /// Declaring them saves a reallocation per span: `tracing-opentelemetry` sizes a span's
    /// attribute list by its callsite's fields (plus its own), while tracewire sets attributes
    /// on the OpenTelemetry span directly, typed, so an undeclared list grows as they arrive.
    /// tracewire never records the declared fields, so a `fmt` layer prints nothing more.
    ///
    /// ```
    /// use opentelemetry::trace::SpanKind;
    /// use tracewire_core::instrument::SpanStart;
    ///
    /// fn order_span(name: &str) -> tracing::Span {
    ///     tracing::info_span!(target: "tracewire", "server", otel.name = name, otel.kind = "server",
    ///         order.id = tracing::field::Empty)
    /// }
    /// let start = SpanStart::new(SpanKind::Server, "PlaceOrder").tracing_callsite(order_span);
    /// # let _ = start;
    /// ```
    #[inline]
    pub fn tracing_callsite(mut self, callsite: TracingCallsite) -> Self {
        self.callsite = Some(callsite);
        self
    }

    /// The span name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The span kind.
    pub fn kind(&self) -> &SpanKind {
        &self.kind
    }

    /// The start attributes.
    pub fn start_attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

/// One adapter's instrumentation: its scope, tracer, meter and span backend. Cheap to clone.
///
/// The tracer and meter come from the providers given to the builder, or else from the global
/// providers, resolved when the first span starts (respectively when [`Instrumentation::meter`] is
/// first called) rather than when the layer is built, so a layer built before the application
/// installs its providers still reports.
#[derive(Clone)]
pub struct Instrumentation {
    inner: Arc<Inner>,
}

struct Inner {
    scope: InstrumentationScope,
    backend: SpanBackend,
    library_events: bool,
    tracer: OnceLock<Box<dyn SpanStarter>>,
    meter: OnceLock<Meter>,
}

impl fmt::Debug for Instrumentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumentation")
            .field("scope", &self.inner.scope.name())
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// Makes the tracer of a scope from the provider given to the builder.
type TracerFactory = Box<dyn FnOnce(InstrumentationScope) -> Box<dyn SpanStarter> + Send>;

/// Builds an [`Instrumentation`].
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_core::instrument::{Instrumentation, SpanBackend};
///
/// let provider = SdkTracerProvider::builder().build();
/// let instrumentation = Instrumentation::builder("tracewire-axum")
///     .version("0.1.0")
///     .tracer_provider(&provider)
///     .backend(SpanBackend::OpenTelemetry)
///     .build();
/// assert_eq!(instrumentation.backend(), SpanBackend::OpenTelemetry);
/// ```
#[must_use]
pub struct InstrumentationBuilder {
    name: Cow<'static, str>,
    version: Option<Cow<'static, str>>,
    schema_url: &'static str,
    backend: SpanBackend,
    library_events: bool,
    tracer_factory: Option<TracerFactory>,
    meter_factory: Option<Box<dyn FnOnce(InstrumentationScope) -> Meter + Send>>,
}

impl fmt::Debug for InstrumentationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentationBuilder")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Instrumentation {
    /// Starts a builder for the instrumentation scope `name` (the adapter's crate name).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> InstrumentationBuilder {
        InstrumentationBuilder {
            name: name.into(),
            version: None,
            schema_url: crate::semconv::SCHEMA_URL,
            backend: SpanBackend::default(),
            library_events: false,
            tracer_factory: None,
            meter_factory: None,
        }
    }

    /// The span backend this instrumentation uses.
    pub fn backend(&self) -> SpanBackend {
        self.inner.backend
    }

    /// The instrumentation scope spans and metrics are reported under.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    /// The meter for this scope: from the builder's meter provider, else from the global one at
    /// the time of the first call. Adapters create their instruments once, on first use.
    pub fn meter(&self) -> &Meter {
        self.inner
            .meter
            .get_or_init(|| global::meter_provider().meter_with_scope(self.inner.scope.clone()))
    }

    fn tracer(&self) -> &dyn SpanStarter {
        self.inner
            .tracer
            .get_or_init(|| Box::new(global::tracer_with_scope(self.inner.scope.clone())))
            .as_ref()
    }

    /// Starts a span; see [`SpanStart`] and the [module documentation](self) for the backends.
    pub fn start(&self, start: SpanStart) -> ActiveSpan {
        let SpanStart {
            kind,
            name,
            attributes,
            parent,
            links,
            started_at,
            callsite,
        } = start;
        let parent = match parent {
            Parent::Current => None,
            Parent::Context(cx) => Some(cx),
            Parent::Root => Some(Context::new()),
        };
        let tracing_span = match self.inner.backend {
            SpanBackend::OpenTelemetry => None,
            _ if started_at.is_some() => None,
            SpanBackend::Auto if runs_no_user_code(&kind) && !self.inner.library_events => None,
            backend => match tracing_span(
                || callsite.map_or_else(|| new_tracing_span(&kind, &name), |make| make(&name)),
                &attributes,
                parent.as_ref(),
                &links,
            ) {
                TracingSpan::Recorded(span, cx) => return ActiveSpan::recorded(cx, span),
                TracingSpan::Unrecorded(span) => {
                    warn_tracing_fallback(backend);
                    span
                }
            },
        };
        let parent = parent.unwrap_or_else(current_context);
        // Built whole: each `with_*` call would move the builder in and out.
        let builder = SpanBuilder {
            span_kind: Some(kind),
            name,
            start_time: started_at.map(|started| SystemTime::now() - started.elapsed()),
            attributes: Some(attributes),
            events: None,
            // An empty list would still be walked by the SDK.
            links: (!links.is_empty()).then_some(links),
        };
        let active = ActiveSpan::new(self.tracer().start(builder, &parent), tracing_span);
        match started_at {
            Some(started) => active.started_at(started),
            None => active,
        }
    }
}

impl InstrumentationBuilder {
    /// The scope version (the adapter's crate version).
    pub fn version(mut self, version: impl Into<Cow<'static, str>>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The scope's schema URL; the default is [`SCHEMA_URL`](crate::semconv::SCHEMA_URL). A
    /// messaging adapter passes [`messaging::schema_url`](crate::semconv::messaging::schema_url)
    /// of its stability mode.
    pub fn schema_url(mut self, schema_url: &'static str) -> Self {
        self.schema_url = schema_url;
        self
    }

    /// Where spans come from; the default is [`SpanBackend::Auto`].
    pub fn backend(mut self, backend: SpanBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Declares that the instrumented library emits `tracing` events worth seeing on its client
    /// and producer spans (sqlx's per-query log), so that [`SpanBackend::Auto`] makes those spans
    /// `tracing` spans too; off by default.
    pub fn library_events(mut self, enabled: bool) -> Self {
        self.library_events = enabled;
        self
    }

    /// Use this tracer provider instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + Clone + Send + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        let provider = provider.clone();
        self.tracer_factory = Some(Box::new(move |scope| {
            Box::new(provider.tracer_with_scope(scope))
        }));
        self
    }

    /// Use this meter provider instead of the global one.
    pub fn meter_provider<P>(mut self, provider: &P) -> Self
    where
        P: MeterProvider + Clone + Send + 'static,
    {
        let provider = provider.clone();
        self.meter_factory = Some(Box::new(move |scope| provider.meter_with_scope(scope)));
        self
    }

    /// Builds the instrumentation.
    pub fn build(self) -> Instrumentation {
        let mut scope = InstrumentationScope::builder(self.name).with_schema_url(self.schema_url);
        if let Some(version) = self.version {
            scope = scope.with_version(version);
        }
        let scope = scope.build();
        let tracer = OnceLock::new();
        if let Some(make) = self.tracer_factory {
            let _ = tracer.set(make(scope.clone()));
        }
        let meter = OnceLock::new();
        if let Some(make) = self.meter_factory {
            let _ = meter.set(make(scope.clone()));
        }
        Instrumentation {
            inner: Arc::new(Inner {
                scope,
                backend: self.backend,
                library_events: self.library_events,
                tracer,
                meter,
            }),
        }
    }
}

/// A tracer with its concrete type erased here, once: the context that holds a span boxes it,
/// so a span from a `BoxedTracer` would be boxed twice.
trait SpanStarter: Send + Sync {
    /// Builds the span and returns `parent` with it as the active span.
    fn start(&self, builder: SpanBuilder, parent: &Context) -> Context;
}

impl<T> SpanStarter for T
where
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    fn start(&self, builder: SpanBuilder, parent: &Context) -> Context {
        parent.with_span(self.build_with_context(builder, parent))
    }
}

/// The outcome of trying to express a span as a `tracing` span.
enum TracingSpan {
    /// A `tracing-opentelemetry` layer built the OpenTelemetry span; here with its context.
    Recorded(tracing::Span, Context),
    /// No OpenTelemetry span behind it. The `tracing` span is kept when enabled (a `fmt` layer
    /// still shows it); `None` when no subscriber wants it.
    Unrecorded(Option<tracing::Span>),
}

/// One callsite per kind, so a `fmt` layer prints `server{otel.name="GET /"}` and not a generic
/// name; the OpenTelemetry name and kind travel in the `otel.*` fields.
fn new_tracing_span(kind: &SpanKind, name: &str) -> tracing::Span {
    match kind {
        SpanKind::Server => {
            tracing::info_span!(target: "tracewire", "server", otel.name = name, otel.kind = "server")
        }
        SpanKind::Client => {
            tracing::info_span!(target: "tracewire", "client", otel.name = name, otel.kind = "client")
        }
        SpanKind::Producer => {
            tracing::info_span!(target: "tracewire", "producer", otel.name = name, otel.kind = "producer")
        }
        SpanKind::Consumer => {
            tracing::info_span!(target: "tracewire", "consumer", otel.name = name, otel.kind = "consumer")
        }
        SpanKind::Internal => {
            tracing::info_span!(target: "tracewire", "internal", otel.name = name, otel.kind = "internal")
        }
    }
}

fn tracing_span(
    new_span: impl FnOnce() -> tracing::Span,
    attributes: &[KeyValue],
    parent: Option<&Context>,
    links: &[Link],
) -> TracingSpan {
    // Without any subscriber, building the span would only feed `tracing`'s `log` fallback.
    if !tracing::dispatcher::has_been_set() {
        return TracingSpan::Unrecorded(None);
    }
    let span = new_span();
    if span.is_disabled() {
        return TracingSpan::Unrecorded(None);
    }
    if let Some(parent) = parent
        && span.set_parent(parent.clone()).is_err()
    {
        return TracingSpan::Unrecorded(Some(span));
    }
    for link in links {
        span.add_link_with_attributes(link.span_context.clone(), link.attributes.clone());
    }
    // Cloned, not moved: if no OpenTelemetry span appears, the fallback needs them.
    for attribute in attributes {
        span.set_attribute(attribute.key.clone(), attribute.value.clone());
    }
    // `context()` starts the OpenTelemetry span, after the sampler-relevant attributes are set.
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TracingSpan::Recorded(span, cx)
    } else {
        // A per-layer filter can hide the span from the OpenTelemetry layer while others see it.
        TracingSpan::Unrecorded(Some(span))
    }
}

/// Client and producer spans wrap a library call, not application code: nothing but the
/// library's own events could nest under them, so [`SpanBackend::Auto`] makes them OpenTelemetry
/// spans, parented on the current `tracing` span's context all the same.
fn runs_no_user_code(kind: &SpanKind) -> bool {
    matches!(kind, SpanKind::Client | SpanKind::Producer)
}

fn warn_tracing_fallback(backend: SpanBackend) {
    static WARNED: Once = Once::new();
    if backend == SpanBackend::Tracing {
        WARNED.call_once(|| {
            tracing::warn!(
                target: "tracewire",
                "SpanBackend::Tracing: no tracing-opentelemetry layer recorded the span (missing layer or filtered out); using OpenTelemetry API spans"
            );
        });
    }
}
