//! Runs the example with `--smoke` (in-memory SQLite): the transaction, the annotated lookup and
//! the refused duplicate are all spans.

use std::process::Command;

#[test]
fn smoke_run_migrates_queries_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-sqlx-sqlite"))
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
    for span in [
        " BEGIN client ",
        " INSERT users client ",
        " INSERT audit_log client ",
        " COMMIT client ",
        " SELECT users client ",
    ] {
        assert!(stdout.contains(span), "no `{span}` span:\n{stdout}");
    }
    assert!(
        stdout
            .lines()
            .any(|line| line.contains(" INSERT users client ") && line.contains("error")),
        "the duplicate is an error span:\n{stdout}"
    );
    assert!(
        stdout.contains("duplicate refused, as expected"),
        "{stdout}"
    );
}
