//! The OTLP/HTTP handler: `POST /v1/{traces,metrics,logs}` with a binary protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`) body, answered in the same encoding.
//!
//! HTTP itself (HTTP/1.1, HTTP/2, keep-alive, chunked bodies, `Expect: 100-continue`) is hyper's.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use prost::Message;
use serde::de::DeserializeOwned;

use super::{Export, Store};

/// Largest request body accepted; OTLP exporters batch well below this.
const MAX_BODY: usize = 64 * 1024 * 1024;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The two OTLP/HTTP body encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding of a `Content-Type` value; parameters such as `charset` are ignored.
    fn of(content_type: &str) -> Option<Self> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case(PROTOBUF) {
            Some(Self::Protobuf)
        } else if media_type.eq_ignore_ascii_case(JSON) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn decode<T: Message + Default + DeserializeOwned>(self, body: &[u8]) -> Result<T, String> {
        match self {
            Self::Protobuf => T::decode(body).map_err(|error| error.to_string()),
            Self::Json => serde_json::from_slice(body).map_err(|error| error.to_string()),
        }
    }

    /// An empty `Export*ServiceResponse` (full success) in this encoding.
    fn success(self) -> Response<Full<Bytes>> {
        let (content_type, body) = match self {
            // Every field of an empty response is a default, so it encodes to no bytes.
            Self::Protobuf => (PROTOBUF, Bytes::new()),
            Self::Json => (JSON, Bytes::from_static(b"{}")),
        };
        reply(StatusCode::OK, content_type, body)
    }
}

/// Answers one request; every rejection is a 4xx status with a plain-text reason.
pub(super) async fn handle(request: Request<Incoming>, store: &Store) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if !matches!(path, "/v1/traces" | "/v1/metrics" | "/v1/logs") {
        return reject(StatusCode::NOT_FOUND, "unknown OTLP path");
    }
    if parts.method != Method::POST {
        return reject(StatusCode::METHOD_NOT_ALLOWED, "OTLP exports use POST");
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some(encoding) = Encoding::of(content_type) else {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only application/x-protobuf and application/json are supported",
        );
    };
    let compressed = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding.as_bytes() != b"identity");
    if compressed {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed bodies are not supported",
        );
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return reject(StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut short");
        }
    };
    let export = match path {
        "/v1/traces" => encoding.decode(&body).map(Export::Traces),
        "/v1/metrics" => encoding.decode(&body).map(Export::Metrics),
        _ => encoding.decode(&body).map(Export::Logs),
    };
    match export {
        Ok(export) => {
            store.record(parts.headers, export);
            encoding.success()
        }
        Err(error) => reject(
            StatusCode::BAD_REQUEST,
            &format!("body is not a valid OTLP message: {error}"),
        ),
    }
}

fn reject(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(message.to_owned()),
    )
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_content_type_is_matched_by_its_media_type_alone(
            media_type in "[a-zA-Z/+.-]{0,24}",
            parameters in "(;[ a-z=0-9-]{0,12}){0,2}",
        ) {
            let expected = if media_type.eq_ignore_ascii_case(PROTOBUF) {
                Some(Encoding::Protobuf)
            } else if media_type.eq_ignore_ascii_case(JSON) {
                Some(Encoding::Json)
            } else {
                None
            };
            prop_assert_eq!(Encoding::of(&format!("{media_type}{parameters}")), expected);
        }

        #[test]
        fn any_body_decodes_or_is_refused_without_a_panic(
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            for encoding in [Encoding::Protobuf, Encoding::Json] {
                // Only the outcome's existence matters: a panic would fail the test.
                let _outcome = encoding.decode::<ExportTraceServiceRequest>(&body);
            }
        }

        #[test]
        fn protobuf_bodies_round_trip(names in proptest::collection::vec("[a-z /{}]{0,16}", 0..4)) {
            use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
            let spans = names.iter().map(|name| Span { name: name.clone(), ..Default::default() });
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans { spans: spans.collect(), ..Default::default() }],
                    ..Default::default()
                }],
            };
            let decoded: ExportTraceServiceRequest =
                Encoding::Protobuf.decode(&request.encode_to_vec()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&decoded, &request);
            let json = serde_json::to_vec(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let decoded: ExportTraceServiceRequest =
                Encoding::Json.decode(&json).map_err(TestCaseError::fail)?;
            prop_assert_eq!(decoded, request);
        }
    }

    #[test]
    fn content_types_are_matched_by_media_type() {
        assert_eq!(
            Encoding::of("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::of("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::of("text/plain"), None);
        assert_eq!(Encoding::of(""), None);
    }
}
