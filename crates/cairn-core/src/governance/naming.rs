//! Naming conventions for experiments, registered models, runs and keys.
//!
//! Each [`NamedThing`] may have a [`NameRule`]: a template such as `{team}-{model}` (literal parts in
//! order, each placeholder one or more characters of a class, `a-z0-9_` unless `chars` says
//! otherwise) or a regex. Both match the *whole* value: a regex is anchored whether or not it starts
//! with `^` or ends with `$`. Rules compile when the policy loads, so a bad template or regex is a load
//! error. Artifact paths are checked as one whole relative path string (`model/MLmodel`), not segment
//! by segment; a rule for them has to allow the `/`.
//!
//! Templates have no escape for a literal `{` or `}`; use a regex for such names.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::PolicyError;

/// The character class of a template placeholder when `chars` is not given.
pub const DEFAULT_PLACEHOLDER_CHARS: &str = "a-z0-9_";

/// Compiled rules are kept well below `regex`'s default limit: names are short.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The things a naming rule can govern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedThing {
    ExperimentName,
    RegisteredModelName,
    RunName,
    TagKey,
    MetricKey,
    ParamKey,
    ArtifactPath,
}

impl NamedThing {
    pub const ALL: [NamedThing; 7] = [
        NamedThing::ExperimentName,
        NamedThing::RegisteredModelName,
        NamedThing::RunName,
        NamedThing::TagKey,
        NamedThing::MetricKey,
        NamedThing::ParamKey,
        NamedThing::ArtifactPath,
    ];

    /// The field under `naming:` in the policy file.
    pub fn field_name(self) -> &'static str {
        match self {
            NamedThing::ExperimentName => "experiment_name",
            NamedThing::RegisteredModelName => "registered_model_name",
            NamedThing::RunName => "run_name",
            NamedThing::TagKey => "tag_key",
            NamedThing::MetricKey => "metric_key",
            NamedThing::ParamKey => "param_key",
            NamedThing::ArtifactPath => "artifact_path",
        }
    }
}

impl fmt::Display for NamedThing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamedThing::ExperimentName => "experiment name",
            NamedThing::RegisteredModelName => "registered model name",
            NamedThing::RunName => "run name",
            NamedThing::TagKey => "tag key",
            NamedThing::MetricKey => "metric key",
            NamedThing::ParamKey => "param key",
            NamedThing::ArtifactPath => "artifact path",
        })
    }
}

/// The naming section of a policy file; every rule is optional and off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NamingPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_name: Option<NameRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_model_name: Option<NameRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<NameRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_key: Option<NameRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_key: Option<NameRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_key: Option<NameRule>,
    /// Checked against the whole relative artifact path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_path: Option<NameRule>,
}

const NAMING_FIELDS: &[&str] = &[
    "experiment_name",
    "registered_model_name",
    "run_name",
    "tag_key",
    "metric_key",
    "param_key",
    "artifact_path",
];

/// Read field by field, so that a rule that does not compile is reported with its field name (and,
/// in YAML, its position) in JSON and YAML alike.
impl<'de> Deserialize<'de> for NamingPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(NamingVisitor)
    }
}

struct NamingVisitor;

impl<'de> Visitor<'de> for NamingVisitor {
    type Value = NamingPolicy;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of naming rules")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamingPolicy, A::Error> {
        let mut policy = NamingPolicy::default();
        let mut seen = Vec::new();
        while let Some(field) = map.next_key::<String>()? {
            let Some(thing) = NamedThing::ALL
                .into_iter()
                .find(|thing| thing.field_name() == field)
            else {
                return Err(de::Error::unknown_field(&field, NAMING_FIELDS));
            };
            if seen.contains(&thing) {
                return Err(de::Error::duplicate_field(thing.field_name()));
            }
            seen.push(thing);
            let raw: Option<RawNameRule> = map.next_value()?;
            let rule = raw
                .map(NameRule::try_from)
                .transpose()
                .map_err(|error| match error {
                    PolicyError::InvalidNameRule { field, reason } => {
                        PolicyError::InvalidNameRule {
                            field: format!("{}.{field}", thing.field_name()),
                            reason,
                        }
                    }
                    other => other,
                })
                .map_err(de::Error::custom)?;
            *policy.slot(thing) = rule;
        }
        Ok(policy)
    }
}

