//! `cargo xtask fixtures`: builds the packages under `xtask/fixtures/` in each feature combination
//! they must support. Each fixture is its own workspace, so its features never unify with ours:
//! it sees tracewire exactly as an application's build does.

use crate::{cargo, metadata, workspace_root};

/// Each fixture and the `--features` values it is built with, one build per value.
const FIXTURES: &[(&str, &[&str])] = &[(
    // tracewire-init beside opentelemetry-otlp at its defaults (reqwest-blocking-client), with
    // grpc-tonic, and with both; then the defaults without tracewire-init's TLS.
    "otlp-defaults",
    &[
        "tls,defaults",
        "tls,grpc-tonic",
        "tls,defaults,grpc-tonic",
        "defaults",
    ],
)];

pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root();
    // The workspace's own target directory: the fixtures reuse every dependency it already built
    // with the same features.
    let target = metadata(&root)?["target_directory"]
        .as_str()
        .map(str::to_owned)
        .ok_or("cargo metadata has no target_directory")?;
    for (fixture, combinations) in FIXTURES {
        let manifest = root.join("xtask/fixtures").join(fixture).join("Cargo.toml");
        let manifest = manifest.to_string_lossy();
        for features in *combinations {
            cargo(
                [
                    "build",
                    "--locked",
                    "--manifest-path",
                    &manifest,
                    "--target-dir",
                    &target,
                    "--features",
                    features,
                ],
                &[],
            )
            .map_err(|error| {
                // The usual cause: tracewire-init gained a dependency the fixture's lock lacks.
                format!(
                    "{error}\nif its lock file is out of date, refresh it with \
                     `cargo update -p tracewire-init --manifest-path {manifest}` and commit it"
                )
            })?;
        }
    }
    Ok(())
}
