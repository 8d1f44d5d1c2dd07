//! `cargo xtask`: the project's task runner, so CI and developers run the same commands.
//!
//! - `cargo xtask ci`: format check, clippy with warnings denied, the test suite (nextest when
//!   installed, else `cargo test`), doc tests, and rustdoc with warnings denied.
//! - `cargo xtask deny`: supply-chain checks with cargo-deny (installed on first use).
//! - `cargo xtask fixtures`: builds the fixture applications of `xtask/fixtures/` (each its own
//!   workspace) in every feature combination they must support.
//! - `cargo xtask matrix`: each crate's tests against each dependency version of
//!   `xtask/matrix.toml`, written to COMPATIBILITY.md and COMPATIBILITY.json.
//! - `cargo xtask bench`: the overhead benchmarks, written to BENCHMARKS.md.
//! - `cargo xtask instructions`: the same benchmarks as instruction counts under callgrind,
//!   which a loaded machine does not disturb.
//! - `cargo xtask load`: the end-to-end benchmark (release servers under load from another
//!   process, exporting), its section of BENCHMARKS.md.

mod bench;
mod ci;
mod deny;
mod fixtures;
mod instructions;
mod load;
mod matrix;
mod semver;

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask <task> [options]

tasks:
  ci                          fmt check, clippy (-D warnings), tests, doc tests, rustdoc (-D warnings)
  deny                        cargo deny check bans licenses sources (installs cargo-deny if missing)
  fixtures                    build the fixture applications of xtask/fixtures/ in each feature
                              combination they must support (own workspaces, own lock files)
  matrix [--quick] [CRATE..]  test each crate against the dependency versions of xtask/matrix.toml,
                              write COMPATIBILITY.md/.json, check the declared version ranges
                              (--quick: lowest and highest version per dependency only;
                              --check: only check the declared ranges against COMPATIBILITY.json)
  bench [--quick] [FILTER..]  run the overhead benchmarks, write BENCHMARKS.md
                              (FILTER: only the benches whose name contains it)
  instructions [--iterations N] BENCH..
                              instructions per iteration of each benchmark of the named benches
                              (axum, tonic, reqwest, sqlx), counted by valgrind's callgrind;
                              written to target/xtask-instructions/report.md
  load [--rounds N] [--secs S] [--warmup-secs S] [--smoke]
                              the end-to-end benchmark (bench/load): each setup's release server
                              under load from another process, exporting to a sink, a dead port
                              and a collector that never answers; rounds interleaved (default 3),
                              medians written to BENCHMARKS.md's end-to-end section
                              (--smoke: one short round to the sink, checks that every setup
                              serves and exports spans, writes nothing)";

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("ci") => ci::run(),
        Some("deny") => deny::run(),
        Some("fixtures") => fixtures::run(),
        Some("matrix") => matrix::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("instructions") => instructions::run(&rest),
        Some("load") => load::run(&rest),
        Some("help" | "-h" | "--help") | None => {
            eprintln!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `--flag` options from positional arguments, refusing flags not in `known`.
fn parse_flags<'a>(
    args: &'a [String],
    known: &[&str],
) -> Result<(Vec<&'a str>, Vec<&'a str>), String> {
    let (flags, positional): (Vec<&str>, Vec<&str>) = args
        .iter()
        .map(String::as_str)
        .partition(|a| a.starts_with("--"));
    match flags.iter().find(|flag| !known.contains(flag)) {
        Some(unknown) => Err(format!("unknown option `{unknown}`\n\n{USAGE}")),
        None => Ok((flags, positional)),
    }
}

fn succeeds<const N: usize>(program: &str, args: [&str; N]) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The cargo that runs xtask, so that a `+toolchain` override reaches the tasks.
fn cargo_command() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs one cargo command from the workspace root, echoing it and its duration.
fn cargo<I, S>(args: I, envs: &[(&str, &str)]) -> Result<(), String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("xtask: $ cargo {shown}");
    let started = Instant::now();
    let status = cargo_command()
        .args(&args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo {shown}: {e}"))?;
    eprintln!(
        "xtask: cargo {shown}: {status} in {:.0?}",
        started.elapsed()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {shown}` failed"))
    }
}

/// Runs a program to completion and returns its stdout, failing with its stderr.
fn output_of(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    } else {
        Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        ))
    }
}

/// `rustc -V` of the toolchain the tasks run with.
fn rustc_version() -> String {
    output_of(Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-V"))
        .map_or_else(|e| format!("unknown ({e})"), |v| v.trim().to_owned())
}

/// Today's date and time in UTC, from `date` (std has no calendar).
fn now_utc() -> String {
    output_of(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .map_or_else(|_| "unknown date".to_owned(), |d| d.trim().to_owned())
}

/// `cargo metadata --no-deps` of the workspace at `root`.
fn metadata(root: &Path) -> Result<serde_json::Value, String> {
    let json = output_of(
        cargo_command()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root),
    )?;
    serde_json::from_str(&json).map_err(|e| format!("cargo metadata: {e}"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
