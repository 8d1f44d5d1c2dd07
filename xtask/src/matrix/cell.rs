//! One matrix cell: a copy of the workspace reduced to the crate under test, the dependency pinned
//! to one version in the copy's manifest, resolved with `cargo update`, then `cargo test`.
//!
//! The checked-in manifests and `Cargo.lock` are only read: every cell starts again from their
//! contents, so each cell sees the workspace's own versions of everything but the dependency.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{CellResult, Entry, Outcome};
use crate::semver::{Version, line_of};
use crate::{cargo_command, metadata, now_utc, output_of};

pub(crate) struct Workspace {
    /// The copy, under `target/matrix/workspace`.
    root: PathBuf,
    /// One target directory for every cell, so that unchanged dependencies build once.
    target: PathBuf,
    logs: PathBuf,
    manifest: String,
    lock: String,
    /// Package name -> directory relative to the workspace root.
    crate_dirs: BTreeMap<String, String>,
}

impl Workspace {
    /// Copies the files git knows of (tracked, or new and not ignored) into `target/matrix`.
    pub(crate) fn copy(original: &Path) -> Result<Self, String> {
        let base = original.join("target/matrix");
        let root = base.join("workspace");
        if root.exists() {
            fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        }
        let files = output_of(
            Command::new("git")
                .args([
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                ])
                .current_dir(original),
        )?;
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            let from = original.join(file);
            // `--cached` lists files deleted from the working tree too.
            if !from.is_file() {
                continue;
            }
            let to = root.join(file);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            fs::copy(&from, &to).map_err(|e| format!("copying {file}: {e}"))?;
        }
        let read = |name: &str| {
            fs::read_to_string(original.join(name)).map_err(|e| format!("{name}: {e}"))
        };
        let logs = base.join("logs");
        fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        eprintln!("xtask: copied the workspace to {}", root.display());
        Ok(Self {
            crate_dirs: crate_dirs(original)?,
            manifest: read("Cargo.toml")?,
            lock: read("Cargo.lock")?,
            target: base.join("target"),
            logs,
            root,
        })
    }

    pub(crate) fn run_cell(
        &self,
        entry: &Entry,
        version: Version,
        rustc: &str,
    ) -> Result<CellResult, String> {
        let label = format!("{} with {} {version}", entry.krate, entry.dependency);
        eprintln!("xtask: matrix: {label} ...");
        let started = Instant::now();
        let log_path = self.logs.join(format!(
            "{}-{}-{version}.log",
            entry.krate, entry.dependency
        ));
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;

        // `--workspace` re-resolves what the edited manifest changed and keeps every other
        // locked version: cargo's `--precise` for a requirement that moved.
        let update = ["update", "--workspace"];
        self.prepare(entry, version, true)?;
        let mut resolved = self.cargo(&update, &log)?;
        let mut note = "";
        if !resolved && !entry.companions.is_empty() {
            // A companion may have no release on this line (tonic-prost before tonic 0.14):
            // the dependency alone, companions as locked, still says whether our code builds.
            self.prepare(entry, version, false)?;
            resolved = self.cargo(&update, &log)?;
            note = "companions kept as locked (none at this version); ";
        }
        // Why a failed build or test failed: only the output after the resolution counts.
        let tests_start = log.metadata().map_or(0, |m| m.len());
        let outcome = if !resolved {
            Outcome::NotResolvable
        } else if self.cargo(&["test", "-p", &entry.krate, "--all-features"], &log)? {
            Outcome::Pass
        } else {
            let library_builds = self.cargo(
                &["check", "-p", &entry.krate, "--lib", "--all-features"],
                &log,
            )?;
            Outcome::Fail { library_builds }
        };
        let output = fs::read_to_string(&log_path).unwrap_or_default();
        let resolved = fs::read_to_string(self.root.join("Cargo.lock")).unwrap_or_default();
        let reason = match &outcome {
            Outcome::Pass => String::new(),
            Outcome::NotResolvable => first_error(&self.relative(&output)),
            Outcome::Fail { .. } => {
                let after = output
                    .get(usize::try_from(tests_start).unwrap_or(0)..)
                    .unwrap_or(&output);
                format!("{note}{}", first_error(&self.relative(after)))
            }
        };
        // A pass only counts when the lock really holds the version the cell is about.
        let outcome = match locked_version(&resolved, &entry.dependency) {
            Some(locked) if outcome == Outcome::Pass && locked != version.to_string() => {
                return Err(format!("{label}: the lock resolved {locked} instead"));
            }
            _ => outcome,
        };
        let seconds = started.elapsed().as_secs();
        eprintln!(
            "xtask: matrix: {label}: {} in {seconds}s (log: {})",
            outcome.as_str(),
            log_path.display()
        );
        Ok(CellResult {
            version,
            skipped: output.lines().filter(|l| l.contains("SKIPPED:")).count(),
            outcome,
            reason,
            seconds,
            rustc: rustc.to_owned(),
            date: now_utc(),
        })
    }

    /// Restores the checked-in manifest and lock in the copy, reduced to the crate under test
    /// (other members and the benchmarks' anchors must not constrain the resolution), with the
    /// dependency required at exactly `version` and, `with_companions`, its companions at most at
    /// `version`.
    fn prepare(
        &self,
        entry: &Entry,
        version: Version,
        with_companions: bool,
    ) -> Result<(), String> {
        let dir = self
            .crate_dirs
            .get(&entry.krate)
            .ok_or_else(|| format!("`{}` is not a workspace package", entry.krate))?;
        let mut manifest = pin(
            &only_member(&self.manifest, dir)?,
            &entry.dependency,
            &format!("={version}"),
        )?;
        // A companion takes its newest release on the same line not above the cell's version:
        // lockstep families publish the same numbers, others (tonic-prost) may skip some.
        let companions = format!(">={}, <={version}", line_of(version));
        for package in entry.companions.iter().filter(|_| with_companions) {
            manifest = pin(&manifest, package, &companions)?;
        }
        let write = |name: &str, text: &str| {
            fs::write(self.root.join(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write("Cargo.toml", &manifest)?;
        write("Cargo.lock", &self.lock)
    }

    /// Paths in the copy, shown relative to it.
    fn relative(&self, text: &str) -> String {
        let root = self.root.display().to_string();
        text.replace(&format!("{root}/"), "").replace(&root, ".")
    }

    /// Runs cargo in the copy, appending its output to `log`; returns whether it succeeded.
    fn cargo(&self, args: &[&str], log: &File) -> Result<bool, String> {
        let shown = args.join(" ");
        let stdout = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let stderr = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let status = cargo_command()
            .args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .status()
            .map_err(|e| format!("could not run cargo {shown}: {e}"))?;
        eprintln!("xtask:   cargo {shown}: {status}");
        Ok(status.success())
    }
}

/// Package name -> its directory relative to the workspace root.
fn crate_dirs(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let metadata = metadata(root)?;
    let prefix = format!("{}/", root.display());
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    Ok(packages
        .iter()
        .filter_map(|package| {
            let name = package["name"].as_str()?;
            let manifest = package["manifest_path"].as_str()?.strip_prefix(&prefix)?;
            let dir = manifest.strip_suffix("/Cargo.toml")?;
            Some((name.to_owned(), dir.to_owned()))
        })
        .collect())
}

/// The root manifest with `[workspace] members` reduced to one directory (its path
/// dependencies join the workspace by themselves).
fn only_member(manifest: &str, dir: &str) -> Result<String, String> {
    let mut found = false;
    let lines: Vec<String> = manifest
        .lines()
        .map(|line| {
            if !found && line.trim_start().starts_with("members") && line.contains('=') {
                found = true;
                format!("members = [\"{dir}\"]")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if found {
        Ok(lines.join("\n") + "\n")
    } else {
        Err("the root Cargo.toml has no one-line `members = [...]`".to_owned())
    }
}

/// The root manifest with `package`'s requirement in `[workspace.dependencies]` replaced.
fn pin(manifest: &str, package: &str, requirement: &str) -> Result<String, String> {
    let mut section = "";
    let mut pinned = false;
    let lines: Vec<String> = manifest
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = trimmed;
            }
            let key = trimmed.split('=').next().unwrap_or("").trim();
            if section != "[workspace.dependencies]" || key != package || pinned {
                return line.to_owned();
            }
            match replace_version(line, requirement) {
                Some(replaced) => {
                    pinned = true;
                    replaced
                }
                None => line.to_owned(),
            }
        })
        .collect();
    if pinned {
        Ok(lines.join("\n") + "\n")
    } else {
        Err(format!(
            "`{package}` has no `{package} = \"..\"` or `version = \"..\"` line in [workspace.dependencies]: the matrix pins workspace dependencies only"
        ))
    }
}

/// Replaces the version string of `name = "x"` or `name = { version = "x", .. }`.
fn replace_version(line: &str, requirement: &str) -> Option<String> {
    let value_start = match line.find("version") {
        Some(at) => at + line[at..].find('"')? + 1,
        None => line.find('"')? + 1,
    };
    let value_end = value_start + line[value_start..].find('"')?;
    Some(format!(
        "{}{requirement}{}",
        &line[..value_start],
        &line[value_end..]
    ))
}

/// The version of `package` in a lock file (the first one, if several).
fn locked_version<'a>(lock: &'a str, package: &str) -> Option<&'a str> {
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    lock[start..].split('"').next()
}

