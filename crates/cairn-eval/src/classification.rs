//! Classification metrics as scikit-learn 1.9 computes them, accumulated row by row and finished
//! per group of slice cells.
//!
//! - Labels are texts; classes are the union of true and predicted labels (with probabilities for
//!   K classes, exactly the probability columns' classes), sorted as `np.unique` sorts them.
//! - Binary: positive class = `pos_label`, else the label `1`, else the greater label.
//!   precision/recall/F1 (`precision_score`...) are for the positive class (`average='binary'`);
//!   multiclass: weighted, as `mlflow.evaluate` logs them. Macro, micro and weighted are always given.
//! - Zero division gives 0.0 and a warning (scikit-learn's default `zero_division="warn"`).
//! - `log_loss` clips probabilities to [eps, 1 - eps] (eps = f64 machine epsilon) as 1.9 does and
//!   does not renormalise (it warns when rows do not sum to one); `brier_score_loss` halves the
//!   binary score (`scale_by_half="auto"`).
//! - Calibration: `calibration_bins` equal-width bins as `calibration_curve(strategy="uniform")`
//!   (a score on an inner edge falls in the lower bin); expected calibration error = sum over bins
//!   of count/n x |fraction positive - mean predicted|. Binary: on the positive class' score;
//!   multiclass: top-label (the highest probability, correct when its class is the true one).

use std::collections::BTreeSet;

use crate::curve::{binary_curve, sort_descending, BinaryCurve};
use crate::error::{EvalError, Result};
use crate::keys::{is_one, sorted_order, Dictionary};
use crate::result::{
    gaps, Cells, ClassMetrics, Curves, Evaluation, Group, Metrics, NamedCurve, ReliabilityBin,
    Slice, SliceColumn, Task,
};
use crate::sum::Sum;

/// The most classes a classification may have (each slice cell keeps a confusion matrix of up to
/// this squared).
pub const MAX_CLASSES: usize = 1000;

