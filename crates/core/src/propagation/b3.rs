//! B3 through `opentelemetry_zipkin::Propagator`, with its injection fixed up.

// opentelemetry-zipkin 0.33 deprecates the whole crate, B3 propagator included, but it is still
// the maintained B3 implementation for this opentelemetry version.
#![allow(deprecated)]

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::TraceContextExt,
};

const B3_SINGLE: &str = "b3";

/// The zipkin B3 propagator with two injection fixes (opentelemetry-zipkin 0.33):
///
/// - the single-header encoding also writes the `X-B3-*` headers, which its `fields()` does not
///   list (its "unspecified" encoding, value 0, always matches); `b3` here writes `b3` only;
/// - a context without a valid span context gets `b3: 0` / `X-B3-Sampled: 0`, which tells the
///   next service not to sample just because there was no span; here nothing is written.
///
/// Extraction is zipkin's, unchanged.
#[derive(Debug)]
pub(super) struct B3Propagator {
    inner: opentelemetry_zipkin::Propagator,
    single_header: bool,
}

impl B3Propagator {
    pub(super) fn new(single_header: bool) -> Self {
        let encoding = if single_header {
            opentelemetry_zipkin::B3Encoding::SingleHeader
        } else {
            opentelemetry_zipkin::B3Encoding::MultipleHeader
        };
        Self {
            inner: opentelemetry_zipkin::Propagator::with_encoding(encoding),
            single_header,
        }
    }
}

/// Forwards only the `b3` header.
struct SingleHeaderOnly<'a>(&'a mut dyn Injector);

impl Injector for SingleHeaderOnly<'_> {
    fn set(&mut self, key: &str, value: String) {
        if key == B3_SINGLE {
            self.0.set(key, value);
        }
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if !cx.span().span_context().is_valid() {
            return;
        }
        if self.single_header {
            self.inner
                .inject_context(cx, &mut SingleHeaderOnly(injector));
        } else {
            self.inner.inject_context(cx, injector);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.inner.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.inner.fields()
    }
}
