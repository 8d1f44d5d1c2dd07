//! The subset of semver that our manifests and the matrix use: plain `x.y.z` versions and
//! requirements made of `^`, `~`, `=`, `>=`, `>`, `<=`, `<` comparators (a bare version is `^`),
//! joined by commas. A requirement is an interval `[low, high)`.

use std::fmt;

/// A release version without pre-release or build metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
}

impl Version {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (version, _) = parse_partial(text)?;
        Ok(version)
    }

    /// The first version of the next semver-incompatible release line (`0.8.3` -> `0.9.0`,
    /// `1.4.0` -> `2.0.0`).
    fn next_line(self) -> Self {
        match self {
            Self {
                major: 0, minor, ..
            } => Self::new(0, minor + 1, 0),
            Self { major, .. } => Self::new(major + 1, 0, 0),
        }
    }

    /// The first version of this release line (`0.8.3` -> `0.8.0`).
    fn line_start(self) -> Self {
        match self {
            Self {
                major: 0, minor, ..
            } => Self::new(0, minor, 0),
            Self { major, .. } => Self::new(major, 0, 0),
        }
    }

    /// The release line, as users name it: `0.8` or `1`.
    pub(crate) fn line(self) -> String {
        match self {
            Self {
                major: 0, minor, ..
            } => format!("0.{minor}"),
            Self { major, .. } => major.to_string(),
        }
    }

    const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `x`, `x.y` or `x.y.z`; returns the version (missing parts 0) and how many parts were
/// given.
fn parse_partial(text: &str) -> Result<(Version, usize), String> {
    let text = text.trim();
    if text.contains(['-', '+']) {
        return Err(format!(
            "`{text}`: pre-release and build metadata are not supported"
        ));
    }
    let mut parts = [0u64; 3];
    let mut given = 0;
    for (index, part) in text.split('.').enumerate() {
        let slot = parts
            .get_mut(index)
            .ok_or_else(|| format!("`{text}`: more than three version parts"))?;
        *slot = part
            .parse()
            .map_err(|_| format!("`{text}`: `{part}` is not a version number"))?;
        given += 1;
    }
    let [major, minor, patch] = parts;
    Ok((Version::new(major, minor, patch), given))
}

/// A version requirement as the interval `[low, high)` of the versions it admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) low: Version,
    pub(crate) high: Version,
}

impl Requirement {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirement = Self {
            low: Version::new(0, 0, 0),
            high: Version::new(u64::MAX, 0, 0),
        };
        for comparator in text.split(',') {
            let (low, high) = comparator_bounds(comparator.trim())
                .map_err(|e| format!("requirement `{text}`: {e}"))?;
            requirement.low = requirement.low.max(low);
            requirement.high = requirement.high.min(high);
        }
        if requirement.low >= requirement.high {
            return Err(format!("requirement `{text}` admits no version"));
        }
        Ok(requirement)
    }

    pub(crate) fn admits(self, version: Version) -> bool {
        self.low <= version && version < self.high
    }

    /// The release lines the requirement admits, each as its first admitted version.
    pub(crate) fn lines(self) -> Vec<Version> {
        let mut lines = vec![self.low];
        let mut next = self.low.next_line();
        // Bounded: an open-ended requirement (`>=1`) is reported by its first 100 lines.
        while next < self.high && lines.len() < 100 {
            lines.push(next);
            next = next.next_line();
        }
        lines
    }
}

