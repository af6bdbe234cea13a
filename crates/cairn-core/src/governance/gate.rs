//! Quality gate files: the rules a candidate (a run, a model version or a logged model) must pass
//! in CI before it is registered or promoted, checked by `cairn gate check`.
//!
//! A gate uses the promotion policies' rule engine ([`Rule`], [`evaluate`](super::evaluate)): the
//! same rule kinds, plus a baseline for `vs_baseline` and a benchmark run for `latency_budget`.
//!
//! ```yaml
//! version: 1
//! name: release                  # the tag cairn.gate.release records the verdict
//! baseline: { model: churn, alias: champion }   # or { run: <id> } or { experiment: churn, last: 5 }
//! benchmark_run: 3f2a...         # optional: where latency_budget reads its metric
//! rules:
//!   - metric: "roc_auc >= 0.90"
//!   - vs_baseline: { metric: roc_auc, max_drop: 0.01 }
//!   - max_slice_gap: "f1_score <= 0.05"
//!   - data_validation: passed
//!   - max_run_age: 7d
//!   - max_dataset_age: 90d
//!   - tag_present: mlflow.source.git.commit
//!   - latency_budget: "latency_p99_ms <= 50"
//! ```

use serde::Deserialize;

use super::policy::Rule;

/// The only gate file version this build reads.
pub const SUPPORTED_GATE_VERSION: u32 = 1;

/// Why a gate file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("invalid gate file: {0}")]
    Syntax(String),
    #[error("the gate file has no version: add 'version: {SUPPORTED_GATE_VERSION}' at the top")]
    MissingVersion,
    #[error(
        "unsupported gate file version {0}: this cairn reads version {SUPPORTED_GATE_VERSION}"
    )]
    UnsupportedVersion(String),
    #[error("invalid gate file: {0}")]
    Invalid(String),
}

/// A whole gate file.
#[derive(Debug, Clone, PartialEq)]
pub struct GateFile {
    /// Names the verdict's tag (`cairn.gate.<name>`) and artifact (`gate/<name>.json`).
    pub name: String,
    pub baseline: Option<Baseline>,
    pub benchmark_run: Option<String>,
    pub rules: Vec<Rule>,
}

/// What `vs_baseline` rules compare the candidate with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// The version of `model` holding `alias` (its source run); no holder = no baseline.
    Alias { model: String, alias: String },
    /// A given version of `model`.
    Version { model: String, version: String },
    /// A run, by id or by name (the latest run of that name).
    Run(String),
    /// The mean of each metric over the last `last` finished runs of `experiment` (the candidate
    /// itself left out).
    RecentRuns { experiment: String, last: u32 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    #[allow(dead_code)]
    version: serde_yaml_ng::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    baseline: Option<RawBaseline>,
    #[serde(default)]
    benchmark_run: Option<String>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    version: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    experiment: Option<String>,
    #[serde(default)]
    last: Option<u32>,
}

#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    version: Option<serde_yaml_ng::Value>,
}

/// Gate names become tag keys and file names: letters, digits, `_`, `-` and `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
}

