//! Helpers both backends share: ids, times, paging, and how values are laid out.

use std::str::FromStr;

use cairn_core::entities::{Metric, Page, PolicyDecision, PromotionTarget};
use cairn_core::{Error, Result};

use crate::PageRequest;

pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Where a run's artifacts live: `<experiment artifact location>/<run_id>/artifacts`, as MLflow lays
/// them out (runs created here and imported runs alike).
pub(crate) fn run_artifact_uri(experiment_location: &str, run_id: &str) -> String {
    format!(
        "{}/{run_id}/artifacts",
        experiment_location.trim_end_matches('/')
    )
}

/// Where a logged model's artifacts live: `<experiment artifact location>/models/<model_id>/artifacts`.
pub(crate) fn logged_model_artifact_uri(experiment_location: &str, model_id: &str) -> String {
    format!(
        "{}/models/{model_id}/artifacts",
        experiment_location.trim_end_matches('/')
    )
}

/// A fresh 32-hex uuid4 without dashes.
pub(crate) fn new_uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Parses a stored enum column.
pub(crate) fn parse_column<T: FromStr<Err = Error>>(text: &str) -> Result<T> {
    T::from_str(text)
        .map_err(|error| Error::internal(format!("corrupt value in database: {error}")))
}

/// A JSON array of strings, bound as one parameter and read back with `json_each(?)`.
pub(crate) fn json_list<S: AsRef<str>>(items: &[S]) -> String {
    serde_json::Value::Array(
        items
            .iter()
            .map(|item| serde_json::Value::String(item.as_ref().to_owned()))
            .collect(),
    )
    .to_string()
}