/// The interval one comparator admits, with cargo's meaning of each operator.
fn comparator_bounds(comparator: &str) -> Result<(Version, Version), String> {
    let operator_end = comparator
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| format!("`{comparator}` has no version"))?;
    let (operator, version) = comparator.split_at(operator_end);
    let (version, given) = parse_partial(version)?;
    let max = Version::new(u64::MAX, 0, 0);
    // The version just above every version that `version` (with `given` parts) stands for.
    let above = match given {
        1 => Version::new(version.major + 1, 0, 0),
        2 => Version::new(version.major, version.minor + 1, 0),
        _ => Version::new(version.major, version.minor, version.patch + 1),
    };
    let bounds = match operator.trim() {
        "" | "^" => (version, caret_high(version, given)),
        "~" if given == 1 => (version, Version::new(version.major + 1, 0, 0)),
        "~" => (version, Version::new(version.major, version.minor + 1, 0)),
        "=" => (version, above),
        ">=" => (version, max),
        ">" => (above, max),
        "<" => (Version::new(0, 0, 0), version),
        "<=" => (Version::new(0, 0, 0), above),
        other => return Err(format!("operator `{other}` is not supported")),
    };
    Ok(bounds)
}

/// `^x.y.z` admits up to the next change of the leftmost non-zero part of the given parts.
fn caret_high(version: Version, given: usize) -> Version {
    match (version, given) {
        (
            Version {
                major: 0, minor: 0, ..
            },
            3,
        ) => Version::new(0, 0, version.patch + 1),
        (
            Version {
                major: 0, minor: 0, ..
            },
            2,
        ) => Version::new(0, 1, 0),
        (Version { major: 0, .. }, 1) => Version::new(1, 0, 0),
        _ => version.next_line(),
    }
}

/// The release line's first version: exposed for reports that group versions by line.
pub(crate) fn line_of(version: Version) -> Version {
    version.line_start()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn req(text: &str) -> (String, String) {
        let r = Requirement::parse(text).unwrap();
        (r.low.to_string(), r.high.to_string())
    }

    #[test]
    fn caret_and_bare_versions_stay_on_their_release_line() {
        assert_eq!(req("^0.8.9"), ("0.8.9".into(), "0.9.0".into()));
        assert_eq!(req("0.8.9"), ("0.8.9".into(), "0.9.0".into()));
        assert_eq!(req("^1.47"), ("1.47.0".into(), "2.0.0".into()));
        assert_eq!(req("^0.0.3"), ("0.0.3".into(), "0.0.4".into()));
        assert_eq!(req("0.14"), ("0.14.0".into(), "0.15.0".into()));
        assert_eq!(req("1"), ("1.0.0".into(), "2.0.0".into()));
    }

    #[test]
    fn tilde_equal_and_ranges() {
        assert_eq!(req("~0.37"), ("0.37.0".into(), "0.38.0".into()));
        assert_eq!(req("~1.2.3"), ("1.2.3".into(), "1.3.0".into()));
        assert_eq!(req("=0.33.1"), ("0.33.1".into(), "0.33.2".into()));
        assert_eq!(req(">=0.37, <0.40"), ("0.37.0".into(), "0.40.0".into()));
        assert_eq!(req(">= 0.13.1, < 0.15"), ("0.13.1".into(), "0.15.0".into()));
        assert_eq!(req(">0.8.0, <=0.8.5"), ("0.8.1".into(), "0.8.6".into()));
    }

    #[test]
    fn unsupported_or_empty_requirements_are_errors() {
        assert!(Requirement::parse("*").is_err());
        assert!(Requirement::parse("^1.0.0-alpha").is_err());
        assert!(Requirement::parse(">=2, <1").is_err());
        assert!(Requirement::parse("0.1.2.3").is_err());
    }

    #[test]
    fn admits_and_lines() {
        let r = Requirement::parse(">=0.37, <0.40").unwrap();
        assert!(r.admits(v("0.37.0")) && r.admits(v("0.39.9")));
        assert!(!r.admits(v("0.36.9")) && !r.admits(v("0.40.0")));
        let lines: Vec<_> = r.lines().into_iter().map(Version::line).collect();
        assert_eq!(lines, ["0.37", "0.38", "0.39"]);
        let lines: Vec<_> = Requirement::parse("^0.8.9").unwrap().lines();
        assert_eq!(lines, [v("0.8.9")]);
        assert_eq!(line_of(v("0.8.9")), v("0.8.0"));
        assert!(v("0.10.0") > v("0.9.9"));
    }
}