fn scalar_text(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(text) => Some(text.clone()),
        serde_yaml_ng::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl GateFile {
    /// Parses and checks a YAML gate file; `default_name` names it when the file does not.
    pub fn from_yaml(text: &str, default_name: &str) -> Result<GateFile, GateError> {
        let syntax = |error: serde_yaml_ng::Error| GateError::Syntax(error.to_string());
        let probe: Option<VersionProbe> = serde_yaml_ng::from_str(text).map_err(syntax)?;
        let version = probe
            .and_then(|probe| probe.version)
            .ok_or(GateError::MissingVersion)?;
        if version.as_u64() != Some(u64::from(SUPPORTED_GATE_VERSION)) {
            let shown = scalar_text(&version).unwrap_or_else(|| format!("{version:?}"));
            return Err(GateError::UnsupportedVersion(shown));
        }
        let raw: RawGate = serde_yaml_ng::from_str(text).map_err(syntax)?;
        let name = raw.name.unwrap_or_else(|| default_name.to_string());
        if !valid_name(&name) {
            return Err(GateError::Invalid(format!(
                "the gate name '{name}' may hold only letters, digits, '_', '-' and '.' (it names a tag)"
            )));
        }
        if raw.rules.is_empty() {
            return Err(GateError::Invalid(
                "the gate has no rules: list them under 'rules:'".to_string(),
            ));
        }
        let baseline = raw.baseline.map(Baseline::try_from).transpose()?;
        let compares = raw
            .rules
            .iter()
            .any(|rule| matches!(rule, Rule::VsBaseline(_)));
        if compares && baseline.is_none() {
            return Err(GateError::Invalid(
                "a vs_baseline rule needs a 'baseline:' (model + alias or version, run, or experiment + last)"
                    .to_string(),
            ));
        }
        if raw
            .rules
            .iter()
            .any(|rule| matches!(rule, Rule::VsCurrent(_)))
        {
            return Err(GateError::Invalid(
                "vs_current is for promotion policies; a gate compares with its baseline: write vs_baseline"
                    .to_string(),
            ));
        }
        Ok(GateFile {
            name,
            baseline,
            benchmark_run: raw.benchmark_run.filter(|run| !run.trim().is_empty()),
            rules: raw.rules,
        })
    }
}

impl TryFrom<RawBaseline> for Baseline {
    type Error = GateError;

    fn try_from(raw: RawBaseline) -> Result<Baseline, GateError> {
        let invalid = |reason: &str| GateError::Invalid(format!("baseline: {reason}"));
        let version = match raw.version.as_ref() {
            Some(value) => {
                Some(scalar_text(value).ok_or_else(|| invalid("the version must be a number"))?)
            }
            None => None,
        };
        match (
            raw.model,
            raw.alias,
            version,
            raw.run,
            raw.experiment,
            raw.last,
        ) {
            (Some(model), Some(alias), None, None, None, None) => {
                Ok(Baseline::Alias { model, alias })
            }
            (Some(model), None, Some(version), None, None, None) => {
                Ok(Baseline::Version { model, version })
            }
            (None, None, None, Some(run), None, None) => Ok(Baseline::Run(run)),
            (None, None, None, None, Some(experiment), last) => {
                let last = last.unwrap_or(5);
                if last == 0 {
                    return Err(invalid("'last' must be at least 1"));
                }
                Ok(Baseline::RecentRuns { experiment, last })
            }
            _ => Err(invalid(
                "write one of { model, alias }, { model, version }, { run } or { experiment, last }",
            )),
        }
    }
}

impl std::fmt::Display for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Baseline::Alias { model, alias } => write!(f, "models:/{model}@{alias}"),
            Baseline::Version { model, version } => write!(f, "models:/{model}/{version}"),
            Baseline::Run(run) => write!(f, "run {run}"),
            Baseline::RecentRuns { experiment, last } => {
                write!(f, "mean of the last {last} finished runs of '{experiment}'")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_reads() {
        let gate = GateFile::from_yaml(
            r#"
version: 1
name: release
baseline: { model: churn, alias: champion }
benchmark_run: abc
rules:
  - metric: "roc_auc >= 0.9"
  - vs_baseline: { metric: roc_auc, max_drop: 0.01 }
  - max_slice_gap: "f1_score <= 0.05"
  - data_validation: passed
  - max_run_age: 7d
  - max_dataset_age: 90d
  - tag_present: owner
  - latency_budget: "latency_p99_ms <= 50"
"#,
            "gate",
        )
        .unwrap();
        assert_eq!(gate.name, "release");
        assert_eq!(gate.rules.len(), 8);
        assert_eq!(
            gate.baseline,
            Some(Baseline::Alias {
                model: "churn".into(),
                alias: "champion".into()
            })
        );
        assert_eq!(gate.benchmark_run.as_deref(), Some("abc"));
    }

    #[test]
    fn baselines_and_names() {
        let read = |baseline: &str| {
            GateFile::from_yaml(
                &format!("version: 1\nbaseline: {baseline}\nrules: [{{metric: 'a > 1'}}]"),
                "ci",
            )
        };
        assert_eq!(
            read("{model: m, version: 3}").unwrap().baseline,
            Some(Baseline::Version {
                model: "m".into(),
                version: "3".into()
            })
        );
        assert_eq!(
            read("{experiment: e}").unwrap().baseline,
            Some(Baseline::RecentRuns {
                experiment: "e".into(),
                last: 5
            })
        );
        assert_eq!(read("{run: r1}").unwrap().name, "ci");
        assert!(read("{model: m}").is_err());
        assert!(read("{run: r, experiment: e}").is_err());
        assert!(read("{experiment: e, last: 0}").is_err());
    }

    #[test]
    fn bad_gates_say_why() {
        let error = |text: &str| GateFile::from_yaml(text, "g").unwrap_err().to_string();
        assert!(error("rules: []").contains("no version"));
        assert!(error("version: 2\nrules: []").contains("version 2"));
        assert!(error("version: 1\nrules: []").contains("no rules"));
        assert!(
            error("version: 1\nrules: [{vs_baseline: {metric: a, max_drop: 1}}]")
                .contains("needs a 'baseline:'")
        );
        assert!(error("version: 1\nname: 'a b'\nrules: [{metric: 'a > 1'}]").contains("gate name"));
        assert!(error("version: 1\nrules: [{max_slice_gap: 'f1 >= 0.1'}]").contains("largest gap"));
        assert!(error("version: 1\nrules: [{latency_budget: 'p99 <= x'}]")
            .contains("latency_budget: p99 <= x"));
        assert!(error("version: 1\nrules: [{max_dataset_age: 3}]").contains("max_dataset_age"));
        assert!(error("version: 1\nrules: [{nope: 1}]").contains("unknown variant"));
        assert!(error("version: 1\nextra: 1\nrules: [{metric: 'a > 1'}]").contains("unknown field"));
    }
}
