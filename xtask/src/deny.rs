//! `cargo xtask deny`: bans, licenses and sources with cargo-deny and `deny.toml`.

use crate::{cargo, succeeds};

pub(crate) fn run() -> Result<(), String> {
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
