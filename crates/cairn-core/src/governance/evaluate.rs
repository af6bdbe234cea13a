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
    /// How this evidence is named when it is the side compared against (`vs_baseline`): e.g.
    /// `baseline champion (version 3)`. `None`: `current holder version <version>`.
    pub label: Option<String>,
    /// The latest `cairn data validate` result for each dataset digest of the source run, found
    /// by the caller (quality gates search for them; the server's promotion check does not).
    pub validations: Vec<ValidationEvidence>,
    /// The serving benchmark run `latency_budget` reads, if one was named.
    pub benchmark: Option<BenchmarkEvidence>,
}

/// The latest data validation of one dataset (by digest).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationEvidence {
    pub dataset: String,
    pub digest: String,
    /// The run that holds the validation (`validation.status` tag).
    pub run_id: String,
    pub passed: bool,
}

/// Metrics of a serving benchmark run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BenchmarkEvidence {
    pub run_id: String,
    pub metrics: BTreeMap<String, f64>,
}

/// One dataset input of the source run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DatasetEvidence {
    pub name: String,
    pub digest: String,
    /// The input's `mlflow.data.context` tag (`training`, `validation`, ...), if any.
    pub context: Option<String>,
    /// When a run first logged this digest (the earliest run start), if the caller looked it up.
    pub first_seen_ms: Option<i64>,
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
            Rule::VsCurrent(comparison) | Rule::VsBaseline(comparison) => {
                check_vs_current(self, comparison, candidate, current)
            }
            Rule::MaxRunAge(limit) => check_run_age(self, limit, candidate, now_ms),
            Rule::DatasetInput(requirement) => check_dataset(self, requirement, candidate),
            Rule::TagPresent { key } => match candidate.tags.get(key) {
                Some(value) => RuleOutcome::new(self, true, format!("'{value}'"), "present".into()),
                None => RuleOutcome::new(self, false, "missing", "present".into()),
            },
            Rule::MaxSliceGap { metric, max } => check_slice_gap(self, metric, *max, candidate),
            Rule::DataValidation => check_validation(self, candidate),
            Rule::MaxDatasetAge(limit) => check_dataset_age(self, limit, candidate, now_ms),
            Rule::LatencyBudget { key, op, value } => {
                let required = format!("{op} {}", display_number(*value));
                let (metrics, source) = match &candidate.benchmark {
                    Some(benchmark) => (
                        &benchmark.metrics,
                        format!("benchmark run {}", benchmark.run_id),
                    ),
                    None => (&candidate.metrics, "the candidate".to_string()),
                };
                match metrics.get(key) {
                    None => {
                        RuleOutcome::new(self, false, format!("missing from {source}"), required)
                    }
                    Some(actual) => RuleOutcome::new(
                        self,
                        op.holds(*actual, *value),
                        format!("{} ({source})", display_number(*actual)),
                        required,
                    ),
                }
            }
        }
    }
}

/// The prefix `cairn eval --slice-by` logs gaps under: `slice_gap/<column>/<metric>`.
pub const SLICE_GAP_PREFIX: &str = "slice_gap/";

fn check_slice_gap(rule: &Rule, metric: &str, max: f64, candidate: &Evidence) -> RuleOutcome {
    let required = format!("<= {}", display_number(max));
    let suffix = format!("/{metric}");
    let gaps: Vec<(&str, f64)> = candidate
        .metrics
        .iter()
        .filter_map(|(key, value)| {
            let column = key.strip_prefix(SLICE_GAP_PREFIX)?.strip_suffix(&suffix)?;
            (!column.is_empty()).then_some((column, *value))
        })
        .collect();
    if gaps.is_empty() {
        let actual = format!(
            "no {SLICE_GAP_PREFIX}<column>{suffix} metric (cairn eval --slice-by logs them)"
        );
        return RuleOutcome::new(rule, false, actual, required);
    }
    if let Some((column, _)) = gaps.iter().find(|(_, value)| value.is_nan()) {
        return RuleOutcome::new(rule, false, format!("NaN (slices of {column})"), required);
    }
    let (column, largest) =
        gaps.iter().copied().fold(
            gaps[0],
            |worst, gap| if gap.1 > worst.1 { gap } else { worst },
        );
    RuleOutcome::new(
        rule,
        largest <= max,
        format!("{} (slices of {column})", display_number(largest)),
        required,
    )
}

