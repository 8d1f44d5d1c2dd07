//! Runs the example with `--smoke`: it serves, sends itself requests and exits 0; its console
//! exporter shows the spans (and none for `/health`).

use std::process::Command;

#[test]
fn smoke_run_serves_traces_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--smoke", "--listen", "127.0.0.1:0"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_METRICS_EXPORTER")
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
    for span in ["POST /users server", "GET /users/{id} server"] {
        assert!(stdout.contains(span), "no `{span}` span:\n{stdout}");
    }
    assert!(
        !stdout.contains("/health"),
        "health checks are filtered:\n{stdout}"
    );
    assert!(
        stdout.contains("metric http.server.request.duration [s] histogram"),
        "{stdout}"
    );
}