/// Which probabilities the rows carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Probabilities {
    None,
    /// One column: the positive class' probability.
    Binary,
    /// One column per class, named by these classes (in column order).
    PerClass(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ClassificationOptions {
    pub probabilities: Probabilities,
    /// The positive class of a binary problem (default: `1`, else the greater label).
    pub pos_label: Option<String>,
    /// Bins of the reliability curve and the expected calibration error (default 10).
    pub calibration_bins: usize,
    pub slice_columns: Vec<String>,
}

impl Default for ClassificationOptions {
    fn default() -> Self {
        ClassificationOptions {
            probabilities: Probabilities::None,
            pos_label: None,
            calibration_bins: 10,
            slice_columns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Cell {
    rows: u64,
    /// `confusion[true id][predicted id]`, grown as classes appear.
    confusion: Vec<Vec<u64>>,
    /// By true class id: the positive score of each row (binary) or its K probabilities.
    scores: Vec<Vec<f64>>,
}

/// Rows in, an [`Evaluation`] out.
#[derive(Debug, Clone)]
pub struct ClassificationAccumulator {
    options: ClassificationOptions,
    classes: Dictionary,
    cells: Cells,
    data: Vec<Cell>,
    /// Multiclass rows whose probabilities do not sum to one (scikit-learn warns).
    rows_not_summing_to_one: u64,
}

fn listed(dictionary: &Dictionary) -> String {
    dictionary
        .texts()
        .iter()
        .map(|text| format!("{text:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ClassificationAccumulator {
    pub fn new(options: ClassificationOptions) -> Result<ClassificationAccumulator> {
        if options.calibration_bins == 0 {
            return Err(EvalError::Invalid(
                "the calibration needs at least one bin".into(),
            ));
        }
        let mut classes = Dictionary::default();
        if let Probabilities::PerClass(names) = &options.probabilities {
            if names.len() < 2 {
                return Err(EvalError::Invalid(format!(
                    "per-class probabilities need at least two classes, found {}",
                    names.len()
                )));
            }
            for name in names {
                if classes.get(name).is_some() {
                    return Err(EvalError::Invalid(format!(
                        "class {name:?} has two probability columns"
                    )));
                }
                classes.id(name);
            }
        }
        Ok(ClassificationAccumulator {
            cells: Cells::new(options.slice_columns.clone()),
            options,
            classes,
            data: Vec::new(),
            rows_not_summing_to_one: 0,
        })
    }

    /// The cell of a row's slice values (one per slice column); pass it to [`Self::push`].
    pub fn cell(&mut self, slice_values: &[&str]) -> u32 {
        self.cells.cell(slice_values)
    }

    fn class_id(&mut self, label: &str) -> Result<u32> {
        if let Some(id) = self.classes.get(label) {
            return Ok(id);
        }
        match self.options.probabilities {
            Probabilities::PerClass(_) => Err(EvalError::UnknownClass {
                label: label.to_owned(),
                classes: listed(&self.classes),
            }),
            Probabilities::Binary if self.classes.len() >= 2 => Err(EvalError::NotBinary {
                label: label.to_owned(),
                classes: listed(&self.classes),
            }),
            _ if self.classes.len() >= MAX_CLASSES => Err(EvalError::Invalid(format!(
                "more than {MAX_CLASSES} distinct labels (the next is {label:?}): a regression target? pass --task regression"
            ))),
            _ => Ok(self.classes.id(label)),
        }
    }

    /// One row: its cell, true label, predicted label and probabilities (none; the positive
    /// class' one; or one per class in the order of [`Probabilities::PerClass`]).
    pub fn push(
        &mut self,
        cell: u32,
        label: &str,
        prediction: &str,
        probabilities: &[f64],
    ) -> Result<()> {
        let truth = self.class_id(label)? as usize;
        let predicted = self.class_id(prediction)? as usize;
        let expected = match &self.options.probabilities {
            Probabilities::None => 0,
            Probabilities::Binary => 1,
            Probabilities::PerClass(names) => names.len(),
        };
        if probabilities.len() != expected {
            return Err(EvalError::Invalid(format!(
                "{} probabilities for a row, expected {expected}",
                probabilities.len()
            )));
        }
        for probability in probabilities {
            if !(0.0..=1.0).contains(probability) {
                return Err(EvalError::ProbabilityOutOfRange {
                    value: *probability,
                });
            }
        }
        if expected > 1 {
            let mut total = Sum::default();
            for probability in probabilities {
                total.add(*probability);
            }
            if (total.value() - 1.0).abs() > 1e-8 + f64::EPSILON.sqrt() {
                self.rows_not_summing_to_one += 1;
            }
        }
        let cell = cell as usize;
        if self.data.len() <= cell {
            self.data.resize_with(cell + 1, Cell::default);
        }
        let data = &mut self.data[cell];
        data.rows += 1;
        if data.confusion.len() <= truth {
            data.confusion.resize_with(truth + 1, Vec::new);
        }
        let row = &mut data.confusion[truth];
        if row.len() <= predicted {
            row.resize(predicted + 1, 0);
        }
        row[predicted] += 1;
        if expected > 0 {
            if data.scores.len() <= truth {
                data.scores.resize_with(truth + 1, Vec::new);
            }
            // `+ 0.0` turns -0.0 into 0.0: NumPy sees one threshold, so must the sort.
            data.scores[truth].extend(probabilities.iter().map(|p| p + 0.0));
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Evaluation> {
        let order = sorted_order(self.classes.texts());
        let mut rank = vec![0usize; order.len()];
        for (position, id) in order.iter().enumerate() {
            rank[*id as usize] = position;
        }
        let k = order.len();
        let binary = k <= 2 && !matches!(self.options.probabilities, Probabilities::PerClass(_));
        let positive: Option<u32> = if binary {
            match &self.options.pos_label {
                Some(label) => match self.classes.get(label) {
                    Some(id) => Some(id),
                    None if k == 0 => None,
                    None => {
                        return Err(EvalError::Invalid(format!(
                            "--pos-label {label:?} is not a label of the data (labels: {})",
                            listed(&self.classes)
                        )))
                    }
                },
                None => order
                    .iter()
                    .copied()
                    .find(|id| is_one(self.classes.text(*id)))
                    .or_else(|| order.last().copied()),
            }
        } else {
            None
        };
        if matches!(self.options.probabilities, Probabilities::Binary) {
            let lists: Vec<&mut Vec<f64>> = self
                .data
                .iter_mut()
                .flat_map(|cell| cell.scores.iter_mut())
                .collect();
            sort_in_parallel(lists);
        }
        let mut warnings = BTreeSet::new();
        if self.rows_not_summing_to_one > 0 {
            warnings.insert(format!(
                "the probabilities of {} rows do not sum to one (scikit-learn warns the same; log_loss and brier_score_loss use them as they are)",
                self.rows_not_summing_to_one
            ));
        }
        let partials = match (&self.options.probabilities, positive) {
            (Probabilities::Binary, Some(positive)) => {
                let n_bins = self.options.calibration_bins;
                let threads = std::thread::available_parallelism().map_or(1, usize::from);
                let per_thread = self.data.len().div_ceil(threads).max(1);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = self
                        .data
                        .chunks(per_thread)
                        .map(|cells| {
                            scope.spawn(move || {
                                cells
                                    .iter()
                                    .map(|cell| Partials::of(cell, positive as usize, n_bins))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|handle| {
                            handle
                                .join()
                                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                        })
                        .collect()
                })
            }
            _ => Vec::new(),
        };
        let finisher = Finisher {
            options: &self.options,
            classes: &self.classes,
            order: &order,
            rank: &rank,
            positive,
            cells: &self.data,
            partials,
        };
        // The overall group and every slice, finished in parallel (each walks its own curves).
        let slice_columns = self.cells.slices();
        let mut jobs: Vec<(Vec<usize>, String, bool)> =
            vec![((0..self.data.len()).collect(), "overall".to_owned(), true)];
        for (column, values) in &slice_columns {
            for (value, cells) in values {
                jobs.push((cells.clone(), format!("slice {column}={value}"), false));
            }
        }
        let mut finished = crate::parallel::map(
            &jobs,
            crate::parallel::cores(),
            |(cells, label, with_curves)| {
                let mut warnings = BTreeSet::new();
                let group = finisher.group(cells, label, *with_curves, &mut warnings);
                (group, warnings)
            },
        )
        .into_iter();
        let mut take = |warnings: &mut BTreeSet<String>| {
            let (group, found) = finished.next().unwrap_or_default();
            warnings.extend(found);
            group
        };
        let overall = take(&mut warnings);
        let mut slices_out = Vec::new();
        for (column, values) in slice_columns {
            let slices: Vec<Slice> = values
                .into_iter()
                .map(|(value, _)| Slice {
                    group: take(&mut warnings),
                    value,
                })
                .collect();
            slices_out.push(SliceColumn {
                gaps: gaps(&slices),
                column,
                slices,
            });
        }
        let slice_columns = slices_out;
        let has_probabilities = !matches!(self.options.probabilities, Probabilities::None);
        Ok(Evaluation {
            version: 1,
            task: Task::Classification,
            classes: order
                .iter()
                .map(|id| self.classes.text(*id).to_owned())
                .collect(),
            pos_label: positive.map(|id| self.classes.text(id).to_owned()),
            calibration_bins: has_probabilities.then_some(self.options.calibration_bins),
            quantiles: Vec::new(),
            overall,
            slices: slice_columns,
            warnings: warnings.into_iter().collect(),
        })
    }
}

/// Sorts score lists on the available cores (longest first, each to the least loaded thread).
fn sort_in_parallel(mut lists: Vec<&mut Vec<f64>>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 16);
    lists.sort_by_key(|list| std::cmp::Reverse(list.len()));
    let mut buckets: Vec<(usize, Vec<&mut Vec<f64>>)> =
        (0..threads).map(|_| (0, Vec::new())).collect();
    for list in lists {
        if let Some(bucket) = buckets.iter_mut().min_by_key(|bucket| bucket.0) {
            bucket.0 += list.len();
            bucket.1.push(list);
        }
    }
    std::thread::scope(|scope| {
        for (_, bucket) in buckets {
            scope.spawn(move || {
                for list in bucket {
                    sort_descending(list);
                }
            });
        }
    });
}

/// Reads one metric of a class.
type MetricOf = fn(&ClassMetrics) -> f64;

struct Finisher<'a> {
    options: &'a ClassificationOptions,
    classes: &'a Dictionary,
    /// Class ids in sorted order, and each id's position in it.
    order: &'a [u32],
    rank: &'a [usize],
    positive: Option<u32>,
    cells: &'a [Cell],
    /// Per cell, for binary probabilities.
    partials: Vec<Partials>,
}

/// A binary cell's probability sums, computed once and merged into every group holding the cell.
struct Partials {
    log_loss: Sum,
    brier: Sum,
    bins: Bins,
}

impl Partials {
    fn of(cell: &Cell, positive: usize, n_bins: usize) -> Partials {
        let mut partials = Partials {
            log_loss: Sum::default(),
            brier: Sum::default(),
            bins: Bins::new(n_bins),
        };
        for (truth, scores) in cell.scores.iter().enumerate() {
            if truth == positive {
                for p in scores {
                    partials.log_loss.add(-clip(*p).ln());
                    let miss = 1.0 - p;
                    partials.brier.add((miss * miss + miss * miss) * 0.5);
                    partials.bins.add(*p, true);
                }
            } else {
                for p in scores {
                    partials.log_loss.add(-clip(1.0 - p).ln());
                    let complement = 1.0 - (1.0 - p);
                    partials.brier.add((complement * complement + p * p) * 0.5);
                    partials.bins.add(*p, false);
                }
            }
        }
        partials
    }
}

/// Calibration bins: `calibration_curve(strategy="uniform")`'s `np.linspace` edges.
struct Bins {
    inner_edges: Vec<f64>,
    count: Vec<u64>,
    positives: Vec<u64>,
    predicted: Vec<Sum>,
}

impl Bins {
    fn new(n_bins: usize) -> Bins {
        let step = 1.0 / n_bins as f64;
        Bins {
            inner_edges: (1..n_bins).map(|i| i as f64 * step).collect(),
            count: vec![0; n_bins],
            positives: vec![0; n_bins],
            predicted: vec![Sum::default(); n_bins],
        }
    }

    fn merge(&mut self, other: &Bins) {
        for bin in 0..self.count.len() {
            self.count[bin] += other.count[bin];
            self.positives[bin] += other.positives[bin];
            self.predicted[bin].merge(&other.predicted[bin]);
        }
    }

    #[inline]
    fn add(&mut self, score: f64, positive: bool) {
        let bin = self.inner_edges.partition_point(|edge| *edge < score);
        self.count[bin] += 1;
        self.positives[bin] += u64::from(positive);
        self.predicted[bin].add(score);
    }

    fn finish(&self) -> (Option<f64>, Vec<ReliabilityBin>) {
        let n: u64 = self.count.iter().sum();
        let n_bins = self.count.len();
        let step = 1.0 / n_bins as f64;
        let mut error = Sum::default();
        let mut bins = Vec::with_capacity(n_bins);
        for bin in 0..n_bins {
            let count = self.count[bin];
            let (mean_predicted, fraction_positive) = if count == 0 {
                (None, None)
            } else {
                let mean = self.predicted[bin].value() / count as f64;
                let fraction = self.positives[bin] as f64 / count as f64;
                error.add(count as f64 / n as f64 * (fraction - mean).abs());
                (Some(mean), Some(fraction))
            };
            bins.push(ReliabilityBin {
                lower: bin as f64 * step,
                upper: if bin + 1 == n_bins {
                    1.0
                } else {
                    (bin + 1) as f64 * step
                },
                count,
                mean_predicted,
                fraction_positive,
            });
        }
        ((n > 0).then(|| error.value()), bins)
    }
}

fn clip(p: f64) -> f64 {
    p.clamp(f64::EPSILON, 1.0 - f64::EPSILON)
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

impl Finisher<'_> {
    fn class_name(&self, position: usize) -> &str {
        self.classes.text(self.order[position])
    }

    fn group(
        &self,
        cells: &[usize],
        label: &str,
        with_curves: bool,
        warnings: &mut BTreeSet<String>,
    ) -> Group {
        let k = self.order.len();
        let mut confusion = vec![vec![0u64; k]; k];
        let mut rows = 0u64;
        for cell in cells.iter().filter_map(|c| self.cells.get(*c)) {
            rows += cell.rows;
            for (truth, row) in cell.confusion.iter().enumerate() {
                for (predicted, count) in row.iter().enumerate() {
                    confusion[self.rank[truth]][self.rank[predicted]] += count;
                }
            }
        }
        let mut metrics = Metrics::new();
        metrics.insert("example_count".into(), Some(rows as f64));
        let mut per_class = self.label_metrics(&confusion, rows, label, &mut metrics, warnings);
        let mut curves = Curves::default();
        match &self.options.probabilities {
            Probabilities::None => {}
            Probabilities::Binary => {
                self.binary_probabilities(cells, label, &mut metrics, &mut curves, warnings)
            }
            Probabilities::PerClass(_) => self.class_probabilities(
                cells,
                label,
                &mut metrics,
                &mut curves,
                &mut per_class,
                warnings,
            ),
        }
        Group {
            rows,
            metrics,
            per_class,
            confusion_matrix: confusion,
            curves: with_curves.then_some(curves),
        }
    }

    /// Accuracy, balanced accuracy, precision/recall/F1 per class and averaged.
    fn label_metrics(
        &self,
        confusion: &[Vec<u64>],
        rows: u64,
        label: &str,
        metrics: &mut Metrics,
        warnings: &mut BTreeSet<String>,
    ) -> Vec<ClassMetrics> {
        let k = confusion.len();
        let true_counts: Vec<u64> = confusion.iter().map(|row| row.iter().sum()).collect();
        let predicted_counts: Vec<u64> = (0..k)
            .map(|column| confusion.iter().map(|row| row[column]).sum())
            .collect();
        let hits: Vec<u64> = (0..k).map(|class| confusion[class][class]).collect();
        // scikit-learn averages over the labels present in y_true or y_pred (a probability column's
        // class that neither holds does not count), and warns about those and the positive class.
        let positive_rank = self.positive.map(|id| self.rank[id as usize]);
        let present: Vec<bool> = (0..k)
            .map(|class| true_counts[class] + predicted_counts[class] > 0)
            .collect();
        let mut no_predictions = Vec::new();
        let mut no_truth = Vec::new();
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|class| {
                let reported = present[class] || positive_rank == Some(class);
                let precision = ratio(hits[class] as f64, predicted_counts[class] as f64)
                    .unwrap_or_else(|| {
                        if reported {
                            no_predictions.push(self.class_name(class).to_owned());
                        }
                        0.0
                    });
                let recall =
                    ratio(hits[class] as f64, true_counts[class] as f64).unwrap_or_else(|| {
                        if reported {
                            no_truth.push(self.class_name(class).to_owned());
                        }
                        0.0
                    });
                let f1 = ratio(
                    2.0 * hits[class] as f64,
                    (predicted_counts[class] + true_counts[class]) as f64,
                )
                .unwrap_or(0.0);
                ClassMetrics {
                    class: self.class_name(class).to_owned(),
                    precision,
                    recall,
                    f1,
                    support: true_counts[class],
                    roc_auc: None,
                    average_precision: None,
                }
            })
            .collect();
        if !no_predictions.is_empty() {
            warnings.insert(format!(
                "{label}: precision is ill-defined and set to 0.0 for classes with no predicted rows: {}",
                no_predictions.join(", ")
            ));
        }
        if !no_truth.is_empty() {
            warnings.insert(format!(
                "{label}: recall is ill-defined and set to 0.0 for classes with no true rows: {}",
                no_truth.join(", ")
            ));
        }
        let correct: u64 = hits.iter().sum();
        metrics.insert("accuracy_score".into(), ratio(correct as f64, rows as f64));
        let recalls: Vec<f64> = (0..k)
            .filter(|class| true_counts[*class] > 0)
            .map(|class| hits[class] as f64 / true_counts[class] as f64)
            .collect();
        metrics.insert(
            "balanced_accuracy_score".into(),
            ratio(recalls.iter().sum::<f64>(), recalls.len() as f64),
        );
        let mean = |values: &mut dyn Iterator<Item = f64>| {
            let values: Vec<f64> = values.collect();
            ratio(values.iter().sum(), values.len() as f64)
        };
        let weighted = |value: &dyn Fn(&ClassMetrics) -> f64| {
            let total: u64 = per_class.iter().map(|c| c.support).sum();
            let sum: f64 = per_class.iter().map(|c| value(c) * c.support as f64).sum();
            ratio(sum, total as f64)
        };
        let micro_predicted: u64 = predicted_counts.iter().sum();
        let micro_true: u64 = true_counts.iter().sum();
        let micro = [
            ratio(correct as f64, micro_predicted as f64).unwrap_or(0.0),
            ratio(correct as f64, micro_true as f64).unwrap_or(0.0),
            ratio(2.0 * correct as f64, (micro_predicted + micro_true) as f64).unwrap_or(0.0),
        ];
        let pick: [(&str, MetricOf); 3] = [
            ("precision", |c| c.precision),
            ("recall", |c| c.recall),
            ("f1", |c| c.f1),
        ];
        for (index, (name, value)) in pick.iter().enumerate() {
            metrics.insert(
                format!("{name}_macro"),
                mean(
                    &mut per_class
                        .iter()
                        .zip(&present)
                        .filter(|(_, present)| **present)
                        .map(|(class, _)| value(class)),
                ),
            );
            metrics.insert(format!("{name}_micro"), Some(micro[index]));
            metrics.insert(format!("{name}_weighted"), weighted(value));
            let main = match self.positive {
                Some(positive) => per_class.get(self.rank[positive as usize]).map(value),
                None => weighted(value),
            };
            metrics.insert(format!("{name}_score"), main);
        }
        if let (Some(positive), 2) = (self.positive, k) {
            let p = self.rank[positive as usize];
            let n = 1 - p;
            metrics.insert("true_positives".into(), Some(confusion[p][p] as f64));
            metrics.insert("false_positives".into(), Some(confusion[n][p] as f64));
            metrics.insert("false_negatives".into(), Some(confusion[p][n] as f64));
            metrics.insert("true_negatives".into(), Some(confusion[n][n] as f64));
        }
        per_class
    }

    fn binary_probabilities(
        &self,
        cells: &[usize],
        label: &str,
        metrics: &mut Metrics,
        curves: &mut Curves,
        warnings: &mut BTreeSet<String>,
    ) {
        let Some(positive) = self.positive else {
            return;
        };
        let positive = positive as usize;
        let mut positive_lists: Vec<&[f64]> = Vec::new();
        let mut negative_lists: Vec<&[f64]> = Vec::new();
        for cell in cells.iter().filter_map(|c| self.cells.get(*c)) {
            for (truth, scores) in cell.scores.iter().enumerate() {
                if truth == positive {
                    positive_lists.push(scores);
                } else {
                    negative_lists.push(scores);
                }
            }
        }
        let curve = binary_curve(&positive_lists, &negative_lists);
        let mut log_loss = Sum::default();
        let mut brier = Sum::default();
        let mut bins = Bins::new(self.options.calibration_bins);
        for partial in cells.iter().filter_map(|c| self.partials.get(*c)) {
            log_loss.merge(&partial.log_loss);
            brier.merge(&partial.brier);
            bins.merge(&partial.bins);
        }
        let n = (curve.positives + curve.negatives) as f64;
        self.curve_metrics(&curve, label, metrics, warnings);
        metrics.insert("log_loss".into(), ratio(log_loss.value(), n));
        metrics.insert("brier_score_loss".into(), ratio(brier.value(), n));
        let (error, reliability) = bins.finish();
        metrics.insert("expected_calibration_error".into(), error);
        curves.roc.push(NamedCurve {
            name: self.classes.text(positive as u32).to_owned(),
            points: curve.roc,
        });
        curves.precision_recall.push(NamedCurve {
            name: self.classes.text(positive as u32).to_owned(),
            points: curve.precision_recall,
        });
        curves.reliability = reliability;
    }

    fn curve_metrics(
        &self,
        curve: &BinaryCurve,
        label: &str,
        metrics: &mut Metrics,
        warnings: &mut BTreeSet<String>,
    ) {
        if curve.roc_auc.is_none() {
            warnings.insert(format!(
                "{label}: roc_auc is undefined with one class in the true labels (null)"
            ));
        }
        if curve.average_precision.is_none() {
            warnings.insert(format!(
                "{label}: precision_recall_auc is undefined without positive rows (null)"
            ));
        }
        metrics.insert("roc_auc".into(), curve.roc_auc);
        metrics.insert("precision_recall_auc".into(), curve.average_precision);
    }

    fn class_probabilities(
        &self,
        cells: &[usize],
        label: &str,
        metrics: &mut Metrics,
        curves: &mut Curves,
        per_class: &mut [ClassMetrics],
        warnings: &mut BTreeSet<String>,
    ) {
        let k = self.order.len();
        let rows: Vec<(usize, &[f64])> = cells
            .iter()
            .filter_map(|c| self.cells.get(*c))
            .flat_map(|cell| {
                cell.scores
                    .iter()
                    .enumerate()
                    .map(|(truth, scores)| (truth, scores.as_slice()))
            })
            .collect();
        let mut log_loss = Sum::default();
        let mut brier = Sum::default();
        let mut bins = Bins::new(self.options.calibration_bins);
        let mut n = 0u64;
        for (truth, scores) in &rows {
            for row in scores.chunks_exact(k) {
                n += 1;
                log_loss.add(-clip(row[*truth]).ln());
                let mut squares = 0.0;
                let mut best = 0usize;
                for (class, p) in row.iter().enumerate() {
                    let target = if class == *truth { 1.0 } else { 0.0 };
                    squares += (target - p) * (target - p);
                    let better =
                        *p > row[best] || (*p == row[best] && self.rank[class] < self.rank[best]);
                    if better {
                        best = class;
                    }
                }
                brier.add(squares);
                bins.add(row[best], best == *truth);
            }
        }
        let (mut auc_sum, mut auc_weighted, mut auc_count) = (0.0, 0.0, 0usize);
        let (mut ap_sum, mut ap_weighted, mut ap_count) = (0.0, 0.0, 0usize);
        let mut undefined = false;
        for id in 0..k {
            let mut positive = Vec::new();
            let mut negative = Vec::new();
            for (truth, scores) in &rows {
                let target = if *truth == id {
                    &mut positive
                } else {
                    &mut negative
                };
                target.extend(scores.chunks_exact(k).map(|row| row[id]));
            }
            sort_descending(&mut positive);
            sort_descending(&mut negative);
            let curve = binary_curve(&[&positive], &[&negative]);
            let weight = curve.positives as f64;
            let position = self.rank[id];
            if let Some(auc) = curve.roc_auc {
                auc_sum += auc;
                auc_weighted += auc * weight;
                auc_count += 1;
            } else {
                undefined = true;
            }
            if let Some(ap) = curve.average_precision {
                ap_sum += ap;
                ap_weighted += ap * weight;
                ap_count += 1;
            }
            if let Some(entry) = per_class.get_mut(position) {
                entry.roc_auc = curve.roc_auc;
                entry.average_precision = curve.average_precision;
            }
            curves.roc.push(NamedCurve {
                name: self.classes.text(id as u32).to_owned(),
                points: curve.roc,
            });
            curves.precision_recall.push(NamedCurve {
                name: self.classes.text(id as u32).to_owned(),
                points: curve.precision_recall,
            });
        }
        let sorted_curves = |list: &mut Vec<NamedCurve>| {
            list.sort_by_key(|curve| {
                self.classes
                    .get(&curve.name)
                    .map_or(usize::MAX, |id| self.rank[id as usize])
            })
        };
        sorted_curves(&mut curves.roc);
        sorted_curves(&mut curves.precision_recall);
        let all_defined = auc_count == k && !undefined;
        if !all_defined {
            warnings.insert(format!(
                "{label}: one-vs-rest roc_auc is undefined when a class has no true rows (null)"
            ));
        }
        let total = n as f64;
        metrics.insert("roc_auc".into(), all_defined.then(|| auc_sum / k as f64));
        metrics.insert(
            "roc_auc_weighted".into(),
            all_defined.then(|| auc_weighted / total),
        );
        let ap_defined = ap_count == k;
        metrics.insert(
            "precision_recall_auc".into(),
            ap_defined.then(|| ap_sum / k as f64),
        );
        metrics.insert(
            "precision_recall_auc_weighted".into(),
            ap_defined.then(|| ap_weighted / total),
        );
        metrics.insert("log_loss".into(), ratio(log_loss.value(), total));
        metrics.insert("brier_score_loss".into(), ratio(brier.value(), total));
        let (error, reliability) = bins.finish();
        metrics.insert("expected_calibration_error".into(), error);
        curves.reliability = reliability;
    }
}

#[cfg(test)]
mod tests;
