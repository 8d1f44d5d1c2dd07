//! OpenTelemetry for axum 0.8 (and any tower HTTP service): server spans, HTTP server metrics,
//! context propagation and extractors, following the HTTP semantic conventions.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tracewire_axum::TelemetryLayer;
//! use tracewire_axum::extract::TraceId;
//!
//! async fn user(TraceId(trace_id): TraceId) -> String {
//!     format!("trace {trace_id}")
//! }
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(user))
//!     // After the routes, so the layer sees the matched route.
//!     .layer(TelemetryLayer::new());
//! ```
//!
//! Per request, [`TelemetryLayer`]:
//!
//! - extracts the caller's context with the configured propagator (default: the global one);
//! - starts a SERVER span named `"{method} {route}"` from axum's `MatchedPath`, or `"{method}"`
//!   without a matched route (404s, fallbacks, `nest_service`), with then no `http.route` at all;
//!   an unknown method is `_OTHER` and names the span `HTTP`;
//! - gives the sampler `http.request.method` (and `_original`), `url.path`, `url.query` (redacted),
//!   `url.scheme`, `http.route`, `server.address`/`server.port`, `network.protocol.version`,
//!   `user_agent.original`, `client.address` and the captured request headers at span start;
//! - keeps the span's context current on every poll of the inner service and of the response
//!   body, so `tracing` events, `#[instrument]` functions and OpenTelemetry API spans nest under it;
//! - ends the span when the response body is finished (or fails, or is dropped), with
//!   `http.response.status_code`; 5xx and failures set status Error and `error.type` (`"500"`,
//!   the error's type name), 4xx leaves the status Unset;
//! - records `http.server.request.duration` (equal to the span's duration),
//!   `http.server.active_requests`, `http.server.request.body.size` (from `Content-Length`) and
//!   `http.server.response.body.size` (bytes sent), with the conventions' attributes only.
//!
//! # Panics in handlers
//!
//! Put [`tower_http::catch_panic::CatchPanicLayer`](https://docs.rs/tower-http) *inside* this
//! layer (added before it with `Router::layer`): the panic becomes a 500 response, which this
//! layer records like any 5xx (status Error, `error.type = "500"`, the status code the client
//! saw). Without a catching layer, or with one outside this layer, the panic unwinds through this
//! layer: the span still ends, with status Error, description `panicked` and
//! `error.type = "_OTHER"` (a panic payload has no useful type), and the duration is recorded.
//! Either way the server keeps serving.
//!
//! # Where to add the layer
//!
//! `Router::layer` runs the layer after routing, so it sees `MatchedPath`. Wrapping the whole
//! router from outside (`TelemetryLayer::new().layer(router)`) works too, but then no route is
//! known and spans are named `"{method}"`. Routes of a [`Router::nest`](axum::Router::nest)ed
//! router get their full template (`/api/users/{id}`); a service mounted with
//! [`Router::nest_service`](axum::Router::nest_service) has no `MatchedPath` visible outside it, so
//! its requests get no `http.route` (add the layer inside that service for one).
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod body;
pub mod extract;
mod future;
mod inflight;
mod layer;
mod response_propagation;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{TelemetryLayer, TelemetryLayerBuilder};
pub use response_propagation::ResponsePropagation;
pub use service::Telemetry;
pub use tracewire_core::instrument::SpanBackend;
pub use tracewire_core::propagation::Propagator;
