//! `error.type` and the status description of a failed attempt.

use std::error::Error as StdError;

use reqwest_middleware::Error;
use tracewire_core::semconv::error::OTHER;

/// The `error.type` of a transport failure; see the crate documentation for the list.
///
/// A middleware error (an `anyhow::Error`) is searched for the `reqwest` error it wraps, so a
/// retrying middleware under ours still reports `timeout` or `connect`.
pub(crate) fn error_type(error: &Error) -> &'static str {
    match error {
        Error::Reqwest(error) => reqwest_error_type(error),
        Error::Middleware(error) => error
            .chain()
            .find_map(|cause| {
                if let Some(error) = cause.downcast_ref::<reqwest::Error>() {
                    Some(reqwest_error_type(error))
                } else {
                    cause.downcast_ref::<Error>().map(error_type)
                }
            })
            .unwrap_or(OTHER),
    }
}

/// The kind of a `reqwest` error; the order matters because the predicates overlap (a connect
/// timeout is both a timeout and a connect error, a connect error is also a request error).
fn reqwest_error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_builder() {
        "builder"
    } else if error.is_request() {
        "request"
    } else {
        OTHER
    }
}

/// The message of the innermost cause, for the span status description.
///
/// A `reqwest` message embeds the URL, whose query may hold secrets, so it is never used: an
/// error whose innermost cause is a `reqwest` error gets no description.
pub(crate) fn root_cause_message(error: &Error) -> Option<String> {
    let mut cause = StdError::source(error)?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let embeds_url = cause.is::<reqwest::Error>() || cause.is::<Error>();
    (!embeds_url).then(|| cause.to_string())
}
