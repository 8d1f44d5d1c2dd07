//! OpenTelemetry for [`reqwest`] clients: a [`reqwest_middleware`] middleware that records one
//! CLIENT span per request attempt, injects its context into the outgoing headers and records
//! `http.client.request.duration`, following the HTTP semantic conventions (v1.23+, stable).
//!
//! ```no_run
//! use reqwest_middleware::ClientBuilder;
//! use tracewire_reqwest::{TelemetryMiddleware, UrlTemplate};
//!
//! # async fn run() -> reqwest_middleware::Result<()> {
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(TelemetryMiddleware::new())
//!     .build();
//! // A CLIENT span named `GET /users/{id}`, child of the current span (`tracing` or OpenTelemetry).
//! let response = client
//!     .get("http://localhost:8080/users/42")
//!     .with_extension(UrlTemplate::new("/users/{id}"))
//!     .send()
//!     .await?;
//! # drop(response);
//! # Ok(())
//! # }
//! ```
//!
//! # What a span holds
//!
//! - name `{method}`, or `{method} {url.template}` when the request has a [`UrlTemplate`]
//!   extension or its path matches the builder's [`PathTemplates`]; an unknown method is `HTTP`;
//! - at start (visible to samplers): `http.request.method` (+ `_original`), `server.address`,
//!   `server.port` (always, default ports included), `url.full` (userinfo and sensitive query
//!   values redacted), `url.scheme`, `url.template`, `http.request.resend_count` on resends,
//!   `user_agent.original` when opted in;
//! - at the end: `http.response.status_code` (an integer), `network.protocol.version`, captured
//!   headers, and on failure status Error with `error.type`.
//!
//! The span ends when the response headers have arrived, or when the attempt fails: reading the
//! body is the caller's business and is not part of the span or of the duration metric.
//!
//! # `error.type`
//!
//! | value | when |
//! |---|---|
//! | `"400"` … `"599"` | the response status (4xx and 5xx are client errors) |
//! | `timeout` | `reqwest`'s own timeout fired (including a connect timeout) |
//! | `connect` | the connection could not be made (refused, DNS, TLS) |
//! | `redirect` | the redirect policy failed (too many redirects) |
//! | `body` | the request body could not be sent |
//! | `decode` | the response could not be decoded |
//! | `builder` | the request could not be built (for example an unsupported scheme) |
//! | `request` | any other failure while sending |
//! | `_OTHER` | anything else, including a middleware error that wraps no `reqwest` error |
//!
//! A caller that drops the future (`tokio::time::timeout` around the call, a `select!` that
//! moves on) cancels deliberately: the span ends with status Unset and no `error.type`, and the
//! duration is recorded with neither `error.type` nor a status code.
//!
//! # Retries
//!
//! `reqwest-middleware` runs middlewares in the order they are added. A retrying middleware
//! (such as `reqwest-retry`) hands the same request `Extensions` to each attempt, and this
//! middleware counts its passes there:
//!
//! - `.with(retry).with(TelemetryMiddleware::new())`: the middleware runs per attempt, so there is
//!   one span per physical attempt, with `http.request.resend_count` 1, 2, … on the resends
//!   (what the conventions recommend);
//! - `.with(TelemetryMiddleware::new()).with(retry)`: one span for the logical call, with the
//!   last attempt's outcome; every attempt carries the same `traceparent`.
//!
//! Redirects are followed inside `reqwest`, below every middleware: one span covers the whole
//! redirect chain and `url.full` is the URL originally requested.
//!
//! # Per-request options
//!
//! Request extensions ([`reqwest_middleware::RequestBuilder::with_extension`]): [`UrlTemplate`]
//! and [`DisableInjection`].

mod error;
mod extensions;
mod middleware;
mod template;

pub use extensions::{DisableInjection, UrlTemplate};
pub use middleware::{TelemetryMiddleware, TelemetryMiddlewareBuilder};
pub use template::{InvalidTemplate, PathTemplates};

pub use tracewire_core::instrument::SpanBackend;
pub use tracewire_core::propagation::Propagator;
