//! `cargo xtask load`: the end-to-end benchmark. Release servers from the separate workspace in
//! `bench/load` (one cargo invocation per package, so the anchors' features never unify with
//! ours), load from `load-gen` in another process, OTLP/HTTP to `load-sink` or to a collector
//! that is not there or never answers; per case the server's CPU time per request, req/s, p99,
//! peak RSS and shutdown time. Cases are interleaved over rounds and medians reported, in a
//! section of BENCHMARKS.md that `cargo xtask bench` keeps.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{Machine, machine};
use crate::{cargo, workspace_root};

/// The marks around the end-to-end section of BENCHMARKS.md.
pub(crate) const SECTION_START: &str = "<!-- cargo xtask load: start -->";
pub(crate) const SECTION_END: &str = "<!-- cargo xtask load: end -->";

/// The load workspace's packages, each built by its own cargo invocation.
const PACKAGES: [&str; 4] = [
    "load-tools",
    "load-server-tracewire",
    "load-server-otel",
    "load-server-axum-tracing",
];

/// Load-generator connections, as the measurements used.
const CONNECTIONS: &str = "32";
/// How long a server may take to exit after SIGTERM before it is killed (and reported so).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

/// One server setup: which binary serves it and what it is.
struct Setup {
    name: &'static str,
    binary: &'static str,
    world: &'static str,
    what: &'static str,
    anchor: bool,
}

const SETUPS: [Setup; 6] = [
    Setup {
        name: "bare",
        binary: "load-server-tracewire",
        world: "—",
        what: "axum alone, no telemetry",
        anchor: false,
    },
    Setup {
        name: "tracewire-readme",
        binary: "load-server-tracewire",
        world: "`tracing`",
        what: "what the READMEs show: `tracewire_init::init()` + `TelemetryLayer::new()`",
        anchor: false,
    },
    Setup {
        name: "tracewire-otel",
        binary: "load-server-tracewire",
        world: "OpenTelemetry",
        what: "`tracewire_init::builder().install_globals(false)`, the layer given the guard's \
               providers and propagator",
        anchor: false,
    },
    Setup {
        name: "direct",
        binary: "load-server-otel",
        world: "OpenTelemetry",
        what: "the floor: `tracewire-readme`'s span and duration metric by hand on the \
               OpenTelemetry API, stock `opentelemetry-otlp` 0.33 batch pipeline",
        anchor: false,
    },
    Setup {
        name: "anchor-tower",
        binary: "load-server-otel",
        world: "OpenTelemetry",
        what: "`opentelemetry-instrumentation-tower` 0.19 `Layer::new()` (span + four metrics), \
               stock `opentelemetry-otlp` 0.33 batch pipeline",
        anchor: true,
    },
    Setup {
        name: "anchor-axum-tracing",
        binary: "load-server-axum-tracing",
        world: "`tracing`",
        what: "`axum-tracing-opentelemetry` 0.42 (`OtelAxumLayer` + `OtelInResponseLayer`) + \
               `init-tracing-opentelemetry` 0.44 `TracingConfig::production()` (no metrics)",
        anchor: true,
    },
];

/// Where the setups export to; the order of [`Collector::ALL`], which indexes the results.
#[derive(Clone, Copy, PartialEq)]
enum Collector {
    /// `load-sink --mode ok`: answers 200 at once.
    Sink,
    /// A port nothing listens on.
    Dead,
    /// `load-sink --mode hang`: accepts, reads, never answers.
    Hang,
}

impl Collector {
    const ALL: [Collector; 3] = [Collector::Sink, Collector::Dead, Collector::Hang];

    fn name(self) -> &'static str {
        match self {
            Collector::Sink => "sink",
            Collector::Dead => "dead-port",
            Collector::Hang => "never-answers",
        }
    }
}

