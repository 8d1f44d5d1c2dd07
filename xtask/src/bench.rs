//! `cargo xtask bench`: every overhead benchmark in one run, then BENCHMARKS.md.
//!
//! The benches follow the naming convention of crates/benchmarks/README.md: a criterion group is
//! a scenario; in it `bare` is the floor, `tracewire[/<variant>]` is ours,
//! `anchor/<crate>[/<variant>]` an anchor, paired with ours by variant, and `direct[/<variant>]`
//! the same telemetry made directly with the OpenTelemetry API (the least any instrumentation
//! pays), paired the same way. Results go to a fresh
//! `CRITERION_HOME`, so the report never mixes runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::{cargo, metadata, now_utc, output_of, parse_flags, rustc_version, workspace_root};

/// The benchmark package: every `[[bench]]` in it runs.
const BENCH_PACKAGE: &str = "tracewire-benchmarks";

/// Crate-local benches that compare tracewire with a baseline and follow the convention.
const CRATE_BENCHES: [(&str, &str); 1] = [("tracewire-core", "propagation")];

/// Criterion's settings: short, because the machines are shared and the ratios are the result.
const NORMAL: [&str; 4] = ["--warm-up-time", "1", "--measurement-time", "3"];
const QUICK: [&str; 6] = [
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--sample-size",
    "10",
];

/// One measured benchmark: its ids and criterion's mean with its 95% confidence interval.
#[derive(Debug)]
struct Measurement {
    group: String,
    id: String,
    mean_ns: f64,
    low_ns: f64,
    high_ns: f64,
}

/// What an id stands for in its group.
#[derive(Debug, PartialEq)]
pub(crate) enum Role<'a> {
    Floor,
    Ours { variant: &'a str },
    Anchor { krate: &'a str, variant: &'a str },
    Direct { variant: &'a str },
    Diagnostic,
}

pub(crate) fn classify(id: &str) -> Role<'_> {
    if id == "bare" {
        return Role::Floor;
    }
    if id == "tracewire" {
        return Role::Ours { variant: "" };
    }
    if let Some(variant) = id.strip_prefix("tracewire/") {
        return Role::Ours { variant };
    }
    if id == "direct" {
        return Role::Direct { variant: "" };
    }
    if let Some(variant) = id.strip_prefix("direct/") {
        return Role::Direct { variant };
    }
    match id
        .strip_prefix("anchor/")
        .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
    {
        Some((krate, variant)) if !krate.is_empty() => Role::Anchor { krate, variant },
        _ => Role::Diagnostic,
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (flags, filters) = parse_flags(args, &["--quick"])?;
    let quick = flags.contains(&"--quick");
    let settings: &[&str] = if quick { &QUICK } else { &NORMAL };
    let root = workspace_root();
    let home = root.join("target/xtask-bench/criterion");
    if home.exists() {
        fs::remove_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    }
    let home_str = home.to_string_lossy().into_owned();
    let machine = machine();
    let started = Instant::now();

    let mut commands = Vec::new();
    let mut failed = Vec::new();
    // Per bench, in run order: the measurements its run added.
    let mut sections: Vec<(String, Vec<Measurement>)> = Vec::new();
    for (package, bench) in benches(&root)?
        .into_iter()
        .filter(|(_, bench)| filters.is_empty() || filters.iter().any(|f| bench.contains(f)))
    {
        let mut args = vec!["bench", "-p", &package, "--bench", &bench, "--"];
        args.extend(settings);
        commands.push(format!("cargo {}", args.join(" ")));
        if let Err(error) = cargo(&args, &[("CRITERION_HOME", &home_str)]) {
            failed.push(error);
        }
        let seen: Vec<(String, String)> = sections
            .iter()
            .flat_map(|(_, ms)| ms.iter().map(|m| (m.group.clone(), m.id.clone())))
            .collect();
        let new: Vec<Measurement> = measurements(&home)?
            .into_iter()
            .filter(|m| !seen.contains(&(m.group.clone(), m.id.clone())))
            .collect();
        sections.push((format!("{package} / {bench}"), new));
    }
    if sections.is_empty() {
        return Err("no bench matches the filter".to_owned());
    }
    let unclassified: Vec<String> = sections
        .iter()
        .flat_map(|(_, ms)| ms)
        .filter(|m| classify(&m.id) == Role::Diagnostic)
        .map(|m| format!("{}/{}", m.group, m.id))
        .collect();
    if !unclassified.is_empty() {
        eprintln!(
            "xtask: ids outside the naming convention, reported as diagnostics: {}",
            unclassified.join(", ")
        );
    }
    let command = format!("cargo xtask bench {}", args.join(" "))
        .trim_end()
        .to_owned();
    let report = markdown(
        &machine,
        &command,
        &commands,
        &sections,
        started.elapsed().as_secs(),
    );
    // The end-to-end section (`cargo xtask load`) is another run's: kept as it is.
    let path = root.join("BENCHMARKS.md");
    let existing = fs::read_to_string(&path).unwrap_or_default();
    let report = match crate::load::section(&existing) {
        Some(end_to_end) => crate::load::with_section(&report, end_to_end),
        None => report,
    };
    fs::write(&path, report).map_err(|e| format!("BENCHMARKS.md: {e}"))?;
    eprintln!("xtask: wrote BENCHMARKS.md in {:.0?}", started.elapsed());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "some benches failed (the report has the others):\n  {}",
            failed.join("\n  ")
        ))
    }
}

