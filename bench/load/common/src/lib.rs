//! What every server of the load benchmark shares: the one route (`GET /users/{id}`, JSON), the
//! command line (`--setup NAME --listen ADDR`), a runtime with two worker threads, and the
//! shutdown path the driver times (SIGTERM or Ctrl-C: stop accepting, finish the open
//! connections, then let the setup shut its telemetry down).

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// Worker threads of the server's runtime: the same for every setup.
pub const WORKER_THREADS: usize = 2;

/// What a setup returns when it cannot start or serve.
pub type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Serialize)]
struct User {
    id: u64,
    name: &'static str,
    roles: [&'static str; 2],
}

async fn user(Path(id): Path<u64>) -> Json<User> {
    Json(User {
        id,
        name: "Ada Lovelace",
        roles: ["admin", "author"],
    })
}

/// The benchmark's application: one route, no telemetry. Setups add their layer to it.
pub fn router() -> Router {
    Router::new().route("/users/{id}", get(user))
}

/// Serves `app` on `listen` until SIGTERM or Ctrl-C, on a runtime with [`WORKER_THREADS`]
/// workers, then returns once the open connections are done. The runtime is gone when this
/// returns, so a setup's telemetry shutdown after it runs outside any runtime, as in `main`.
pub fn serve(listen: SocketAddr, app: Router) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
    })?;
    Ok(())
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        // Without a SIGTERM handler the default action (exit) still ends the process.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The `main` of a server binary: parses `--setup NAME --listen ADDR`, refuses a setup not in
/// `setups`, and runs `run(setup, listen)`, reporting its error on stderr.
pub fn main(
    setups: &[&str],
    run: impl FnOnce(&str, SocketAddr) -> Result<(), BoxError>,
) -> ExitCode {
    match parse_args(std::env::args().skip(1), setups).and_then(|(setup, listen)| {
        run(&setup, listen).map_err(|e| format!("setup `{setup}`: {e}"))
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(
    mut args: impl Iterator<Item = String>,
    setups: &[&str],
) -> Result<(String, SocketAddr), String> {
    let usage = format!("usage: --setup <{}> --listen <ADDR>", setups.join("|"));
    let (mut setup, mut listen) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| usage.clone())?;
        match flag.as_str() {
            "--setup" if setups.contains(&value.as_str()) => setup = Some(value),
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--listen {value}: {e}"))?,
                );
            }
            _ => return Err(format!("unexpected `{flag} {value}`\n{usage}")),
        }
    }
    setup.zip(listen).ok_or(usage)
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn parse(args: &[&str]) -> Result<(String, std::net::SocketAddr), String> {
        parse_args(args.iter().map(|a| (*a).to_owned()), &["bare"])
    }

    #[test]
    fn arguments_name_a_known_setup_and_an_address() {
        let (setup, listen) =
            parse(&["--setup", "bare", "--listen", "127.0.0.1:8080"]).expect("valid arguments");
        assert_eq!(setup, "bare");
        assert_eq!(listen.port(), 8080);
        assert!(parse(&["--setup", "other", "--listen", "127.0.0.1:1"]).is_err());
        assert!(parse(&["--setup", "bare"]).is_err());
        assert!(parse(&["--setup", "bare", "--listen", "nowhere"]).is_err());
        assert!(parse(&["--setup"]).is_err());
    }
}
