//! `cargo xtask ci`: what CI runs, in order, stopping at the first failure.
//!
//! The database tests use this machine's PostgreSQL and MariaDB unless their variables name
//! others. Before the tests run, each server is probed: outside CI, the tests of a server that
//! does not answer are left out by name, so the summary counts them as skipped (never as
//! passed); in CI a missing server fails the run.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cargo;

/// A database server some tests need.
struct Server {
    name: &'static str,
    /// The variable the tests read its URL from.
    var: &'static str,
    /// The URL used when `var` is unset: this machine's server, as `.ci/run` starts it.
    local: &'static str,
    /// The test binaries (nextest binary ids) that need it.
    binaries: &'static [&'static str],
}

const SERVERS: [Server; 2] = [
    Server {
        name: "PostgreSQL",
        var: "TRACEWIRE_POSTGRES_URL",
        local: "postgres://postgres@127.0.0.1:5432/test",
        binaries: &[
            "tracewire-sqlx::postgres",
            "tracewire-demo::postgres",
            "example-sqlx-postgres::smoke",
        ],
    },
    Server {
        name: "MariaDB",
        var: "TRACEWIRE_MYSQL_URL",
        local: "mysql://root@127.0.0.1:3306/test",
        binaries: &["tracewire-sqlx::mysql"],
    },
];

pub(crate) fn run() -> Result<(), String> {
    let Probed { reachable, skipped } = probe_servers()?;
    let envs: Vec<(&str, &str)> = reachable
        .iter()
        .map(|(var, url)| (*var, url.as_str()))
        .collect();
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
        let mut args = [
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--profile",
            "ci",
        ]
        .map(String::from)
        .to_vec();
        if !skipped.is_empty() {
            let filter = skipped
                .iter()
                .map(|binary| format!("binary_id({binary})"))
                .collect::<Vec<_>>()
                .join(" | ");
            args.extend(["-E".to_owned(), format!("not ({filter})")]);
        }
        cargo(args, &envs)?;
    } else {
        eprintln!("xtask: cargo-nextest not found, running the tests with cargo test");
        if !skipped.is_empty() {
            eprintln!(
                "xtask: cargo test cannot leave tests out by binary: the tests of the missing servers will fail (install cargo-nextest to see them skipped)"
            );
        }
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
            &envs,
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

/// What the probe found: the URL variable of each server that answers, and the test binaries
/// of those that do not.
struct Probed {
    reachable: Vec<(&'static str, String)>,
    skipped: Vec<&'static str>,
}

/// Probes every server; in CI (`CI` set) a server that does not answer is an error.
fn probe_servers() -> Result<Probed, String> {
    let in_ci = std::env::var_os("CI").is_some();
    let mut reachable = Vec::new();
    let mut skipped = Vec::new();
    for server in &SERVERS {
        let url = std::env::var(server.var)
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| server.local.to_owned());
        if answers(&url) {
            reachable.push((server.var, url));
        } else if in_ci {
            return Err(format!(
                "no {} answers at {url} ({}): CI runs its tests",
                server.name, server.var
            ));
        } else {
            eprintln!(
                "xtask: no {} answers at {url}: its tests are skipped ({}); start it or set {}",
                server.name,
                server.binaries.join(", "),
                server.var
            );
            skipped.extend(server.binaries);
        }
    }
    Ok(Probed { reachable, skipped })
}

/// Whether something accepts a TCP connection at the host and port of a database URL.
fn answers(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let default_port = if scheme.starts_with("postgres") {
        5432
    } else {
        3306
    };
    let address = if host_port.ends_with(']') || !host_port.contains(':') {
        format!("{host_port}:{default_port}")
    } else {
        host_port.to_owned()
    };
    address.to_socket_addrs().is_ok_and(|mut addresses| {
        addresses
            .any(|address| TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::answers;

    #[test]
    fn answers_reads_the_host_and_port_of_a_database_url() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        for url in [
            format!("postgres://postgres@127.0.0.1:{port}/test"),
            format!("mysql://root:secret@127.0.0.1:{port}"),
            format!("postgresql://127.0.0.1:{port}?sslmode=disable"),
        ] {
            assert!(answers(&url), "{url}");
        }
        drop(listener);
        for url in [
            format!("postgres://postgres@127.0.0.1:{port}/test"),
            "not a url".to_owned(),
            "mysql://root@[::1".to_owned(),
        ] {
            assert!(!answers(&url), "{url}");
        }
    }
}
