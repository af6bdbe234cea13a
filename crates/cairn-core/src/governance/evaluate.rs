//! Checking a candidate model version against the rules protecting an alias or stage.
//!
//! The caller gathers the [`Evidence`] (the version's source run: metrics, tags, times, dataset
//! inputs; tags of the version and run merged as it sees fit) for the candidate and for the version
//! holding the alias now, and passes the clock in: [`evaluate`] reads nothing and never fails, it
//! reports one [`RuleOutcome`] per rule.
//!
//! Conventions: a metric or tag the candidate lacks fails its rule (actual `missing`); a NaN metric
//! fails every threshold and comparison (actual `NaN`); a `tag` rule, `=` or `!=`, requires the tag to
//! be present, as MLflow's search does.

use std::collections::BTreeMap;

use serde::Serialize;

use super::policy::{AgeLimit, DatasetRequirement, Rule, VsCurrent};

/// What is known about one model version when deciding whether it may take an alias or stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    pub model_name: String,
    pub version: String,
    /// The source run, if the version has one.
    pub run_id: Option<String>,
    /// The latest value of each metric of the source run.
    pub metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
    pub run_start_time_ms: Option<i64>,
    pub run_end_time_ms: Option<i64>,
    /// The source run's dataset inputs.
    pub datasets: Vec<DatasetEvidence>,
}

/// One dataset input of the source run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DatasetEvidence {
    pub name: String,
    pub digest: String,
    /// The input's `mlflow.data.context` tag (`training`, `validation`, ...), if any.
    pub context: Option<String>,
}

/// The outcome of every rule, in the order the rules were given.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evaluation {
    pub results: Vec<RuleOutcome>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    /// The rule's short human form ([`Rule`]'s `Display`).
    pub rule: String,
    pub passed: bool,
    /// What the candidate has: a number, `missing`, `NaN`, `no current holder`, an age...
    pub actual: String,
    /// What the rule asks for, e.g. `>= 0.9`.
    pub required: String,
}

impl RuleOutcome {
    fn new(rule: &Rule, passed: bool, actual: impl Into<String>, required: String) -> Self {
        RuleOutcome {
            rule: rule.to_string(),
            passed,
            actual: actual.into(),
            required,
        }
    }
}

impl Evaluation {
    /// Whether every rule passed (an empty rule list allows everything).
    pub fn allowed(&self) -> bool {
        self.results.iter().all(|outcome| outcome.passed)
    }

    /// The outcomes of the rules that failed.
    pub fn failures(&self) -> Vec<&RuleOutcome> {
        self.results
            .iter()
            .filter(|outcome| !outcome.passed)
            .collect()
    }

