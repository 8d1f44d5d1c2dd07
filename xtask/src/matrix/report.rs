//! COMPATIBILITY.json (the record, read back by the next run) and COMPATIBILITY.md (the same,
//! for people).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::check::Findings;
use super::{CellResult, Entry, Outcome, Results};
use crate::semver::Version;

pub(crate) fn write(
    root: &Path,
    entries: &[Entry],
    results: &Results,
    findings: &Findings,
) -> Result<(), String> {
    let write = |name: &str, text: String| {
        fs::write(root.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    let json = serde_json::to_string_pretty(&to_json(entries, results, findings))
        .map_err(|e| format!("COMPATIBILITY.json: {e}"))?;
    write("COMPATIBILITY.json", json + "\n")?;
    write("COMPATIBILITY.md", markdown(entries, results, findings))
}

/// The cells of one entry, in the definition's order, `None` where no result exists.
fn rows<'a>(entry: &Entry, results: &'a Results) -> Vec<(Version, Option<&'a CellResult>)> {
    let cells = results.get(&(entry.krate.clone(), entry.dependency.clone()));
    entry
        .versions
        .iter()
        .map(|version| {
            let cell = cells.and_then(|cells| cells.iter().find(|cell| cell.version == *version));
            (*version, cell)
        })
        .collect()
}

fn to_json(entries: &[Entry], results: &Results, findings: &Findings) -> Value {
    let crates: Vec<Value> = crates(entries)
        .into_iter()
        .map(|krate| {
            let dependencies: Vec<Value> = entries
                .iter()
                .filter(|entry| entry.krate == krate)
                .map(|entry| {
                    let key = (entry.krate.clone(), entry.dependency.clone());
                    let declared = findings.declared.get(&key);
                    let cells: Vec<Value> = rows(entry, results)
                        .into_iter()
                        .filter_map(|(_, cell)| cell)
                        .map(|cell| {
                            json!({
                                "version": cell.version.to_string(),
                                "result": cell.outcome.as_str(),
                                "reason": cell.reason,
                                "seconds": cell.seconds,
                                "skipped_tests": cell.skipped,
                                "rustc": cell.rustc,
                                "date": cell.date,
                            })
                        })
                        .collect();
                    json!({
                        "dependency": entry.dependency,
                        "companions": entry.companions,
                        "declared": declared.map(|d| d.requirement.as_str()),
                        "declared_range_errors": declared.map(|d| &d.errors),
                        "declared_range_warnings": declared.map(|d| &d.warnings),
                        "cells": cells,
                    })
                })
                .collect();
            json!({
                "crate": krate,
                "rust_version": findings.rust_versions.get(krate),
                "rust_version_verified": false,
                "dependencies": dependencies,
            })
        })
        .collect();
    json!({
        "generated_by": "cargo xtask matrix (do not edit: rerun it)",
        "toolchains_run": toolchains(results),
        "crates": crates,
    })
}

/// Reads the previous COMPATIBILITY.json back, so that a partial run keeps the other results.
pub(crate) fn parse_json(text: &str) -> Result<Results, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("COMPATIBILITY.json: {e}"))?;
    let mut results = Results::new();
    let array = |value: &Value, key: &str| value[key].as_array().cloned().unwrap_or_default();
    let string = |value: &Value, key: &str| value[key].as_str().unwrap_or_default().to_owned();
    for krate in array(&value, "crates") {
        for dependency in array(&krate, "dependencies") {
            let cells = array(&dependency, "cells")
                .iter()
                .map(|cell| {
                    let outcome = Outcome::parse(cell["result"].as_str().unwrap_or_default())
                        .ok_or("COMPATIBILITY.json: unknown result")?;
                    Ok(CellResult {
                        version: Version::parse(cell["version"].as_str().unwrap_or_default())?,
                        outcome,
                        reason: string(cell, "reason"),
                        seconds: cell["seconds"].as_u64().unwrap_or_default(),
                        skipped: cell["skipped_tests"]
                            .as_u64()
                            .and_then(|n| usize::try_from(n).ok())
                            .unwrap_or_default(),
                        rustc: string(cell, "rustc"),
                        date: string(cell, "date"),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            results.insert(
                (string(&krate, "crate"), string(&dependency, "dependency")),
                cells,
            );
        }
    }
    Ok(results)
}

/// The crates of the definition, in its order.
fn crates(entries: &[Entry]) -> Vec<&str> {
    let mut crates: Vec<&str> = entries.iter().map(|e| e.krate.as_str()).collect();
    crates.dedup();
    crates
}

fn toolchains(results: &Results) -> Vec<String> {
    results
        .values()
        .flatten()
        .map(|cell| cell.rustc.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn markdown(entries: &[Entry], results: &Results, findings: &Findings) -> String {
    let toolchains = toolchains(results);
    let run = if toolchains.is_empty() {
        "none yet".to_owned()
    } else {
        toolchains
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Compatibility\n\nGenerated by `cargo xtask matrix` from the test runs recorded in \
         [`COMPATIBILITY.json`](COMPATIBILITY.json); do not edit by hand. Each cell is the crate's \
         own test suite (`cargo test -p <crate> --all-features`) with the dependency resolved to \
         exactly that version and everything else as in the checked-in `Cargo.lock`. How and why: \
         [docs/compatibility.md](docs/compatibility.md).\n\n\
         - Toolchain actually run: {run}.\n\
         - MSRV: each crate's `rust-version` below is declared, not verified with an older \
         toolchain: only {run} is available here.\n\
         - Cells marked *not run* have no result yet (`--quick` runs the lowest and the highest \
         version per dependency; each cell keeps the date of its own run).\n\
         - Tests that need a database or a broker skip themselves when it is not configured (each \
         crate's README says how); the *skipped* column counts them.",
    );
    for krate in crates(entries) {
        let rust_version = findings
            .rust_versions
            .get(krate)
            .map_or("not declared", String::as_str);
        let _ = writeln!(
            md,
            "\n## {krate}\n\n`rust-version` {rust_version} (declared, not verified)."
        );
        for entry in entries.iter().filter(|entry| entry.krate == krate) {
            let key = (entry.krate.clone(), entry.dependency.clone());
            let declared = findings.declared.get(&key);
            let requirement = declared.map_or("?", |d| d.requirement.as_str());
            let verdict = match declared {
                Some(d) if d.errors.is_empty() => {
                    "every admitted version tested and passing".to_owned()
                }
                Some(d) => format!("**fails**: {}", d.errors.join("; ")),
                None => "not checked".to_owned(),
            };
            let companions = if entry.companions.is_empty() {
                String::new()
            } else {
                format!(
                    " (with {} at the same version)",
                    entry
                        .companions
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let _ = writeln!(
                md,
                "\n### `{}`{companions}\n\nDeclared: `{requirement}`: {verdict}.  \nWindow: {}.",
                entry.dependency, entry.why
            );
            for warning in declared.map(|d| d.warnings.as_slice()).unwrap_or_default() {
                let _ = writeln!(md, "\n> Note: {warning}.");
            }
            let _ = writeln!(
                md,
                "\n| {} | result | duration | skipped | run | reason |\n|---|---|---|---|---|---|",
                entry.dependency
            );
            for (version, cell) in rows(entry, results) {
                let _ = match cell {
                    Some(cell) => writeln!(
                        md,
                        "| {version} | {} | {} | {} | {} | {} |",
                        cell.outcome.as_str(),
                        duration(cell.seconds),
                        cell.skipped,
                        cell.date,
                        cell.reason.replace('|', "\\|").replace('`', "'")
                    ),
                    None => writeln!(md, "| {version} | *not run* | | | | |"),
                };
            }
        }
    }
    md
}

fn duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        _ => format!("{}m {:02}s", seconds / 60, seconds % 60),
    }
}