struct Options {
    rounds: usize,
    warmup_secs: f64,
    secs: f64,
    max_requests: u64,
    smoke: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            rounds: 3,
            warmup_secs: 2.0,
            secs: 8.0,
            max_requests: 1_000_000,
            smoke: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--smoke" {
                options = Options {
                    rounds: 1,
                    warmup_secs: 0.2,
                    secs: 0.5,
                    max_requests: 500,
                    smoke: true,
                };
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?;
            let number = |what: &str| format!("`{flag} {value}`: not {what}");
            match flag.as_str() {
                "--rounds" => {
                    options.rounds = value
                        .parse()
                        .ok()
                        .filter(|r| *r > 0)
                        .ok_or_else(|| number("a positive integer"))?;
                }
                "--secs" => {
                    options.secs = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0)
                        .ok_or_else(|| number("a positive number"))?;
                }
                "--warmup-secs" => {
                    options.warmup_secs = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s >= 0.0)
                        .ok_or_else(|| number("a number"))?;
                }
                _ => return Err(format!("unknown option `{flag}`")),
            }
        }
        Ok(options)
    }
}

/// What one case measured.
#[derive(Clone, Default)]
struct Sample {
    cpu_us: f64,
    requests_per_second: f64,
    p99_us: f64,
    rss_kib: f64,
    /// `None`: killed after [`SHUTDOWN_LIMIT`].
    shutdown_ms: Option<f64>,
    /// Requests answered over the whole case, warm-up included.
    answered: f64,
    /// Sink only: spans received per request answered, and bytes per span.
    spans_per_request: Option<f64>,
    bytes_per_span: Option<f64>,
    errors: u64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let root = workspace_root();
    let bin = build(&root)?;
    let machine = machine();
    let started = Instant::now();

    let sink = Sink::start(&bin, "ok")?;
    let hang = Sink::start(&bin, "hang")?;
    let dead = free_port()?;
    let logs = bin.join("load-logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    // results[collector][setup]: one sample per round.
    let mut results = vec![vec![Vec::<Sample>::new(); SETUPS.len()]; Collector::ALL.len()];
    let mut busy_cases = 0;
    let mut cases = 0;
    let collectors: &[Collector] = if options.smoke {
        &[Collector::Sink]
    } else {
        &Collector::ALL
    };
    for round in 0..options.rounds {
        for &collector in collectors {
            // Interleaved: each round starts at another setup.
            for offset in 0..SETUPS.len() {
                let index = (offset + round) % SETUPS.len();
                let setup = &SETUPS[index];
                if setup.name == "bare" && collector != Collector::Sink {
                    continue;
                }
                let endpoint = match collector {
                    Collector::Sink => sink.addr,
                    Collector::Dead => dead,
                    Collector::Hang => hang.addr,
                };
                cases += 1;
                busy_cases += usize::from(compiles_running() > 0);
                eprintln!(
                    "xtask: round {}/{}: {} -> {}",
                    round + 1,
                    options.rounds,
                    setup.name,
                    collector.name()
                );
                let before = (collector == Collector::Sink)
                    .then(|| sink.stats())
                    .transpose()?;
                let log = logs.join(format!("{}-{round}-{}.log", setup.name, collector.name()));
                let mut sample = run_case(&bin, setup, endpoint, &options, &log)?;
                if let Some(before) = before {
                    let after = sink.stats()?;
                    let spans = after.spans - before.spans;
                    sample.spans_per_request = Some(spans as f64 / sample.answered.max(1.0));
                    sample.bytes_per_span = (spans > 0)
                        .then(|| (after.trace_bytes - before.trace_bytes) as f64 / spans as f64);
                    if options.smoke && setup.name != "bare" && spans == 0 {
                        return Err(format!(
                            "smoke: `{}` exported no span to the sink (its log: {})",
                            setup.name,
                            log.display()
                        ));
                    }
                }
                if options.smoke && sample.errors > 0 {
                    return Err(format!(
                        "smoke: `{}` failed {} requests (log: {})",
                        setup.name,
                        sample.errors,
                        log.display()
                    ));
                }
                if options.smoke {
                    // 500 measured requests: too few clock ticks for a number worth printing.
                    eprintln!(
                        "xtask:   served {:.0} requests, {:.2} spans exported per request",
                        sample.answered,
                        sample.spans_per_request.unwrap_or(0.0)
                    );
                    continue;
                }
                eprintln!(
                    "xtask:   {:.1} us CPU/request, {:.0} req/s, p99 {:.2} ms, RSS {:.1} MiB, \
                     shutdown {}",
                    sample.cpu_us,
                    sample.requests_per_second,
                    sample.p99_us / 1000.0,
                    sample.rss_kib / 1024.0,
                    sample
                        .shutdown_ms
                        .map_or_else(|| "killed".to_owned(), |ms| format!("{ms:.0} ms")),
                );
                results[collector as usize][index].push(sample);
            }
        }
    }
    if options.smoke {
        eprintln!(
            "xtask: smoke: every setup started, served, exported spans and shut down ({:.0?})",
            started.elapsed()
        );
        return Ok(());
    }
    let command = format!("cargo xtask load {}", args.join(" "))
        .trim_end()
        .to_owned();
    let section = markdown(&Report {
        machine: &machine,
        command: &command,
        options: &options,
        results: &results,
        busy_cases,
        cases,
        seconds: started.elapsed().as_secs(),
    });
    let path = root.join("BENCHMARKS.md");
    let existing = fs::read_to_string(&path).unwrap_or_default();
    fs::write(&path, with_section(&existing, &section))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote the end-to-end section of BENCHMARKS.md");
    Ok(())
}

/// Builds each package of the load workspace in release, in its own invocation; returns the
/// directory of the binaries.
fn build(root: &Path) -> Result<PathBuf, String> {
    let manifest = root.join("bench/load/Cargo.toml");
    let manifest = manifest.to_string_lossy();
    // Beside the root workspace's artifacts, not in them: the load workspace has its own lock
    // file and feature sets, and its own build lock, so it never waits on the root's builds.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("load");
    let target_str = target.to_string_lossy();
    for package in PACKAGES {
        cargo(
            [
                "build",
                "--release",
                "--locked",
                "--manifest-path",
                &manifest,
                "-p",
                package,
            ],
            &[("CARGO_TARGET_DIR", &target_str)],
        )?;
    }
    Ok(target.join("release"))
}

/// A `load-sink` process, killed when dropped.
struct Sink {
    child: Child,
    addr: SocketAddr,
}

/// The sink's counters (see `load-sink`).
struct SinkStats {
    spans: u64,
    trace_bytes: u64,
}

impl Sink {
    fn start(bin: &Path, mode: &str) -> Result<Self, String> {
        let addr = free_port()?;
        let child = Command::new(bin.join("load-sink"))
            .args(["--listen", &addr.to_string(), "--mode", mode])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("load-sink: {e}"))?;
        let mut sink = Sink { child, addr };
        wait_listening(&mut sink.child, addr, "load-sink")?;
        Ok(sink)
    }

