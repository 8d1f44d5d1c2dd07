//! `cargo xtask`: the project's task runner, so CI and developers run the same commands.
//!
//! - `cargo xtask ci`: format check, clippy with warnings denied, the test suite (nextest when
//!   installed, else `cargo test`), doc tests, and rustdoc with warnings denied.
//! - `cargo xtask deny`: supply-chain checks with cargo-deny (installed on first use).

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci     fmt check, clippy (-D warnings), tests, doc tests, rustdoc (-D warnings)
  deny   cargo deny check bans licenses sources (installs cargo-deny if missing)";

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("deny") => deny(),
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

fn ci() -> Result<(), String> {
    cargo(["fmt", "--all", "--check"], &[])?;
    cargo(
        [
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    if has_nextest() {
        cargo(
            [
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--locked",
                "--profile",
                "ci",
            ],
            &[],
        )?;
    } else {
        eprintln!("xtask: cargo-nextest not found, running the tests with cargo test");
        cargo(
            [
                "test",
                "--workspace",
                "--all-features",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ],
            &[],
        )?;
    }
    cargo(
        ["test", "--workspace", "--all-features", "--locked", "--doc"],
        &[],
    )?;
    cargo(
        [
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--locked",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

fn deny() -> Result<(), String> {
    if !succeeds("cargo", ["deny", "--version"]) {
        eprintln!("xtask: cargo-deny not found, installing it into ~/.cargo/bin (once)");
        cargo(["install", "cargo-deny", "--locked"], &[])?;
    }
    eprintln!(
        "xtask: advisories are not checked: they need the RustSec database from the network, which these machines cannot reach"
    );
    cargo(
        [
            "deny",
            "--workspace",
            "check",
            "bans",
            "licenses",
            "sources",
        ],
        &[],
    )
}

fn has_nextest() -> bool {
    succeeds("cargo", ["nextest", "--version"])
}

fn succeeds<const N: usize>(program: &str, args: [&str; N]) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .is_ok_and(|output| output.status.success())
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
    let status = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
