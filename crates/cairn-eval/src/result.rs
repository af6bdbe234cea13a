//! What an evaluation produces, in the shape the JSON report has (`--json`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::curve::Point;

/// Metric name -> value; `None` (JSON `null`) where the metric is undefined (a warning says why).
pub type Metrics = BTreeMap<String, Option<f64>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classification,
    Regression,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Version of this JSON shape.
    pub version: u32,
    pub task: Task,
    /// Classes in scikit-learn's order (`np.unique`), for classification.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// The positive class of a binary problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_label: Option<String>,
    /// Equal-width bins of the calibration metrics (when there are probabilities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_bins: Option<usize>,
    /// Residual quantiles reported (regression).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<f64>,
    pub overall: Group,
    /// Per slice column: the metrics of each of its values and the largest gap per metric.
    pub slices: Vec<SliceColumn>,
    /// Where a metric was ill-defined and took scikit-learn's default (0.0, or NaN shown as null).
    pub warnings: Vec<String>,
}

/// The metrics of a set of rows (all of them, or one slice).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Group {
    pub rows: u64,
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassMetrics>,
    /// Rows: true class, columns: predicted class, in the order of `classes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Curves for plots (overall only; downsampled to about 200 points each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curves: Option<Curves>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
    /// One-vs-rest ROC AUC and average precision (multiclass with probabilities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_precision: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Curves {
    /// ROC curves: one for a binary problem, one per class (one-vs-rest) for multiclass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roc: Vec<NamedCurve>,
    /// Precision-recall curves, as `roc`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub precision_recall: Vec<NamedCurve>,
    /// The reliability diagram: every bin, empty ones with null means.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reliability: Vec<ReliabilityBin>,
    /// Residual histogram (regression).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub residual_histogram: Vec<HistogramBin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedCurve {
    pub name: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    /// `calibration_curve`'s `prob_pred` for this bin.
    pub mean_predicted: Option<f64>,
    /// `calibration_curve`'s `prob_true` for this bin.
    pub fraction_positive: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistogramBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceColumn {
    pub column: String,
    pub slices: Vec<Slice>,
    /// Per metric: the largest difference between two slices (max - min over slices where the
    /// metric is defined).
    pub gaps: BTreeMap<String, Gap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    pub value: String,
    #[serde(flatten)]
    pub group: Group,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub gap: f64,
    pub min: f64,
    pub min_slice: String,
    pub max: f64,
    pub max_slice: String,
}

/// Counts and sums, whose spread across slices of different sizes says nothing about fairness.
const NO_GAP: &[&str] = &[
    "example_count",
    "true_positives",
    "false_positives",
    "false_negatives",
    "true_negatives",
    "sum_on_target",
];

/// The gaps of `slices`' scalar metrics (rates and scores; not counts).
pub fn gaps(slices: &[Slice]) -> BTreeMap<String, Gap> {
    let mut gaps: BTreeMap<String, Gap> = BTreeMap::new();
    for slice in slices {
        for (name, value) in &slice.group.metrics {
            if NO_GAP.contains(&name.as_str()) {
                continue;
            }
            let Some(value) = value.filter(|v| v.is_finite()) else {
                continue;
            };
            let gap = gaps.entry(name.clone()).or_insert_with(|| Gap {
                gap: 0.0,
                min: value,
                min_slice: slice.value.clone(),
                max: value,
                max_slice: slice.value.clone(),
            });
            if value < gap.min {
                gap.min = value;
                gap.min_slice = slice.value.clone();
            }
            if value > gap.max {
                gap.max = value;
                gap.max_slice = slice.value.clone();
            }
            gap.gap = gap.max - gap.min;
        }
    }
    gaps
}

/// A slice column and, per value, the cells holding it.
pub type SliceCells = (String, Vec<(String, Vec<usize>)>);

