//! MLflow's input rules (mlflow/utils/validation.py), as pure functions.
//!
//! Each check returns the MLflow wording so that clients matching on messages keep working.

use crate::entities::{KeyValue, Metric};
use crate::error::{Error, Result};

pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_BATCH_LOG_REQUEST_SIZE: usize = 1_000_000;
pub const MAX_DATASETS_PER_BATCH: usize = 1000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20_000;
pub const MAX_MODEL_REGISTRY_TAG_KEY_LENGTH: usize = 250;
pub const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
pub const MAX_REGISTERED_MODEL_ALIAS_LENGTH: usize = 255;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
pub const SEARCH_MAX_RESULTS_DEFAULT: u64 = 1000;
pub const SEARCH_MAX_RESULTS_THRESHOLD: u64 = 50_000;
pub const SEARCH_REGISTERED_MODELS_DEFAULT: u64 = 100;
pub const SEARCH_REGISTERED_MODELS_MAX: u64 = 1000;
pub const SEARCH_MODEL_VERSIONS_DEFAULT: u64 = 10_000;
pub const SEARCH_MODEL_VERSIONS_MAX: u64 = 200_000;
pub const SEARCH_LOGGED_MODELS_DEFAULT: u64 = 100;
pub const HISTORY_BULK_MAX_RUN_IDS: usize = 100;
pub const HISTORY_BULK_MAX_RESULTS: u64 = 2500;

/// Python's Unicode `\w`: letters, digits and `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `^[a-zA-Z0-9][\w\-]{0,max_rest}$`, MLflow's id pattern.
fn is_id(id: &str, max_rest: usize) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && chars.clone().count() <= max_rest
        && chars.all(|c| is_word_char(c) || c == '-')
}

fn invalid_value(value: &str, param: &str, why: &str) -> Error {
    Error::invalid(format!(
        "Invalid value \"{value}\" for parameter '{param}' supplied: {why}"
    ))
}

/// Param, metric and run-tag keys: MLflow's character class, at most 250 characters, and a path that
/// `normpath` would not change (no `a//b`, `a/./b`, trailing `/`, leading `/` or `..`).
pub fn validate_key(key: &str, param: &str) -> Result<()> {
    if !key.chars().all(is_key_char) {
        return Err(invalid_value(
            key,
            param,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).",
        ));
    }
    if !is_normalized_path(key) {
        return Err(invalid_value(
            key,
            param,
            "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to a different path.",
        ));
    }
    validate_length(key, param, MAX_ENTITY_KEY_LENGTH)
}

/// MLflow's `^[/\w.\- :]*$`, where `\w` is Unicode-aware as in Python: letters, digits, `_`.
/// Checked by hand: this runs for every metric of every batch.
fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':')
}

fn is_normalized_path(key: &str) -> bool {
    if key.is_empty() {
        return true;
    }
    if key == "." || key.starts_with("..") || key.starts_with('/') || key.ends_with('/') {
        return false;
    }
    key.split('/')
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

pub fn validate_length(value: &str, param: &str, limit: usize) -> Result<()> {
    if value.chars().count() > limit {
        let shown: String = value.chars().take(50).collect();
        return Err(Error::invalid(format!(
            "'{shown}...' exceeds the maximum length of {limit} characters for parameter '{param}'"
        )));
    }
    Ok(())
}

/// Over-long param and tag values are cut to MLflow's limit, as the stock server does by default.
pub fn truncate(value: &str, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((byte_index, _)) => value[..byte_index].to_owned(),
        None => value.to_owned(),
    }
}

pub fn validate_run_id(run_id: &str) -> Result<()> {
    if is_id(run_id, 255) {
        Ok(())
    } else {
        Err(invalid_value(run_id, "run_id", "Invalid run ID"))
    }
}

pub fn validate_experiment_id(experiment_id: &str) -> Result<()> {
    if is_id(experiment_id, 63) {
        Ok(())
    } else {
        Err(invalid_value(
            experiment_id,
            "experiment_id",
            "Invalid experiment ID",
        ))
    }
}

pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(
            "Invalid experiment name: ''. Experiment name must be a non-empty string",
        ));
    }
    validate_length(name, "name", MAX_EXPERIMENT_NAME_LENGTH)
}

pub fn validate_experiment_tag(tag: &KeyValue) -> Result<()> {
    validate_key(&tag.key, "key")?;
    validate_length(&tag.key, "key", MAX_EXPERIMENT_TAG_KEY_LENGTH)?;
    validate_length(&tag.value, "value", MAX_EXPERIMENT_TAG_VAL_LENGTH)
}

pub fn validate_registry_tag(tag: &KeyValue) -> Result<()> {
    validate_key(&tag.key, "key")?;
    validate_length(&tag.key, "key", MAX_MODEL_REGISTRY_TAG_KEY_LENGTH)?;
    validate_length(&tag.value, "value", MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)
}

/// Registered model names: non-empty, no `/` or `:`, path-safe like keys.
pub fn validate_model_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::missing("name"));
    }
    if name.contains('/') || name.contains(':') {
        return Err(invalid_value(
            name,
            "name",
            "Names cannot contain '/' or ':'.",
        ));
    }
    if name == "." || name == ".." || name.contains('\0') {
        return Err(invalid_value(
            name,
            "name",
            "Names must be safe to use as a path.",
        ));
    }
    Ok(())
}

pub fn parse_version(version: &str) -> Result<i64> {
    version.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Parameter 'version' must be an integer, got '{version}'."
        ))
    })
}

pub fn validate_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::missing("alias"));
    }
    validate_length(alias, "alias", MAX_REGISTERED_MODEL_ALIAS_LENGTH)?;
    if !alias.chars().all(|c| is_word_char(c) || c == '-') {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    if alias.eq_ignore_ascii_case("latest") || is_reserved_version_alias(alias) {
        return Err(Error::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// `^[vV]\d+$`: `v1`, `V12` name versions and cannot be aliases.
fn is_reserved_version_alias(alias: &str) -> bool {
    match alias.strip_prefix(['v', 'V']) {
        Some(digits) => !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

pub fn validate_metric(metric: &Metric) -> Result<()> {
    validate_key(&metric.key, "key")?;
    validate_metric_timestamp(metric.timestamp)
}

pub fn validate_metric_timestamp(timestamp: i64) -> Result<()> {
    if timestamp < 0 {
        return Err(Error::invalid(format!(
            "Invalid value {timestamp} for parameter 'timestamp' supplied: must be a non-negative integer"
        )));
    }
    Ok(())
}

/// Validates a param and returns it with its value truncated to MLflow's limit.
pub fn normalize_param(param: KeyValue) -> Result<KeyValue> {
    validate_key(&param.key, "key")?;
    let value = truncate(&param.value, MAX_PARAM_VAL_LENGTH);
    Ok(KeyValue {
        key: param.key,
        value,
    })
}

/// Validates a run tag and returns it with its value truncated to MLflow's limit.
pub fn normalize_run_tag(tag: KeyValue) -> Result<KeyValue> {
    validate_key(&tag.key, "key")?;
    let value = truncate(&tag.value, MAX_TAG_VAL_LENGTH);
    Ok(KeyValue {
        key: tag.key,
        value,
    })
}

/// The size limits of one log-batch request, checked before anything is written.
pub fn validate_batch_limits(n_metrics: usize, n_params: usize, n_tags: usize) -> Result<()> {
    if n_metrics > MAX_METRICS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. Got {n_metrics} metrics. Please split up metrics across multiple requests and try again."
        )));
    }
    if n_params > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. Got {n_params} params. Please split up params across multiple requests and try again."
        )));
    }
    if n_tags > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. Got {n_tags} tags. Please split up tags across multiple requests and try again."
        )));
    }
    let total = n_metrics + n_params + n_tags;
    if total > MAX_ENTITIES_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params, and tags in total. Got {total} entities. Please split up entities across multiple requests and try again."
        )));
    }
    Ok(())
}

