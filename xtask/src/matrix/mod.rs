//! `cargo xtask matrix`: each crate's tests against each dependency version of
//! `xtask/matrix.toml`, in a copy of the workspace, recorded in COMPATIBILITY.json and
//! COMPATIBILITY.md; then the declared version ranges are checked against the results.

mod cell;
mod check;
mod report;

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use crate::semver::Version;
use crate::{parse_flags, rustc_version, workspace_root};

/// One row group of the matrix: a crate, the dependency that varies, and the versions to test.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) krate: String,
    pub(crate) dependency: String,
    pub(crate) companions: Vec<String>,
    pub(crate) versions: Vec<Version>,
    pub(crate) why: String,
}

impl Entry {
    /// The versions a run tests: all of them, or with `--quick` the lowest and the highest.
    fn versions_to_run(&self, quick: bool) -> Vec<Version> {
        match (quick, self.versions.first(), self.versions.last()) {
            (true, Some(low), Some(high)) if low != high => vec![*low, *high],
            (true, Some(only), _) => vec![*only],
            _ => self.versions.clone(),
        }
    }
}

/// The outcome of one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    /// The tests failed, or did not build; `library_builds` tells whether the library alone did.
    Fail {
        library_builds: bool,
    },
    /// Cargo could not resolve the workspace with this version.
    NotResolvable,
}

impl Outcome {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail {
                library_builds: true,
            } => "fail (library builds)",
            Self::Fail {
                library_builds: false,
            } => "fail",
            Self::NotResolvable => "not resolvable",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Pass,
            Self::Fail {
                library_builds: true,
            },
            Self::Fail {
                library_builds: false,
            },
            Self::NotResolvable,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

/// The result of one cell, as recorded in COMPATIBILITY.json.
#[derive(Clone, Debug)]
pub(crate) struct CellResult {
    pub(crate) version: Version,
    pub(crate) outcome: Outcome,
    /// The first error lines, when it did not pass.
    pub(crate) reason: String,
    pub(crate) seconds: u64,
    /// Tests that skipped themselves (`SKIPPED:` lines: a database or broker not configured).
    pub(crate) skipped: usize,
    pub(crate) rustc: String,
    pub(crate) date: String,
}

/// Results keyed by (crate, dependency), each list in ascending version order.
pub(crate) type Results = BTreeMap<(String, String), Vec<CellResult>>;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (flags, crates) = parse_flags(args, &["--quick", "--check"])?;
    let quick = flags.contains(&"--quick");
    let root = workspace_root();
    let entries = load_definition(
        &fs::read_to_string(root.join("xtask/matrix.toml"))
            .map_err(|e| format!("xtask/matrix.toml: {e}"))?,
    )?;
    if let Some(unknown) = crates
        .iter()
        .find(|name| !entries.iter().any(|entry| entry.krate == **name))
    {
        return Err(format!("`{unknown}` has no cell in xtask/matrix.toml"));
    }
    let json_path = root.join("COMPATIBILITY.json");
    let mut results = match fs::read_to_string(&json_path) {
        Ok(json) => report::parse_json(&json)?,
        Err(_) => Results::new(),
    };

    let check_only = flags.contains(&"--check");
    if !check_only {
        let selected: Vec<&Entry> = entries
            .iter()
            .filter(|entry| crates.is_empty() || crates.contains(&entry.krate.as_str()))
            .collect();
        let started = Instant::now();
        let workspace = cell::Workspace::copy(&root)?;
        let rustc = rustc_version();
        for entry in selected {
            for version in entry.versions_to_run(quick) {
                let result = workspace.run_cell(entry, version, &rustc)?;
                let cells = results
                    .entry((entry.krate.clone(), entry.dependency.clone()))
                    .or_default();
                cells.retain(|cell| cell.version != version);
                cells.push(result);
                cells.sort_by_key(|cell| cell.version);
                // Written after every cell: a long run interrupted keeps what it measured. A
                // manifest a colleague is editing may not load now: the final check retries.
                let findings =
                    check::declared_ranges(&root, &entries, &results).unwrap_or_else(|error| {
                        eprintln!("xtask: declared ranges not checked yet: {error}");
                        check::Findings::default()
                    });
                report::write(&root, &entries, &results, &findings)?;
            }
        }
        eprintln!("xtask: matrix run took {:.0?}", started.elapsed());
    }

    let findings = check::declared_ranges(&root, &entries, &results)?;
    if !check_only {
        report::write(&root, &entries, &results, &findings)?;
    }
    for warning in findings.warnings() {
        eprintln!("xtask: note: {warning}");
    }
    let errors: Vec<String> = findings.errors().collect();
    if errors.is_empty() {
        eprintln!("xtask: declared ranges: every admitted version is tested and passes");
        Ok(())
    } else {
        Err(format!(
            "declared version ranges admit untested or failing versions:\n  {}",
            errors.join("\n  ")
        ))
    }
}

/// Reads `xtask/matrix.toml`: an array of `[[cell]]` tables.
fn load_definition(text: &str) -> Result<Vec<Entry>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("xtask/matrix.toml: {e}"))?;
    let cells = table
        .get("cell")
        .and_then(toml::Value::as_array)
        .ok_or("xtask/matrix.toml: no [[cell]] tables")?;
    cells.iter().map(entry).collect()
}

fn entry(cell: &toml::Value) -> Result<Entry, String> {
    let string = |key: &str| {
        cell.get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("xtask/matrix.toml: a [[cell]] has no string `{key}`"))
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        match cell.get(key) {
            None => Ok(Vec::new()),
            Some(value) => value
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("xtask/matrix.toml: `{key}` must be an array of strings")),
        }
    };
    let krate = string("crate")?;
    let versions = strings("versions")?
        .iter()
        .map(|v| Version::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    if versions.is_empty() || !versions.is_sorted_by(|a, b| a < b) {
        return Err(format!(
            "xtask/matrix.toml: `{krate}`: versions must be non-empty and strictly ascending"
        ));
    }
    Ok(Entry {
        dependency: string("dependency")?,
        companions: strings("companions")?,
        why: string("why")?,
        versions,
        krate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_definition_loads() {
        let text = fs::read_to_string(workspace_root().join("xtask/matrix.toml")).unwrap();
        let entries = load_definition(&text).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.krate == "tracewire-axum" && e.dependency == "axum")
        );
    }

    #[test]
    fn quick_runs_the_lowest_and_the_highest() {
        let entry = load_definition(
            "[[cell]]\ncrate = \"a\"\ndependency = \"b\"\nversions = [\"0.1.0\", \"0.2.0\", \"0.3.0\"]\nwhy = \"w\"",
        )
        .unwrap()
        .remove(0);
        let shown = |vs: Vec<Version>| vs.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(entry.versions_to_run(true)), ["0.1.0", "0.3.0"]);
        assert_eq!(shown(entry.versions_to_run(false)).len(), 3);
    }

    #[test]
    fn unsorted_versions_are_refused() {
        let error = load_definition(
            "[[cell]]\ncrate = \"a\"\ndependency = \"b\"\nversions = [\"0.2.0\", \"0.1.0\"]\nwhy = \"w\"",
        )
        .unwrap_err();
        assert!(error.contains("ascending"), "{error}");
    }

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for outcome in [
            Outcome::Pass,
            Outcome::Fail {
                library_builds: true,
            },
            Outcome::NotResolvable,
        ] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