impl NamingPolicy {
    fn slot(&mut self, thing: NamedThing) -> &mut Option<NameRule> {
        match thing {
            NamedThing::ExperimentName => &mut self.experiment_name,
            NamedThing::RegisteredModelName => &mut self.registered_model_name,
            NamedThing::RunName => &mut self.run_name,
            NamedThing::TagKey => &mut self.tag_key,
            NamedThing::MetricKey => &mut self.metric_key,
            NamedThing::ParamKey => &mut self.param_key,
            NamedThing::ArtifactPath => &mut self.artifact_path,
        }
    }

    /// The rule for `thing`, if one is configured.
    pub fn rule(&self, thing: NamedThing) -> Option<&NameRule> {
        match thing {
            NamedThing::ExperimentName => self.experiment_name.as_ref(),
            NamedThing::RegisteredModelName => self.registered_model_name.as_ref(),
            NamedThing::RunName => self.run_name.as_ref(),
            NamedThing::TagKey => self.tag_key.as_ref(),
            NamedThing::MetricKey => self.metric_key.as_ref(),
            NamedThing::ParamKey => self.param_key.as_ref(),
            NamedThing::ArtifactPath => self.artifact_path.as_ref(),
        }
    }

    /// Whether `value` follows the rule for `thing` (always, when there is none). Names MLflow itself
    /// writes are exempt (see [`is_system_name`]), so that clients keep working under any rule.
    pub fn check(&self, thing: NamedThing, value: &str) -> Result<(), NamingViolation> {
        let Some(rule) = self.rule(thing) else {
            return Ok(());
        };
        if rule.matches(value) || is_system_name(thing, value) {
            return Ok(());
        }
        Err(NamingViolation {
            thing,
            value: value.to_string(),
            rule: rule.source().to_string(),
            example: rule.example().to_string(),
        })
    }
}

/// Tag keys the MLflow client and server set on their own (`mlflow.user`, `mlflow.runName`, ...).
const SYSTEM_TAG_PREFIX: &str = "mlflow.";
/// Metric keys MLflow's system-metrics logger writes (`system/cpu_utilization_percentage`, ...).
const SYSTEM_METRIC_PREFIX: &str = "system/";

/// Whether `value` is a name MLflow writes itself: a `mlflow.` tag key or a `system/` metric key.
/// Naming rules never apply to those.
pub fn is_system_name(thing: NamedThing, value: &str) -> bool {
    match thing {
        NamedThing::TagKey => value.starts_with(SYSTEM_TAG_PREFIX),
        NamedThing::MetricKey => value.starts_with(SYSTEM_METRIC_PREFIX),
        _ => false,
    }
}

/// A name that does not follow its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct NamingViolation {
    pub thing: NamedThing,
    pub value: String,
    /// The template or regex as written in the policy.
    pub rule: String,
    /// A name that follows the rule, or (a regex without a configured example) `a value matching ...`.
    pub example: String,
}

impl fmt::Display for NamingViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} '{}' does not follow the naming rule '{}': ",
            self.thing, self.value, self.rule
        )?;
        if self.example == regex_description(&self.rule) {
            f.write_str("expected ")?;
            f.write_str(&self.example)
        } else {
            write!(f, "expected something like '{}'", self.example)
        }
    }
}

impl From<NamingViolation> for crate::Error {
    fn from(violation: NamingViolation) -> Self {
        crate::Error::invalid(violation.to_string())
    }
}

fn regex_description(pattern: &str) -> String {
    format!("a value matching {pattern}")
}

/// How a [`NameRule`] is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Template {
        template: String,
        chars: Option<String>,
    },
    Regex(String),
}

/// One naming rule, compiled. Serializes back to the form it was written in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawNameRule", into = "RawNameRule")]
pub struct NameRule {
    pattern: Pattern,
    configured_example: Option<String>,
    /// The configured example, or one generated from the template, or a description of the regex.
    example: String,
    /// Anchored: matches whole values only.
    compiled: Regex,
}