/// Rejects duplicate param keys within one batch, as MLflow does.
pub fn validate_no_duplicate_params(params: &[KeyValue]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates: Vec<&str> = params
        .iter()
        .filter(|param| !seen.insert(param.key.as_str()))
        .map(|param| param.key.as_str())
        .collect();
    if duplicates.is_empty() {
        return Ok(());
    }
    duplicates.sort_unstable();
    duplicates.dedup();
    Err(Error::invalid(format!("Duplicate parameter keys have been submitted: {duplicates:?}. Please ensure the request contains only one param value per param key.")))
}

/// `max_results` for a search: the default when absent, refused beyond the maximum.
pub fn max_results(requested: Option<i64>, default: u64, maximum: u64) -> Result<u64> {
    match requested {
        None => Ok(default),
        Some(value) if value >= 1 && value as u64 <= maximum => Ok(value as u64),
        Some(value) => Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be at most {maximum}, and at least 1."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_key(key: &str, ok: bool) {
        assert_eq!(validate_key(key, "key").is_ok(), ok, "key {key:?}");
    }

    #[test]
    fn keys() {
        for good in [
            "a",
            "a.b",
            "a/b",
            "a-b_c d:e",
            "system/cpu_utilization_percentage",
            "",
        ] {
            check_key(good, true);
        }
        for bad in [
            "bad*key", "a//b", "a/./b", "a/", "/x", "..", "../a", ".", "a\\b", "a\nb",
        ] {
            check_key(bad, false);
        }
        check_key(&"k".repeat(250), true);
        check_key(&"k".repeat(251), false);
    }

    #[test]
    fn bad_key_message_is_mlflows() {
        let error = validate_key("bad*key", "key").unwrap_err();
        assert_eq!(
            error.message,
            "Invalid value \"bad*key\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("ab", 5), "ab");
        assert_eq!(
            truncate(&"x".repeat(6001), MAX_PARAM_VAL_LENGTH).len(),
            6000
        );
    }

    #[test]
    fn aliases() {
        for good in ["champion", "a-b_c", "V1a", "prod2"] {
            assert!(validate_alias(good).is_ok(), "{good}");
        }
        for bad in ["latest", "LATEST", "v1", "V12", "has space", "a.b", ""] {
            assert!(validate_alias(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_alias("v1").unwrap_err().message,
            "Version alias name 'v1' is reserved."
        );
    }

    #[test]
    fn batch_limits() {
        assert!(validate_batch_limits(1000, 0, 0).is_ok());
        assert!(validate_batch_limits(1001, 0, 0)
            .unwrap_err()
            .message
            .contains("at most 1000 metrics. Got 1001"));
        assert!(validate_batch_limits(0, 101, 0).is_err());
        assert!(validate_batch_limits(0, 0, 101).is_err());
        assert!(validate_batch_limits(900, 100, 1).is_err());
    }

    #[test]
    fn ids() {
        assert!(validate_run_id("94b4537f34c441139c346b2299f835ac").is_ok());
        assert!(validate_run_id(&"a".repeat(256)).is_ok());
        assert!(validate_run_id(&"a".repeat(257)).is_err());
        assert!(validate_run_id("").is_err());
        assert!(validate_run_id("_abc").is_err());
        assert!(validate_experiment_id(&"1".repeat(65)).is_err());
        assert!(validate_run_id("../etc").is_err());
        assert!(validate_experiment_id("0").is_ok());
        assert!(validate_experiment_id("-1").is_err());
    }

    #[test]
    fn max_results_bounds() {
        assert_eq!(max_results(None, 1000, 50_000), Ok(1000));
        assert_eq!(max_results(Some(50_000), 1000, 50_000), Ok(50_000));
        assert!(max_results(Some(50_001), 1000, 50_000).is_err());
        assert!(max_results(Some(0), 1000, 50_000).is_err());
    }

    #[test]
    fn duplicate_params() {
        let params = vec![
            KeyValue::new("a", "1"),
            KeyValue::new("a", "2"),
            KeyValue::new("b", "1"),
        ];
        assert!(validate_no_duplicate_params(&params)
            .unwrap_err()
            .message
            .contains("[\"a\"]"));
    }
}
