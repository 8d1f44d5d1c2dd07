//! `cargo run -p tracewire-demo [-- --postgres URL]`: runs the demo and prints its traces and
//! metrics. See the README.
#![allow(clippy::print_stdout, reason = "a demo prints its result")]

use std::process::ExitCode;

use tracewire_demo::{DatabaseChoice, Options};

const USAGE: &str = "usage: tracewire-demo [--postgres URL]

Runs an axum gateway, a tonic inventory service, an HTTP payment service and a Kafka consumer in
one process, places three orders and prints each trace as a tree.

  --postgres URL   use PostgreSQL instead of in-memory SQLite (or TRACEWIRE_DEMO_POSTGRES_URL)

Telemetry is configured by the OTEL_* variables; with OTEL_EXPORTER_OTLP_ENDPOINT set, everything
is also exported to that collector.";

fn database_choice() -> Result<DatabaseChoice, String> {
    let mut args = std::env::args().skip(1);
    let mut postgres = std::env::var("TRACEWIRE_DEMO_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => {
                postgres = Some(args.next().ok_or("--postgres needs a URL")?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(postgres.map_or(DatabaseChoice::Sqlite, DatabaseChoice::Postgres))
}

#[tokio::main]
async fn main() -> ExitCode {
    let database = match database_choice() {
        Ok(database) => database,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let database_name = match &database {
        DatabaseChoice::Sqlite => "SQLite (in memory)",
        DatabaseChoice::Postgres(_) => "PostgreSQL",
    };
    println!(
        "tracewire demo: gateway (axum) -> inventory (tonic, {database_name}) -> payments (reqwest -> axum) -> Kafka (mock cluster) -> fulfillment ({database_name})\n"
    );
    let options = Options {
        database,
        ..Options::default()
    };
    let report = match tracewire_demo::run(options).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("demo failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.render_traces());
    println!("metrics (totals per service)\n{}", report.render_metrics());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if endpoint.is_empty() {
        println!(
            "Set OTEL_EXPORTER_OTLP_ENDPOINT to also export all of this to a collector (see examples/demo/deploy)."
        );
    } else if report
        .services
        .iter()
        .all(|service| service.shutdown.is_clean())
    {
        println!("Everything above was also exported to {endpoint}.");
    } else {
        println!("Exporting to {endpoint} did not fully succeed:");
        for service in &report.services {
            println!("  {}: {}", service.name, service.shutdown);
        }
    }
    ExitCode::SUCCESS
}
