//! Per-request options, passed as request extensions, and the attempt counter kept beside them.

use std::borrow::Cow;
use std::sync::Arc;

use http::Extensions;
use opentelemetry::StringValue;

/// The low-cardinality URL template of one request (`url.template`, and the span name target).
///
/// Wins over the builder's [`PathTemplates`](crate::PathTemplates). Give the template, never the
/// concrete path: the span name must stay low-cardinality.
///
/// ```no_run
/// use tracewire_reqwest::{TelemetryMiddleware, UrlTemplate};
///
/// # async fn run() -> reqwest_middleware::Result<()> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TelemetryMiddleware::new())
///     .build();
/// client
///     .get("http://localhost:8080/users/42")
///     .with_extension(UrlTemplate::new("/users/{id}"))
///     .send()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct UrlTemplate(StringValue);

impl UrlTemplate {
    /// A template such as `/users/{id}`.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        // Owned text goes behind an `Arc`, so each attribute copy is a reference-count bump.
        Self(match template.into() {
            Cow::Borrowed(text) => StringValue::from(text),
            Cow::Owned(text) => StringValue::from(Arc::<str>::from(text)),
        })
    }

    /// The template text.
    ///
    /// ```
    /// assert_eq!(tracewire_reqwest::UrlTemplate::new("/a/{b}").as_str(), "/a/{b}");
    /// ```
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn value(&self) -> &StringValue {
        &self.0
    }
}

/// Do not inject the trace context into this request (for example a call to a third party that
/// should not learn your trace ids). The span is still recorded.
///
/// ```no_run
/// use tracewire_reqwest::{DisableInjection, TelemetryMiddleware};
///
/// # async fn run() -> reqwest_middleware::Result<()> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TelemetryMiddleware::new())
///     .build();
/// client
///     .get("https://api.example.com/")
///     .with_extension(DisableInjection)
///     .send()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DisableInjection;

/// How many times this middleware has seen the request's `Extensions`: a retrying middleware
/// outside ours hands the same `Extensions` to every attempt, so the count is the resend ordinal.
#[derive(Clone, Copy, Debug)]
struct Attempts(u32);

/// Counts this attempt and returns its `http.request.resend_count` (0 for the first attempt).
pub(crate) fn count_attempt(extensions: &mut Extensions) -> u32 {
    let previous = extensions
        .get::<Attempts>()
        .map_or(0, |attempts| attempts.0);
    extensions.insert(Attempts(previous.saturating_add(1)));
    previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_count_from_zero() {
        let mut extensions = Extensions::new();
        assert_eq!(count_attempt(&mut extensions), 0);
        assert_eq!(count_attempt(&mut extensions), 1);
        assert_eq!(count_attempt(&mut extensions), 2);
        assert_eq!(count_attempt(&mut Extensions::new()), 0);
    }

    #[test]
    fn templates_keep_their_text() {
        assert_eq!(UrlTemplate::new("/a").as_str(), "/a");
        assert_eq!(UrlTemplate::new(String::from("/b/{c}")).as_str(), "/b/{c}");
    }
}