impl PartialEq for NameRule {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.configured_example == other.configured_example
    }
}

/// A naming rule as written: `template` (with optional `chars`) or `regex`, and an optional `example`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a naming rule: a map with a template (and chars) or a regex, and an example"
)]
struct RawNameRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chars: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    example: Option<String>,
}

impl TryFrom<RawNameRule> for NameRule {
    type Error = PolicyError;

    fn try_from(raw: RawNameRule) -> Result<Self, PolicyError> {
        match (raw.template, raw.regex) {
            (Some(template), None) => {
                NameRule::template(&template, raw.chars.as_deref(), raw.example.as_deref())
            }
            (None, Some(pattern)) => {
                if raw.chars.is_some() {
                    return Err(name_rule_error(
                        "chars",
                        "chars applies to a template, not to a regex",
                    ));
                }
                NameRule::regex(&pattern, raw.example.as_deref())
            }
            (Some(_), Some(_)) => Err(name_rule_error(
                "template",
                "give either a template or a regex, not both",
            )),
            (None, None) => Err(name_rule_error(
                "template",
                "give a template (like '{team}-{model}') or a regex",
            )),
        }
    }
}

impl From<NameRule> for RawNameRule {
    fn from(rule: NameRule) -> Self {
        let (template, chars, regex) = match rule.pattern {
            Pattern::Template { template, chars } => (Some(template), chars, None),
            Pattern::Regex(pattern) => (None, None, Some(pattern)),
        };
        RawNameRule {
            template,
            chars,
            regex,
            example: rule.configured_example,
        }
    }
}

