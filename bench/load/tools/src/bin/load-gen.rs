//! The load generator: `--connections` keep-alive HTTP/1.1 connections over loopback, each sending
//! `GET /users/{id}` with a fresh sampled `traceparent` and waiting for the answer before the next
//! request. After `--warmup-secs` it measures until `--max-requests` answers or `--secs` have
//! passed, whichever comes first, reading the server's CPU time from `/proc/<pid>/stat` at both
//! ends of that window, and prints one JSON object.
//!
//! ```text
//! load-gen --addr 127.0.0.1:8080 --server-pid 1234 [--connections 32] [--warmup-secs 2]
//!          [--secs 8] [--max-requests 400000]
//! ```

use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// `traceparent: 00-` then 32 hex digits of trace id, `-`, 16 of parent id, `-01` (sampled).
const TRACEPARENT: &str = "traceparent: 00-";

struct Options {
    addr: SocketAddr,
    server_pid: u32,
    connections: usize,
    warmup: Duration,
    window: Duration,
    max_requests: u64,
}

/// What the connections share: the phase and the answer counts.
struct Shared {
    phase: AtomicU8,
    answered: AtomicU64,
    measured: AtomicU64,
    errors: AtomicU64,
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(run) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("load-gen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        server_pid: 0,
        connections: 32,
        warmup: Duration::from_secs(2),
        window: Duration::from_secs(8),
        max_requests: 400_000,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => options.addr = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => options.server_pid = value.parse().map_err(|e| bad(&e))?,
            "--connections" => options.connections = value.parse().map_err(|e| bad(&e))?,
            "--warmup-secs" => {
                options.warmup = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?);
            }
            "--secs" => {
                options.window = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?);
            }
            "--max-requests" => options.max_requests = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !options.addr.ip().is_loopback() || options.addr.port() == 0 {
        return Err("--addr must be a loopback address with a port".to_owned());
    }
    if options.server_pid == 0 || options.connections == 0 || options.max_requests == 0 {
        return Err("--server-pid, --connections and --max-requests must be positive".to_owned());
    }
    Ok(options)
}

fn run(options: Options) -> Result<String, String> {
    let ticks_per_second = clock_ticks_per_second()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(WARMUP),
            answered: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        let tasks: Vec<_> = (0..options.connections)
            .map(|n| {
                let shared = Arc::clone(&shared);
                tokio::spawn(connection(options.addr, shared, n as u64 + 1))
            })
            .collect();
        tokio::time::sleep(options.warmup).await;

        let cpu_before = cpu_ticks(options.server_pid)?;
        let started = Instant::now();
        shared.phase.store(MEASURE, Ordering::SeqCst);
        while started.elapsed() < options.window
            && shared.measured.load(Ordering::Relaxed) < options.max_requests
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let measured = shared.measured.load(Ordering::SeqCst);
        let cpu_after = cpu_ticks(options.server_pid)?;
        let elapsed = started.elapsed().as_secs_f64();
        shared.phase.store(STOP, Ordering::SeqCst);

        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.map_err(|e| format!("connection task: {e}"))?);
        }
        if measured == 0 || latencies.is_empty() {
            return Err("no request was answered in the measured window".to_owned());
        }
        latencies.sort_unstable();
        let cpu_us = (cpu_after - cpu_before) as f64 * 1e6 / ticks_per_second as f64;
        Ok(serde_json::json!({
            "requests": measured,
            "answered_total": shared.answered.load(Ordering::SeqCst),
            "errors": shared.errors.load(Ordering::SeqCst),
            "seconds": elapsed,
            "requests_per_second": measured as f64 / elapsed,
            "p50_us": percentile(&latencies, 50),
            "p99_us": percentile(&latencies, 99),
            "cpu_us_per_request": cpu_us / measured as f64,
            "cpu_ticks": cpu_after - cpu_before,
        })
        .to_string())
    })
}

