//! Propagation-only [`Interceptor`]s, for applications that want the trace context to flow
//! without spans or metrics from this crate.

use opentelemetry::Context;
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tracewire_core::context::current_context;
use tracewire_core::propagation::Propagator;

use crate::carrier::{MetadataExtractor, MetadataInjector};

/// Client interceptor: injects the current context (the active OpenTelemetry span, else the
/// current `tracing` span) into the request metadata.
///
/// Binary (`-bin`) keys and fields that are not valid metadata are skipped, never a panic.
///
/// ```
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
/// use opentelemetry::Context;
/// use tonic::service::Interceptor;
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
/// use tracewire_tonic::InjectContextInterceptor;
///
/// let mut interceptor = InjectContextInterceptor::new()
///     .propagator(Propagator::new(TraceContextPropagator::new()));
/// let parent = SpanContext::new(
///     TraceId::from(1), SpanId::from(2), TraceFlags::SAMPLED, true, TraceState::default(),
/// );
/// let _attached = Context::new().with_remote_span_context(parent).attach();
/// let request = interceptor.call(tonic::Request::new(())).unwrap();
/// assert_eq!(
///     request.metadata().get("traceparent").unwrap(),
///     "00-00000000000000000000000000000001-0000000000000002-01"
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct InjectContextInterceptor {
    propagator: Propagator,
}

impl InjectContextInterceptor {
    /// An interceptor using the global propagator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = propagator;
        self
    }
}

impl Interceptor for InjectContextInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let cx = current_context();
        self.propagator.inject_context(
            &cx,
            &mut MetadataInjector::new(request.metadata_mut().as_mut()),
        );
        Ok(request)
    }
}

/// The caller's context extracted from the request metadata by [`ExtractContextInterceptor`],
/// stored in the request extensions for the handler.
///
/// ```
/// use tracewire_tonic::RemoteContext;
/// fn parent_of<T>(request: &tonic::Request<T>) -> opentelemetry::Context {
///     request.extensions().get::<RemoteContext>().map(|remote| remote.0.clone()).unwrap_or_default()
/// }
/// assert!(parent_of(&tonic::Request::new(())).get::<u8>().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct RemoteContext(pub Context);

/// Server interceptor: extracts the caller's context from the request metadata and stores it as
/// a [`RemoteContext`] in the request extensions, where the handler can use it as a parent.
///
/// Metadata that does not parse yields an empty context, never an error or a panic.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use tonic::service::Interceptor;
/// use tracewire_core::propagation::{Propagator, TraceContextPropagator};
/// use tracewire_tonic::{ExtractContextInterceptor, RemoteContext};
///
/// let mut interceptor = ExtractContextInterceptor::new()
///     .propagator(Propagator::new(TraceContextPropagator::new()));
/// let mut request = tonic::Request::new(());
/// request.metadata_mut().insert(
///     "traceparent",
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
/// );
/// let request = interceptor.call(request).unwrap();
/// let remote = request.extensions().get::<RemoteContext>().unwrap();
/// assert_eq!(
///     remote.0.span().span_context().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct ExtractContextInterceptor {
    propagator: Propagator,
}

impl ExtractContextInterceptor {
    /// An interceptor using the global propagator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = propagator;
        self
    }
}

impl Interceptor for ExtractContextInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let cx = self
            .propagator
            .extract(&MetadataExtractor::new(request.metadata().as_ref()));
        request.extensions_mut().insert(RemoteContext(cx));
        Ok(request)
    }
}
