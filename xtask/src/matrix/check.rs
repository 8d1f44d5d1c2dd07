//! The declared-range check: a crate's requirement on a matrix dependency may admit only versions
//! the matrix tested and saw pass.
//!
//! Within a release line (`0.8`, `1`), versions between two tested ones, and patches above the
//! highest tested one, are taken as covered: semver makes them compatible, and the matrix tests the
//! newest published patch. What must be tested is where a declared range starts: the lowest
//! version it admits on each line must be at or above a passing cell of that line.

use std::collections::BTreeMap;
use std::path::Path;

use super::{CellResult, Entry, Outcome, Results};
use crate::metadata;
use crate::semver::{Requirement, Version, line_of};

/// What the check found for one (crate, dependency).
#[derive(Debug, Default)]
pub(crate) struct Declared {
    /// The requirement in the crate's manifest, as cargo normalizes it (`^0.8.9`).
    pub(crate) requirement: String,
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// Per (crate, dependency), and each crate's `rust-version`.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) declared: BTreeMap<(String, String), Declared>,
    pub(crate) rust_versions: BTreeMap<String, String>,
}

impl Findings {
    pub(crate) fn errors(&self) -> impl Iterator<Item = String> + '_ {
        self.declared
            .iter()
            .flat_map(|((krate, dependency), declared)| {
                declared
                    .errors
                    .iter()
                    .map(move |error| format!("{krate} -> {dependency}: {error}"))
            })
    }

    pub(crate) fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.declared
            .iter()
            .flat_map(|((krate, dependency), declared)| {
                declared
                    .warnings
                    .iter()
                    .map(move |warning| format!("{krate} -> {dependency}: {warning}"))
            })
    }
}

pub(crate) fn declared_ranges(
    root: &Path,
    entries: &[Entry],
    results: &Results,
) -> Result<Findings, String> {
    let metadata = metadata(root)?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut findings = Findings::default();
    for entry in entries {
        let package = packages
            .iter()
            .find(|package| package["name"] == entry.krate.as_str())
            .ok_or_else(|| format!("`{}` is not a workspace package", entry.krate))?;
        let rust_version = package["rust_version"].as_str().unwrap_or("not declared");
        findings
            .rust_versions
            .insert(entry.krate.clone(), rust_version.to_owned());
        // The normal (non-dev) dependency: what users get.
        let requirement = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|dep| dep["name"] == entry.dependency.as_str() && dep["kind"].is_null())
            .and_then(|dep| dep["req"].as_str())
            .ok_or_else(|| {
                format!(
                    "`{}` has no normal dependency on `{}`: fix xtask/matrix.toml",
                    entry.krate, entry.dependency
                )
            })?;
        // Only the versions the definition still lists count.
        let cells: Vec<CellResult> = results
            .get(&(entry.krate.clone(), entry.dependency.clone()))
            .into_iter()
            .flatten()
            .filter(|cell| entry.versions.contains(&cell.version))
            .cloned()
            .collect();
        let mut declared = judge(Requirement::parse(requirement)?, &cells);
        declared.requirement = requirement.to_owned();
        findings
            .declared
            .insert((entry.krate.clone(), entry.dependency.clone()), declared);
    }
    Ok(findings)
}

/// Applies the rules to one requirement and the cells run so far (ascending versions).
fn judge(requirement: Requirement, cells: &[CellResult]) -> Declared {
    let mut declared = Declared::default();
    for cell in cells.iter().filter(|cell| requirement.admits(cell.version)) {
        if cell.outcome != Outcome::Pass {
            declared.errors.push(format!(
                "admits {}, which the matrix saw {}",
                cell.version,
                cell.outcome.as_str()
            ));
        }
    }
    for start in requirement.lines() {
        let on_line: Vec<&CellResult> = cells
            .iter()
            .filter(|cell| line_of(cell.version) == line_of(start))
            .collect();
        if on_line.is_empty() {
            declared.errors.push(format!(
                "admits the {} line, which the matrix does not test",
                start.line()
            ));
        } else if !on_line
            .iter()
            .any(|cell| cell.outcome == Outcome::Pass && cell.version <= start)
        {
            declared.errors.push(format!(
                "admits {start}, below the lowest version that passed on the {} line",
                start.line()
            ));
        }
    }
    // Passing cells just below the declared minimum: the range could be wider.
    let below: Vec<&CellResult> = cells
        .iter()
        .filter(|cell| cell.version < requirement.low)
        .collect();
    let widest: Option<Version> = below
        .iter()
        .rev()
        .take_while(|cell| cell.outcome == Outcome::Pass)
        .last()
        .map(|cell| cell.version);
    if let Some(widest) = widest {
        declared.warnings.push(format!(
            "the matrix passes from {widest}, the declared range starts at {}: it could start at {widest}",
            requirement.low
        ));
    }
    declared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(spec: &[(&str, Outcome)]) -> Vec<CellResult> {
        spec.iter()
            .map(|(version, outcome)| CellResult {
                version: Version::parse(version).unwrap(),
                outcome: outcome.clone(),
                reason: String::new(),
                seconds: 0,
                skipped: 0,
                rustc: String::new(),
                date: String::new(),
            })
            .collect()
    }

    fn judged(requirement: &str, spec: &[(&str, Outcome)]) -> Declared {
        judge(Requirement::parse(requirement).unwrap(), &cells(spec))
    }

    const FAIL: Outcome = Outcome::Fail {
        library_builds: false,
    };

    #[test]
    fn a_range_inside_passing_cells_is_accepted() {
        let declared = judged(
            "^0.8.9",
            &[("0.8.0", Outcome::Pass), ("0.8.9", Outcome::Pass)],
        );
        assert!(declared.errors.is_empty(), "{:?}", declared.errors);
        assert_eq!(
            declared.warnings.len(),
            1,
            "0.8.0 passes: the range could be wider"
        );
        let declared = judged(
            "^0.14.2",
            &[
                ("0.13.1", FAIL),
                ("0.14.0", Outcome::Pass),
                ("0.14.9", Outcome::Pass),
            ],
        );
        assert!(declared.errors.is_empty(), "{declared:?}");
        assert_eq!(declared.warnings.len(), 1, "0.14.0 passes: {declared:?}");
    }

    #[test]
    fn an_admitted_failure_or_an_untested_start_is_an_error() {
        let declared = judged(">=0.8, <0.10", &[("0.8.6", FAIL), ("0.9.0", Outcome::Pass)]);
        assert_eq!(declared.errors.len(), 2, "{:?}", declared.errors);
        let declared = judged("^0.14.2", &[("0.14.9", Outcome::Pass)]);
        assert!(
            declared.errors[0].contains("admits 0.14.2"),
            "{:?}",
            declared.errors
        );
        let declared = judged(
            ">=0.37, <0.40",
            &[("0.37.0", Outcome::Pass), ("0.39.0", Outcome::Pass)],
        );
        assert_eq!(
            declared.errors,
            ["admits the 0.38 line, which the matrix does not test"]
        );
        let declared = judged(
            "^0.5",
            &[("0.5.0", Outcome::NotResolvable), ("0.5.2", Outcome::Pass)],
        );
        assert_eq!(declared.errors.len(), 2, "{:?}", declared.errors);
    }
}
