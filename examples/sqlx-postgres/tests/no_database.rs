//! Without `DATABASE_URL`, the example says how to give it one and exits cleanly.

use std::process::Command;

#[test]
fn without_a_database_the_example_says_so_and_exits_cleanly() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-sqlx-postgres"))
        .arg("--smoke")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stderr}",
        output.status
    );
    assert!(stderr.contains("SKIPPED: set DATABASE_URL"), "{stderr}");
    assert!(output.stdout.is_empty(), "no span printed");
}
