//! Test kit for OpenTelemetry instrumentation.
//!
//! * [`TelemetryCapture`]: per-test tracer, meter and logger providers that export into memory, so
//!   tests running in parallel never see each other's data; plus a [`tracing::Dispatch`] wired to the
//!   same tracer for applications instrumented with `tracing`.
//! * [`Spans`] / [`SpanView`]: look spans up by name or kind and assert on them with typed values
//!   (`assert_attr_i64` fails on the string `"200"`), parentage, links, events and status. Every
//!   failure prints the span and the rendered span tree.
//! * [`Metrics`]: typed views over histograms and sums, with helpers that prove units, bucket
//!   boundaries and the exact set of attribute keys (to catch high-cardinality attributes).
//! * [`render_tree`]: an indented, per-trace span tree, deterministic when durations are hidden.
//! * [`FakeCollector`]: a real OTLP server on loopback (gRPC, or HTTP with protobuf or JSON bodies,
//!   optionally over TLS or mTLS) that records every export, for end-to-end tests of exporter
//!   configuration; [`TestCertificateAuthority`] issues its certificates at test time.
//! * [`w3c`]: the W3C Trace Context Level 2 cases every adapter runs through one hop of a
//!   service (incoming request, server span, client call, outgoing headers).
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::{SpanKind, Tracer, TracerProvider};
//! use tracewire_testing::TelemetryCapture;
//!
//! let capture = TelemetryCapture::new();
//! let tracer = capture.tracer_provider().tracer("example");
//! tracer
//!     .span_builder("GET /users/{id}")
//!     .with_kind(SpanKind::Server)
//!     .with_attributes([KeyValue::new("http.response.status_code", 200_i64)])
//!     .start(&tracer);
//!
//! let spans = capture.spans();
//! spans
//!     .single("GET /users/{id}")
//!     .assert_kind(SpanKind::Server)
//!     .assert_attr_i64("http.response.status_code", 200)
//!     .assert_status_unset()
//!     .assert_root();
//! ```

mod capture;
mod collector;
mod metrics;
mod spans;
mod tls;
mod tree;
pub mod w3c;

pub use capture::TelemetryCapture;
pub use collector::{FakeCollector, FakeCollectorBuilder};
pub use metrics::{HistogramPoint, HistogramView, Metrics, SumPoint, SumView};
pub use spans::{SpanView, Spans};
pub use tls::{TestCertificate, TestCertificateAuthority};
pub use tree::{TreeOptions, render_tree};

/// Compiles and runs the README's example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
