//! The policy file: which aliases and stages are protected, by which rules, and the naming conventions.
//!
//! One serde model serves YAML (the file an operator writes) and JSON (the server's API), so both share
//! the same shape:
//!
//! ```yaml
//! version: 1
//! naming:
//!   experiment_name: { regex: "^[a-z][a-z0-9-]*$" }
//! default:
//!   aliases:
//!     champion:
//!       - metric: "val_auc >= 0.9"
//!       - vs_current: { metric: val_auc, max_drop: 0.01 }
//!   stages:
//!     Production:
//!       - tag: "validation.status = passed"
//! models:
//!   fraud-model:
//!     aliases:
//!       production:
//!         - max_run_age: 30d
//! ```
//!
//! Every rule is parsed and checked when the file loads, so a bad rule is a load error that quotes it,
//! never a surprise at promotion time. An empty file (or `version: 1` alone) means "no rules".

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::naming::NamingPolicy;
use super::PolicyError;

/// The only policy file version this build reads and writes.
pub const SUPPORTED_POLICY_VERSION: u32 = 1;

/// A whole policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy file: a map with version, naming, default and models"
)]
pub struct PolicyFile {
    /// Always [`SUPPORTED_POLICY_VERSION`] once loaded.
    pub version: u32,
    /// Naming conventions; every rule is off by default.
    #[serde(default)]
    pub naming: NamingPolicy,
    /// Protected aliases and stages for every model without its own section.
    #[serde(default)]
    pub default: ModelPolicy,
    /// Per-model sections; a model listed here uses its own section *instead of* `default`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelPolicy>,
}

impl Default for PolicyFile {
    fn default() -> Self {
        Self {
            version: SUPPORTED_POLICY_VERSION,
            naming: NamingPolicy::default(),
            default: ModelPolicy::default(),
            models: BTreeMap::new(),
        }
    }
}

/// The version field alone, read before the rest so that a file written for another version gets a
/// version error rather than a confusing unknown-field one.
#[derive(Deserialize)]
#[serde(expecting = "a policy file: a map with version, naming, default and models")]
struct VersionProbe {
    #[serde(default)]
    version: Option<Scalar>,
}

fn check_version(probe: VersionProbe) -> Result<(), PolicyError> {
    let Some(version) = probe.version else {
        return Err(PolicyError::MissingVersion);
    };
    match version.integer {
        Some(number) if number == i128::from(SUPPORTED_POLICY_VERSION) => Ok(()),
        _ => Err(PolicyError::UnsupportedVersion {
            found: version.text,
        }),
    }
}

impl PolicyFile {
    /// Parses and validates a YAML policy. Empty text (or only comments) is the empty policy.
    pub fn from_yaml(text: &str) -> Result<PolicyFile, PolicyError> {
        let syntax = |error: serde_yaml_ng::Error| PolicyError::Syntax(error.to_string());
        let probe: Option<VersionProbe> = serde_yaml_ng::from_str(text).map_err(syntax)?;
        let Some(probe) = probe else {
            return Ok(PolicyFile::default());
        };
        check_version(probe)?;
        serde_yaml_ng::from_str(text).map_err(syntax)
    }

    /// Parses and validates a JSON policy (the API's form); `null` is the empty policy.
    pub fn from_json(text: &str) -> Result<PolicyFile, PolicyError> {
        let syntax = |error: serde_json::Error| PolicyError::Syntax(error.to_string());
        let probe: Option<VersionProbe> = serde_json::from_str(text).map_err(syntax)?;
        let Some(probe) = probe else {
            return Ok(PolicyFile::default());
        };
        check_version(probe)?;
        serde_json::from_str(text).map_err(syntax)
    }

    /// The policy as YAML; [`PolicyFile::from_yaml`] reads it back to an equal value.
    pub fn to_yaml(&self) -> String {
        // Every map key is a string and every value a string, number, bool or map of those, so the
        // serializer has nothing to refuse: a failure here is a bug, not bad input.
        #[allow(clippy::expect_used)]
        serde_yaml_ng::to_string(self).expect("a policy always serializes to yaml")
    }