    /// `GET /stats`, over a plain socket (xtask has no HTTP client).
    fn stats(&self) -> Result<SinkStats, String> {
        let mut stream = TcpStream::connect(self.addr).map_err(|e| format!("sink stats: {e}"))?;
        stream
            .write_all(b"GET /stats HTTP/1.1\r\nhost: sink\r\nconnection: close\r\n\r\n")
            .map_err(|e| format!("sink stats: {e}"))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| format!("sink stats: {e}"))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .ok_or("sink stats: no body")?;
        let json: Value = serde_json::from_str(body).map_err(|e| format!("sink stats: {e}"))?;
        let get = |key: &str| json[key].as_u64().unwrap_or(0);
        Ok(SinkStats {
            spans: get("spans"),
            trace_bytes: get("trace_bytes"),
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `setup`'s server exporting to `collector`, loads it, reads its peak RSS, stops it
/// with SIGTERM and times its exit.
fn run_case(
    bin: &Path,
    setup: &Setup,
    collector: SocketAddr,
    options: &Options,
    log: &Path,
) -> Result<Sample, String> {
    let listen = free_port()?;
    let stderr = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut server = Command::new(bin.join(setup.binary));
    server
        .args(["--setup", setup.name, "--listen", &listen.to_string()])
        // Only what the driver sets: every setup reads the same OTEL_* environment.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OTEL_SERVICE_NAME", format!("load-{}", setup.name))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        // Logs go where a service's stdout goes; no export pipeline for them.
        .env("OTEL_LOGS_EXPORTER", "none")
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = server
        .spawn()
        .map_err(|e| format!("{}: {e}", setup.binary))?;
    let outcome = load(bin, &mut child, listen, options);
    // The server stops whatever the load's outcome.
    let rss_kib = peak_rss_kib(child.id()).unwrap_or(0.0);
    let shutdown_ms = stop(&mut child)?;
    let report = outcome.map_err(|e| format!("{}: {e} (log: {})", setup.name, log.display()))?;
    let number = |key: &str| report[key].as_f64().unwrap_or(0.0);
    Ok(Sample {
        cpu_us: number("cpu_us_per_request"),
        requests_per_second: number("requests_per_second"),
        p99_us: number("p99_us"),
        rss_kib,
        shutdown_ms,
        answered: number("answered_total"),
        spans_per_request: None,
        bytes_per_span: None,
        errors: report["errors"].as_u64().unwrap_or(0),
    })
}

/// Waits for the server, then runs `load-gen` against it; its JSON report.
fn load(
    bin: &Path,
    server: &mut Child,
    listen: SocketAddr,
    options: &Options,
) -> Result<Value, String> {
    wait_listening(server, listen, "the server")?;
    let output = Command::new(bin.join("load-gen"))
        .args([
            "--addr",
            &listen.to_string(),
            "--server-pid",
            &server.id().to_string(),
            "--connections",
            CONNECTIONS,
            "--warmup-secs",
            &options.warmup_secs.to_string(),
            "--secs",
            &options.secs.to_string(),
            "--max-requests",
            &options.max_requests.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("load-gen: {e}"))?;
    if !output.status.success() {
        return Err(format!("load-gen failed ({})", output.status));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("load-gen output: {e}"))
}

/// SIGTERM, then the time until the process has exited; `None` if it had to be killed.
fn stop(child: &mut Child) -> Result<Option<f64>, String> {
    let signalled = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if !sent.success() {
        return Err(format!("kill -TERM {} failed", child.id()));
    }
    while signalled.elapsed() < SHUTDOWN_LIMIT {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Ok(Some(signalled.elapsed().as_secs_f64() * 1000.0));
        }
        thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}

/// Polls until `addr` accepts a connection, failing if `child` exits first or 30 s pass.
fn wait_listening(child: &mut Child, addr: SocketAddr, what: &str) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited before listening ({status})"));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    Err(format!("{what} did not listen on {addr} within 30 s"))
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

/// `VmHWM` of `/proc/<pid>/status`: the process's peak resident set, in KiB.
fn peak_rss_kib(pid: u32) -> Option<f64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// How many `rustc` processes run now (other engineers' builds on the shared machine).
fn compiles_running() -> usize {
    fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| {
                    fs::read_to_string(entry.path().join("comm"))
                        .is_ok_and(|comm| comm.trim() == "rustc")
                })
                .count()
        })
        .unwrap_or(0)
}

/// `existing` BENCHMARKS.md with its end-to-end section replaced by `section` (or appended).
pub(crate) fn with_section(existing: &str, section: &str) -> String {
    let kept = match (existing.find(SECTION_START), existing.find(SECTION_END)) {
        (Some(start), Some(end)) if start < end => {
            format!(
                "{}{}",
                &existing[..start],
                &existing[end + SECTION_END.len()..]
            )
        }
        _ => existing.to_owned(),
    };
    format!(
        "{}\n\n{SECTION_START}\n{}\n{SECTION_END}\n",
        kept.trim_end(),
        section.trim()
    )
}

/// The end-to-end section of `existing` BENCHMARKS.md, between its marks, if it has one.
pub(crate) fn section(existing: &str) -> Option<&str> {
    let start = existing.find(SECTION_START)? + SECTION_START.len();
    let end = existing[start..].find(SECTION_END)? + start;
    Some(existing[start..end].trim())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

struct Report<'a> {
    machine: &'a Machine,
    command: &'a str,
    options: &'a Options,
    results: &'a [Vec<Vec<Sample>>],
    busy_cases: usize,
    cases: usize,
    seconds: u64,
}

/// Medians of one setup under one collector.
struct Medians {
    cpu_us: Option<f64>,
    cpu_low: Option<f64>,
    cpu_high: Option<f64>,
    requests_per_second: Option<f64>,
    p99_ms: Option<f64>,
    rss_mib: Option<f64>,
    shutdown_ms: Option<f64>,
    killed: usize,
    spans_per_request: Option<f64>,
    bytes_per_span: Option<f64>,
    errors: u64,
    rounds: usize,
}

impl Medians {
    fn of(samples: &[Sample]) -> Self {
        let all = |f: fn(&Sample) -> Option<f64>| median(samples.iter().filter_map(f).collect());
        let cpu: Vec<f64> = samples.iter().map(|s| s.cpu_us).collect();
        Medians {
            cpu_us: median(cpu.clone()),
            cpu_low: cpu.iter().copied().reduce(f64::min),
            cpu_high: cpu.iter().copied().reduce(f64::max),
            requests_per_second: all(|s| Some(s.requests_per_second)),
            p99_ms: all(|s| Some(s.p99_us / 1000.0)),
            rss_mib: all(|s| Some(s.rss_kib / 1024.0)),
            shutdown_ms: all(|s| s.shutdown_ms),
            killed: samples.iter().filter(|s| s.shutdown_ms.is_none()).count(),
            spans_per_request: all(|s| s.spans_per_request),
            bytes_per_span: all(|s| s.bytes_per_span),
            errors: samples.iter().map(|s| s.errors).sum(),
            rounds: samples.len(),
        }
    }
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$}"))
}