/// Rows of a table grouped into cells by the values of the slice columns: cell ids for the
/// accumulators, and which cells make up each slice.
#[derive(Debug, Clone)]
pub struct Cells {
    columns: Vec<String>,
    values: Vec<crate::keys::Dictionary>,
    /// Value ids of each cell, one per column.
    cell_values: Vec<Vec<u32>>,
    index: std::collections::HashMap<Vec<u32>, u32>,
    scratch: Vec<u32>,
}

impl Cells {
    pub fn new(columns: Vec<String>) -> Cells {
        let cell_values = if columns.is_empty() {
            vec![Vec::new()]
        } else {
            Vec::new()
        };
        Cells {
            values: vec![crate::keys::Dictionary::default(); columns.len()],
            columns,
            cell_values,
            index: std::collections::HashMap::new(),
            scratch: Vec::new(),
        }
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.cell_values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cell_values.is_empty()
    }

    /// The cell of a row with these slice values (one per column, in column order).
    pub fn cell(&mut self, values: &[&str]) -> u32 {
        match self.columns.len() {
            0 => 0,
            1 => {
                let id = self.values[0].id(values.first().copied().unwrap_or_default());
                if id as usize == self.cell_values.len() {
                    self.cell_values.push(vec![id]);
                }
                id
            }
            _ => {
                self.scratch.clear();
                for (column, value) in values.iter().enumerate() {
                    if let Some(dictionary) = self.values.get_mut(column) {
                        self.scratch.push(dictionary.id(value));
                    }
                }
                if let Some(id) = self.index.get(&self.scratch) {
                    return *id;
                }
                let id = self.cell_values.len() as u32;
                self.cell_values.push(self.scratch.clone());
                self.index.insert(self.scratch.clone(), id);
                id
            }
        }
    }

    /// Per slice column: each value (sorted as labels are) and the cells holding it.
    pub fn slices(&self) -> Vec<SliceCells> {
        self.columns
            .iter()
            .enumerate()
            .map(|(column, name)| {
                let dictionary = &self.values[column];
                let order = crate::keys::sorted_order(dictionary.texts());
                let slices = order
                    .into_iter()
                    .map(|value| {
                        let cells = self
                            .cell_values
                            .iter()
                            .enumerate()
                            .filter(|(_, values)| values[column] == value)
                            .map(|(cell, _)| cell)
                            .collect();
                        (dictionary.text(value).to_owned(), cells)
                    })
                    .collect();
                (name.clone(), slices)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_combine_slice_columns_and_slices_collect_them() {
        let mut cells = Cells::new(vec!["region".into(), "device".into()]);
        assert_eq!(cells.cell(&["eu", "ios"]), 0);
        assert_eq!(cells.cell(&["us", "ios"]), 1);
        assert_eq!(cells.cell(&["eu", "web"]), 2);
        assert_eq!(cells.cell(&["eu", "ios"]), 0);
        let slices = cells.slices();
        assert_eq!(slices[0].0, "region");
        assert_eq!(
            slices[0].1,
            vec![("eu".to_owned(), vec![0, 2]), ("us".to_owned(), vec![1])]
        );
        assert_eq!(
            slices[1].1,
            vec![("ios".to_owned(), vec![0, 1]), ("web".to_owned(), vec![2])]
        );
        let mut unsliced = Cells::new(Vec::new());
        assert_eq!(unsliced.cell(&[]), 0);
        assert_eq!(unsliced.len(), 1);
    }

    #[test]
    fn the_gap_is_the_spread_of_defined_values() {
        let slice = |value: &str, accuracy: Option<f64>| Slice {
            value: value.into(),
            group: Group {
                metrics: [("accuracy_score".to_owned(), accuracy)]
                    .into_iter()
                    .collect(),
                ..Group::default()
            },
        };
        let gaps = gaps(&[
            slice("a", Some(0.9)),
            slice("b", None),
            slice("c", Some(0.6)),
            slice("d", Some(0.75)),
        ]);
        let gap = &gaps["accuracy_score"];
        assert!((gap.gap - 0.3).abs() < 1e-15);
        assert!(!gaps.contains_key("example_count"));
        assert_eq!((gap.min_slice.as_str(), gap.max_slice.as_str()), ("c", "a"));
    }
}
