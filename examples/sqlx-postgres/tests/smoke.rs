//! Runs the example with `--smoke` against `DATABASE_URL`, else `TRACEWIRE_POSTGRES_URL`, else
//! this machine's server (as `.ci/run` and `cargo xtask ci` use): it never skips itself.

use std::process::Command;

#[test]
fn smoke_run_uses_postgres() {
    let database = ["DATABASE_URL", "TRACEWIRE_POSTGRES_URL"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|url| !url.is_empty()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let output = Command::new(env!("CARGO_BIN_EXE_example-sqlx-postgres"))
        .arg("--smoke")
        .env("DATABASE_URL", &database)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?} on {database}\n{stdout}\n{stderr}",
        output.status
    );
    for span in [
        " BEGIN client ",
        " INSERT example_users client ",
        " COMMIT client ",
    ] {
        assert!(stdout.contains(span), "no `{span}` span:\n{stdout}");
    }
    assert!(
        stdout.contains("duplicate refused, as expected"),
        "{stdout}"
    );
}
