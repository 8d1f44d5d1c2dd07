//! Axum extractors for handlers: the request span, its ids, and the incoming baggage.
//!
//! All of them are infallible. They read the request span the layer stored in the request
//! extensions (it does so for spans that record) or, failing that, the context current while the
//! handler runs, which the layer keeps set to the request span even when that span is sampled
//! out; the ids are then still valid and match what was propagated downstream. Without the layer
//! they see no span: ids are all zeros and recording is a no-op.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tracewire_axum::TelemetryLayer;
//! use tracewire_axum::extract::{Baggage, RequestSpan, TraceIds};
//!
//! async fn handler(span: RequestSpan, ids: TraceIds, baggage: Baggage) -> String {
//!     span.set_attribute(opentelemetry::KeyValue::new("app.tenant", "acme"));
//!     let tenant = baggage.get("tenant").unwrap_or("none");
//!     format!("{ids} tenant={tenant}")
//! }
//!
//! let app: Router = Router::new().route("/", get(handler)).layer(TelemetryLayer::new());
//! ```

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;
use opentelemetry::Context;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::trace;
use tracewire_core::context::current_context;
use tracewire_core::instrument::SpanHandle;

/// The request's server span: read its ids, add attributes and events, or mark it failed, through
/// the [`SpanHandle`] it dereferences to. Use low-cardinality error types.
///
/// ```
/// use axum::http::StatusCode;
/// use tracewire_axum::extract::RequestSpan;
///
/// async fn handler(span: RequestSpan) -> StatusCode {
///     // A handled failure the status code does not show.
///     span.set_error("quota_exceeded");
///     StatusCode::OK
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Debug)]
pub struct RequestSpan(SpanHandle);

impl RequestSpan {
    pub(crate) fn new(cx: Context) -> Self {
        Self(SpanHandle::new(cx))
    }

    fn from_parts(parts: &Parts) -> Self {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self::new(current_context()))
    }
}

impl Deref for RequestSpan {
    type Target = SpanHandle;

    fn deref(&self) -> &SpanHandle {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestSpan {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// The request span's trace id, span id and sampled flag, for log lines and responses. Displays
/// as `trace_id=<32 hex> span_id=<16 hex>`.
///
/// ```
/// use tracewire_axum::extract::TraceIds;
///
/// async fn handler(ids: TraceIds) -> String {
///     tracing::info!(%ids, "handling");
///     ids.trace_id.to_string()
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace id.
    pub trace_id: trace::TraceId,
    /// The span id.
    pub span_id: trace::SpanId,
    /// Whether the span is sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// Whether the ids are valid (the request has a span).
    pub fn is_valid(&self) -> bool {
        self.trace_id != trace::TraceId::INVALID && self.span_id != trace::SpanId::INVALID
    }
}

impl fmt::Display for TraceIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace_id={} span_id={}", self.trace_id, self.span_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TraceIds {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sc = RequestSpan::from_parts(parts).span_context();
        Ok(Self {
            trace_id: sc.trace_id(),
            span_id: sc.span_id(),
            sampled: sc.is_sampled(),
        })
    }
}

/// The request span's trace id alone; displays as 32 lowercase hex digits.
///
/// ```
/// use tracewire_axum::extract::TraceId;
///
/// async fn handler(TraceId(trace_id): TraceId) -> String {
///     format!("quote {trace_id} in your ticket")
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceId(pub trace::TraceId);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TraceId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(RequestSpan::from_parts(parts).trace_id()))
    }
}

/// The request span's id alone; displays as 16 lowercase hex digits.
///
/// ```
/// use tracewire_axum::extract::SpanId;
///
/// async fn handler(SpanId(span_id): SpanId) -> String {
///     span_id.to_string()
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanId(pub trace::SpanId);

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SpanId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(RequestSpan::from_parts(parts).span_id()))
    }
}

/// The incoming W3C baggage (as extracted by the layer's propagator), as a map of string values.
///
/// Empty when the caller sent none, and for [public endpoints](crate::TelemetryLayerBuilder::public_endpoint),
/// whose callers' baggage is dropped.
///
/// ```
/// use tracewire_axum::extract::Baggage;
///
/// async fn handler(baggage: Baggage) -> String {
///     let mut pairs: Vec<_> = baggage.iter().map(|(k, v)| format!("{k}={v}")).collect();
///     pairs.sort();
///     pairs.join(",")
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Debug, Default)]
pub struct Baggage(pub opentelemetry::baggage::Baggage);

impl Baggage {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, (value, _metadata))| (key.as_str(), value.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Baggage {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let span = RequestSpan::from_parts(parts);
        Ok(Self(
            span.context()
                .baggage()
                .iter()
                .map(|(key, (value, metadata))| {
                    KeyValueMetadata::new(key.clone(), value.clone(), metadata.as_str())
                })
                .collect(),
        ))
    }
}