    /// The policy as pretty-printed JSON; [`PolicyFile::from_json`] reads it back to an equal value.
    pub fn to_json(&self) -> String {
        #[allow(clippy::expect_used)]
        serde_json::to_string_pretty(self).expect("a policy always serializes to json")
    }

    /// The section that governs `model_name`: its own if listed under `models`, else `default`.
    pub fn model_policy(&self, model_name: &str) -> &ModelPolicy {
        self.models.get(model_name).unwrap_or(&self.default)
    }
}

/// MLflow's model version stages, in their canonical spelling.
pub const MLFLOW_STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// The protected aliases and stages of one model (or of every model, as `default`).
///
/// A listed alias or stage is *protected*: every one of its rules must pass to assign it. An alias or
/// stage that is not listed is not governed. Stage keys must be MLflow stages (any case) and are
/// stored in MLflow's canonical spelling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a model policy: a map with aliases and stages"
)]
pub struct ModelPolicy {
    #[serde(default, deserialize_with = "deserialize_aliases")]
    pub aliases: BTreeMap<String, Vec<Rule>>,
    #[serde(default, deserialize_with = "deserialize_stages")]
    pub stages: BTreeMap<String, Vec<Rule>>,
}

fn deserialize_aliases<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<Rule>>, D::Error> {
    deserializer.deserialize_map(ProtectedVisitor { stages: false })
}

fn deserialize_stages<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<Rule>>, D::Error> {
    deserializer.deserialize_map(ProtectedVisitor { stages: true })
}

/// Reads `aliases:` or `stages:` entry by entry, so that a bad name is reported where it stands.
struct ProtectedVisitor {
    stages: bool,
}

impl<'de> Visitor<'de> for ProtectedVisitor {
    type Value = BTreeMap<String, Vec<Rule>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.stages { "stage" } else { "alias" };
        write!(f, "a map from {what} name to its list of rules")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let what = if self.stages { "stage" } else { "alias" };
        let mut protected = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let key = if self.stages {
                let Some(canonical) = canonical_stage(&name) else {
                    return Err(de::Error::custom(format!(
                        "unknown stage '{name}': expected one of {}",
                        MLFLOW_STAGES.join(", ")
                    )));
                };
                canonical.to_string()
            } else if name.is_empty() {
                return Err(de::Error::custom("an alias name is empty"));
            } else {
                name
            };
            let rules: Vec<Rule> = map.next_value()?;
            if let Some(_earlier) = protected.insert(key.clone(), rules) {
                let note = if self.stages {
                    " (stage names ignore case)"
                } else {
                    ""
                };
                return Err(de::Error::custom(format!(
                    "{what} '{key}' is listed twice{note}"
                )));
            }
        }
        Ok(protected)
    }
}

fn canonical_stage(stage: &str) -> Option<&'static str> {
    MLFLOW_STAGES
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(stage.trim()))
}

impl ModelPolicy {
    /// The rules protecting `alias` (exact comparison), or `None` when the alias is not protected.
    pub fn alias_rules(&self, alias: &str) -> Option<&[Rule]> {
        self.aliases.get(alias).map(Vec::as_slice)
    }

    /// The rules protecting `stage` (compared ignoring case), or `None` when it is not protected.
    pub fn stage_rules(&self, stage: &str) -> Option<&[Rule]> {
        self.stages
            .iter()
            .find(|(protected, _)| protected.eq_ignore_ascii_case(stage.trim()))
            .map(|(_, rules)| rules.as_slice())
    }
}