/// The lines that say why a cell failed: the failing tests with the first panic message, or
/// else cargo's or rustc's first error with its indented context (location, requirement chain).
fn first_error(output: &str) -> String {
    const SUMMARIES: [&str; 4] = [
        "error: could not compile",
        "error: test failed",
        "error: doctest failed",
        "error: 1 target failed",
    ];
    let lines: Vec<&str> = output.lines().collect();
    let failed_tests: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("---- ")?.strip_suffix(" stdout ----"))
        .take(3)
        .collect();
    let picked: Vec<&str> = if failed_tests.is_empty() {
        let error = lines.iter().position(|line| {
            line.starts_with("error") && !SUMMARIES.iter().any(|summary| line.starts_with(summary))
        });
        error.map_or_else(Vec::new, |at| {
            let rest = lines[at + 1..].iter().copied();
            let context: Vec<&str> = if lines[at].starts_with("error[") {
                // rustc: the location is enough, the code excerpt is in the log.
                rest.take_while(|line| line.starts_with(' '))
                    .take(1)
                    .collect()
            } else {
                // cargo: the requirement chain and the conflict, without the closing summary.
                rest.take_while(|line| !is_status(line))
                    .filter(|line| !line.trim().is_empty())
                    .filter(|line| {
                        !line.starts_with("failed to select") && !line.starts_with("all possible")
                    })
                    .take(5)
                    .collect()
            };
            std::iter::once(lines[at]).chain(context).collect()
        })
    } else {
        let panic = lines
            .iter()
            .position(|line| line.contains("panicked at"))
            .and_then(|at| lines.get(at + 1))
            .copied();
        failed_tests.into_iter().chain(panic).collect()
    };
    let reason = picked
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty() && *line != "|")
        .collect::<Vec<_>>()
        .join(" / ");
    match reason.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None if reason.is_empty() => "no error line found: see the log".to_owned(),
        None => reason,
    }
}

