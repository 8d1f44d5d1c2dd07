//! RPC and gRPC conventions (semconv RPC; stable in v1.45).
//!
//! Newest names (the default): `rpc.system.name`, a fully-qualified `rpc.method`
//! (`pkg.Service/Method`) and the string `rpc.status_code` (`"NOT_FOUND"`). The old experimental
//! names (`rpc.system`, `rpc.service`, a short `rpc.method`, int `rpc.grpc.status_code`) are
//! available through [`RpcAttributeNames`] for `rpc/dup` and `rpc/old`.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::{KeyValue, StringValue};
use percent_encoding::percent_decode_str;
use tracing::field::Empty;

use crate::instrument::TracingCallsite;
use crate::semconv::Outcome;
use crate::semconv::error::OTHER;
use crate::semconv::http::HostPort;
use crate::semconv::stability::{Renamed, StabilityMode, StabilityOptIn};

pub use opentelemetry_semantic_conventions::attribute::{
    RPC_METHOD, RPC_METHOD_ORIGINAL, RPC_REQUEST_METADATA, RPC_RESPONSE_METADATA,
    RPC_RESPONSE_STATUS_CODE, RPC_SYSTEM_NAME,
};
pub use opentelemetry_semantic_conventions::metric::{
    RPC_CLIENT_CALL_DURATION, RPC_SERVER_CALL_DURATION,
};

/// `rpc.status_code` (semconv v1.45; `rpc.response.status_code` in v1.39-v1.44): the status as a
/// string, for gRPC the code name.
pub const RPC_STATUS_CODE: &str = "rpc.status_code";

/// `rpc.system.name` (and old `rpc.system`) value for gRPC.
pub const SYSTEM_GRPC: &str = "grpc";

/// The old experimental names (semconv up to v1.37), emitted in `rpc/dup` and `rpc/old`.
///
/// Defined here because the upstream crate marks them deprecated.
pub mod legacy {
    /// Old `rpc.system.name`.
    pub const RPC_SYSTEM: &str = "rpc.system";
    /// Old service name, now folded into `rpc.method`.
    pub const RPC_SERVICE: &str = "rpc.service";
    /// Old gRPC status, an integer.
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
    /// Old prefix of `rpc.request.metadata.<key>`.
    pub const RPC_GRPC_REQUEST_METADATA: &str = "rpc.grpc.request.metadata";
    /// Old prefix of `rpc.response.metadata.<key>`.
    pub const RPC_GRPC_RESPONSE_METADATA: &str = "rpc.grpc.response.metadata";
    /// Old server duration metric, in milliseconds.
    pub const RPC_SERVER_DURATION: &str = "rpc.server.duration";
    /// Old client duration metric, in milliseconds.
    pub const RPC_CLIENT_DURATION: &str = "rpc.client.duration";
}

