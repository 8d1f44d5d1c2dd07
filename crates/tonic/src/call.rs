//! One instrumented call: its span, the attributes of its measurement, and how it ends.
//!
//! A call ends exactly once, at the first of: a `grpc-status` in the response headers
//! (trailers-only responses), the trailers, the end of the body without trailers (a protocol
//! error), an error, or the drop of the response future or body (cancellation). The span ends
//! and the duration is recorded there, so both cover a streaming call to its last message.

use std::borrow::Cow;
use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use opentelemetry::{KeyValue, Value};
use tracewire_core::instrument::{ActiveSpan, SpanGuard};
use tracewire_core::metrics::{ByAddress, duration_seconds};
use tracewire_core::semconv::Outcome;
use tracewire_core::semconv::error::{ERROR_TYPE, OTHER};
use tracewire_core::semconv::rpc::{
    GRPC_STATUS_HEADER, GrpcCode, RPC_METHOD, RPC_METHOD_ORIGINAL, SYSTEM_GRPC, client_outcome,
    server_outcome,
};

use crate::body::ResponseBody;
use crate::config::{Common, Side};

/// The span status description of a call whose response carried no `grpc-status`.
pub(crate) const MISSING_STATUS: &str = "response ended without grpc-status";

/// The method a call names, as far as the instrumentation recognises it.
pub(crate) enum Method<'a> {
    Known {
        service: &'a str,
        method: &'a str,
        /// `service/method`, interned when it could be.
        name: Cow<'static, str>,
    },
    Unknown {
        original: &'a str,
    },
}

impl Method<'_> {
    /// Appends `rpc.system.name` and `rpc.method` (or `_OTHER`), the attributes spans and
    /// measurements share, and returns the default span name: `{rpc.method}`, or `grpc` for an
    /// unknown method.
    pub(crate) fn push_attributes(
        &self,
        common: &Common,
        attributes: &mut Vec<KeyValue>,
    ) -> Cow<'static, str> {
        common.names.push_system(SYSTEM_GRPC, attributes);
        match self {
            Method::Known {
                service,
                method,
                name,
            } => common
                .names
                .push_named_method(name.clone(), service, method, attributes),
            Method::Unknown { .. } => {
                attributes.push(KeyValue::new(RPC_METHOD, OTHER));
                Cow::Borrowed(SYSTEM_GRPC)
            }
        }
    }

    /// `rpc.method_original`, span-only.
    pub(crate) fn original(&self) -> Option<KeyValue> {
        match *self {
            Method::Known { .. } => None,
            Method::Unknown { original } => {
                Some(KeyValue::new(RPC_METHOD_ORIGINAL, original.to_owned()))
            }
        }
    }
}

/// What a call's measurement is recorded under besides its status, kept cheap to compare so
/// that the bound series is found without building the attribute list.
#[derive(Debug)]
pub(crate) struct Series {
    /// The fully qualified method; `None` for an unrecognised one (`_OTHER`).
    method: Option<Cow<'static, str>>,
    /// `server.address` / `server.port` read from this request (a client without a target).
    address: Vec<KeyValue>,
}

impl Series {
    /// The series of a call to `method`, whose default span name is `name`.
    pub(crate) fn new(
        method: &Method<'_>,
        name: Cow<'static, str>,
        address: Vec<KeyValue>,
    ) -> Self {
        let method = match method {
            Method::Known { .. } => Some(name),
            Method::Unknown { .. } => None,
        };
        Self { method, address }
    }

    /// The key of its bound histogram: the interned method by address, and the status (which
    /// decides `error.type`); `None` when part of it is not `'static` (a request's address, a
    /// name the interner could not keep), which is then recorded with attributes.
    fn key(&self, code: Option<GrpcCode>) -> Option<(ByAddress, Option<GrpcCode>)> {
        if !self.address.is_empty() {
            return None;
        }
        let method = match &self.method {
            Some(name) => ByAddress::of(name)?,
            None => ByAddress(OTHER),
        };
        Some((method, code))
    }

    fn attributes(
        &self,
        common: &Common,
        code: Option<GrpcCode>,
        error_type: Option<&'static str>,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(9);
        common.names.push_system(SYSTEM_GRPC, &mut attributes);
        match &self.method {
            Some(name) => {
                let (service, method) = name.split_once('/').unwrap_or((name, ""));
                common
                    .names
                    .push_named_method(name.clone(), service, method, &mut attributes);
            }
            None => attributes.push(KeyValue::new(RPC_METHOD, OTHER)),
        }
        attributes.extend_from_slice(&common.fixed_address);
        attributes.extend_from_slice(&self.address);
        if let Some(code) = code {
            common.names.push_status(code, &mut attributes);
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(ERROR_TYPE, Value::from(error_type)));
        }
        attributes
    }
}

