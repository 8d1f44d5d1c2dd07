//! Runs the example with `--smoke`: against `DATABASE_URL` when it is set, else it must say it
//! skipped and exit 0.

use std::process::Command;

#[test]
fn smoke_run_uses_postgres_or_skips_cleanly() {
    let database = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let output = Command::new(env!("CARGO_BIN_EXE_example-sqlx-postgres"))
        .arg("--smoke")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    if database.is_none() {
        assert!(stderr.contains("SKIPPED: set DATABASE_URL"), "{stderr}");
        assert!(!stdout.contains("span "), "{stdout}");
        return;
    }
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
