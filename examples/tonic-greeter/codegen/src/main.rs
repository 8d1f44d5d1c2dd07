//! Compiles the examples' `.proto` files into their `src/generated/` with a vendored `protoc`.

use std::path::{Path, PathBuf};

/// Each example's proto file and where its generated code goes, relative to `examples/`.
const PROTOS: [(&str, &str); 2] = [
    (
        "tonic-greeter/proto/greeter.proto",
        "tonic-greeter/src/generated",
    ),
    ("demo/proto/inventory.proto", "demo/src/generated"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (proto, out) in PROTOS {
        let proto = examples.join(proto);
        let include = proto.parent().unwrap_or(Path::new(".")).to_path_buf();
        let out_dir = examples.join(out);
        std::fs::create_dir_all(&out_dir)?;
        let mut config = prost_build::Config::new();
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        tonic_prost_build::configure()
            .out_dir(&out_dir)
            .emit_rerun_if_changed(false)
            .compile_with_config(config, &[&proto], &[&include])?;
        println!("generated {} into {}", proto.display(), out_dir.display());
    }
    Ok(())
}