    /// One line per failed rule, e.g. `metrics.val_auc >= 0.9: actual 0.87, required >= 0.9`; empty
    /// when everything passed.
    pub fn summary(&self) -> String {
        self.failures()
            .iter()
            .map(|outcome| {
                format!(
                    "{}: actual {}, required {}",
                    outcome.rule, outcome.actual, outcome.required
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Checks `candidate` against every rule. `current` is the version holding the alias or stage now,
/// if any; `now_ms` is the clock, in milliseconds since the epoch.
pub fn evaluate(
    rules: &[Rule],
    candidate: &Evidence,
    current: Option<&Evidence>,
    now_ms: i64,
) -> Evaluation {
    Evaluation {
        results: rules
            .iter()
            .map(|rule| rule.check(candidate, current, now_ms))
            .collect(),
    }
}

impl Rule {
    /// Checks one rule; see [`evaluate`].
    pub fn check(
        &self,
        candidate: &Evidence,
        current: Option<&Evidence>,
        now_ms: i64,
    ) -> RuleOutcome {
        match self {
            Rule::MetricThreshold { key, op, value } => {
                let required = format!("{op} {}", display_number(*value));
                match candidate.metrics.get(key) {
                    None => RuleOutcome::new(self, false, "missing", required),
                    Some(actual) => RuleOutcome::new(
                        self,
                        op.holds(*actual, *value),
                        display_number(*actual),
                        required,
                    ),
                }
            }
            Rule::TagEquals { key, value } | Rule::TagNotEquals { key, value } => {
                let equals = matches!(self, Rule::TagEquals { .. });
                let operator = if equals { "=" } else { "!=" };
                let required = format!("{operator} '{value}'");
                match candidate.tags.get(key) {
                    None => RuleOutcome::new(self, false, "missing", required),
                    Some(actual) => RuleOutcome::new(
                        self,
                        (actual == value) == equals,
                        format!("'{actual}'"),
                        required,
                    ),
                }
            }
            Rule::VsCurrent(comparison) => check_vs_current(self, comparison, candidate, current),
            Rule::MaxRunAge(limit) => check_run_age(self, limit, candidate, now_ms),
            Rule::DatasetInput(requirement) => check_dataset(self, requirement, candidate),
        }
    }
}

fn check_vs_current(
    rule: &Rule,
    comparison: &VsCurrent,
    candidate: &Evidence,
    current: Option<&Evidence>,
) -> RuleOutcome {
    let (direction, sign) = if comparison.lower_is_better {
        ("<=", "+")
    } else {
        (">=", "-")
    };
    let relative_requirement = format!("{direction} current {sign} {}", comparison.tolerance);
    let Some(current) = current else {
        return RuleOutcome::new(rule, true, "no current holder", relative_requirement);
    };
    let metric = &comparison.metric;
    let Some(&candidate_value) = candidate.metrics.get(metric) else {
        return RuleOutcome::new(rule, false, "missing", relative_requirement);
    };
    if candidate_value.is_nan() {
        return RuleOutcome::new(rule, false, "NaN", relative_requirement);
    }
    let candidate_text = display_number(candidate_value);
    let holder = format!("current holder version {}", current.version);
    let current_value = match current.metrics.get(metric) {
        Some(value) if !value.is_nan() => *value,
        Some(_) => {
            let actual =
                format!("{candidate_text} ({holder} has {metric} NaN, nothing to compare)");
            return RuleOutcome::new(rule, true, actual, relative_requirement);
        }
        None => {
            let actual = format!("{candidate_text} ({holder} has no {metric}, nothing to compare)");
            return RuleOutcome::new(rule, true, actual, relative_requirement);
        }
    };
    let limit = comparison.limit(current_value);
    let passed = if comparison.lower_is_better {
        candidate_value <= limit
    } else {
        candidate_value >= limit
    };
    let actual = format!(
        "{candidate_text} ({holder}: {})",
        display_number(current_value)
    );
    RuleOutcome::new(
        rule,
        passed,
        actual,
        format!("{direction} {}", display_number(limit)),
    )
}

fn check_run_age(rule: &Rule, limit: &AgeLimit, candidate: &Evidence, now_ms: i64) -> RuleOutcome {
    let required = format!("<= {limit}");
    if candidate.run_id.is_none() {
        return RuleOutcome::new(rule, false, "no source run", required);
    }
    let Some(reference_ms) = candidate.run_end_time_ms.or(candidate.run_start_time_ms) else {
        return RuleOutcome::new(rule, false, "source run has no start or end time", required);
    };
    let age_ms = now_ms.saturating_sub(reference_ms).max(0) as f64;
    let passed = age_ms <= limit.as_millis();
    let age_in_unit = age_ms / limit.unit.millis();
    let mut shown = (age_in_unit * 100.0).round() / 100.0;
    if !passed && shown <= limit.count {
        // Two decimals would print a failing age equal to the limit; show it in full.
        shown = age_in_unit;
    }
    let actual = format!("{}{}", display_number(shown), limit.unit.suffix());
    RuleOutcome::new(rule, passed, actual, required)
}

fn check_dataset(
    rule: &Rule,
    requirement: &DatasetRequirement,
    candidate: &Evidence,
) -> RuleOutcome {
    let required = match requirement {
        DatasetRequirement::Any => "at least one dataset input".to_string(),
        DatasetRequirement::Named(name) => {
            format!("a dataset input named or with context '{name}'")
        }
    };
    if candidate.run_id.is_none() {
        return RuleOutcome::new(rule, false, "no source run", required);
    }
    let passed = match requirement {
        DatasetRequirement::Any => !candidate.datasets.is_empty(),
        DatasetRequirement::Named(name) => candidate
            .datasets
            .iter()
            .any(|dataset| &dataset.name == name || dataset.context.as_ref() == Some(name)),
    };
    let actual = if candidate.datasets.is_empty() {
        "no dataset inputs".to_string()
    } else {
        let listed: Vec<String> = candidate
            .datasets
            .iter()
            .map(|dataset| match &dataset.context {
                Some(context) => format!("'{}' ({context})", dataset.name),
                None => format!("'{}'", dataset.name),
            })
            .collect();
        format!("dataset inputs {}", listed.join(", "))
    };
    RuleOutcome::new(rule, passed, actual, required)
}

/// A number for people: at most 15 significant digits (hiding binary noise such as
/// 0.8910000000000001), no trailing zeros, exponent form only for very large or small magnitudes.
pub fn display_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    let magnitude = rounded.abs();
    if magnitude == 0.0 {
        "0".to_string()
    } else if !(1e-4..1e15).contains(&magnitude) {
        format!("{rounded:e}")
    } else {
        format!("{rounded}")
    }
}