macro_rules! grpc_codes {
    ($($(#[$doc:meta])* $variant:ident = $value:literal, $name:literal;)+) => {
        /// A gRPC status code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        pub enum GrpcCode {
            $($(#[$doc])* $variant = $value,)+
        }

        impl GrpcCode {
            /// Every code, in numeric order.
            pub const ALL: [GrpcCode; 17] = [$(GrpcCode::$variant,)+];

            /// The canonical name, the value of `rpc.status_code` (e.g. `"NOT_FOUND"`).
            ///
            /// ```
            /// use tracewire_core::semconv::rpc::GrpcCode;
            /// assert_eq!(GrpcCode::NotFound.name(), "NOT_FOUND");
            /// ```
            pub const fn name(self) -> &'static str {
                match self {
                    $(GrpcCode::$variant => $name,)+
                }
            }

            /// The code for a number, `None` outside 0..=16.
            ///
            /// gRPC clients treat an unknown number as `UNKNOWN`; callers that need that mapping
            /// use `from_i32(n).unwrap_or(GrpcCode::Unknown)`.
            pub const fn from_i32(code: i32) -> Option<Self> {
                match code {
                    $($value => Some(GrpcCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

grpc_codes! {
    /// Success.
    Ok = 0, "OK";
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1, "CANCELLED";
    /// Unknown error.
    Unknown = 2, "UNKNOWN";
    /// The client specified an invalid argument.
    InvalidArgument = 3, "INVALID_ARGUMENT";
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4, "DEADLINE_EXCEEDED";
    /// Some requested entity was not found.
    NotFound = 5, "NOT_FOUND";
    /// The entity the client tried to create already exists.
    AlreadyExists = 6, "ALREADY_EXISTS";
    /// The caller lacks permission.
    PermissionDenied = 7, "PERMISSION_DENIED";
    /// Some resource has been exhausted.
    ResourceExhausted = 8, "RESOURCE_EXHAUSTED";
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9, "FAILED_PRECONDITION";
    /// The operation was aborted, typically by a concurrency issue.
    Aborted = 10, "ABORTED";
    /// The operation was attempted past the valid range.
    OutOfRange = 11, "OUT_OF_RANGE";
    /// The operation is not implemented or supported.
    Unimplemented = 12, "UNIMPLEMENTED";
    /// Internal error.
    Internal = 13, "INTERNAL";
    /// The service is currently unavailable.
    Unavailable = 14, "UNAVAILABLE";
    /// Unrecoverable data loss or corruption.
    DataLoss = 15, "DATA_LOSS";
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16, "UNAUTHENTICATED";
}

impl GrpcCode {
    /// The number, the value of the old int `rpc.grpc.status_code`.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// Parses a `grpc-status` header or trailer value: ASCII decimal, surrounding whitespace
    /// allowed. `None` for anything else, including numbers above 16.
    ///
    /// ```
    /// use tracewire_core::semconv::rpc::GrpcCode;
    /// assert_eq!(GrpcCode::from_header_value(b"14"), Some(GrpcCode::Unavailable));
    /// assert_eq!(GrpcCode::from_header_value(b"+1"), None);
    /// ```
    #[inline]
    pub fn from_header_value(value: &[u8]) -> Option<Self> {
        // The common case, a one-digit code (`0` above all), without trimming or folding.
        if let [digit @ b'0'..=b'9'] = value {
            return Self::from_i32(i32::from(digit - b'0'));
        }
        let digits = value.trim_ascii();
        if digits.is_empty() || digits.len() > 2 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code = digits
            .iter()
            .fold(0i32, |acc, digit| acc * 10 + i32::from(digit - b'0'));
        Self::from_i32(code)
    }
}

impl GrpcCode {
    /// The code a gRPC client infers from a non-200 HTTP status when the response has no
    /// `grpc-status` (gRPC's `http-grpc-status-mapping.md`); `None` for 200, whose missing status
    /// is a protocol error rather than a code.
    ///
    /// ```
    /// use tracewire_core::semconv::rpc::GrpcCode;
    /// assert_eq!(GrpcCode::from_http_status(404), Some(GrpcCode::Unimplemented));
    /// assert_eq!(GrpcCode::from_http_status(200), None);
    /// ```
    pub const fn from_http_status(status: u16) -> Option<Self> {
        Some(match status {
            200 => return None,
            400 => GrpcCode::Internal,
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::Unimplemented,
            429 | 502 | 503 | 504 => GrpcCode::Unavailable,
            _ => GrpcCode::Unknown,
        })
    }
}

/// The `grpc-timeout` request header: the call's deadline relative to its start. A
/// [`HeaderName`](http::HeaderName), so a lookup does not parse the name again.
pub const GRPC_TIMEOUT_HEADER: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The `grpc-status` response header or trailer.
pub const GRPC_STATUS_HEADER: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// Parses a `grpc-timeout` value (`TimeoutValue TimeoutUnit`: 1 to 8 ASCII digits and one of
/// `H`, `M`, `S`, `m`, `u`, `n`). `None` for anything else.
///
/// ```
/// use std::time::Duration;
/// use tracewire_core::semconv::rpc::parse_grpc_timeout;
/// assert_eq!(parse_grpc_timeout(b"250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout(b"123456789S"), None);
/// ```
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount = digits
        .iter()
        .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The server rule: only `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`,
/// `UNAVAILABLE` and `DATA_LOSS` are errors; the other codes are the caller's problem.
pub const fn is_server_error(code: GrpcCode) -> bool {
    matches!(
        code,
        GrpcCode::Unknown
            | GrpcCode::DeadlineExceeded
            | GrpcCode::Unimplemented
            | GrpcCode::Internal
            | GrpcCode::Unavailable
            | GrpcCode::DataLoss
    )
}

/// The client rule: every code but `OK` is an error.
pub const fn is_client_error(code: GrpcCode) -> bool {
    !matches!(code, GrpcCode::Ok)
}

/// The outcome of a server span; an error's `error.type` is the code name.
///
/// ```
/// use tracewire_core::semconv::{rpc::{server_outcome, GrpcCode}, Outcome};
/// assert_eq!(server_outcome(GrpcCode::NotFound), Outcome::Success);
/// assert_eq!(server_outcome(GrpcCode::Internal), Outcome::Error("INTERNAL"));
/// ```
#[inline]
pub const fn server_outcome(code: GrpcCode) -> Outcome {
    outcome(code, is_server_error(code))
}

/// The outcome of a client span; an error's `error.type` is the code name.
///
/// ```
/// use tracewire_core::semconv::{rpc::{client_outcome, GrpcCode}, Outcome};
/// assert_eq!(client_outcome(GrpcCode::NotFound), Outcome::Error("NOT_FOUND"));
/// ```
#[inline]
pub const fn client_outcome(code: GrpcCode) -> Outcome {
    outcome(code, is_client_error(code))
}

const fn outcome(code: GrpcCode, is_error: bool) -> Outcome {
    if is_error {
        Outcome::Error(code.name())
    } else {
        Outcome::Success
    }
}

/// Splits a gRPC path `/package.Service/Method` into `("package.Service", "Method")`.
///
/// `None` unless the path is exactly a leading `/` and two non-empty segments.
///
/// ```
/// use tracewire_core::semconv::rpc::split_method_path;
/// assert_eq!(split_method_path("/grpc.test.EchoService/Echo"), Some(("grpc.test.EchoService", "Echo")));
/// assert_eq!(split_method_path("/Echo"), None);
/// ```
pub fn split_method_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The fully-qualified `rpc.method` (`package.Service/Method`) of a gRPC path, if it is valid.
///
/// ```
/// use tracewire_core::semconv::rpc::fully_qualified_method;
/// assert_eq!(fully_qualified_method("/pkg.Svc/Do"), Some("pkg.Svc/Do"));
/// ```
pub fn fully_qualified_method(path: &str) -> Option<&str> {
    split_method_path(path)?;
    path.strip_prefix('/')
}

/// The span name: `{rpc.method}`, or the system name (`grpc`) when the method is unknown,
/// empty or `_OTHER`.
///
/// ```
/// use tracewire_core::semconv::rpc::{span_name, SYSTEM_GRPC};
/// assert_eq!(span_name(SYSTEM_GRPC, Some("pkg.Svc/Do")), "pkg.Svc/Do");
/// assert_eq!(span_name(SYSTEM_GRPC, Some("_OTHER")), "grpc");
/// ```
pub fn span_name(system: &'static str, method: Option<&str>) -> Cow<'static, str> {
    match method {
        Some(method) if !method.is_empty() && method != OTHER => Cow::Owned(method.to_owned()),
        _ => Cow::Borrowed(system),
    }
}

/// A channel target parsed for `server.address` / `server.port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GrpcTarget<'a> {
    /// The value of `server.address`.
    pub address: Cow<'a, str>,
    /// The value of `server.port`, when the target names one.
    pub port: Option<u16>,
}

/// Parses a gRPC channel target (gRPC name resolution syntax, plus the `http://` and `https://`
/// URIs tonic uses) into `server.address` and `server.port`, without any DNS lookup.
///
/// | target | address | port |
/// |---|---|---|
/// | `grpc.io:50051`, `dns:///grpc.io:50051`, `dns://1.2.3.4/grpc.io:50051` | `grpc.io` | 50051 |
/// | `[::1]:50051`, `ipv6:[::1]:50051` | `::1` | 50051 |
/// | `ipv4:10.0.0.1:50051` | `10.0.0.1` | 50051 |
/// | `http://host:50051`, `https://host` | `host` | 50051, 443 |
/// | `unix:///run/x.sock`, `unix:relative.sock` | `/run/x.sock`, `relative.sock` | — |
/// | several addresses, unknown schemes, anything unparseable | the whole target | — |
///
/// Percent-encoded paths and hosts are decoded (the only case that allocates).
///
/// ```
/// use tracewire_core::semconv::rpc::parse_grpc_target;
/// let t = parse_grpc_target("dns://1.2.3.4/grpc.io:50051");
/// assert_eq!((t.address.as_ref(), t.port), ("grpc.io", Some(50051)));
/// let t = parse_grpc_target("ipv4:10.0.0.1:1,10.0.0.2:1");
/// assert_eq!((t.address.as_ref(), t.port), ("ipv4:10.0.0.1:1,10.0.0.2:1", None));
/// ```
pub fn parse_grpc_target(target: &str) -> GrpcTarget<'_> {
    parse_known_target(target).unwrap_or(GrpcTarget {
        address: Cow::Borrowed(target),
        port: None,
    })
}

fn parse_known_target(target: &str) -> Option<GrpcTarget<'_>> {
    let known = target.split_once(':').and_then(|(scheme, rest)| {
        let scheme = KNOWN_SCHEMES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(scheme))?;
        Some((*scheme, rest))
    });
    let Some((scheme, rest)) = known else {
        // gRPC resolves a target without a registered scheme as `dns:///<target>`.
        if target.contains("://") {
            return None;
        }
        return host_port_target(target);
    };
    match scheme {
        "dns" => {
            let host = match rest.strip_prefix("//") {
                Some(with_authority) => with_authority.split_once('/')?.1,
                None => rest,
            };
            host_port_target(host)
        }
        "unix" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            (!path.is_empty()).then(|| GrpcTarget {
                address: decode(path),
                port: None,
            })
        }
        "ipv4" | "ipv6" if !rest.contains(',') => host_port_target(rest),
        "http" | "https" => {
            let authority = rest.strip_prefix("//")?;
            let authority = authority.split(['/', '?', '#']).next()?;
            let authority = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let parsed = host_port_target(authority)?;
            let default_port = if scheme == "https" { 443 } else { 80 };
            Some(GrpcTarget {
                port: parsed.port.or(Some(default_port)),
                ..parsed
            })
        }
        _ => None,
    }
}

/// The target schemes understood by [`parse_grpc_target`], matched case-insensitively.
const KNOWN_SCHEMES: [&str; 6] = ["dns", "unix", "ipv4", "ipv6", "http", "https"];

/// `host[:port]`, `[v6][:port]`, or a bare IPv6 address.
fn host_port_target(text: &str) -> Option<GrpcTarget<'_>> {
    if text.parse::<Ipv6Addr>().is_ok() {
        return Some(GrpcTarget {
            address: Cow::Borrowed(text),
            port: None,
        });
    }
    let decoded = decode(text);
    if let Cow::Owned(decoded) = decoded {
        let parsed = HostPort::parse(&decoded)?;
        return Some(GrpcTarget {
            address: Cow::Owned(parsed.host.to_owned()),
            port: parsed.port,
        });
    }
    let parsed = HostPort::parse(text)?;
    Some(GrpcTarget {
        address: Cow::Borrowed(parsed.host),
        port: parsed.port,
    })
}

/// Percent-decodes `text`; invalid UTF-8 after decoding keeps the raw text.
fn decode(text: &str) -> Cow<'_, str> {
    match percent_decode_str(text).decode_utf8() {
        Ok(decoded) => decoded,
        Err(_) => Cow::Borrowed(text),
    }
}

/// The RPC attribute names for one stability mode, so that adapters do not branch on the mode
/// and a rename is one edit here.
///
/// | | `New` (default) | `Dup` | `Old` |
/// |---|---|---|---|
/// | system | `rpc.system.name` | both | `rpc.system` |
/// | `rpc.method` | `pkg.Service/Method` | `pkg.Service/Method` | `Method` |
/// | `rpc.service` | — | `pkg.Service` | `pkg.Service` |
/// | status | `rpc.status_code` = name | name + int `rpc.grpc.status_code` | int only |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RpcAttributeNames {
    /// The mode these names were selected for.
    pub mode: StabilityMode,
    /// The system key(s).
    pub system: Renamed,
    /// The string status key, `None` when only old names are emitted.
    pub status_code: Option<&'static str>,
    /// The old int status key, `None` when only new names are emitted.
    pub grpc_status_code: Option<&'static str>,
    /// The old `rpc.service` key, `None` when only new names are emitted.
    pub service: Option<&'static str>,
    /// Whether `rpc.method` is fully qualified (`pkg.Service/Method`) rather than short.
    pub fully_qualified_method: bool,
    /// The request metadata prefixes.
    pub request_metadata: Renamed,
    /// The response metadata prefixes.
    pub response_metadata: Renamed,
}

impl RpcAttributeNames {
    /// The names for `mode`.
    pub const fn new(mode: StabilityMode) -> Self {
        let old = mode.emit_old();
        let new = mode.emit_new();
        Self {
            mode,
            system: Renamed {
                old: legacy::RPC_SYSTEM,
                new: RPC_SYSTEM_NAME,
            },
            status_code: if new { Some(RPC_STATUS_CODE) } else { None },
            grpc_status_code: if old {
                Some(legacy::RPC_GRPC_STATUS_CODE)
            } else {
                None
            },
            service: if old { Some(legacy::RPC_SERVICE) } else { None },
            fully_qualified_method: new,
            request_metadata: Renamed {
                old: legacy::RPC_GRPC_REQUEST_METADATA,
                new: RPC_REQUEST_METADATA,
            },
            response_metadata: Renamed {
                old: legacy::RPC_GRPC_RESPONSE_METADATA,
                new: RPC_RESPONSE_METADATA,
            },
        }
    }

    /// The names for the process-wide `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn global() -> Self {
        Self::new(StabilityOptIn::global().rpc)
    }

    /// The `tracing` callsite of a server span in this mode (see
    /// [`SpanStart::tracing_callsite`](crate::instrument::SpanStart::tracing_callsite)): it
    /// declares the attributes an RPC server span carries under these names, metadata aside.
    ///
    /// ```
    /// use tracewire_core::semconv::{rpc::RpcAttributeNames, stability::StabilityMode};
    /// let _span = (RpcAttributeNames::new(StabilityMode::New).server_callsite())("pkg.Svc/Do");
    /// ```
    pub const fn server_callsite(&self) -> TracingCallsite {
        match self.mode {
            StabilityMode::New => server_span_new,
            StabilityMode::Dup => server_span_dup,
            StabilityMode::Old => server_span_old,
        }
    }

    /// Appends the system attribute(s), e.g. `rpc.system.name = "grpc"`.
    #[inline]
    pub fn push_system(&self, system: &'static str, attributes: &mut Vec<KeyValue>) {
        // Pushed one by one: cheaper than extending from a chain of two options.
        for key in self.system.keys(self.mode) {
            attributes.push(KeyValue::new(key, system));
        }
    }

    /// Appends `rpc.method` (and the old `rpc.service`) for a recognised method, and returns the
    /// fully qualified [`method_name`] (the default span name), so callers need not build it again.
    ///
    /// ```
    /// use tracewire_core::semconv::{rpc::RpcAttributeNames, stability::StabilityMode};
    /// let mut attrs = Vec::new();
    /// RpcAttributeNames::new(StabilityMode::Dup).push_method("pkg.Svc", "Do", &mut attrs);
    /// let pairs: Vec<_> = attrs.iter().map(|kv| (kv.key.as_str(), kv.value.as_str())).collect();
    /// assert_eq!(pairs, [("rpc.method", "pkg.Svc/Do".into()), ("rpc.service", "pkg.Svc".into())]);
    /// ```
    ///
    /// The values are [interned](crate::intern) (a method is named by the service definition),
    /// or reference-counted once the interner is full, so adapters copy them to their metric
    /// attributes without allocating.
    pub fn push_method(
        &self,
        service: &str,
        method: &str,
        attributes: &mut Vec<KeyValue>,
    ) -> Cow<'static, str> {
        self.push_named_method(method_name(service, method), service, method, attributes)
    }

    /// [`push_method`](Self::push_method) for a caller that has the fully qualified `name`
    /// already (a server reads `package.Service/Method` from the path), so the parts are not
    /// joined again; `name` must be the [`method_name`] of `service` and `method`.
    ///
    /// ```
    /// use tracewire_core::intern::intern_or_own;
    /// use tracewire_core::semconv::{rpc::RpcAttributeNames, stability::StabilityMode};
    /// let path = "/pkg.Svc/Do";
    /// let mut attrs = Vec::new();
    /// let name = RpcAttributeNames::new(StabilityMode::New).push_named_method(
    ///     intern_or_own(&path[1..]),
    ///     "pkg.Svc",
    ///     "Do",
    ///     &mut attrs,
    /// );
    /// assert_eq!((name.as_ref(), attrs.len()), ("pkg.Svc/Do", 1));
    /// ```
    pub fn push_named_method(
        &self,
        name: Cow<'static, str>,
        service: &str,
        method: &str,
        attributes: &mut Vec<KeyValue>,
    ) -> Cow<'static, str> {
        debug_assert_eq!(name, method_name(service, method));
        let value = if self.fully_qualified_method {
            match &name {
                Cow::Borrowed(name) => StringValue::from(*name),
                Cow::Owned(name) => StringValue::from(Arc::<str>::from(name.as_str())),
            }
        } else {
            shared(method)
        };
        attributes.push(KeyValue::new(RPC_METHOD, value));
        if let Some(key) = self.service {
            attributes.push(KeyValue::new(key, shared(service)));
        }
        name
    }

    /// Appends the status attribute(s): the name as a string and/or the old integer.
    pub fn push_status(&self, code: GrpcCode, attributes: &mut Vec<KeyValue>) {
        self.each_status(code, |attribute| attributes.push(attribute));
    }

    /// Passes the status attribute(s) of `code` to `set`, for a span that takes them without a
    /// list (and without an iterator to drop per call).
    ///
    /// ```
    /// use tracewire_core::semconv::rpc::{GrpcCode, RpcAttributeNames};
    /// use tracewire_core::semconv::stability::StabilityMode;
    /// let names = RpcAttributeNames::new(StabilityMode::Dup);
    /// let mut keys = Vec::new();
    /// names.each_status(GrpcCode::NotFound, |kv| keys.push(kv.key.to_string()));
    /// assert_eq!(keys, ["rpc.status_code", "rpc.grpc.status_code"]);
    /// ```
    #[inline]
    pub fn each_status(&self, code: GrpcCode, mut set: impl FnMut(KeyValue)) {
        if let Some(key) = self.status_code {
            set(KeyValue::new(key, code.name()));
        }
        if let Some(key) = self.grpc_status_code {
            set(KeyValue::new(key, i64::from(code.as_i32())));
        }
    }
}