fn name_rule_error(field: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::InvalidNameRule {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Literal(String),
    Placeholder(String),
}

/// Splits `{team}-{model}` into literals and placeholders; positions in errors count characters from 1.
fn parse_template(template: &str) -> Result<Vec<TemplatePart>, String> {
    if template.is_empty() {
        return Err("the template is empty".to_string());
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut placeholder: Option<(usize, String)> = None;
    for (index, character) in template.chars().enumerate() {
        let position = index + 1;
        match (character, placeholder.as_mut()) {
            ('{', Some(_)) => {
                return Err(format!(
                    "'{{' at character {position} inside a placeholder in template '{template}'"
                ))
            }
            ('{', None) => {
                if !literal.is_empty() {
                    parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                }
                placeholder = Some((position, String::new()));
            }
            ('}', None) => {
                return Err(format!(
                    "unmatched '}}' at character {position} in template '{template}'"
                ))
            }
            ('}', Some((start, name))) => {
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(format!(
                        "empty placeholder at character {start} in template '{template}'"
                    ));
                }
                parts.push(TemplatePart::Placeholder(name));
                placeholder = None;
            }
            (_, Some((_, name))) => name.push(character),
            (_, None) => literal.push(character),
        }
    }
    if let Some((start, _)) = placeholder {
        return Err(format!(
            "unclosed '{{' at character {start} in template '{template}'"
        ));
    }
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    Ok(parts)
}

/// Characters tried, in order, to fill a placeholder whose own name has none of its class.
const FILLER_CANDIDATES: &str = "xabcdefghijklmnopqrstuvwyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.";

impl NameRule {
    /// A template rule: `template` like `{team}-{model}`, `chars` the character class of each
    /// placeholder (regex class syntax without the brackets, default `a-z0-9_`).
    pub fn template(
        template: &str,
        chars: Option<&str>,
        example: Option<&str>,
    ) -> Result<NameRule, PolicyError> {
        let parts =
            parse_template(template).map_err(|reason| name_rule_error("template", reason))?;
        let class_text = chars.unwrap_or(DEFAULT_PLACEHOLDER_CHARS);
        if class_text.is_empty() {
            return Err(name_rule_error("chars", "the character class is empty"));
        }
        if class_text.contains(['[', ']']) {
            return Err(name_rule_error(
                "chars",
                format!("'{class_text}' holds '[' or ']': write the class without brackets, like a-z0-9_"),
            ));
        }
        let class = format!("[{class_text}]");
        let single_character = build_regex(&format!("^{class}$")).map_err(|error| {
            name_rule_error(
                "chars",
                format!("'{class_text}' is not a character class: {error}"),
            )
        })?;
        let mut anchored = String::from("^");
        for part in &parts {
            match part {
                TemplatePart::Literal(literal) => anchored.push_str(&regex::escape(literal)),
                TemplatePart::Placeholder(_) => {
                    anchored.push_str(&class);
                    anchored.push('+');
                }
            }
        }
        anchored.push('$');
        let compiled = build_regex(&anchored)
            .map_err(|error| name_rule_error("template", format!("does not compile: {error}")))?;
        let generated = template_example(&parts, &single_character, &compiled);
        NameRule::finish(
            Pattern::Template {
                template: template.to_string(),
                chars: chars.map(str::to_string),
            },
            compiled,
            example,
            generated,
        )
    }

    /// A regex rule; it must match the whole value (it is anchored if it is not already).
    pub fn regex(pattern: &str, example: Option<&str>) -> Result<NameRule, PolicyError> {
        // Compile the pattern alone first: wrapped, an unbalanced `a)|(b` would compile and escape
        // the anchors.
        build_regex(pattern).map_err(|error| {
            name_rule_error("regex", format!("'{pattern}' does not compile: {error}"))
        })?;
        let compiled = build_regex(&format!("^(?:{pattern})$")).map_err(|error| {
            name_rule_error("regex", format!("'{pattern}' does not compile: {error}"))
        })?;
        NameRule::finish(
            Pattern::Regex(pattern.to_string()),
            compiled,
            example,
            regex_description(pattern),
        )
    }

    fn finish(
        pattern: Pattern,
        compiled: Regex,
        configured_example: Option<&str>,
        generated_example: String,
    ) -> Result<NameRule, PolicyError> {
        if let Some(example) = configured_example {
            if !compiled.is_match(example) {
                return Err(name_rule_error(
                    "example",
                    format!("the example '{example}' does not follow the rule itself"),
                ));
            }
        }
        Ok(NameRule {
            pattern,
            configured_example: configured_example.map(str::to_string),
            example: configured_example.map_or(generated_example, str::to_string),
            compiled,
        })
    }

    /// Whether the whole `value` follows the rule.
    pub fn matches(&self, value: &str) -> bool {
        self.compiled.is_match(value)
    }

    /// The template or regex as written.
    pub fn source(&self) -> &str {
        match &self.pattern {
            Pattern::Template { template, .. } => template,
            Pattern::Regex(pattern) => pattern,
        }
    }

    pub fn is_template(&self) -> bool {
        matches!(self.pattern, Pattern::Template { .. })
    }

    /// The example shown in violations: the configured one, else one generated from the template
    /// (each placeholder replaced by its own name), else `a value matching <regex>`.
    pub fn example(&self) -> &str {
        &self.example
    }

    /// The anchored regex actually used for matching.
    pub fn compiled_regex(&self) -> &str {
        self.compiled.as_str()
    }
}

/// Each placeholder replaced by its own name, lowercased and cut to its character class; a name with
/// no such character becomes the first candidate character the class accepts.
fn template_example(parts: &[TemplatePart], class: &Regex, compiled: &Regex) -> String {
    let in_class = |character: char| class.is_match(character.encode_utf8(&mut [0; 4]));
    let filler = FILLER_CANDIDATES
        .chars()
        .find(|character| in_class(*character))
        .unwrap_or('x');
    let fill = |name_based: bool| -> String {
        parts
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(literal) => literal.clone(),
                TemplatePart::Placeholder(name) => {
                    let kept: String = name
                        .to_lowercase()
                        .chars()
                        .filter(|character| in_class(*character))
                        .collect();
                    if name_based && !kept.is_empty() {
                        kept
                    } else {
                        filler.to_string()
                    }
                }
            })
            .collect()
    };
    let from_names = fill(true);
    if compiled.is_match(&from_names) {
        from_names
    } else {
        fill(false)
    }
}
