//! `cargo xtask ci`: what CI runs, in order, stopping at the first failure.

use crate::cargo;

pub(crate) fn run() -> Result<(), String> {
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

fn has_nextest() -> bool {
    crate::succeeds("cargo", ["nextest", "--version"])
}
