//! Runs the example with `--smoke`: unary and streaming calls through both layers, then exit 0.

use std::process::Command;

#[test]
fn smoke_run_calls_both_methods_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-tonic-greeter"))
        .args(["--smoke", "--listen", "127.0.0.1:0"])
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
    assert_eq!(count(" greeter.v1.Greeter/SayHello server "), 1, "{stdout}");
    assert_eq!(count(" greeter.v1.Greeter/SayHello client "), 1, "{stdout}");
    assert_eq!(
        count(" greeter.v1.Greeter/SayHellos server "),
        2,
        "{stdout}"
    );
    assert_eq!(
        count(" greeter.v1.Greeter/SayHellos client "),
        2,
        "{stdout}"
    );
    assert_eq!(count("streamed reply"), 3, "{stdout}");
}
