//! Runs the example with `--smoke` against its local flaky server: the retried call shows one
//! span per attempt, and the third party gets no `traceparent` (it answers 400 if it does).

use std::process::Command;

#[test]
fn smoke_run_retries_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-reqwest-client"))
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
    let attempts = stdout
        .lines()
        .filter(|line| line.starts_with("span ") && line.contains(" GET /users/{id} client "))
        .count();
    assert_eq!(attempts, 3, "two failed attempts and a success:\n{stdout}");
    assert!(stdout.contains(" POST /users client "), "{stdout}");
    assert!(stdout.contains(" sync user "), "{stdout}");
    assert!(stdout.contains("third party answered"), "{stdout}");
    assert!(stdout.contains("status=200 OK"), "{stdout}");
}
