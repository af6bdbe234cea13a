//! Regression metrics as scikit-learn 1.9 computes them: `mean_absolute_error`,
//! `mean_squared_error`, `root_mean_squared_error`, `r2_score` (1.0 for a perfect fit of a
//! constant target, else 0.0 when the target is constant: `force_finite=True`),
//! `mean_absolute_percentage_error` (|y - y_hat| / max(|y|, eps), eps = f64 machine epsilon),
//! `max_error`; plus MLflow's `sum_on_target`, `mean_on_target`, and quantiles of the residuals
//! (y - y_hat) as `np.quantile(method="linear")` computes them.

use crate::error::{EvalError, Result};
use crate::result::{
    gaps, Cells, Curves, Evaluation, Group, HistogramBin, Metrics, Slice, SliceColumn, Task,
};
use crate::sum::Sum;

/// The residual quantiles reported (`residual_q05`...).
pub const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Bins of the residual histogram in the HTML report.
const HISTOGRAM_BINS: usize = 30;

#[derive(Debug, Clone, Default)]
struct Cell {
    rows: u64,
    absolute: Sum,
    squared: Sum,
    percentage: Sum,
    max_error: f64,
    target: Sum,
    /// Welford's running mean and sum of squared deviations of the target.
    target_mean: f64,
    target_m2: f64,
    residuals: Vec<f64>,
}

impl Cell {
    fn merge(&mut self, other: &Cell) {
        let (n_a, n_b) = (self.rows as f64, other.rows as f64);
        if other.rows > 0 {
            let n = n_a + n_b;
            let delta = other.target_mean - self.target_mean;
            self.target_mean += delta * n_b / n;
            self.target_m2 += other.target_m2 + delta * delta * n_a * n_b / n;
        }
        self.rows += other.rows;
        self.absolute.merge(&other.absolute);
        self.squared.merge(&other.squared);
        self.percentage.merge(&other.percentage);
        self.target.merge(&other.target);
        self.max_error = self.max_error.max(other.max_error);
    }
}

#[derive(Debug, Clone)]
pub struct RegressionAccumulator {
    cells: Cells,
    data: Vec<Cell>,
}

impl RegressionAccumulator {
    pub fn new(slice_columns: Vec<String>) -> RegressionAccumulator {
        RegressionAccumulator {
            cells: Cells::new(slice_columns),
            data: Vec::new(),
        }
    }

    /// The cell of a row's slice values (one per slice column); pass it to [`Self::push`].
    pub fn cell(&mut self, slice_values: &[&str]) -> u32 {
        self.cells.cell(slice_values)
    }

    /// One row: its cell, the target and the prediction (both finite).
    pub fn push(&mut self, cell: u32, target: f64, prediction: f64) -> Result<()> {
        if !target.is_finite() || !prediction.is_finite() {
            return Err(EvalError::Invalid(format!(
                "target {target} and prediction {prediction} must be finite numbers"
            )));
        }
        let cell = cell as usize;
        if self.data.len() <= cell {
            self.data.resize_with(cell + 1, Cell::default);
        }
        let data = &mut self.data[cell];
        let residual = target - prediction;
        let error = residual.abs();
        data.rows += 1;
        data.absolute.add(error);
        data.squared.add(residual * residual);
        data.percentage.add(error / target.abs().max(f64::EPSILON));
        data.max_error = data.max_error.max(error);
        data.target.add(target);
        let delta = target - data.target_mean;
        data.target_mean += delta / data.rows as f64;
        data.target_m2 += delta * (target - data.target_mean);
        data.residuals.push(residual + 0.0);
        Ok(())
    }