/// The fully qualified method, `package.Service/Method`: the value of `rpc.method` and the
/// default span name.
///
/// ```
/// use tracewire_core::semconv::rpc::method_name;
/// assert_eq!(method_name("pkg.Svc", "Do"), "pkg.Svc/Do");
/// ```
pub fn method_name(service: &str, method: &str) -> Cow<'static, str> {
    crate::intern::intern_concat_or_own(&[service, "/", method])
}

/// A server span callsite declaring `$field`s; one per mode (a test checks them against the
/// names), since `tracing` fields are named in the source.
macro_rules! server_callsite {
    ($function:ident: $($field:literal),+) => {
        fn $function(name: &str) -> tracing::Span {
            tracing::info_span!(target: "tracewire", "server", otel.name = name,
                otel.kind = "server", $($field = Empty),+)
        }
    };
}

server_callsite!(server_span_new: "rpc.system.name", "rpc.method", "rpc.method_original",
    "rpc.status_code", "error.type", "server.address", "server.port", "network.peer.address",
    "network.peer.port");
server_callsite!(server_span_dup: "rpc.system.name", "rpc.system", "rpc.method", "rpc.service",
    "rpc.method_original", "rpc.status_code", "rpc.grpc.status_code", "error.type",
    "server.address", "server.port", "network.peer.address", "network.peer.port");
