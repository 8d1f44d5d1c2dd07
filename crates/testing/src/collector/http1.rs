//! The OTLP/HTTP transport: a deliberately small HTTP/1.1 server (no HTTP crate of ours depends
//! on a server framework) that accepts binary-protobuf exports on `/v1/{traces,metrics,logs}`.
//!
//! It supports what OTLP exporters send: `POST` with `Content-Length` or chunked bodies,
//! `Expect: 100-continue` and keep-alive connections. It answers `200` with an empty
//! `Export*ServiceResponse`, and a 4xx status for anything it cannot handle.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Export, Store};

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted; OTLP exporters batch well below this.
const MAX_BODY: usize = 64 * 1024 * 1024;
const PROTOBUF: &str = "application/x-protobuf";

/// Accepts connections until the task is aborted; the connection tasks live in a `JoinSet` so
/// that aborting this task also ends them.
pub(super) async fn serve(listener: TcpListener, store: Arc<Store>) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                connections.spawn(serve_connection(stream, Arc::clone(&store)));
            }
            // Accept errors are transient (e.g. out of file descriptors); back off briefly
            // instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_connection(stream: TcpStream, store: Arc<Store>) {
    let mut stream = BufReader::new(stream);
    loop {
        let outcome = match read_head(&mut stream).await {
            Ok(Some(head)) => handle(&mut stream, head, &store).await,
            // The client closed the connection between requests.
            Ok(None) => return,
            Err(error) => Err(error),
        };
        let keep_alive = match outcome {
            Ok(reply) => {
                let keep_alive = reply.keep_alive;
                if write_response(stream.get_mut(), &reply).await.is_err() {
                    return;
                }
                keep_alive
            }
            Err(RequestError::Io) => return,
            Err(RequestError::Bad(status, message)) => {
                // After a malformed request the stream position is unknown: answer and close.
                let reply = Reply::text(status, message, false);
                let _ = write_response(stream.get_mut(), &reply).await;
                false
            }
        };
        if !keep_alive {
            return;
        }
    }
}

enum RequestError {
    /// The connection failed; nothing can be answered.
    Io,
    /// The request is unacceptable; answer with this status and message.
    Bad(StatusCode, &'static str),
}

impl From<io::Error> for RequestError {
    fn from(_: io::Error) -> Self {
        RequestError::Io
    }
}

struct Head {
    method: String,
    path: String,
    http10: bool,
    headers: HeaderMap,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match connection.as_deref() {
            Some("close") => false,
            Some("keep-alive") => true,
            _ => !self.http10,
        }
    }
}

/// Reads the request line and headers; `None` on a clean end of stream before a request.
async fn read_head<R>(reader: &mut R) -> Result<Option<Head>, RequestError>
where
    R: AsyncBufRead + Unpin,
{
    let mut total = 0;
    let mut line = String::new();
    let request_line = loop {
        line.clear();
        let read = read_line(reader, &mut line, &mut total).await?;
        if read == 0 {
            return Ok(None);
        }
        // RFC 9112 §2.2: ignore empty lines before a request line.
        if !line.trim().is_empty() {
            break line.trim_end().to_owned();
        }
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => {
            return Err(RequestError::Bad(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ));
        }
    };
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let method = method.to_owned();

    let mut headers = HeaderMap::new();
    loop {
        line.clear();
        if read_line(reader, &mut line, &mut total).await? == 0 {
            return Err(RequestError::Io);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("bad header name"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("bad header value"))?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        method,
        path,
        http10,
        headers,
    }))
}

/// `read_line` with the head size limit applied across calls.
async fn read_line<R>(
    reader: &mut R,
    line: &mut String,
    total: &mut usize,
) -> Result<usize, RequestError>
where
    R: AsyncBufRead + Unpin,
{
    let limit = (MAX_HEAD - *total) as u64 + 1;
    let read = (&mut *reader)
        .take(limit)
        .read_line(line)
        .await
        .map_err(|error| {
            if error.kind() == io::ErrorKind::InvalidData {
                bad("request head is not UTF-8")
            } else {
                RequestError::Io
            }
        })?;
    *total += read;
    if *total > MAX_HEAD {
        return Err(RequestError::Bad(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request head too large",
        ));
    }
    Ok(read)
}

fn bad(message: &'static str) -> RequestError {
    RequestError::Bad(StatusCode::BAD_REQUEST, message)
}

struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Reply {
    fn text(status: StatusCode, message: &str, keep_alive: bool) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: message.as_bytes().to_vec(),
            keep_alive,
        }
    }
}