    pub fn finish(mut self) -> Result<Evaluation> {
        let all: Vec<usize> = (0..self.data.len()).collect();
        let mut warnings = Vec::new();
        let overall = group(&mut self.data, &all, true, "overall", &mut warnings);
        let mut slice_columns = Vec::new();
        for (column, values) in self.cells.slices() {
            let slices: Vec<Slice> = values
                .into_iter()
                .map(|(value, cells)| {
                    let label = format!("slice {column}={value}");
                    Slice {
                        group: group(&mut self.data, &cells, false, &label, &mut warnings),
                        value,
                    }
                })
                .collect();
            slice_columns.push(SliceColumn {
                gaps: gaps(&slices),
                column,
                slices,
            });
        }
        Ok(Evaluation {
            version: 1,
            task: Task::Regression,
            classes: Vec::new(),
            pos_label: None,
            calibration_bins: None,
            quantiles: QUANTILES.to_vec(),
            overall,
            slices: slice_columns,
            warnings,
        })
    }
}

/// NumPy's `_lerp`: `a + (b - a) t`, or `b - (b - a)(1 - t)` for `t >= 0.5`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let difference = b - a;
    if t >= 0.5 {
        b - difference * (1.0 - t)
    } else {
        a + difference * t
    }
}

/// `np.quantile(values, q)` (linear), reordering `values`.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let virtual_index = (n - 1) as f64 * q;
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let below = below as usize;
    let (_, low, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    let low = *low;
    let high = above.iter().copied().min_by(f64::total_cmp).unwrap_or(low);
    Some(lerp(low, high, gamma))
}

fn group(
    data: &mut [Cell],
    cells: &[usize],
    with_curves: bool,
    label: &str,
    warnings: &mut Vec<String>,
) -> Group {
    let mut total = Cell::default();
    for cell in cells.iter().filter_map(|c| data.get(*c)) {
        total.merge(cell);
    }
    let n = total.rows as f64;
    let mean = |sum: &Sum| (total.rows > 0).then(|| sum.value() / n);
    let mut metrics = Metrics::new();
    metrics.insert("example_count".into(), Some(n));
    metrics.insert("mean_absolute_error".into(), mean(&total.absolute));
    let mse = mean(&total.squared);
    metrics.insert("mean_squared_error".into(), mse);
    metrics.insert("root_mean_squared_error".into(), mse.map(f64::sqrt));
    metrics.insert(
        "mean_absolute_percentage_error".into(),
        mean(&total.percentage),
    );
    metrics.insert(
        "max_error".into(),
        (total.rows > 0).then_some(total.max_error),
    );
    metrics.insert("sum_on_target".into(), Some(total.target.value()));
    metrics.insert("mean_on_target".into(), mean(&total.target));
    let r2 = if total.rows < 2 {
        warnings.push(format!(
            "{label}: r2_score is not well-defined with less than two rows (null)"
        ));
        None
    } else if total.target_m2 == 0.0 {
        Some(if total.squared.value() == 0.0 {
            1.0
        } else {
            0.0
        })
    } else {
        Some(1.0 - total.squared.value() / total.target_m2)
    };
    metrics.insert("r2_score".into(), r2);
    // Quantiles: one cell's residuals in place; several are copied into one list first.
    let mut joined;
    let residuals: &mut [f64] = match cells {
        [one] if *one < data.len() => &mut data[*one].residuals,
        _ => {
            joined = Vec::with_capacity(total.rows as usize);
            for cell in cells.iter().filter_map(|c| data.get(*c)) {
                joined.extend_from_slice(&cell.residuals);
            }
            &mut joined
        }
    };
    for q in QUANTILES {
        metrics.insert(
            format!("residual_q{:02}", (q * 100.0).round() as u32),
            quantile(residuals, q),
        );
    }
    let curves = with_curves.then(|| Curves {
        residual_histogram: histogram(residuals),
        ..Curves::default()
    });
    Group {
        rows: total.rows,
        metrics,
        curves,
        ..Group::default()
    }
}