/// A cargo status line (`    Updating crates.io index`): the end of an error's context.
fn is_status(line: &str) -> bool {
    line.starts_with("  ")
        && line
            .trim_start()
            .chars()
            .next()
            .is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\", \"xtask\"]\n\n[workspace.dependencies]\naxum = { version = \"0.8.9\", default-features = false }\nhttp = \"1.3\"\naxum-core = \"0.5\"\n\n[dependencies]\nhttp = \"1.0\"\n";

    #[test]
    fn pins_table_and_string_requirements_in_workspace_dependencies_only() {
        let pinned = pin(MANIFEST, "axum", "=0.8.0").unwrap();
        assert!(pinned.contains("axum = { version = \"=0.8.0\", default-features = false }"));
        assert!(pinned.contains("axum-core = \"0.5\""));
        let pinned = pin(MANIFEST, "http", "=1.2.0").unwrap();
        assert!(pinned.contains("[workspace.dependencies]\naxum = { version = \"0.8.9\""));
        assert!(pinned.contains("http = \"=1.2.0\"\naxum-core"));
        assert!(pinned.contains("[dependencies]\nhttp = \"1.0\""));
        assert!(pin(MANIFEST, "tonic", "=0.14.0").is_err());
    }

    #[test]
    fn reduces_the_members_to_one_crate() {
        let reduced = only_member(MANIFEST, "crates/axum").unwrap();
        assert!(reduced.contains("members = [\"crates/axum\"]\n"));
        assert!(!reduced.contains("xtask"));
    }

    #[test]
    fn reads_locked_versions() {
        let lock = "[[package]]\nname = \"axum\"\nversion = \"0.8.9\"\n\n[[package]]\nname = \"axum-core\"\nversion = \"0.5.2\"\n";
        assert_eq!(locked_version(lock, "axum"), Some("0.8.9"));
        assert_eq!(locked_version(lock, "axum-core"), Some("0.5.2"));
        assert_eq!(locked_version(lock, "tonic"), None);
    }

    #[test]
    fn reasons_name_the_first_error_or_the_failing_tests() {
        let compile = "   Compiling x v0.1.0\nerror[E0308]: mismatched types\n  --> src/lib.rs:3:5\n   |\n3  |     foo\n\nerror: could not compile `x`\n";
        assert_eq!(
            first_error(compile),
            "error[E0308]: mismatched types / --> src/lib.rs:3:5"
        );
        let resolve = "    Updating crates.io index\nerror: failed to select a version for the requirement `axum = \"=0.7.0\"`\ncandidate versions found which didn't match: 0.8.9\n";
        assert!(first_error(resolve).starts_with("error: failed to select a version"));
        let feature = "error: failed to select a version for `sqlx`.\n    ... required by package `x`\nversions that meet the requirements `=0.8.6` are: 0.8.6\n\npackage `x` depends on `sqlx` with feature `y` but `sqlx` does not have that feature.\n\n\nfailed to select a version for `sqlx` which could resolve this conflict\n    Updating crates.io index\nerror: failed again\n";
        assert_eq!(
            first_error(feature),
            "error: failed to select a version for `sqlx`. / ... required by package `x` / versions that meet the requirements `=0.8.6` are: 0.8.6 / package `x` depends on `sqlx` with feature `y` but `sqlx` does not have that feature."
        );
        let tests = "running 2 tests\nfailures:\n\n---- spans::route stdout ----\n\nthread 'spans::route' panicked at tests/a.rs:1:1:\nassertion failed: x\n\nerror: test failed, to rerun pass `--test a`\n";
        assert_eq!(first_error(tests), "spans::route / assertion failed: x");
        let doctest = "test src/a.rs - f (line 3) ... FAILED\n---- src/a.rs - f (line 3) stdout ----\nthread 'main' panicked at /tmp/x.rs:1:1:\nassertion failed: y\nerror: doctest failed, to rerun pass `--doc`\n   Compiling z v1.0.0\n";
        assert_eq!(
            first_error(doctest),
            "src/a.rs - f (line 3) / assertion failed: y"
        );
    }
}
