//! Metric charts: curves of one or many runs and keys, drawn in the browser by `assets/chart.js`
//! from series the server downsamples (MinMaxLTTB: the store's min/max candidates per step bucket,
//! then LTTB), so a 1,000,000-point metric arrives as ~1,000 points with its shape intact. A zoom is
//! a step range in the URL, read again at full detail for that range.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::downsample::lttb;
use cairn_core::entities::Metric;
use cairn_core::Error;
use cairn_store::SeriesRequest;
use serde_json::{json, Value};

use crate::{render, PageResult, Query, UiState};

/// Points per drawn series, and the most a series request may ask for.
const DEFAULT_POINTS: u32 = 1000;
const MAX_POINTS: u32 = 10_000;
/// The most runs × keys one chart draws.
const MAX_SERIES: usize = 40;

#[derive(Template)]
#[template(path = "charts.html")]
struct ChartsPage {
    data: String,
    keys: Vec<(String, bool)>,
    runs: Vec<(String, String)>,
    x: String,
    log: bool,
    smooth: String,
    range_min: String,
    range_max: String,
}

/// `(min_step, max_step)` from `range=LO,HI` (either side may be empty).
fn parse_range(text: Option<&str>) -> Result<Option<(i64, i64)>, Error> {
    let Some(text) = text else {
        return Ok(None);
    };
    let (low, high) = text.split_once(',').unwrap_or((text, ""));
    let parse = |part: &str, default: i64| -> Result<i64, Error> {
        let part = part.trim();
        if part.is_empty() {
            return Ok(default);
        }
        part.parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .map(|value| value as i64)
            .ok_or_else(|| Error::invalid(format!("Invalid range '{text}': expected LO,HI steps")))
    };
    let (low, high) = (parse(low, i64::MIN)?, parse(high, i64::MAX)?);
    if low > high {
        return Err(Error::invalid(format!(
            "Invalid range '{text}': LO is greater than HI"
        )));
    }
    Ok(Some((low, high)))
}

/// Downsamples the store's candidates to `points` by LTTB over (step, value).
fn downsample(series: Vec<Metric>, points: u32) -> (Vec<Metric>, bool) {
    let xy: Vec<(f64, f64)> = series.iter().map(|m| (m.step as f64, m.value)).collect();
    let kept = lttb(&xy, points as usize);
    let downsampled = kept.len() < series.len();
    let mut keep = kept.into_iter().peekable();
    let mut out = Vec::new();
    for (index, metric) in series.into_iter().enumerate() {
        if keep.peek() == Some(&index) {
            out.push(metric);
            keep.next();
        }
    }
    (out, downsampled)
}

fn json_value(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        json!(format!("{value}").replace("inf", "Infinity"))
    }
}

fn points_json(points: &[Metric]) -> Value {
    Value::Array(
        points
            .iter()
            .map(|m| json!([m.step, m.timestamp, json_value(m.value)]))
            .collect(),
    )
}