/// One keep-alive connection's loop; returns the latencies (us) of its measured answers.
/// An error closes the connection and opens another, counted in `errors`.
async fn connection(addr: SocketAddr, shared: Arc<Shared>, seed: u64) -> Vec<u32> {
    let mut request = format!(
        "GET /users/{} HTTP/1.1\r\nhost: {addr}\r\nuser-agent: tracewire-load/1\r\n\
         accept: application/json\r\n{TRACEPARENT}{}-{}-01\r\n\r\n",
        1000 + seed,
        "0".repeat(32),
        "0".repeat(16),
    )
    .into_bytes();
    let ids_at = request
        .windows(TRACEPARENT.len())
        .position(|w| w == TRACEPARENT.as_bytes())
        .map_or(0, |at| at + TRACEPARENT.len());
    let mut ids = Ids(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut latencies = Vec::new();
    let mut buffer = Vec::with_capacity(4096);
    'connect: while shared.phase.load(Ordering::Relaxed) != STOP {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        loop {
            let phase = shared.phase.load(Ordering::Relaxed);
            if phase == STOP {
                break 'connect;
            }
            ids.write(&mut request[ids_at..ids_at + 49]);
            let sent = Instant::now();
            let answered = match stream.write_all(&request).await {
                Ok(()) => read_response(&mut stream, &mut buffer).await,
                Err(e) => Err(e.to_string()),
            };
            if answered.is_err() {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                buffer.clear();
                continue 'connect;
            }
            let took = sent.elapsed();
            shared.answered.fetch_add(1, Ordering::Relaxed);
            // Counted only when the whole request fell inside the window.
            if phase == MEASURE && shared.phase.load(Ordering::Relaxed) == MEASURE {
                shared.measured.fetch_add(1, Ordering::Relaxed);
                latencies.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
            }
        }
    }
    latencies
}

/// Reads one `200` response with a `content-length` body off `stream`; bytes past it stay in
/// `buffer` for the next one.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    loop {
        if let Some(length) = complete_response(buffer)? {
            buffer.drain(..length);
            return Ok(());
        }
        let mut chunk = [0_u8; 4096];
        let read = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("connection closed by the server".to_owned());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The length of the complete `200` response at the start of `buffer`, `None` if more bytes
/// are needed, an error for anything but a `200` with a `content-length`.
fn complete_response(buffer: &[u8]) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buffer).map_err(|e| e.to_string())? {
        httparse::Status::Complete(head) => head,
        httparse::Status::Partial => return Ok(None),
    };
    if response.code != Some(200) {
        return Err(format!("status {:?}", response.code));
    }
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or("response without a valid content-length")?;
    Ok((buffer.len() >= head + length).then_some(head + length))
}

/// Trace and parent ids from a xorshift generator: distinct traces, no allocation.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Writes `<32 hex trace id>-<16 hex parent id>` into `out` (49 bytes).
    fn write(&mut self, out: &mut [u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (trace_high, trace_low, parent) = (self.next(), self.next(), self.next());
        let digits = [trace_high, trace_low, parent]
            .into_iter()
            .flat_map(|word| {
                (0..16)
                    .rev()
                    .map(move |n| HEX[(word >> (n * 4)) as usize & 15])
            });
        let positions = (0..32).chain(33..49);
        for (at, digit) in positions.zip(digits) {
            out[at] = digit;
        }
    }
}

fn percentile(sorted: &[u32], percent: usize) -> u32 {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// utime + stime of every thread of `pid`, in clock ticks (fields 14 and 15 of
/// `/proc/<pid>/stat`, counted after the parenthesised command name, which may hold spaces).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
    // After the name, field 3 (state) is at index 0: utime (14) at 11, stime (15) at 12.
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(format!("{path}: unexpected format")),
    }
}

fn clock_ticks_per_second() -> Result<u64, String> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(|e| format!("getconf CLK_TCK: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("getconf CLK_TCK: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{Ids, complete_response};

    #[test]
    fn a_response_is_complete_once_its_body_is_in() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbodyHTTP/1.1";
        assert_eq!(complete_response(&response[..20]), Ok(None));
        assert_eq!(complete_response(&response[..40]), Ok(None));
        assert_eq!(complete_response(&response[..]), Ok(Some(42)));
        assert!(complete_response(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n").is_err());
        assert!(
            complete_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err()
        );
        assert!(complete_response(b"not http\r\n\r\n").is_err());
    }

    #[test]
    fn ids_are_lowercase_hex_around_the_separator() {
        let mut out = *b"00000000000000000000000000000000-0000000000000000";
        let mut ids = Ids(7);
        ids.write(&mut out);
        let first = out;
        ids.write(&mut out);
        assert_ne!(first, out);
        assert_eq!(out[32], b'-');
        assert!(
            out.iter()
                .enumerate()
                .all(|(at, b)| at == 32 || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