/// (package, bench target) pairs: the benchmark package's benches, then the crate-local ones.
fn benches(root: &Path) -> Result<Vec<(String, String)>, String> {
    let metadata = metadata(root)?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut benches: Vec<(String, String)> = packages
        .iter()
        .filter(|package| package["name"] == BENCH_PACKAGE)
        .flat_map(|package| package["targets"].as_array().cloned().unwrap_or_default())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"))
        })
        .filter_map(|target| {
            Some((
                BENCH_PACKAGE.to_owned(),
                target["name"].as_str()?.to_owned(),
            ))
        })
        .collect();
    benches.sort();
    benches.extend(
        CRATE_BENCHES
            .iter()
            .map(|(p, b)| ((*p).to_owned(), (*b).to_owned())),
    );
    Ok(benches)
}

/// Every benchmark criterion wrote under `home`: `<group>/<function>/new/{benchmark,estimates}.json`.
fn measurements(home: &Path) -> Result<Vec<Measurement>, String> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = vec![home.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(read) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.ends_with("new/benchmark.json") {
                found.push(measurement(&path)?);
            }
        }
    }
    found.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(found)
}

fn measurement(benchmark_json: &Path) -> Result<Measurement, String> {
    let read = |path: &Path| -> Result<Value, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let benchmark = read(benchmark_json)?;
    let estimates = read(&benchmark_json.with_file_name("estimates.json"))?;
    let mean = &estimates["mean"];
    let number = |value: &Value| {
        value
            .as_f64()
            .ok_or_else(|| format!("{}: no mean estimate", benchmark_json.display()))
    };
    let function = benchmark["function_id"].as_str().unwrap_or_default();
    let id = match benchmark["value_str"].as_str() {
        Some(value) => format!("{function}/{value}"),
        None => function.to_owned(),
    };
    Ok(Measurement {
        group: benchmark["group_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        id,
        mean_ns: number(&mean["point_estimate"])?,
        low_ns: number(&mean["confidence_interval"]["lower_bound"])?,
        high_ns: number(&mean["confidence_interval"]["upper_bound"])?,
    })
}

/// The machine the numbers belong to.
pub(crate) struct Machine {
    pub(crate) cores: String,
    pub(crate) cpu: String,
    pub(crate) load: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
}

pub(crate) fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Machine {
        cores: output_of(&mut Command::new("nproc"))
            .map_or_else(|_| "unknown".to_owned(), |n| n.trim().to_owned()),
        cpu: cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            ),
        load: fs::read_to_string("/proc/loadavg")
            .map(|load| {
                load.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|_| "unknown".to_owned()),
        rustc: rustc_version(),
        date: now_utc(),
    }
}