pub async fn page(State(state): State<UiState>, raw: RawQuery) -> PageResult {
    let query = Query::from(raw);
    let run_ids = query.all("run");
    if run_ids.is_empty() {
        return Err(Error::invalid("Pick at least one run: /charts?run=RUN_ID&key=METRIC").into());
    }
    let range = parse_range(query.get("range"))?;
    let mut runs = Vec::new();
    let mut all_keys: Vec<String> = Vec::new();
    for run_id in &run_ids {
        let run = state.store.get_run(run_id).await?;
        for metric in &run.data.metrics {
            if !all_keys.contains(&metric.key) {
                all_keys.push(metric.key.clone());
            }
        }
        let name = if run.info.run_name.is_empty() {
            run.info.run_id.clone()
        } else {
            run.info.run_name.clone()
        };
        runs.push((run.info.run_id, name));
    }
    all_keys.sort();
    let mut keys = query.all("key");
    if keys.is_empty() {
        keys = all_keys.iter().take(1).cloned().collect();
    }
    let mut requests = Vec::new();
    for (run_id, name) in &runs {
        for key in &keys {
            requests.push((run_id.clone(), name.clone(), key.clone()));
        }
    }
    requests.truncate(MAX_SERIES);
    let series = futures::future::try_join_all(requests.iter().map(|(run_id, _, key)| {
        state.store.metric_series(SeriesRequest {
            run_id: run_id.clone(),
            metric_key: key.clone(),
            steps: range,
            buckets: DEFAULT_POINTS,
        })
    }))
    .await?;
    let data: Vec<Value> = requests
        .iter()
        .zip(series)
        .map(|((run_id, name, key), points)| {
            let (points, downsampled) = downsample(points, DEFAULT_POINTS);
            json!({"run_id": run_id, "run_name": name, "key": key, "downsampled": downsampled, "points": points_json(&points)})
        })
        .collect();
    let data = Value::Array(data).to_string().replace("</", "<\\/");
    let x = match query.get("x") {
        Some(x @ ("time" | "relative")) => x.to_owned(),
        _ => "step".to_owned(),
    };
    let smooth = query
        .get("smooth")
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|value| (0.0..1.0).contains(value))
        .unwrap_or(0.0);
    let (range_min, range_max) = match range {
        Some((low, high)) => (
            if low == i64::MIN {
                String::new()
            } else {
                low.to_string()
            },
            if high == i64::MAX {
                String::new()
            } else {
                high.to_string()
            },
        ),
        None => (String::new(), String::new()),
    };
    Ok(render(&ChartsPage {
        data,
        keys: all_keys
            .into_iter()
            .map(|key| {
                let on = keys.contains(&key);
                (key, on)
            })
            .collect(),
        runs,
        x,
        log: query.get("log") == Some("1"),
        smooth: format!("{smooth}"),
        range_min,
        range_max,
    }))
}

/// `GET /api/2.0/cairn/metrics/series?run_id=&metric_key=[&max_points=][&min_step=][&max_step=]`:
/// one metric of one run, downsampled to at most `max_points` (default 1000) by MinMaxLTTB.
/// Answers `{"points": [[step, timestamp, value], ...], "downsampled": bool}`; errors in MLflow's
/// `{error_code, message}` form.
pub async fn series(State(state): State<UiState>, raw: RawQuery) -> Response {
    match series_json(&state, Query::from(raw)).await {
        Ok(value) => Json(value).into_response(),
        Err(error) => {
            let (status, code) = crate::status_and_code(error.kind);
            (
                status,
                Json(json!({"error_code": code, "message": error.message})),
            )
                .into_response()
        }
    }
}

async fn series_json(state: &UiState, query: Query) -> Result<Value, Error> {
    let run_id = query
        .get("run_id")
        .ok_or_else(|| Error::missing("run_id"))?
        .to_owned();
    let key = query
        .get("metric_key")
        .ok_or_else(|| Error::missing("metric_key"))?
        .to_owned();
    let points = match query.get("max_points") {
        None => DEFAULT_POINTS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|points| (3..=MAX_POINTS).contains(points))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid value '{text}' for parameter 'max_points': expected 3 to {MAX_POINTS}"
                ))
            })?,
    };
    let step = |name: &str| -> Result<Option<i64>, Error> {
        query
            .get(name)
            .map(|text| {
                text.parse::<i64>().map_err(|_| {
                    Error::invalid(format!(
                        "Invalid value '{text}' for parameter '{name}': expected an integer step"
                    ))
                })
            })
            .transpose()
    };
    let steps = match (step("min_step")?, step("max_step")?) {
        (None, None) => None,
        (low, high) => Some((low.unwrap_or(i64::MIN), high.unwrap_or(i64::MAX))),
    };
    // The run must exist: a typo is a 404, not an empty chart.
    state.store.get_run(&run_id).await?;
    let series = state
        .store
        .metric_series(SeriesRequest {
            run_id,
            metric_key: key,
            steps,
            buckets: points,
        })
        .await?;
    let (points, downsampled) = downsample(series, points);
    Ok(json!({"points": points_json(&points), "downsampled": downsampled}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None).unwrap(), None);
        assert_eq!(parse_range(Some("10,20")).unwrap(), Some((10, 20)));
        assert_eq!(parse_range(Some(",20")).unwrap(), Some((i64::MIN, 20)));
        assert!(parse_range(Some("20,10")).is_err());
        assert!(parse_range(Some("a,b")).is_err());
    }
}