/// One promotion rule. In the file each rule is a one-key map: `- metric: "val_auc >= 0.9"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `metric: "<key> <op> <number>"`: the candidate's metric compared with a fixed number.
    MetricThreshold {
        key: String,
        op: ComparisonOp,
        value: f64,
    },
    /// `tag: "<key> = <value>"`: the candidate's tag is present and equals the value.
    TagEquals { key: String, value: String },
    /// `tag: "<key> != <value>"`: the candidate's tag is present and differs from the value.
    TagNotEquals { key: String, value: String },
    /// `vs_current: {...}`: the candidate is not much worse than the version holding the alias now.
    VsCurrent(VsCurrent),
    /// `max_run_age: 30d`: the source run ended (or, still running, started) at most this long ago.
    MaxRunAge(AgeLimit),
    /// `dataset_input: train` or `dataset_input: any`: the source run logged such a dataset input.
    DatasetInput(DatasetRequirement),
    /// `tag_present: owner`: the candidate has the tag, whatever its value.
    TagPresent { key: String },
    /// `vs_baseline: {...}`: as `vs_current`, against the baseline a quality gate names (a model
    /// version holding an alias, a run, or the mean of an experiment's last finished runs).
    VsBaseline(VsCurrent),
    /// `max_slice_gap: "f1_score <= 0.05"`: the largest gap between slices that `cairn eval
    /// --slice-by` logged for the metric (`slice_gap/<column>/<metric>`), over every slice column.
    MaxSliceGap { metric: String, max: f64 },
    /// `data_validation: passed`: the candidate's data passed `cairn data validate` (the run's own
    /// `validation.status` tag, or the latest validation of one of its datasets, found by digest).
    DataValidation,
    /// `max_dataset_age: 30d`: each dataset input was first seen (the earliest run that logged its
    /// digest) at most this long ago.
    MaxDatasetAge(AgeLimit),
    /// `latency_budget: "latency_p99_ms <= 50"`: a metric of the serving benchmark run (or of the
    /// candidate, when no benchmark run is given).
    LatencyBudget {
        key: String,
        op: ComparisonOp,
        value: f64,
    },
}

/// The rule kinds, as written in the file.
pub const RULE_KINDS: &[&str] = &[
    "metric",
    "tag",
    "vs_current",
    "max_run_age",
    "dataset_input",
    "tag_present",
    "vs_baseline",
    "max_slice_gap",
    "data_validation",
    "max_dataset_age",
    "latency_budget",
];

impl Rule {
    /// Parses a rule whose value is a string: `kind` is one of `metric`, `tag`, `max_run_age`,
    /// `dataset_input` (`vs_current` takes a map and is read with the file).
    pub fn parse(kind: &str, text: &str) -> Result<Rule, PolicyError> {
        match kind {
            "metric" => parse_metric_threshold(text),
            "tag" => parse_tag(text),
            "max_run_age" => AgeLimit::parse(text).map(Rule::MaxRunAge),
            "dataset_input" => DatasetRequirement::parse(text).map(Rule::DatasetInput),
            "tag_present" => match text.trim() {
                "" => Err(PolicyError::InvalidRule {
                    rule: format!("tag_present: {text}"),
                    reason: "missing the tag key".to_string(),
                }),
                key => Ok(Rule::TagPresent {
                    key: key.to_string(),
                }),
            },
            "max_slice_gap" => parse_slice_gap(text),
            "data_validation" => match text.trim() {
                "passed" | "true" => Ok(Rule::DataValidation),
                other => Err(PolicyError::InvalidRule {
                    rule: format!("data_validation: {text}"),
                    reason: format!("expected 'passed', got '{other}'"),
                }),
            },
            "max_dataset_age" => AgeLimit::parse_for(kind, text).map(Rule::MaxDatasetAge),
            "latency_budget" => parse_threshold(kind, text)
                .map(|(key, op, value)| Rule::LatencyBudget { key, op, value }),
            _ => Err(PolicyError::InvalidRule {
                rule: format!("{kind}: {text}"),
                reason: format!(
                    "unknown rule kind '{kind}': expected one of {}",
                    RULE_KINDS.join(", ")
                ),
            }),
        }
    }