/// One group's numbers: the floor, ours by variant, the anchors.
/// One scenario's floor and our variants, for overheads and ratios: of criterion's mean times
/// here, of instruction counts in `cargo xtask instructions`.
pub(crate) struct Scenario<'a> {
    floor: Option<f64>,
    ours: BTreeMap<&'a str, f64>,
    direct: BTreeMap<&'a str, f64>,
}

impl<'a> Scenario<'a> {
    /// From each id of the group and its value.
    pub(crate) fn new(values: impl IntoIterator<Item = (&'a str, f64)> + Clone) -> Self {
        let floor = values
            .clone()
            .into_iter()
            .find(|(id, _)| classify(id) == Role::Floor)
            .map(|(_, value)| value);
        let by_variant = |wanted: fn(Role<'a>) -> Option<&'a str>| {
            values
                .clone()
                .into_iter()
                .filter_map(|(id, value)| Some((wanted(classify(id))?, value)))
                .collect()
        };
        Self {
            floor,
            ours: by_variant(|role| match role {
                Role::Ours { variant } => Some(variant),
                _ => None,
            }),
            direct: by_variant(|role| match role {
                Role::Direct { variant } => Some(variant),
                _ => None,
            }),
        }
    }

    fn of(measurements: &[&'a Measurement]) -> Self {
        Self::new(measurements.iter().map(|m| (m.id.as_str(), m.mean_ns)))
    }

    pub(crate) fn overhead(&self, value: f64) -> f64 {
        value - self.floor.unwrap_or(0.0)
    }

    /// Our overhead over the anchor's, for the anchor's variant.
    pub(crate) fn ratio(&self, variant: &str, anchor: f64) -> Option<f64> {
        self.ratio_of(self.ours.get(variant)?, anchor)
    }

    /// The direct API's overhead over the anchor's: the lowest ratio any instrumentation of
    /// this variant could reach.
    pub(crate) fn direct_ratio(&self, variant: &str, anchor: f64) -> Option<f64> {
        self.ratio_of(self.direct.get(variant)?, anchor)
    }

    fn ratio_of(&self, value: &f64, anchor: f64) -> Option<f64> {
        let value = self.overhead(*value);
        let anchor = self.overhead(anchor);
        (anchor > 0.0).then(|| value.max(0.0) / anchor)
    }
}

fn markdown(
    machine: &Machine,
    command: &str,
    commands: &[String],
    sections: &[(String, Vec<Measurement>)],
    seconds: u64,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Benchmarks\n\nGenerated by `{command}`; do not edit by hand. Every number below comes \
         from this one run on this machine, which is shared: absolute times move with its load, \
         the ratios are the result. Naming convention and scenarios: \
         [crates/benchmarks/README.md](crates/benchmarks/README.md).\n\n\
         - Date: {}\n- Machine: {} cores (`nproc`), {}; load average at the start: {}\n\
         - Toolchain: `{}`\n- Command: `{command}` ({seconds}s), which ran:",
        machine.date, machine.cores, machine.cpu, machine.load, machine.rustc
    );
    for command in commands {
        let _ = writeln!(md, "  - `{command}`");
    }
    let _ = writeln!(
        md,
        "\n**Overhead** = mean time − the floor (`bare`, the framework alone; 0 when the scenario \
         has none). **Ratio** = our overhead / the anchor's overhead for the same variant: below 1 \
         we add less than the anchor. **Direct API** = the same telemetry made by hand with the \
         OpenTelemetry API (`direct/<variant>`, where the scenario has one): its ratio is the \
         lowest any instrumentation could reach. Times are criterion's mean, ± the half-width of \
         its 95% confidence interval.\n\n## Ratios\n\n\
         | scenario | variant | anchor | our overhead | anchor overhead | ours / anchor | direct API / anchor |\n\
         |---|---|---|---|---|---|---|"
    );
    for (_, measurements) in sections {
        for (group, ms) in groups(measurements) {
            let scenario = Scenario::of(&ms);
            for m in &ms {
                let Role::Anchor { krate, variant } = classify(&m.id) else {
                    continue;
                };
                let ours = scenario
                    .ours
                    .get(variant)
                    .map(|ours| scenario.overhead(*ours));
                let _ = writeln!(
                    md,
                    "| `{group}` | {} | {krate} | {} | {} | {} | {} |",
                    if variant.is_empty() { "—" } else { variant },
                    ours.map_or_else(|| "no `tracewire` counterpart".to_owned(), signed_time),
                    signed_time(scenario.overhead(m.mean_ns)),
                    scenario
                        .ratio(variant, m.mean_ns)
                        .map_or_else(|| "—".to_owned(), |r| format!("**{r:.2}**")),
                    scenario
                        .direct_ratio(variant, m.mean_ns)
                        .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}")),
                );
            }
        }
    }
    for (bench, measurements) in sections {
        let _ = writeln!(md, "\n## {bench}");
        if measurements.is_empty() {
            let _ = writeln!(
                md,
                "\nNo results: the bench failed (see the command's output)."
            );
        }
        for (group, ms) in groups(measurements) {
            let scenario = Scenario::of(&ms);
            let floor = if scenario.floor.is_some() {
                ""
            } else {
                "\n\nNo `bare` floor: overheads are the times themselves."
            };
            let _ = writeln!(
                md,
                "\n### `{group}`{floor}\n\n| id | role | mean | overhead | ours / this anchor |\n|---|---|---|---|---|"
            );
            for m in &ms {
                let (role, ratio) = match classify(&m.id) {
                    Role::Floor => ("floor", None),
                    Role::Ours { .. } => ("ours", None),
                    Role::Direct { .. } => ("direct API", None),
                    Role::Anchor { variant, .. } => {
                        ("anchor", Some(scenario.ratio(variant, m.mean_ns)))
                    }
                    Role::Diagnostic => ("diagnostic", None),
                };
                let overhead = match classify(&m.id) {
                    Role::Floor | Role::Diagnostic => "—".to_owned(),
                    _ => signed_time(scenario.overhead(m.mean_ns)),
                };
                let _ = writeln!(
                    md,
                    "| `{}` | {role} | {} ± {} | {overhead} | {} |",
                    m.id,
                    time(m.mean_ns),
                    time((m.high_ns - m.low_ns) / 2.0),
                    match ratio {
                        Some(Some(r)) => format!("{r:.2}"),
                        Some(None) => "— (no counterpart, or anchor within noise)".to_owned(),
                        None => String::new(),
                    }
                );
            }
        }
    }
    md
}

/// Measurements grouped by criterion group, in first-seen order.
fn groups(measurements: &[Measurement]) -> Vec<(&str, Vec<&Measurement>)> {
    let mut groups: Vec<(&str, Vec<&Measurement>)> = Vec::new();
    for m in measurements {
        match groups.iter_mut().find(|(group, _)| *group == m.group) {
            Some((_, ms)) => ms.push(m),
            None => groups.push((&m.group, vec![m])),
        }
    }
    for (_, ms) in &mut groups {
        ms.sort_by_key(|m| match classify(&m.id) {
            Role::Floor => 0,
            Role::Ours { .. } => 1,
            Role::Direct { .. } => 2,
            Role::Anchor { .. } => 3,
            Role::Diagnostic => 4,
        });
    }
    groups
}

/// A duration in nanoseconds with three significant digits and its unit.
fn time(ns: f64) -> String {
    let (value, unit) = match ns.abs() {
        n if n >= 1e9 => (ns / 1e9, "s"),
        n if n >= 1e6 => (ns / 1e6, "ms"),
        n if n >= 1e3 => (ns / 1e3, "µs"),
        _ => (ns, "ns"),
    };
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.decimals$} {unit}")
}