fn shutdown(m: &Medians) -> String {
    let time = m.shutdown_ms.map_or_else(
        || "—".to_owned(),
        |ms| {
            if ms >= 1000.0 {
                format!("{:.1} s", ms / 1000.0)
            } else {
                format!("{ms:.0} ms")
            }
        },
    );
    match m.killed {
        0 => time,
        killed => format!(
            "{time} (killed after {} s in {killed} of {} rounds)",
            SHUTDOWN_LIMIT.as_secs(),
            m.rounds
        ),
    }
}

fn markdown(report: &Report<'_>) -> String {
    let medians: Vec<Vec<Medians>> = report
        .results
        .iter()
        .map(|per_setup| per_setup.iter().map(|s| Medians::of(s)).collect())
        .collect();
    let sink = &medians[0];
    let bare = sink[0].cpu_us.unwrap_or(0.0);
    let overhead = |m: &Medians| m.cpu_us.map(|cpu| cpu - bare);
    let cheapest = SETUPS
        .iter()
        .zip(sink)
        .filter(|(setup, _)| setup.anchor)
        .filter_map(|(setup, m)| Some((setup.name, overhead(m)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let options = report.options;
    let machine = report.machine;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## End to end (`cargo xtask load`)\n\n\
         Generated by `{}`; do not edit by hand (`cargo xtask bench` keeps this section). One axum \
         route (`GET /users/{{id}}`, JSON) on hyper over loopback, a release build of each setup \
         ([bench/load](bench/load/README.md)), the server on a tokio runtime with 2 worker \
         threads; `load-gen` in another process keeps {CONNECTIONS} keep-alive connections busy, \
         every request with its own sampled `traceparent`, {}s of warm-up then a window of at most \
         {}s or {} requests. **CPU us / request** = the server process's utime + stime over the \
         window (`/proc/<pid>/stat`, every thread: exporter threads included) / the requests \
         answered in it. Exporting OTLP/HTTP (protobuf) to the collector of the table. Cases \
         interleaved over {} rounds (each round starts at another setup), a fresh server process \
         per case; medians, CPU's range over the rounds in brackets.\n\n\
         - Date: {}\n- Machine: {} cores (`nproc`), {}; load average at the start: {}\n\
         - Load during the run: `rustc` was running (other builds on the shared machine) at the \
         start of {} of {} cases; the load generator and the sink share the same cores\n\
         - Toolchain: `{}`; the run took {}s",
        report.command,
        options.warmup_secs,
        options.secs,
        options.max_requests,
        options.rounds,
        machine.date,
        machine.cores,
        machine.cpu,
        machine.load,
        report.busy_cases,
        report.cases,
        machine.rustc,
        report.seconds,
    );
    let _ = writeln!(
        md,
        "\n### Setups\n\n| setup | span world | what runs |\n|---|---|---|"
    );
    for setup in &SETUPS {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} |",
            setup.name, setup.world, setup.what
        );
    }
    let _ = writeln!(
        md,
        "\n### Collector that answers at once\n\n**Overhead** = CPU us / request − `bare`'s. \
         **/ {}** = overhead / the overhead of the cheapest anchor setup in this run.\n\n\
         | setup | span world | CPU us / request | overhead | / {} | req/s | p99 | peak RSS | \
         spans / request | bytes / span | shutdown |\n|---|---|---|---|---|---|---|---|---|---|---|",
        cheapest.map_or("cheapest anchor", |(name, _)| name),
        cheapest.map_or("cheapest anchor", |(name, _)| name),
    );
    for (setup, m) in SETUPS.iter().zip(sink) {
        let ratio = match (overhead(m), cheapest) {
            _ if setup.name == "bare" => "—".to_owned(),
            (Some(ours), Some((_, anchor))) if anchor > 0.0 => format!("**{:.2}**", ours / anchor),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} [{}–{}] | {} | {ratio} | {} | {} ms | {} MiB | {} | {} | {} |{}",
            setup.name,
            setup.world,
            number(m.cpu_us, 1),
            number(m.cpu_low, 1),
            number(m.cpu_high, 1),
            if setup.name == "bare" {
                "—".to_owned()
            } else {
                overhead(m).map_or_else(|| "—".to_owned(), |o| format!("{o:+.1}"))
            },
            number(m.requests_per_second, 0),
            number(m.p99_ms, 2),
            number(m.rss_mib, 1),
            number(m.spans_per_request, 2),
            number(m.bytes_per_span, 0),
            shutdown(m),
            if m.errors > 0 {
                format!(" {} failed requests", m.errors)
            } else {
                String::new()
            },
        );
    }
    for (collector, per_setup) in Collector::ALL.iter().zip(&medians).skip(1) {
        let what = match collector {
            Collector::Dead => {
                "a dead port (nothing listens: every export fails at once with a refused \
                 connection)"
            }
            _ => {
                "a collector that accepts connections and never answers (the exporters wait for \
                 their timeouts): peak RSS is the memory bound, shutdown the time from SIGTERM \
                 to exit"
            }
        };
        let _ = writeln!(
            md,
            "\n### Exporting to {what}\n\n\
             | setup | CPU us / request | overhead | req/s | p99 | peak RSS | shutdown |\n\
             |---|---|---|---|---|---|---|"
        );
        for (setup, m) in SETUPS.iter().zip(per_setup).skip(1) {
            let _ = writeln!(
                md,
                "| `{}` | {} [{}–{}] | {} | {} | {} ms | {} MiB | {} |",
                setup.name,
                number(m.cpu_us, 1),
                number(m.cpu_low, 1),
                number(m.cpu_high, 1),
                overhead(m).map_or_else(|| "—".to_owned(), |o| format!("{o:+.1}")),
                number(m.requests_per_second, 0),
                number(m.p99_ms, 2),
                number(m.rss_mib, 1),
                shutdown(m),
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::{SECTION_END, SECTION_START, median, section, with_section};

    #[test]
    fn the_section_is_replaced_or_appended_and_the_rest_kept() {
        let appended = with_section("# Benchmarks\n\nin-process\n", "## End to end\n\nfirst");
        assert!(appended.starts_with("# Benchmarks\n\nin-process\n\n"));
        assert!(appended.ends_with(&format!(
            "{SECTION_START}\n## End to end\n\nfirst\n{SECTION_END}\n"
        )));
        assert_eq!(section(&appended), Some("## End to end\n\nfirst"));
        let replaced = with_section(&appended, "## End to end\n\nsecond");
        assert!(replaced.contains("in-process") && replaced.contains("second"));
        assert!(!replaced.contains("first"));
        assert_eq!(replaced.matches(SECTION_START).count(), 1);
        assert_eq!(section("# Benchmarks\n"), None);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