    /// The rule's kind as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::MetricThreshold { .. } => "metric",
            Rule::TagEquals { .. } | Rule::TagNotEquals { .. } => "tag",
            Rule::VsCurrent(_) => "vs_current",
            Rule::MaxRunAge(_) => "max_run_age",
            Rule::DatasetInput(_) => "dataset_input",
            Rule::TagPresent { .. } => "tag_present",
            Rule::VsBaseline(_) => "vs_baseline",
            Rule::MaxSliceGap { .. } => "max_slice_gap",
            Rule::DataValidation => "data_validation",
            Rule::MaxDatasetAge(_) => "max_dataset_age",
            Rule::LatencyBudget { .. } => "latency_budget",
        }
    }

    /// The value as written in the file, for the rules whose value is a string.
    fn source_text(&self) -> Option<String> {
        match self {
            Rule::MetricThreshold { key, op, value } => Some(format!("{key} {op} {value}")),
            Rule::TagEquals { key, value } => Some(format!("{key} = {}", quote_if_needed(value))),
            Rule::TagNotEquals { key, value } => {
                Some(format!("{key} != {}", quote_if_needed(value)))
            }
            Rule::VsCurrent(_) | Rule::VsBaseline(_) => None,
            Rule::MaxRunAge(limit) | Rule::MaxDatasetAge(limit) => Some(limit.to_string()),
            Rule::TagPresent { key } => Some(key.clone()),
            Rule::MaxSliceGap { metric, max } => Some(format!("{metric} <= {max}")),
            Rule::DataValidation => Some("passed".to_string()),
            Rule::LatencyBudget { key, op, value } => Some(format!("{key} {op} {value}")),
            Rule::DatasetInput(DatasetRequirement::Any) => Some("any".to_string()),
            Rule::DatasetInput(DatasetRequirement::Named(name)) => Some(name.clone()),
        }
    }
}

/// The short human form used in messages and the audit log.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::MetricThreshold { key, op, value } => write!(f, "metrics.{key} {op} {value}"),
            Rule::TagEquals { key, value } => write!(f, "tags.{key} = {}", quote_if_needed(value)),
            Rule::TagNotEquals { key, value } => {
                write!(f, "tags.{key} != {}", quote_if_needed(value))
            }
            Rule::VsCurrent(comparison) => comparison.fmt(f),
            Rule::MaxRunAge(limit) => write!(f, "run age <= {limit}"),
            Rule::DatasetInput(DatasetRequirement::Any) => f.write_str("any dataset input"),
            Rule::DatasetInput(DatasetRequirement::Named(name)) => {
                write!(f, "dataset input '{name}'")
            }
            Rule::TagPresent { key } => write!(f, "tags.{key} present"),
            Rule::VsBaseline(comparison) => write!(
                f,
                "{} not worse than baseline by more than {}{}",
                comparison.metric,
                comparison.tolerance,
                if comparison.lower_is_better {
                    " (lower is better)"
                } else {
                    ""
                }
            ),
            Rule::MaxSliceGap { metric, max } => {
                write!(f, "largest slice gap of {metric} <= {max}")
            }
            Rule::DataValidation => f.write_str("data validation passed"),
            Rule::MaxDatasetAge(limit) => write!(f, "dataset age <= {limit}"),
            Rule::LatencyBudget { key, op, value } => write!(f, "latency {key} {op} {value}"),
        }
    }
}

/// `<metric> <= <number>`: the largest slice gap allowed for a metric.
fn parse_slice_gap(text: &str) -> Result<Rule, PolicyError> {
    match parse_threshold("max_slice_gap", text)? {
        (metric, ComparisonOp::LessOrEqual, max) if max >= 0.0 => {
            Ok(Rule::MaxSliceGap { metric, max })
        }
        _ => Err(PolicyError::InvalidRule {
            rule: format!("max_slice_gap: {text}"),
            reason: "expected '<metric> <= <largest gap>' with a gap >= 0".to_string(),
        }),
    }
}

