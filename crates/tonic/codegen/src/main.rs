//! Compiles `tests/proto/echo.proto` into `tests/generated/` with a vendored `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let proto_dir = crate_dir.join("tests/proto");
    let out_dir = crate_dir.join("tests/generated");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .out_dir(&out_dir)
        .emit_rerun_if_changed(false)
        .compile_with_config(config, &[proto_dir.join("echo.proto")], &[proto_dir])?;
    println!("generated into {}", out_dir.display());
    Ok(())
}
