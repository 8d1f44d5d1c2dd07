//! Runs the example with `--smoke` (mock cluster): three messages produced, processed one by
//! one, then again in batches.

use std::process::Command;

#[test]
fn smoke_run_produces_consumes_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-kafka-pipeline"))
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
    let count = |needle: &str| stdout.lines().filter(|line| line.contains(needle)).count();
    assert_eq!(count(" send orders producer "), 3, "{stdout}");
    // Three per-message process spans and three in the batch mode.
    assert_eq!(count(" process orders consumer "), 6, "{stdout}");
    assert!(count(" poll orders client ") >= 1, "{stdout}");
    assert!(count(" audit batch ") >= 1, "{stdout}");
}