/// A parse error of one rule kind reported under another (the kinds share parsers).
fn renamed(error: PolicyError, from: &str, to: &str) -> PolicyError {
    match error {
        PolicyError::InvalidRule { rule, reason } => PolicyError::InvalidRule {
            rule: rule.replacen(&format!("{from}:"), &format!("{to}:"), 1),
            reason,
        },
        other => other,
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Rule::VsCurrent(comparison) | Rule::VsBaseline(comparison) => {
                map.serialize_entry(self.kind(), &RawVsCurrent::from(comparison))?
            }
            _ => map.serialize_entry(self.kind(), &self.source_text().unwrap_or_default())?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RuleVisitor)
    }
}

struct RuleVisitor;

impl<'de> Visitor<'de> for RuleVisitor {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a rule: a map with one key among {}",
            RULE_KINDS.join(", ")
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!(
                "a rule is empty: expected one key among {}",
                RULE_KINDS.join(", ")
            )));
        };
        let rule = match kind.as_str() {
            "vs_current" => {
                let raw: RawVsCurrent = map.next_value()?;
                VsCurrent::try_from(raw).map(Rule::VsCurrent)
            }
            "vs_baseline" => {
                let raw: RawVsCurrent = map.next_value()?;
                VsCurrent::try_from(raw)
                    .map(Rule::VsBaseline)
                    .map_err(|error| renamed(error, "vs_current", "vs_baseline"))
            }
            "metric" | "tag" | "max_run_age" | "dataset_input" | "tag_present"
            | "max_slice_gap" | "data_validation" | "max_dataset_age" | "latency_budget" => {
                let value: Scalar = map.next_value()?;
                Rule::parse(&kind, &value.text)
            }
            _ => return Err(de::Error::unknown_variant(&kind, RULE_KINDS)),
        }
        .map_err(de::Error::custom)?;
        if let Some(other) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a rule has exactly one key, this one has '{kind}' and '{other}': write them as two rules"
            )));
        }
        Ok(rule)
    }
}

/// A comparison operator of a `metric` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOp {
    GreaterOrEqual,
    Greater,
    LessOrEqual,
    Less,
    Equal,
    NotEqual,
}