async fn handle(
    stream: &mut BufReader<TcpStream>,
    head: Head,
    store: &Store,
) -> Result<Reply, RequestError> {
    let keep_alive = head.keep_alive();
    // Read the body before judging the request, so a rejected request leaves the connection
    // usable for the next one.
    let body = read_body(stream, &head).await?;
    let reject = |status, message| Ok(Reply::text(status, message, keep_alive));

    if !matches!(
        head.path.as_str(),
        "/v1/traces" | "/v1/metrics" | "/v1/logs"
    ) {
        return reject(StatusCode::NOT_FOUND, "unknown OTLP path");
    }
    if head.method != "POST" {
        return reject(StatusCode::METHOD_NOT_ALLOWED, "OTLP exports use POST");
    }
    let content_type = head.header("content-type").unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(PROTOBUF) {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only application/x-protobuf is supported",
        );
    }
    if head
        .header("content-encoding")
        .is_some_and(|encoding| !encoding.eq_ignore_ascii_case("identity"))
    {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed bodies are not supported",
        );
    }

    let decoded = match head.path.as_str() {
        "/v1/traces" => ExportTraceServiceRequest::decode(body.as_slice()).map(|request| {
            (
                Export::Traces(request),
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body.as_slice()).map(|request| {
            (
                Export::Metrics(request),
                ExportMetricsServiceResponse::default().encode_to_vec(),
            )
        }),
        _ => ExportLogsServiceRequest::decode(body.as_slice()).map(|request| {
            (
                Export::Logs(request),
                ExportLogsServiceResponse::default().encode_to_vec(),
            )
        }),
    };
    let Ok((export, response)) = decoded else {
        return reject(
            StatusCode::BAD_REQUEST,
            "body is not a valid OTLP protobuf message",
        );
    };
    store.record(head.headers, export);
    Ok(Reply {
        status: StatusCode::OK,
        content_type: PROTOBUF,
        body: response,
        keep_alive,
    })
}

async fn read_body(
    stream: &mut BufReader<TcpStream>,
    head: &Head,
) -> Result<Vec<u8>, RequestError> {
    if head
        .header("expect")
        .is_some_and(|expect| expect.eq_ignore_ascii_case("100-continue"))
    {
        stream
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(stream).await;
    }
    let length = match head.header("content-length") {
        Some(length) => length
            .parse::<usize>()
            .map_err(|_| bad("bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(RequestError::Bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
        ));
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Decodes a chunked body (RFC 9112 §7.1), discarding chunk extensions and trailers.
async fn read_chunked<R>(reader: &mut R) -> Result<Vec<u8>, RequestError>
where
    R: AsyncBufRead + Unpin,
{
    let mut body = Vec::new();
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        read_line(reader, &mut line, &mut total).await?;
        let size = line.trim_end().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Err(RequestError::Bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large",
            ));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).await?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
        // Chunk-size lines count against the head limit; the data does not.
        total = 0;
    }
    // Trailer section: header lines up to an empty line.
    loop {
        line.clear();
        if read_line(reader, &mut line, &mut total).await? == 0 || line.trim().is_empty() {
            return Ok(body);
        }
    }
}

async fn write_response(stream: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
        reply.status.as_u16(),
        reply.status.canonical_reason().unwrap_or(""),
        reply.content_type,
        reply.body.len(),
        if reply.keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        },
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&reply.body);
    stream.write_all(&bytes).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunked_bodies_are_reassembled() {
        let mut input: &[u8] = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let body = read_chunked(&mut input).await;
        assert!(matches!(body, Ok(ref bytes) if bytes == b"hello world"));
    }

    #[tokio::test]
    async fn request_heads_are_parsed() {
        let mut input: &[u8] =
            b"\r\nPOST /v1/traces?x=1 HTTP/1.0\r\nContent-Type: application/x-protobuf\r\nConnection: keep-alive\r\n\r\n";
        let head = match read_head(&mut input).await {
            Ok(Some(head)) => head,
            _ => panic!("the head should parse"),
        };
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/v1/traces");
        assert!(head.http10);
        assert!(head.keep_alive());
        assert_eq!(head.header("content-type"), Some(PROTOBUF));
    }

    #[tokio::test]
    async fn oversized_heads_are_refused() {
        let mut request = b"POST /v1/traces HTTP/1.1\r\nX-Big: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        request.extend_from_slice(b"\r\n\r\n");
        let result = read_head(&mut request.as_slice()).await;
        assert!(matches!(
            result,
            Err(RequestError::Bad(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                _
            ))
        ));
    }
}