/// The page after `items` (which holds up to `max_results + 1` rows).
pub(crate) fn finish_page<T>(mut items: Vec<T>, page: PageRequest) -> Page<T> {
    let max_results = usize::try_from(page.max_results).unwrap_or(usize::MAX);
    let next_page_token = if items.len() > max_results {
        items.truncate(max_results);
        Some(cairn_core::search::encode_page_token(
            page.offset.saturating_add(page.max_results),
        ))
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

/// A history page from the points read (one more than the page when there is a next page): the
/// token carries the offset and where this page ended.
pub(crate) fn finish_history_page(
    mut items: Vec<Metric>,
    page: crate::HistoryPage,
) -> Page<Metric> {
    let max_results = usize::try_from(page.max_results).unwrap_or(usize::MAX);
    let mut next_page_token = None;
    if items.len() > max_results {
        items.truncate(max_results);
        if let Some(last) = items.last() {
            let (value, is_nan) = store_value(last.value);
            next_page_token = Some(cairn_core::search::encode_history_token(
                page.offset.saturating_add(page.max_results),
                cairn_core::search::HistoryCursor {
                    step: last.step,
                    timestamp: last.timestamp,
                    value,
                    is_nan,
                },
            ));
        }
    }
    Page {
        items,
        next_page_token,
    }
}

/// The SQL `LIMIT` of a history page: one point more than the page, to know if another follows.
pub(crate) fn history_limit(page: crate::HistoryPage) -> i64 {
    i64::try_from(page.max_results.saturating_add(1)).unwrap_or(i64::MAX)
}

/// SQL `LIMIT ? OFFSET ?` values that fetch one row more than the page.
pub(crate) fn limit_offset(page: PageRequest) -> (i64, i64) {
    let limit = i64::try_from(page.max_results.saturating_add(1)).unwrap_or(i64::MAX);
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    (limit, offset)
}

/// Metric values as stored: NaN becomes (0, is_nan).
pub(crate) fn store_value(value: f64) -> (f64, bool) {
    if value.is_nan() {
        (0.0, true)
    } else {
        (value, false)
    }
}

pub(crate) fn load_value(value: f64, is_nan: bool) -> f64 {
    if is_nan {
        f64::NAN
    } else {
        value
    }
}

/// Picks at most `max_results` steps spread evenly, always keeping the first and the last.
pub(crate) fn sample_steps(steps: &[i64], max_results: usize) -> Vec<i64> {
    if steps.len() <= max_results {
        return steps.to_vec();
    }
    if max_results == 1 {
        return steps.last().copied().into_iter().collect();
    }
    let last = steps.len() - 1;
    let mut sampled: Vec<i64> = (0..max_results)
        .map(|index| steps[index * last / (max_results - 1)])
        .collect();
    sampled.dedup();
    sampled
}

/// The integer id of an experiment id string; `None` if it cannot name an experiment.
/// An empty id means the Default experiment, as in MLflow's SQL store.
pub(crate) fn parse_experiment_id(experiment_id: &str) -> Option<i64> {
    if experiment_id.is_empty() {
        return Some(0);
    }
    experiment_id.parse::<i64>().ok()
}

/// This store's experiment ids are integers; anything else is a malformed request (a 400, as MLflow).
pub(crate) fn invalid_experiment_id(experiment_id: &str) -> Error {
    Error::invalid(format!(
        "Invalid value '{experiment_id}' for parameter 'experiment_id': experiment ids are integers"
    ))
}

pub(crate) fn experiment_not_found(experiment_id: &str) -> Error {
    Error::not_found(format!("No Experiment with id={experiment_id} exists"))
}

pub(crate) type DecisionRow = (
    i64,
    i64,
    String,
    i64,
    String,
    String,
    String,
    bool,
    String,
    Option<i64>,
    String,
);

/// A policy decision as both backends read it.
pub(crate) fn decision_from_row(row: DecisionRow) -> Result<PolicyDecision> {
    let (
        id,
        time_ms,
        model_name,
        version,
        target_kind,
        target,
        action,
        allowed,
        user,
        policy_revision,
        outcomes_json,
    ) = row;
    let target_kind = PromotionTarget::parse(&target_kind)
        .ok_or_else(|| Error::internal(format!("unknown promotion target kind '{target_kind}'")))?;
    Ok(PolicyDecision {
        id,
        time_ms,
        model_name,
        version,
        target_kind,
        target,
        action,
        allowed,
        user,
        policy_revision,
        outcomes_json,
    })
}

/// A metric point as both backends read it: (run id, key, step, timestamp, value, is_nan,
/// model id, dataset name, dataset digest).
pub(crate) type MetricRow = (
    String,
    String,
    i64,
    i64,
    f64,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Points of several runs, grouped by run in the order of `run_ids` (each run's points keep the
/// order they came in: the sort is stable).
pub(crate) fn metrics_by_run(rows: Vec<MetricRow>, run_ids: &[String]) -> Vec<Metric> {
    let position: std::collections::HashMap<&str, usize> = run_ids
        .iter()
        .enumerate()
        .map(|(index, run_id)| (run_id.as_str(), index))
        .collect();
    let mut metrics: Vec<(usize, Metric)> = rows
        .into_iter()
        .map(
            |(
                run_id,
                key,
                step,
                timestamp,
                value,
                is_nan,
                model_id,
                dataset_name,
                dataset_digest,
            )| {
                (
                    position.get(run_id.as_str()).copied().unwrap_or(usize::MAX),
                    Metric {
                        key,
                        value: load_value(value, is_nan),
                        timestamp,
                        step,
                        model_id,
                        dataset_name,
                        dataset_digest,
                        run_id: Some(run_id),
                    },
                )
            },
        )
        .collect();
    metrics.sort_by_key(|(position, _)| *position);
    metrics.into_iter().map(|(_, metric)| metric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_ends() {
        let steps: Vec<i64> = (0..100).collect();
        let sampled = sample_steps(&steps, 5);
        assert_eq!(sampled.first(), Some(&0));
        assert_eq!(sampled.last(), Some(&99));
        assert_eq!(sampled.len(), 5);
        assert_eq!(sample_steps(&steps[..3], 5), vec![0, 1, 2]);
        assert_eq!(sample_steps(&steps, 1), vec![99]);
    }
}