server_callsite!(server_span_old: "rpc.system", "rpc.method", "rpc.service",
    "rpc.method_original", "rpc.grpc.status_code", "error.type", "server.address",
    "server.port", "network.peer.address", "network.peer.port");

fn shared(name: &str) -> StringValue {
    crate::intern::intern(name).map_or_else(
        || StringValue::from(Arc::<str>::from(name)),
        StringValue::from,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    use crate::semconv::error::ERROR_TYPE;
    use crate::semconv::{NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, SERVER_ADDRESS, SERVER_PORT};

    #[test]
    fn server_callsites_declare_the_attribute_names_of_their_mode() {
        for mode in [StabilityMode::New, StabilityMode::Dup, StabilityMode::Old] {
            let names = RpcAttributeNames::new(mode);
            let span = tracing::subscriber::with_default(tracing_subscriber::registry(), || {
                (names.server_callsite())("pkg.Svc/Do")
            });
            let metadata = span.metadata().unwrap();
            assert_eq!(
                (metadata.target(), metadata.name()),
                ("tracewire", "server")
            );
            let declared: BTreeSet<&str> = metadata
                .fields()
                .iter()
                .map(|field| field.name())
                .filter(|name| !name.starts_with("otel."))
                .collect();
            let mut expected: BTreeSet<&str> = names.system.keys(mode).collect();
            expected.extend([RPC_METHOD, RPC_METHOD_ORIGINAL, ERROR_TYPE]);
            expected.extend([
                SERVER_ADDRESS,
                SERVER_PORT,
                NETWORK_PEER_ADDRESS,
                NETWORK_PEER_PORT,
            ]);
            expected.extend(names.service);
            expected.extend(names.status_code);
            expected.extend(names.grpc_status_code);
            assert_eq!(declared, expected, "{mode:?}");
        }
    }

    const SERVER_ERRORS: [GrpcCode; 6] = [
        GrpcCode::Unknown,
        GrpcCode::DeadlineExceeded,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
    ];

    #[test]
    fn code_names_and_numbers() {
        let names = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        for (n, name) in names.iter().enumerate() {
            let n = i32::try_from(n).unwrap();
            let code = GrpcCode::from_i32(n).unwrap();
            assert_eq!(code.name(), *name);
            assert_eq!(code.as_i32(), n);
            assert_eq!(GrpcCode::ALL[n as usize], code);
            assert_eq!(
                GrpcCode::from_header_value(n.to_string().as_bytes()),
                Some(code)
            );
        }
        assert_eq!(GrpcCode::from_i32(-1), None);
        assert_eq!(GrpcCode::from_i32(17), None);
    }

    #[test]
    fn header_values() {
        assert_eq!(
            GrpcCode::from_header_value(b" 5 "),
            Some(GrpcCode::NotFound)
        );
        assert_eq!(GrpcCode::from_header_value(b"05"), Some(GrpcCode::NotFound));
        for bad in [
            &b""[..],
            b" ",
            b"17",
            b"99",
            b"100",
            b"-1",
            b"+1",
            b"1a",
            b"\xff",
            b"OK",
        ] {
            assert_eq!(GrpcCode::from_header_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_status_mapping() {
        let cases = [
            (200, None),
            (400, Some(GrpcCode::Internal)),
            (401, Some(GrpcCode::Unauthenticated)),
            (403, Some(GrpcCode::PermissionDenied)),
            (404, Some(GrpcCode::Unimplemented)),
            (429, Some(GrpcCode::Unavailable)),
            (502, Some(GrpcCode::Unavailable)),
            (503, Some(GrpcCode::Unavailable)),
            (504, Some(GrpcCode::Unavailable)),
            (500, Some(GrpcCode::Unknown)),
            (302, Some(GrpcCode::Unknown)),
        ];
        for (status, code) in cases {
            assert_eq!(GrpcCode::from_http_status(status), code, "{status}");
        }
    }

    #[test]
    fn grpc_timeouts() {
        let cases: [(&[u8], Option<Duration>); 12] = [
            (b"1H", Some(Duration::from_secs(3600))),
            (b"2M", Some(Duration::from_secs(120))),
            (b"3S", Some(Duration::from_secs(3))),
            (b"50m", Some(Duration::from_millis(50))),
            (b"7u", Some(Duration::from_micros(7))),
            (b"99999999n", Some(Duration::from_nanos(99_999_999))),
            (b"0m", Some(Duration::ZERO)),
            (b"", None),
            (b"m", None),
            (b"123456789m", None),
            (b"10s", None),
            (b"-1S", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_grpc_timeout(value), expected, "{value:?}");
        }
    }

    #[test]
    fn server_error_table() {
        for code in GrpcCode::ALL {
            let expected = SERVER_ERRORS.contains(&code);
            assert_eq!(is_server_error(code), expected, "{code:?}");
            let outcome = server_outcome(code);
            assert_eq!(
                outcome.error_type(),
                expected.then_some(code.name()),
                "{code:?}"
            );
        }
    }

    #[test]
    fn client_error_table() {
        assert_eq!(client_outcome(GrpcCode::Ok), Outcome::Success);
        for code in &GrpcCode::ALL[1..] {
            assert!(is_client_error(*code));
            assert_eq!(client_outcome(*code), Outcome::Error(code.name()));
        }
    }

    #[test]
    fn method_paths() {
        assert_eq!(split_method_path("/pkg.Svc/Do"), Some(("pkg.Svc", "Do")));
        assert_eq!(split_method_path("/Svc/Do"), Some(("Svc", "Do")));
        for bad in [
            "",
            "/",
            "//",
            "/Svc/",
            "//Do",
            "Svc/Do",
            "/Svc/Do/x",
            "/Svc",
        ] {
            assert_eq!(split_method_path(bad), None, "{bad:?}");
            assert_eq!(fully_qualified_method(bad), None, "{bad:?}");
        }
        assert_eq!(fully_qualified_method("/a.B/C"), Some("a.B/C"));
    }

    #[test]
    fn span_names() {
        assert_eq!(span_name(SYSTEM_GRPC, Some("a.B/C")), "a.B/C");
        assert!(matches!(
            span_name(SYSTEM_GRPC, None),
            Cow::Borrowed("grpc")
        ));
        assert_eq!(span_name(SYSTEM_GRPC, Some("")), "grpc");
        assert_eq!(span_name(SYSTEM_GRPC, Some("_OTHER")), "grpc");
    }

    #[test]
    fn target_table() {
        let cases: [(&str, &str, Option<u16>); 24] = [
            ("grpc.io:50051", "grpc.io", Some(50051)),
            ("grpc.io", "grpc.io", None),
            ("localhost:50051", "localhost", Some(50051)),
            ("dns://1.2.3.4/grpc.io:50051", "grpc.io", Some(50051)),
            ("dns://1.2.3.4:53/grpc.io:50051", "grpc.io", Some(50051)),
            ("dns:///grpc.io:50051", "grpc.io", Some(50051)),
            ("dns:grpc.io:50051", "grpc.io", Some(50051)),
            ("DNS:///grpc.io", "grpc.io", None),
            ("unix:///run/x.sock", "/run/x.sock", None),
            ("unix:relative/x.sock", "relative/x.sock", None),
            ("unix:///run/my%20x.sock", "/run/my x.sock", None),
            ("ipv4:10.0.0.1:50051", "10.0.0.1", Some(50051)),
            ("ipv6:[::1]:50051", "::1", Some(50051)),
            ("ipv4:a:1,b:2", "ipv4:a:1,b:2", None),
            ("zk://zoo/x", "zk://zoo/x", None),
            ("[::1]:50051", "::1", Some(50051)),
            ("::1", "::1", None),
            ("http://[::1]:50051", "::1", Some(50051)),
            ("http://example.com", "example.com", Some(80)),
            ("https://example.com/path?x#y", "example.com", Some(443)),
            ("https://user@example.com:8443", "example.com", Some(8443)),
            ("", "", None),
            ("dns://authority-only", "dns://authority-only", None),
            ("host:notaport", "host:notaport", None),
        ];
        for (target, address, port) in cases {
            let parsed = parse_grpc_target(target);
            assert_eq!(
                (parsed.address.as_ref(), parsed.port),
                (address, port),
                "{target}"
            );
        }
    }

    #[test]
    fn attribute_names_per_mode() {
        let render = |mode| {
            let names = RpcAttributeNames::new(mode);
            let mut attrs = Vec::new();
            names.push_system(SYSTEM_GRPC, &mut attrs);
            names.push_method("pkg.Svc", "Do", &mut attrs);
            names.push_status(GrpcCode::NotFound, &mut attrs);
            attrs
                .into_iter()
                .map(|kv| (kv.key.as_str().to_owned(), kv.value))
                .collect::<Vec<_>>()
        };
        let s = |v: &'static str| Value::from(v);
        let new = render(StabilityMode::New);
        assert_eq!(
            new,
            [
                ("rpc.system.name".into(), s("grpc")),
                ("rpc.method".into(), s("pkg.Svc/Do")),
                ("rpc.status_code".into(), s("NOT_FOUND")),
            ]
        );
        let old = render(StabilityMode::Old);
        assert_eq!(
            old,
            [
                ("rpc.system".into(), s("grpc")),
                ("rpc.method".into(), s("Do")),
                ("rpc.service".into(), s("pkg.Svc")),
                ("rpc.grpc.status_code".into(), Value::I64(5)),
            ]
        );
        let dup = render(StabilityMode::Dup);
        assert_eq!(
            dup,
            [
                ("rpc.system.name".into(), s("grpc")),
                ("rpc.system".into(), s("grpc")),
                ("rpc.method".into(), s("pkg.Svc/Do")),
                ("rpc.service".into(), s("pkg.Svc")),
                ("rpc.status_code".into(), s("NOT_FOUND")),
                ("rpc.grpc.status_code".into(), Value::I64(5)),
            ]
        );
    }

    proptest! {
        #[test]
        fn target_parsing_never_panics(target in ".*") {
            let parsed = parse_grpc_target(&target);
            if parsed.port.is_some() {
                prop_assert!(!parsed.address.is_empty());
                prop_assert!(!parsed.address.contains(['[', ']', '/']));
            }
        }

        #[test]
        fn host_port_targets_roundtrip(host in "[a-z][a-z0-9.-]{0,20}", port in any::<u16>()) {
            for target in [format!("{host}:{port}"), format!("dns:///{host}:{port}"), format!("http://{host}:{port}/")] {
                let parsed = parse_grpc_target(&target);
                prop_assert_eq!(parsed.address.as_ref(), host.as_str());
                prop_assert_eq!(parsed.port, Some(port));
            }
        }

        #[test]
        fn header_values_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Some(code) = GrpcCode::from_header_value(&bytes) {
                prop_assert!((0..=16).contains(&code.as_i32()));
            }
        }

        #[test]
        fn grpc_timeouts_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Some(timeout) = parse_grpc_timeout(&bytes) {
                prop_assert!(timeout <= Duration::from_secs(99_999_999 * 3600));
            }
        }

        #[test]
        fn grpc_timeouts_roundtrip(amount in 0u64..100_000_000) {
            prop_assert_eq!(parse_grpc_timeout(format!("{amount}m").as_bytes()), Some(Duration::from_millis(amount)));
        }

        #[test]
        fn method_paths_never_panic(path in ".*") {
            if let Some((service, method)) = split_method_path(&path) {
                prop_assert_eq!(format!("/{service}/{method}"), path);
            }
        }
    }
}