impl ComparisonOp {
    /// The operator for a token; `=` is accepted as a synonym of `==`.
    pub fn from_token(token: &str) -> Option<ComparisonOp> {
        Some(match token {
            ">=" => ComparisonOp::GreaterOrEqual,
            ">" => ComparisonOp::Greater,
            "<=" => ComparisonOp::LessOrEqual,
            "<" => ComparisonOp::Less,
            "==" | "=" => ComparisonOp::Equal,
            "!=" => ComparisonOp::NotEqual,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOp::GreaterOrEqual => ">=",
            ComparisonOp::Greater => ">",
            ComparisonOp::LessOrEqual => "<=",
            ComparisonOp::Less => "<",
            ComparisonOp::Equal => "==",
            ComparisonOp::NotEqual => "!=",
        }
    }

    /// Whether `actual <op> threshold` holds. A NaN on either side never holds, not even for `!=`.
    pub fn holds(self, actual: f64, threshold: f64) -> bool {
        if actual.is_nan() || threshold.is_nan() {
            return false;
        }
        match self {
            ComparisonOp::GreaterOrEqual => actual >= threshold,
            ComparisonOp::Greater => actual > threshold,
            ComparisonOp::LessOrEqual => actual <= threshold,
            ComparisonOp::Less => actual < threshold,
            ComparisonOp::Equal => actual == threshold,
            ComparisonOp::NotEqual => actual != threshold,
        }
    }
}

impl fmt::Display for ComparisonOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const OPERATOR_CHARS: &[char] = &['<', '>', '=', '!'];

/// `<key> <op> <number>`, read from the right: the operator is the last run of operator characters,
/// so keys may hold dots, slashes and spaces.
fn parse_metric_threshold(text: &str) -> Result<Rule, PolicyError> {
    parse_threshold("metric", text).map(|(key, op, value)| Rule::MetricThreshold { key, op, value })
}

/// `<key> <op> <number>` for a rule of `kind` (named in errors).
fn parse_threshold(kind: &str, text: &str) -> Result<(String, ComparisonOp, f64), PolicyError> {
    let invalid = |reason: String| PolicyError::InvalidRule {
        rule: format!("{kind}: {text}"),
        reason,
    };
    let Some(last_operator_char) = text.rfind(OPERATOR_CHARS) else {
        return Err(invalid(
            "expected '<metric key> <operator> <number>' with an operator among >= > <= < == !="
                .to_string(),
        ));
    };
    // Operator characters are ASCII, so +1 stays on a character boundary.
    let operator_end = last_operator_char + 1;
    let operator_start = text[..operator_end].trim_end_matches(OPERATOR_CHARS).len();
    let token = &text[operator_start..operator_end];
    let Some(op) = ComparisonOp::from_token(token) else {
        return Err(invalid(format!(
            "unknown operator '{token}': use one of >= > <= < == !="
        )));
    };
    let key = text[..operator_start].trim();
    if key.is_empty() {
        return Err(invalid(format!("missing the metric key before '{token}'")));
    }
    let number = text[operator_end..].trim();
    if number.is_empty() {
        return Err(invalid(format!("missing the number after '{token}'")));
    }
    let Ok(value) = number.parse::<f64>() else {
        return Err(invalid(format!("'{number}' is not a number")));
    };
    if value.is_nan() {
        return Err(invalid("the threshold cannot be NaN".to_string()));
    }
    Ok((key.to_string(), op, value))
}

/// `<key> = <value>`, `<key> == <value>` or `<key> != <value>`, split at the first `=`. The value may
/// be wrapped in one layer of '...' or "..." (needed for an empty value or one with outer spaces).
fn parse_tag(text: &str) -> Result<Rule, PolicyError> {
    let invalid = |reason: &str| PolicyError::InvalidRule {
        rule: format!("tag: {text}"),
        reason: reason.to_string(),
    };
    let Some(equals) = text.find('=') else {
        return Err(invalid(
            "expected '<tag key> = <value>' or '<tag key> != <value>'",
        ));
    };
    let before = &text[..equals];
    let mut after = &text[equals + 1..];
    let (key, negated) = match before.strip_suffix('!') {
        Some(key) => (key.trim(), true),
        None => {
            after = after.strip_prefix('=').unwrap_or(after);
            (before.trim(), false)
        }
    };
    if key.is_empty() {
        return Err(invalid("missing the tag key"));
    }
    let raw_value = after.trim();
    if raw_value.is_empty() {
        return Err(invalid("missing the value: write '' for an empty value"));
    }
    let key = key.to_string();
    let value = unquote(raw_value).to_string();
    Ok(if negated {
        Rule::TagNotEquals { key, value }
    } else {
        Rule::TagEquals { key, value }
    })
}

fn unquote(text: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    text
}

/// The inverse of [`unquote`]: one layer of quotes where reading the value back would change it.
fn quote_if_needed(value: &str) -> String {
    let would_be_unquoted = unquote(value).len() != value.len();
    if value.is_empty() || value.trim() != value || would_be_unquoted {
        format!("'{value}'")
    } else {
        value.to_string()
    }
}

/// How far below (or, lower-is-better, above) the current holder a candidate may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// In the metric's own units (`max_drop`, `max_increase`).
    Absolute(f64),
    /// In percent of the current holder's absolute value (`max_drop_pct`, `max_increase_pct`).
    Percent(f64),
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Absolute(amount) => write!(f, "{amount}"),
            Tolerance::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

/// A comparison of the candidate with the version currently holding the alias (or stage).
///
/// Higher is better unless `lower_is_better`. With current value `c`, the candidate fails when it is
/// below `c - max_drop` or `c - |c| * max_drop_pct / 100` (higher is better), or above
/// `c + max_increase` or `c + |c| * max_increase_pct / 100` (lower is better). Percentages use `|c|`,
/// so a negative current value still tolerates a move in the worse direction, never in the better.
#[derive(Debug, Clone, PartialEq)]
pub struct VsCurrent {
    pub metric: String,
    pub lower_is_better: bool,
    pub tolerance: Tolerance,
}

impl VsCurrent {
    /// The worst value a candidate may have, given the current holder's value.
    pub fn limit(&self, current: f64) -> f64 {
        let allowance = match self.tolerance {
            Tolerance::Absolute(amount) => amount,
            Tolerance::Percent(percent) => current.abs() * percent / 100.0,
        };
        if self.lower_is_better {
            current + allowance
        } else {
            current - allowance
        }
    }
}

impl fmt::Display for VsCurrent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not worse than current holder by more than {}",
            self.metric, self.tolerance
        )?;
        if self.lower_is_better {
            f.write_str(" (lower is better)")?;
        }
        Ok(())
    }
}