fn histogram(values: &[f64]) -> Vec<HistogramBin> {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !low.is_finite() || !high.is_finite() {
        return Vec::new();
    }
    let width = if high > low {
        (high - low) / HISTOGRAM_BINS as f64
    } else {
        1.0
    };
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    for value in values {
        let bin = (((value - low) / width) as usize).min(HISTOGRAM_BINS - 1);
        counts[bin] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(bin, count)| HistogramBin {
            lower: low + bin as f64 * width,
            upper: low + (bin + 1) as f64 * width,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.unwrap_or(f64::NAN);
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    #[test]
    fn metrics_match_scikit_learn() {
        // y = [3, -0.5, 2, 7], y_hat = [2.5, 0.0, 2, 8] (scikit-learn's docstring examples):
        // MAE 0.5, MSE 0.375, R² 0.9486081370449679, max_error 1,
        // MAPE (0.5/3 + 0.5/0.5 + 0 + 1/7) / 4 = 0.3273809523809524.
        let mut accumulator = RegressionAccumulator::new(vec!["half".into()]);
        for (n, (y, y_hat)) in [(3.0, 2.5), (-0.5, 0.0), (2.0, 2.0), (7.0, 8.0)]
            .into_iter()
            .enumerate()
        {
            let cell = accumulator.cell(&[if n < 2 { "first" } else { "second" }]);
            accumulator
                .push(cell, y, y_hat)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let result = accumulator.finish().unwrap_or_else(|e| panic!("{e}"));
        let metrics = &result.overall.metrics;
        close(metrics["mean_absolute_error"], 0.5);
        close(metrics["mean_squared_error"], 0.375);
        close(metrics["root_mean_squared_error"], 0.375f64.sqrt());
        close(metrics["r2_score"], 0.9486081370449679);
        close(metrics["max_error"], 1.0);
        close(
            metrics["mean_absolute_percentage_error"],
            0.3273809523809524,
        );
        close(metrics["mean_on_target"], 2.875);
        // residuals [0.5, -0.5, 0, -1]: np.quantile(..., [0.05, 0.5, 0.95]) = -0.925, -0.25, 0.425
        close(metrics["residual_q05"], -0.925);
        close(metrics["residual_q50"], -0.25);
        close(metrics["residual_q95"], 0.425);
        let slices = &result.slices[0];
        close(slices.slices[0].group.metrics["mean_absolute_error"], 0.5);
        close(slices.slices[1].group.metrics["mean_absolute_error"], 0.5);
        close(slices.slices[1].group.metrics["max_error"], 1.0);
        close(Some(slices.gaps["max_error"].gap), 0.5);
    }

    #[test]
    fn a_constant_target_follows_force_finite() {
        let mut perfect = RegressionAccumulator::new(Vec::new());
        let mut off = RegressionAccumulator::new(Vec::new());
        for _ in 0..3 {
            perfect.push(0, 2.0, 2.0).unwrap_or_else(|e| panic!("{e}"));
            off.push(0, 2.0, 1.0).unwrap_or_else(|e| panic!("{e}"));
        }
        let perfect = perfect.finish().unwrap_or_else(|e| panic!("{e}"));
        let off = off.finish().unwrap_or_else(|e| panic!("{e}"));
        close(perfect.overall.metrics["r2_score"], 1.0);
        close(off.overall.metrics["r2_score"], 0.0);
        // MAPE with a zero target divides by eps, as scikit-learn does
        let mut zero = RegressionAccumulator::new(Vec::new());
        zero.push(0, 0.0, 1.0).unwrap_or_else(|e| panic!("{e}"));
        let zero = zero.finish().unwrap_or_else(|e| panic!("{e}"));
        close(
            zero.overall.metrics["mean_absolute_percentage_error"],
            1.0 / f64::EPSILON,
        );
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let check = |values: &[f64], q: f64, expected: f64| {
            let mut values = values.to_vec();
            close(quantile(&mut values, q), expected);
        };
        check(&[1.0, 2.0, 3.0, 4.0], 0.5, 2.5);
        check(&[4.0, 1.0, 3.0, 2.0], 0.25, 1.75);
        check(&[10.0], 0.95, 10.0);
        check(&[0.0, 10.0], 0.95, 9.5);
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