/// How a call ended.
enum End<'a> {
    /// A status from the response headers, an error, or a rule.
    Code(GrpcCode),
    /// The trailers, which should hold `grpc-status`.
    Trailers(&'a HeaderMap),
    /// The body ended without trailers.
    NoTrailers,
    /// The future or body was dropped first.
    Dropped,
}

/// An instrumented call in flight; ends its span when finished or dropped.
///
/// Boxed: the call moves from the service into the future, then into the body, and a pointer
/// moves for free where its fields would be copied each time (about 1k instructions per unary
/// call, measured).
#[derive(Debug)]
pub(crate) struct Call {
    state: Box<CallState>,
}

#[derive(Debug)]
struct CallState {
    common: Arc<Common>,
    span: Option<ActiveSpan>,
    series: Series,
    deadline: Option<Instant>,
}

impl Call {
    pub(crate) fn new(
        common: Arc<Common>,
        span: ActiveSpan,
        series: Series,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            state: Box::new(CallState {
                common,
                span: Some(span),
                series,
                deadline,
            }),
        }
    }

    /// Makes the span current.
    pub(crate) fn enter(&self) -> Option<SpanGuard<'_>> {
        self.state.span.as_ref().map(ActiveSpan::enter)
    }

    /// Whether the response body is read ahead while the span is entered: on the server, where
    /// the body's stream runs handler code.
    pub(crate) fn reads_ahead(&self) -> bool {
        self.state.common.side == Side::Server
    }

    /// Handles the response head, whose `grpc-status` (or HTTP status) is `head`: captures
    /// metadata, ends a trailers-only call now, or hands the call to the body, which ends it at
    /// the trailers.
    pub(crate) fn respond<B>(self, response: &mut Response<ResponseBody<B>>, head: Option<GrpcCode>)
    where
        B: http_body::Body,
        B::Error: Error + 'static,
    {
        if let Some(span) = &self.state.span {
            capture(&self.state.common, span, response.headers());
        }
        match head {
            Some(code) => self.finish_with(End::Code(code)),
            None => response.body_mut().hand_over(self),
        }
    }

    /// Ends the call with the code `error` maps to.
    pub(crate) fn fail(self, error: &(dyn Error + 'static)) {
        self.finish_with(End::Code(code_from_error(error)));
    }

    /// Ends the call at the trailers.
    pub(crate) fn trailers(self, trailers: &HeaderMap) {
        self.finish_with(End::Trailers(trailers));
    }

    /// Ends the call at the end of a body that had no trailers.
    pub(crate) fn end_of_stream(self) {
        self.finish_with(End::NoTrailers);
    }

    fn finish_with(mut self, end: End<'_>) {
        self.finish(end);
    }

    fn finish(&mut self, end: End<'_>) {
        let Some(span) = self.state.span.take() else {
            return;
        };
        let code = match end {
            End::Code(code) => Some(code),
            End::Trailers(trailers) => {
                capture(&self.state.common, &span, trailers);
                grpc_status(trailers)
            }
            End::NoTrailers => None,
            End::Dropped => Some(self.dropped_code()),
        };
        let outcome = match code {
            Some(code) => {
                // One `set_attribute` each: cheaper than `set_attributes`' generic iteration.
                let names = &self.state.common.names;
                names.each_status(code, |attribute| span.set_attribute(attribute));
                match self.state.common.side {
                    Side::Server => server_outcome(code),
                    Side::Client => client_outcome(code),
                }
            }
            None => Outcome::Error(OTHER),
        };
        let error_type = match outcome {
            Outcome::Error(error_type) => {
                match code {
                    Some(_) => span.set_error(error_type),
                    None => span.set_error_with_description(error_type, MISSING_STATUS),
                }
                Some(error_type)
            }
            _ => None,
        };
        self.record(code, error_type, duration_seconds(span.elapsed()));
        span.end();
    }

    /// Records the call's duration on its bound series, binding it on first use.
    fn record(&self, code: Option<GrpcCode>, error_type: Option<&'static str>, seconds: f64) {
        let common = &*self.state.common;
        let attributes = || self.state.series.attributes(common, code, error_type);
        let bound = self.state.series.key(code).map(|key| {
            common.series.with(
                key,
                |_| common.call_duration().bind(&attributes()),
                |series| series.record(seconds),
            )
        });
        if !matches!(bound, Some(Ok(()))) {
            common.call_duration().record(seconds, &attributes());
        }
    }

    /// A call abandoned before its status: the caller cancelled it, or (server) its deadline
    /// expired and the server gave up on it.
    fn dropped_code(&self) -> GrpcCode {
        match self.state.deadline {
            Some(deadline) if Instant::now() >= deadline => GrpcCode::DeadlineExceeded,
            _ => GrpcCode::Cancelled,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(End::Dropped);
    }
}

/// Records the configured response metadata, if any (most layers capture none, and asking a
/// span whether it records takes a lock).
fn capture(common: &Common, span: &ActiveSpan, headers: &HeaderMap) {
    if common.response_metadata.is_empty() || !span.is_recording() {
        return;
    }
    for capture in &common.response_metadata {
        span.set_attributes(capture.capture(headers));
    }
}

/// The status a response head settles: `grpc-status` in the headers (a trailers-only
/// response; an unparseable value reads as `UNKNOWN`, as gRPC clients do), else the code gRPC
/// infers from a non-200 HTTP status; `None` when the status must come from the trailers.
pub(crate) fn head_status(status: StatusCode, headers: &HeaderMap) -> Option<GrpcCode> {
    grpc_status(headers).or_else(|| GrpcCode::from_http_status(status.as_u16()))
}

/// The `grpc-status` in `headers` (head or trailers); an unparseable value reads as `UNKNOWN`.
fn grpc_status(headers: &HeaderMap) -> Option<GrpcCode> {
    grpc_header(headers, &GRPC_STATUS_HEADER)
        .map(|value| GrpcCode::from_header_value(value.as_bytes()).unwrap_or(GrpcCode::Unknown))
}

/// The first value of `name` in gRPC metadata. A response head, trailers or a request's
/// metadata usually hold a few entries, and comparing their names costs less than hashing
/// `name` for a lookup, so small maps are scanned.
pub(crate) fn grpc_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Option<&'h HeaderValue> {
    const SCANNED: usize = 8;
    if headers.len() > SCANNED {
        return headers.get(name);
    }
    headers
        .iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The code of a failed call: a `tonic::Status` anywhere in the source chain gives its code;
/// tonic's deadline timer (`TimeoutExpired`) is `DEADLINE_EXCEEDED` (tonic itself reports
/// `CANCELLED`, but the gRPC code for an expired deadline is `DEADLINE_EXCEEDED`); a failed
/// connection is `UNAVAILABLE`; anything else `UNKNOWN`, as tonic's client reports it.
pub(crate) fn code_from_error(error: &(dyn Error + 'static)) -> GrpcCode {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(status) = error.downcast_ref::<tonic::Status>() {
            return GrpcCode::from_i32(status.code() as i32).unwrap_or(GrpcCode::Unknown);
        }
        if error.is::<tonic::TimeoutExpired>() {
            return GrpcCode::DeadlineExceeded;
        }
        if error.is::<tonic::ConnectError>() {
            return GrpcCode::Unavailable;
        }
        source = error.source();
    }
    GrpcCode::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_status_rules() {
        let mut headers = HeaderMap::new();
        assert_eq!(head_status(StatusCode::OK, &headers), None);
        assert_eq!(
            head_status(StatusCode::NOT_FOUND, &headers),
            Some(GrpcCode::Unimplemented)
        );
        headers.insert(GRPC_STATUS_HEADER, HeaderValue::from_static("5"));
        assert_eq!(
            head_status(StatusCode::OK, &headers),
            Some(GrpcCode::NotFound)
        );
        headers.insert(GRPC_STATUS_HEADER, HeaderValue::from_static("99"));
        assert_eq!(
            head_status(StatusCode::OK, &headers),
            Some(GrpcCode::Unknown)
        );
    }

    #[test]
    fn grpc_header_finds_the_first_value_in_small_and_large_maps() {
        for fillers in [0, 3, 20] {
            let mut headers = HeaderMap::new();
            for index in 0..fillers {
                let name = HeaderName::try_from(format!("x-filler-{index}")).unwrap();
                headers.insert(name, HeaderValue::from_static("v"));
            }
            assert_eq!(grpc_header(&headers, &GRPC_STATUS_HEADER), None);
            headers.append(GRPC_STATUS_HEADER, HeaderValue::from_static("5"));
            headers.append(GRPC_STATUS_HEADER, HeaderValue::from_static("0"));
            assert_eq!(
                grpc_header(&headers, &GRPC_STATUS_HEADER).map(HeaderValue::as_bytes),
                Some(&b"5"[..]),
                "{fillers} other entries"
            );
            assert_eq!(
                grpc_header(&headers, &HeaderName::from_static("grpc-message")),
                None
            );
        }
    }

    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapper")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn error_codes() {
        let status = tonic::Status::permission_denied("no");
        assert_eq!(code_from_error(&status), GrpcCode::PermissionDenied);
        let nested = Wrapper(Box::new(tonic::Status::data_loss("x")));
        assert_eq!(code_from_error(&nested), GrpcCode::DataLoss);
        let timeout = Wrapper(Box::new(tonic::TimeoutExpired(())));
        assert_eq!(code_from_error(&timeout), GrpcCode::DeadlineExceeded);
        let io = std::io::Error::other("boom");
        assert_eq!(code_from_error(&io), GrpcCode::Unknown);
    }
}