/// `vs_current` as written in the file.
#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map with a metric and one tolerance"
)]
struct RawVsCurrent {
    metric: String,
    #[serde(default, skip_serializing_if = "is_false")]
    lower_is_better: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_drop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_drop_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_increase: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_increase_pct: Option<f64>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl RawVsCurrent {
    fn tolerances(&self) -> Vec<(&'static str, f64)> {
        [
            ("max_drop", self.max_drop),
            ("max_drop_pct", self.max_drop_pct),
            ("max_increase", self.max_increase),
            ("max_increase_pct", self.max_increase_pct),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
        .collect()
    }

    /// The rule as the user wrote it, for error messages.
    fn describe(&self) -> String {
        let mut fields = vec![format!("metric: {}", self.metric)];
        if self.lower_is_better {
            fields.push("lower_is_better: true".to_string());
        }
        for (name, value) in self.tolerances() {
            fields.push(format!("{name}: {value}"));
        }
        format!("vs_current: {{ {} }}", fields.join(", "))
    }
}

impl TryFrom<RawVsCurrent> for VsCurrent {
    type Error = PolicyError;

    fn try_from(raw: RawVsCurrent) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::InvalidRule {
            rule: raw.describe(),
            reason,
        };
        let metric = raw.metric.trim();
        if metric.is_empty() {
            return Err(invalid("the metric is empty".to_string()));
        }
        let tolerances = raw.tolerances();
        let (name, amount) = match tolerances.as_slice() {
            [one] => *one,
            [] => {
                return Err(invalid(
                    "set one tolerance: max_drop or max_drop_pct (higher is better), or max_increase or max_increase_pct (with lower_is_better: true)"
                        .to_string(),
                ))
            }
            [first, second, ..] => {
                return Err(invalid(format!(
                    "set only one tolerance, found {} and {}",
                    first.0, second.0
                )))
            }
        };
        let is_drop = name.starts_with("max_drop");
        if is_drop && raw.lower_is_better {
            let replacement = name.replace("max_drop", "max_increase");
            return Err(invalid(format!(
                "{name} is for metrics where higher is better: with lower_is_better: true, use {replacement}"
            )));
        }
        if !is_drop && !raw.lower_is_better {
            let replacement = name.replace("max_increase", "max_drop");
            return Err(invalid(format!(
                "{name} is for metrics where lower is better: add lower_is_better: true, or use {replacement}"
            )));
        }
        if !amount.is_finite() || amount < 0.0 {
            return Err(invalid(format!(
                "{name} must be a finite number >= 0, got {amount}"
            )));
        }
        let tolerance = if name.ends_with("_pct") {
            Tolerance::Percent(amount)
        } else {
            Tolerance::Absolute(amount)
        };
        Ok(VsCurrent {
            metric: metric.to_string(),
            lower_is_better: raw.lower_is_better,
            tolerance,
        })
    }
}

impl From<&VsCurrent> for RawVsCurrent {
    fn from(comparison: &VsCurrent) -> Self {
        let (absolute, percent) = match comparison.tolerance {
            Tolerance::Absolute(amount) => (Some(amount), None),
            Tolerance::Percent(percent) => (None, Some(percent)),
        };
        let lower = comparison.lower_is_better;
        RawVsCurrent {
            metric: comparison.metric.clone(),
            lower_is_better: lower,
            max_drop: absolute.filter(|_| !lower),
            max_drop_pct: percent.filter(|_| !lower),
            max_increase: absolute.filter(|_| lower),
            max_increase_pct: percent.filter(|_| lower),
        }
    }
}

/// A unit of [`AgeLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl TimeUnit {
    const ALL: [TimeUnit; 5] = [
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
        TimeUnit::Weeks,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
            TimeUnit::Weeks => "w",
        }
    }

    pub fn millis(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1_000.0,
            TimeUnit::Minutes => 60_000.0,
            TimeUnit::Hours => 3_600_000.0,
            TimeUnit::Days => 86_400_000.0,
            TimeUnit::Weeks => 604_800_000.0,
        }
    }
}