/// The run's own `validation.status` tag decides when present (`cairn data validate --run-id`);
/// otherwise every dataset's latest validation must have passed, and there must be one.
fn check_validation(rule: &Rule, candidate: &Evidence) -> RuleOutcome {
    let required = "passed".to_string();
    if let Some(status) = candidate.tags.get("validation.status") {
        return RuleOutcome::new(
            rule,
            status == "passed",
            format!("{status} (validation.status of the run)"),
            required,
        );
    }
    if candidate.validations.is_empty() {
        let actual = if candidate.datasets.is_empty() {
            "no validation: the run has no validation.status tag and no dataset inputs"
        } else {
            "no validation of the run's datasets found"
        };
        return RuleOutcome::new(rule, false, actual, required);
    }
    let listed: Vec<String> = candidate
        .validations
        .iter()
        .map(|validation| {
            format!(
                "'{}' {} (run {})",
                validation.dataset,
                if validation.passed {
                    "passed"
                } else {
                    "failed"
                },
                validation.run_id
            )
        })
        .collect();
    let passed = candidate
        .validations
        .iter()
        .all(|validation| validation.passed);
    RuleOutcome::new(rule, passed, listed.join(", "), required)
}

fn check_dataset_age(
    rule: &Rule,
    limit: &AgeLimit,
    candidate: &Evidence,
    now_ms: i64,
) -> RuleOutcome {
    let required = format!("<= {limit}");
    if candidate.datasets.is_empty() {
        return RuleOutcome::new(rule, false, "no dataset inputs", required);
    }
    let mut oldest: Option<(&DatasetEvidence, i64)> = None;
    for dataset in &candidate.datasets {
        let Some(first_seen) = dataset.first_seen_ms else {
            let actual = format!("first use of '{}' unknown", dataset.name);
            return RuleOutcome::new(rule, false, actual, required);
        };
        if oldest.is_none_or(|(_, seen)| first_seen < seen) {
            oldest = Some((dataset, first_seen));
        }
    }
    let Some((dataset, first_seen)) = oldest else {
        return RuleOutcome::new(rule, false, "no dataset inputs", required);
    };
    let age_ms = now_ms.saturating_sub(first_seen).max(0) as f64;
    let passed = age_ms <= limit.as_millis();
    let age = (age_ms / limit.unit.millis() * 100.0).round() / 100.0;
    let actual = format!(
        "{}{} ('{}')",
        display_number(age),
        limit.unit.suffix(),
        dataset.name
    );
    RuleOutcome::new(rule, passed, actual, required)
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
    let baseline_rule = matches!(rule, Rule::VsBaseline(_));
    let relative_requirement = if baseline_rule {
        relative_requirement.replace("current", "baseline")
    } else {
        relative_requirement
    };
    let Some(current) = current else {
        let actual = if baseline_rule {
            "no baseline"
        } else {
            "no current holder"
        };
        return RuleOutcome::new(rule, true, actual, relative_requirement);
    };
    let metric = &comparison.metric;
    let Some(&candidate_value) = candidate.metrics.get(metric) else {
        return RuleOutcome::new(rule, false, "missing", relative_requirement);
    };
    if candidate_value.is_nan() {
        return RuleOutcome::new(rule, false, "NaN", relative_requirement);
    }
    let candidate_text = display_number(candidate_value);
    let holder = current
        .label
        .clone()
        .unwrap_or_else(|| format!("current holder version {}", current.version));
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