fn signed_time(ns: f64) -> String {
    if ns >= 0.0 {
        format!("+{}", time(ns))
    } else {
        format!("−{}", time(-ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_convention() {
        assert_eq!(classify("bare"), Role::Floor);
        assert_eq!(classify("tracewire"), Role::Ours { variant: "" });
        assert_eq!(
            classify("tracewire/tracing-world/sampled"),
            Role::Ours {
                variant: "tracing-world/sampled"
            }
        );
        assert_eq!(
            classify("anchor/opentelemetry_sdk"),
            Role::Anchor {
                krate: "opentelemetry_sdk",
                variant: ""
            }
        );
        assert_eq!(
            classify("anchor/naive/traceparent/10_app"),
            Role::Anchor {
                krate: "naive",
                variant: "traceparent/10_app"
            }
        );
        assert_eq!(
            classify("direct/dropped"),
            Role::Direct { variant: "dropped" }
        );
        assert_eq!(classify("anchor/"), Role::Diagnostic);
        assert_eq!(classify("carrier_setup_and_drop"), Role::Diagnostic);
        assert_eq!(classify("tracewire_sampled"), Role::Diagnostic);
    }

    fn m(id: &str, mean_ns: f64) -> Measurement {
        Measurement {
            group: "g".into(),
            id: id.into(),
            mean_ns,
            low_ns: mean_ns,
            high_ns: mean_ns,
        }
    }

    #[test]
    fn ratios_compare_overheads_over_the_floor_by_variant() {
        let ms = [
            m("bare", 100.0),
            m("tracewire/sampled", 130.0),
            m("anchor/x/sampled", 160.0),
            m("anchor/x/dropped", 150.0),
        ];
        let refs: Vec<&Measurement> = ms.iter().collect();
        let scenario = Scenario::of(&refs);
        assert_eq!(scenario.ratio("sampled", 160.0), Some(0.5));
        assert_eq!(
            scenario.ratio("dropped", 150.0),
            None,
            "no tracewire/dropped"
        );
        assert_eq!(
            scenario.ratio("sampled", 90.0),
            None,
            "anchor within noise of the floor"
        );
    }

    #[test]
    fn the_direct_api_pairs_with_anchors_by_variant() {
        let ms = [
            m("bare", 100.0),
            m("direct/sampled", 120.0),
            m("anchor/x/sampled", 180.0),
            m("anchor/x/dropped", 150.0),
        ];
        let refs: Vec<&Measurement> = ms.iter().collect();
        let scenario = Scenario::of(&refs);
        assert_eq!(scenario.direct_ratio("sampled", 180.0), Some(0.25));
        assert_eq!(scenario.direct_ratio("dropped", 150.0), None);
        assert_eq!(
            scenario.ratio("sampled", 180.0),
            None,
            "no tracewire/sampled"
        );
    }

    #[test]
    fn without_a_floor_times_are_compared() {
        let ms = [m("tracewire", 30.0), m("anchor/opentelemetry_sdk", 60.0)];
        let refs: Vec<&Measurement> = ms.iter().collect();
        assert_eq!(Scenario::of(&refs).ratio("", 60.0), Some(0.5));
    }

    #[test]
    fn times_have_three_significant_digits() {
        assert_eq!(time(2061.0), "2.06 µs");
        assert_eq!(time(78_012.0), "78.0 µs");
        assert_eq!(time(412.0), "412 ns");
        assert_eq!(signed_time(-1500.0), "−1.50 µs");
    }
}