/// A duration such as `30d`, `12h` or `1.5w`: a positive count and a unit among s, m, h, d, w.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeLimit {
    pub count: f64,
    pub unit: TimeUnit,
}

impl AgeLimit {
    pub fn parse(text: &str) -> Result<AgeLimit, PolicyError> {
        Self::parse_for("max_run_age", text)
    }

    /// [`AgeLimit::parse`] for a rule of `kind` (named in errors).
    pub fn parse_for(kind: &str, text: &str) -> Result<AgeLimit, PolicyError> {
        let invalid = |reason: String| PolicyError::InvalidRule {
            rule: format!("{kind}: {text}"),
            reason,
        };
        let expected = "expected a duration like 30d, 12h or 1.5w (units s, m, h, d, w)";
        let trimmed = text.trim();
        let split = trimmed
            .find(|character: char| !(character.is_ascii_digit() || character == '.'))
            .unwrap_or(trimmed.len());
        let (number, suffix) = (&trimmed[..split], trimmed[split..].trim());
        if number.is_empty() {
            return Err(invalid(expected.to_string()));
        }
        let Ok(count) = number.parse::<f64>() else {
            return Err(invalid(format!("'{number}' is not a number: {expected}")));
        };
        if suffix.is_empty() {
            return Err(invalid(format!("'{number}' has no unit: {expected}")));
        }
        let Some(unit) = TimeUnit::ALL
            .into_iter()
            .find(|unit| unit.suffix() == suffix)
        else {
            return Err(invalid(format!("unknown unit '{suffix}': {expected}")));
        };
        if !(count.is_finite() && count > 0.0) {
            return Err(invalid("the duration must be positive".to_string()));
        }
        Ok(AgeLimit { count, unit })
    }

    pub fn as_millis(&self) -> f64 {
        self.count * self.unit.millis()
    }
}

impl fmt::Display for AgeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

/// What a `dataset_input` rule asks of the source run's dataset inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetRequirement {
    /// `any`: at least one dataset input.
    Any,
    /// A dataset input whose name or context equals this.
    Named(String),
}

impl DatasetRequirement {
    /// `any` is the keyword for "any dataset"; any other text names a dataset or a context.
    pub fn parse(text: &str) -> Result<DatasetRequirement, PolicyError> {
        match text.trim() {
            "" => Err(PolicyError::InvalidRule {
                rule: format!("dataset_input: {text}"),
                reason: "expected a dataset name or context, or 'any'".to_string(),
            }),
            "any" => Ok(DatasetRequirement::Any),
            name => Ok(DatasetRequirement::Named(name.to_string())),
        }
    }
}

/// A scalar read as text, whatever its YAML/JSON type: `30d`, `30`, `true` and `"x"` all arrive here,
/// so the rule parsers can answer "no unit" rather than "invalid type". Integers are kept too.
struct Scalar {
    text: String,
    integer: Option<i128>,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
        Ok(Scalar {
            text: value.to_string(),
            integer: None,
        })
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
        Ok(Scalar {
            text: value.to_string(),
            integer: Some(i128::from(value)),
        })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
        Ok(Scalar {
            text: value.to_string(),
            integer: Some(i128::from(value)),
        })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar, E> {
        // Debug keeps the fraction: a version written `1.0` reads back as "1.0", not "1".
        self.visit_str(&format!("{value:?}"))
    }
}
