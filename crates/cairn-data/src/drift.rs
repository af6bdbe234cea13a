//! `cairn data drift`: does the current dataset differ from the reference one, column by column?
//!
//! Per column the test Evidently's `DataDriftPreset` would pick (or the one asked for), its score,
//! threshold and verdict; the dataset drifts when at least `drift_share` of the columns do. Numeric
//! columns of the current data also get outlier counts (IQR, z-score, modified z-score).
//!
//! - [`stats`] (pure): the statistics.
//! - [`collect`] (reads sources): one streaming pass over each dataset.
//! - [`render`] (pure): text, Markdown, HTML and JUnit renderings of a [`DriftReport`].

pub mod collect;
pub mod render;
pub mod stats;

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{DataError, Result};
use crate::source::ChunkSource;
use collect::{Collected, Collector, ColumnSample, RowPlaces};
use stats::TestOutcome;

/// The drift tests, by Evidently's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Ks,
    #[serde(rename = "chisquare")]
    ChiSquare,
    Z,
    Wasserstein,
    #[serde(rename = "jensenshannon")]
    JensenShannon,
    Psi,
    KlDiv,
    Hellinger,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::Ks,
        Method::ChiSquare,
        Method::Z,
        Method::Wasserstein,
        Method::JensenShannon,
        Method::Psi,
        Method::KlDiv,
        Method::Hellinger,
    ];

    pub fn parse(name: &str) -> Result<Method> {
        let lowered = name.trim().to_ascii_lowercase();
        let method = match lowered.as_str() {
            "ks" => Method::Ks,
            "chisquare" | "chi2" | "chi-square" => Method::ChiSquare,
            "z" | "ztest" | "z-test" => Method::Z,
            "wasserstein" => Method::Wasserstein,
            "jensenshannon" | "js" | "jensen-shannon" => Method::JensenShannon,
            "psi" => Method::Psi,
            "kl_div" | "kl" => Method::KlDiv,
            "hellinger" => Method::Hellinger,
            _ => {
                return Err(DataError::usage(format!(
                    "unknown drift method {name:?} (expected one of: {})",
                    Method::ALL.map(Method::name).join(", ")
                )))
            }
        };
        Ok(method)
    }

    /// Evidently's name of the test.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::ChiSquare => "chisquare",
            Method::Z => "z",
            Method::Wasserstein => "wasserstein",
            Method::JensenShannon => "jensenshannon",
            Method::Psi => "psi",
            Method::KlDiv => "kl_div",
            Method::Hellinger => "hellinger",
        }
    }

    /// How Evidently shows the score.
    pub fn display_name(self) -> &'static str {
        match self {
            Method::Ks => "K-S p_value",
            Method::ChiSquare => "chi-square p_value",
            Method::Z => "Z-test p_value",
            Method::Wasserstein => "Wasserstein distance (normed)",
            Method::JensenShannon => "Jensen-Shannon distance",
            Method::Psi => "PSI",
            Method::KlDiv => "Kullback-Leibler divergence",
            Method::Hellinger => "Hellinger distance",
        }
    }

    /// Whether the score is a p-value (drift when below the threshold) rather than a distance
    /// (drift when at or above it).
    pub fn is_p_value(self) -> bool {
        matches!(self, Method::Ks | Method::ChiSquare | Method::Z)
    }

    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() {
            0.05
        } else {
            0.1
        }
    }

    /// Whether the test applies to a column of this type.
    pub fn allows(self, column_type: ColumnType) -> bool {
        !(matches!(self, Method::Ks | Method::Wasserstein)
            && column_type == ColumnType::Categorical)
    }

    /// Evidently's verdict for a score.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            Method::Ks => score <= threshold,
            Method::ChiSquare | Method::Z => score < threshold,
            _ => score >= threshold,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Numerical,
    Categorical,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Numerical => "numerical",
            ColumnType::Categorical => "categorical",
        }
    }
}

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Columns to compare (default: all, which must then be the same in both datasets).
    pub columns: Option<Vec<String>>,
    /// One method for every column.
    pub method: Option<Method>,
    /// Methods for some columns.
    pub column_methods: HashMap<String, Method>,
    /// Threshold for every column (default: the method's).
    pub threshold: Option<f64>,
    /// Share of drifted columns at which the dataset drifts.
    pub drift_share: f64,
    /// Example rows kept per outlier rule.
    pub outlier_examples: usize,
    /// Bins of the histograms drawn in reports.
    pub plot_bins: usize,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            columns: None,
            method: None,
            column_methods: HashMap::new(),
            threshold: None,
            drift_share: 0.5,
            outlier_examples: 5,
            plot_bins: 30,
        }
    }
}

/// Evidently's default test: with more than 1000 reference values, Wasserstein for numeric columns
/// with more than 5 distinct values, else Jensen–Shannon; with fewer, K-S for numeric columns with
/// more than 5 distinct values, else chi-square (more than 2 distinct values) or the Z-test.
pub fn default_method(column_type: ColumnType, n_reference: u64, n_distinct: usize) -> Method {
    let numeric_many = column_type == ColumnType::Numerical && n_distinct > 5;
    if n_reference > 1000 {
        if numeric_many {
            Method::Wasserstein
        } else {
            Method::JensenShannon
        }
    } else if numeric_many {
        Method::Ks
    } else if n_distinct > 2 {
        Method::ChiSquare
    } else {
        Method::Z
    }
}

/// One row that an outlier rule flags.
#[derive(Debug, Clone, Serialize)]
pub struct OutlierExample {
    /// Row index in the current data (0-based, as pandas numbers rows).
    pub row: u64,
    pub file: String,
    pub line: u64,
    pub value: f64,
}

/// What one outlier rule finds.
#[derive(Debug, Clone, Serialize)]
pub struct OutlierRule {
    pub count: u64,
    /// Bounds outside which a value counts (for the z-scores, on the score).
    pub low: f64,
    pub high: f64,
    pub examples: Vec<OutlierExample>,
}

/// Outliers of one numeric column of the current data.
#[derive(Debug, Clone, Serialize)]
pub struct Outliers {
    /// Outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR].
    pub iqr: OutlierRule,
    /// |x - mean| / std > 3 (population std).
    pub zscore: OutlierRule,
    /// |0.6745 (x - median) / MAD| > 3.5 (none when MAD is 0).
    pub modified_zscore: OutlierRule,
}

/// Summary of one side of a column.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub rows: u64,
    pub nulls: u64,
    pub distinct: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// What the HTML report draws for a column.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlotData {
    /// Shares of each sample in equal-width bins over both samples' range.
    Histogram {
        low: f64,
        high: f64,
        reference: Vec<f64>,
        current: Vec<f64>,
    },
    /// Shares of the most frequent categories.
    Categories {
        names: Vec<String>,
        reference: Vec<f64>,
        current: Vec<f64>,
    },
}

/// The drift of one column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    pub column_type: ColumnType,
    pub method: Method,
    pub method_name: &'static str,
    /// The test's statistic (the distance itself for distance methods).
    pub statistic: Option<f64>,
    /// The p-value, for hypothesis tests.
    pub p_value: Option<f64>,
    /// What is compared with the threshold: the p-value or the distance.
    pub score: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
    /// Why the column could not be compared (it is then left out of the drift share).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub reference: SideSummary,
    pub current: SideSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outliers: Option<Outliers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<PlotData>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub reference: String,
    pub current: String,
    pub reference_rows: u64,
    pub current_rows: u64,
    pub columns: Vec<ColumnDrift>,
    /// Columns compared (not skipped).
    pub n_columns: usize,
    pub n_drifted: usize,
    pub share_drifted: f64,
    pub drift_share: f64,
    pub dataset_drift: bool,
}

/// Which columns of the two sources to compare: their indices in each.
pub fn match_columns(
    reference: &[String],
    current: &[String],
    wanted: Option<&[String]>,
) -> Result<(Vec<String>, Vec<usize>, Vec<usize>)> {
    let position = |names: &[String], name: &str| names.iter().position(|n| n == name);
    let names: Vec<String> = match wanted {
        Some(wanted) => {
            let missing_reference: Vec<&str> = wanted
                .iter()
                .filter(|name| position(reference, name).is_none())
                .map(String::as_str)
                .collect();
            let missing_current: Vec<&str> = wanted
                .iter()
                .filter(|name| position(current, name).is_none())
                .map(String::as_str)
                .collect();
            missing_error(&missing_reference, &missing_current)?;
            wanted.to_vec()
        }
        None => {
            let missing_current: Vec<&str> = reference
                .iter()
                .filter(|name| position(current, name).is_none())
                .map(String::as_str)
                .collect();
            let missing_reference: Vec<&str> = current
                .iter()
                .filter(|name| position(reference, name).is_none())
                .map(String::as_str)
                .collect();
            missing_error(&missing_reference, &missing_current)?;
            reference.to_vec()
        }
    };
    let in_reference = names
        .iter()
        .filter_map(|name| position(reference, name))
        .collect();
    let in_current = names
        .iter()
        .filter_map(|name| position(current, name))
        .collect();
    Ok((names, in_reference, in_current))
}

fn missing_error(missing_reference: &[&str], missing_current: &[&str]) -> Result<()> {
    let mut parts = Vec::new();
    if !missing_reference.is_empty() {
        parts.push(format!(
            "the reference data lacks column(s) {}",
            missing_reference.join(", ")
        ));
    }
    if !missing_current.is_empty() {
        parts.push(format!(
            "the current data lacks column(s) {}",
            missing_current.join(", ")
        ));
    }
    if parts.is_empty() {
        Ok(())
    } else {
        Err(DataError::input(parts.join("; ")))
    }
}

/// Reads both sources (side by side, on two threads) and compares them.
pub fn run(
    mut reference: Box<dyn ChunkSource>,
    mut current: Box<dyn ChunkSource>,
    reference_name: &str,
    current_name: &str,
    options: &DriftOptions,
) -> Result<DriftReport> {
    let (names, in_reference, in_current) = match_columns(
        reference.columns(),
        current.columns(),
        options.columns.as_deref(),
    )?;
    for name in options.column_methods.keys() {
        if !names.contains(name) {
            return Err(DataError::usage(format!(
                "--column-method names column {name:?}, which is not compared"
            )));
        }
    }
    let reference_collector = Collector {
        selected: in_reference,
        keep_rows: false,
    };
    let current_collector = Collector {
        selected: in_current,
        keep_rows: true,
    };
    let (reference_data, current_data) = std::thread::scope(|scope| {
        let reference_thread = scope.spawn(|| reference_collector.collect(reference.as_mut()));
        let current_result = current_collector.collect(current.as_mut());
        let reference_result = reference_thread
            .join()
            .unwrap_or_else(|_| Err(DataError::input("the reference reader stopped")));
        (reference_result, current_result)
    });
    let mut reference_data = reference_data?;
    let mut current_data = current_data?;
    compare(
        &names,
        &mut reference_data,
        &mut current_data,
        reference_name,
        current_name,
        options,
    )
}

/// Compares two collected datasets (pure).
pub fn compare(
    names: &[String],
    reference: &mut Collected,
    current: &mut Collected,
    reference_name: &str,
    current_name: &str,
    options: &DriftOptions,
) -> Result<DriftReport> {
    let mut columns = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let reference_sample = std::mem::take(&mut reference.columns[index]);
        let current_sample = std::mem::take(&mut current.columns[index]);
        let method = options.column_methods.get(name).copied().or(options.method);
        columns.push(compare_column(
            name,
            reference_sample,
            current_sample,
            method,
            options,
            &current.places,
            &current.files,
        )?);
    }
    let compared: Vec<&ColumnDrift> = columns.iter().filter(|c| c.skipped.is_none()).collect();
    let n_columns = compared.len();
    let n_drifted = compared.iter().filter(|c| c.drifted).count();
    let share_drifted = if n_columns == 0 {
        0.0
    } else {
        n_drifted as f64 / n_columns as f64
    };
    Ok(DriftReport {
        reference: reference_name.to_string(),
        current: current_name.to_string(),
        reference_rows: reference.rows,
        current_rows: current.rows,
        n_columns,
        n_drifted,
        share_drifted,
        drift_share: options.drift_share,
        dataset_drift: n_columns > 0 && share_drifted >= options.drift_share,
        columns,
    })
}

/// Both sides of a categorical column as aligned counts over the union of values.
struct AlignedCounts {
    keys: Vec<String>,
    reference: Vec<u64>,
    current: Vec<u64>,
}

fn align_counts(reference: &collect::Counts, current: &collect::Counts) -> AlignedCounts {
    let mut keys: Vec<String> = reference.keys().cloned().collect();
    keys.extend(
        current
            .keys()
            .filter(|key| !reference.contains_key(*key))
            .cloned(),
    );
    keys.sort();
    let reference_counts = keys
        .iter()
        .map(|key| reference.get(key).copied().unwrap_or(0))
        .collect();
    let current_counts = keys
        .iter()
        .map(|key| current.get(key).copied().unwrap_or(0))
        .collect();
    AlignedCounts {
        keys,
        reference: reference_counts,
        current: current_counts,
    }
}

fn compare_column(
    name: &str,
    mut reference: ColumnSample,
    mut current: ColumnSample,
    forced: Option<Method>,
    options: &DriftOptions,
    places: &RowPlaces,
    files: &[String],
) -> Result<ColumnDrift> {
    if reference.numeric != current.numeric {
        reference.make_categorical();
        current.make_categorical();
    }
    let column_type = if reference.numeric {
        ColumnType::Numerical
    } else {
        ColumnType::Categorical
    };
    // Outliers need the current values in row order; everything else works on sorted values.
    let mut outliers = None;
    let mut reference_sorted = Vec::new();
    let mut current_sorted = Vec::new();
    if column_type == ColumnType::Numerical {
        reference_sorted = std::mem::take(&mut reference.values);
        reference_sorted.sort_unstable_by(f64::total_cmp);
        current_sorted = current
            .values
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        current_sorted.sort_unstable_by(f64::total_cmp);
        outliers = Some(find_outliers(
            &current.values,
            &current_sorted,
            options.outlier_examples,
            places,
            files,
        ));
        current.values = Vec::new();
    }
    let aligned = if column_type == ColumnType::Categorical {
        Some(align_counts(&reference.counts, &current.counts))
    } else {
        None
    };
    let summary = |sample: &ColumnSample, sorted: &[f64]| -> SideSummary {
        if column_type == ColumnType::Numerical {
            SideSummary {
                rows: sample.rows,
                nulls: sample.nulls,
                distinct: stats::count_distinct_sorted(sorted),
                mean: (!sorted.is_empty())
                    .then(|| sorted.iter().sum::<f64>() / sorted.len() as f64),
                min: sorted.first().copied(),
                max: sorted.last().copied(),
            }
        } else {
            SideSummary {
                rows: sample.rows,
                nulls: sample.nulls,
                distinct: sample.counts.len(),
                mean: None,
                min: None,
                max: None,
            }
        }
    };
    let reference_summary = summary(&reference, &reference_sorted);
    let current_summary = summary(&current, &current_sorted);
    let n_reference = reference.n_values();
    let n_current = current.n_values();
    let n_distinct = match &aligned {
        Some(aligned) => aligned.keys.len(),
        None => stats::count_distinct_union(&reference_sorted, &current_sorted),
    };
    let method = forced.unwrap_or_else(|| default_method(column_type, n_reference, n_distinct));
    let threshold = options
        .threshold
        .unwrap_or_else(|| method.default_threshold());
    let mut drift = ColumnDrift {
        column: name.to_string(),
        column_type,
        method,
        method_name: method.display_name(),
        statistic: None,
        p_value: None,
        score: None,
        threshold,
        drifted: false,
        skipped: None,
        reference: reference_summary,
        current: current_summary,
        outliers,
        plot: None,
    };
    if !method.allows(column_type) {
        return Err(DataError::usage(format!(
            "column {name:?} is {}: the {} test is for numerical columns",
            column_type.name(),
            method.name()
        )));
    }
    if n_reference == 0 || n_current == 0 {
        let side = if n_reference == 0 {
            "reference"
        } else {
            "current"
        };
        drift.skipped = Some(format!("no value in the {side} data"));
        return Ok(drift);
    }
    let outcome = match &aligned {
        Some(aligned) => categorical_test(method, aligned),
        None => numeric_test(
            method,
            &reference_sorted,
            &current_sorted,
            reference.integer && current.integer,
        ),
    };
    let score = if method.is_p_value() {
        outcome.p_value
    } else {
        Some(outcome.statistic)
    };
    drift.statistic = Some(outcome.statistic);
    drift.p_value = outcome.p_value;
    drift.score = score;
    drift.drifted = score.is_some_and(|s| method.drifted(s, threshold));
    drift.plot = Some(match &aligned {
        Some(aligned) => category_plot(aligned, 20),
        None => histogram_plot(&reference_sorted, &current_sorted, options.plot_bins),
    });
    Ok(drift)
}

fn merge_sorted(first: &[f64], second: &[f64]) -> Vec<f64> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    merged.extend_from_slice(first);
    merged.extend_from_slice(second);
    merged.sort_unstable_by(f64::total_cmp);
    merged
}

fn categorical_test(method: Method, aligned: &AlignedCounts) -> TestOutcome {
    let n_reference: u64 = aligned.reference.iter().sum();
    let n_current: u64 = aligned.current.iter().sum();
    match method {
        Method::ChiSquare => stats::chi_square_counts(&aligned.reference, &aligned.current),
        Method::Z => z_test(&aligned.reference, &aligned.current),
        Method::Hellinger => {
            let reference = stats::shares(&aligned.reference, n_reference);
            let current = stats::shares(&aligned.current, n_current);
            distance(stats::hellinger_shares(&reference, &current))
        }
        _ => binned_distance(
            method,
            stats::shares(&aligned.reference, n_reference),
            stats::shares(&aligned.current, n_current),
        ),
    }
}

/// Evidently's Z-test: the first value (in sorted order) against all others.
fn z_test(reference: &[u64], current: &[u64]) -> TestOutcome {
    let n_reference: u64 = reference.iter().sum();
    let n_current: u64 = current.iter().sum();
    let reference_distinct = reference.iter().filter(|c| **c > 0).count();
    let current_distinct = current.iter().filter(|c| **c > 0).count();
    if reference_distinct == 1
        && current_distinct == 1
        && reference.iter().position(|c| *c > 0) == current.iter().position(|c| *c > 0)
    {
        return TestOutcome {
            statistic: 0.0,
            p_value: Some(1.0),
        };
    }
    let first_reference = reference.first().copied().unwrap_or(0);
    let first_current = current.first().copied().unwrap_or(0);
    stats::z_test_proportions(
        n_reference - first_reference,
        n_reference,
        n_current - first_current,
        n_current,
    )
}

fn distance(value: f64) -> TestOutcome {
    TestOutcome {
        statistic: value,
        p_value: None,
    }
}

/// PSI, KL and Jensen–Shannon over shares (Evidently floors empty bins for PSI and KL only).
fn binned_distance(method: Method, mut reference: Vec<f64>, mut current: Vec<f64>) -> TestOutcome {
    match method {
        Method::Psi => {
            stats::fill_zeroes(&mut reference);
            stats::fill_zeroes(&mut current);
            distance(stats::psi(&reference, &current))
        }
        Method::KlDiv => {
            stats::fill_zeroes(&mut reference);
            stats::fill_zeroes(&mut current);
            distance(stats::kl_divergence(&reference, &current))
        }
        _ => distance(stats::jensen_shannon(&reference, &current)),
    }
}

fn numeric_test(method: Method, reference: &[f64], current: &[f64], integer: bool) -> TestOutcome {
    match method {
        Method::Ks => stats::ks_2samp(reference, current),
        Method::Wasserstein => distance(stats::wasserstein_normed(reference, current)),
        Method::Hellinger => {
            let distinct = stats::distinct_sorted(&merge_sorted(reference, current));
            distance(stats::hellinger_numeric(
                reference, current, &distinct, integer,
            ))
        }
        Method::ChiSquare | Method::Z => {
            let (_, reference_counts, current_counts) =
                stats::aligned_value_counts(reference, current);
            if method == Method::ChiSquare {
                stats::chi_square_counts(&reference_counts, &current_counts)
            } else {
                z_test(&reference_counts, &current_counts)
            }
        }
        Method::JensenShannon | Method::Psi | Method::KlDiv => {
            let (n_reference, n_current) = (reference.len() as u64, current.len() as u64);
            // Evidently bins numeric columns with more than 20 distinct reference values in
            // Sturges' bins over both samples, others value by value.
            let (reference_counts, current_counts) = if stats::count_distinct_sorted(reference) > 20
            {
                let min = reference[0].min(current[0]);
                let max = reference[reference.len() - 1].max(current[current.len() - 1]);
                let edges =
                    stats::sturges_edges(min, max, reference.len() + current.len(), integer);
                (
                    stats::histogram_sorted(reference, &edges),
                    stats::histogram_sorted(current, &edges),
                )
            } else {
                let (_, r, c) = stats::aligned_value_counts(reference, current);
                (r, c)
            };
            binned_distance(
                method,
                stats::shares(&reference_counts, n_reference),
                stats::shares(&current_counts, n_current),
            )
        }
    }
}

fn histogram_plot(reference: &[f64], current: &[f64], bins: usize) -> PlotData {
    let low = reference[0].min(current[0]);
    let high = reference[reference.len() - 1].max(current[current.len() - 1]);
    let edges = if low == high {
        stats::linspace(low - 0.5, high + 0.5, bins + 1)
    } else {
        stats::linspace(low, high, bins + 1)
    };
    let reference_counts = stats::histogram_sorted(reference, &edges);
    let current_counts = stats::histogram_sorted(current, &edges);
    PlotData::Histogram {
        low: edges[0],
        high: edges[edges.len() - 1],
        reference: stats::shares(&reference_counts, reference.len() as u64),
        current: stats::shares(&current_counts, current.len() as u64),
    }
}

fn category_plot(aligned: &AlignedCounts, limit: usize) -> PlotData {
    let n_reference: u64 = aligned.reference.iter().sum::<u64>().max(1);
    let n_current: u64 = aligned.current.iter().sum::<u64>().max(1);
    let mut order: Vec<usize> = (0..aligned.keys.len()).collect();
    order.sort_by(|a, b| {
        let total_a = aligned.reference[*a] + aligned.current[*a];
        let total_b = aligned.reference[*b] + aligned.current[*b];
        total_b
            .cmp(&total_a)
            .then_with(|| aligned.keys[*a].cmp(&aligned.keys[*b]))
    });
    order.truncate(limit);
    PlotData::Categories {
        names: order.iter().map(|i| aligned.keys[*i].clone()).collect(),
        reference: order
            .iter()
            .map(|i| aligned.reference[*i] as f64 / n_reference as f64)
            .collect(),
        current: order
            .iter()
            .map(|i| aligned.current[*i] as f64 / n_current as f64)
            .collect(),
    }
}

/// Outliers of the current values (`values` in row order with NaN for missing; `sorted` the finite
/// ones, ascending).
pub fn find_outliers(
    values: &[f64],
    sorted: &[f64],
    n_examples: usize,
    places: &RowPlaces,
    files: &[String],
) -> Outliers {
    let empty = || OutlierRule {
        count: 0,
        low: f64::NAN,
        high: f64::NAN,
        examples: Vec::new(),
    };
    if sorted.is_empty() {
        return Outliers {
            iqr: empty(),
            zscore: empty(),
            modified_zscore: empty(),
        };
    }
    let q1 = stats::quantile_sorted(sorted, 0.25);
    let q3 = stats::quantile_sorted(sorted, 0.75);
    let iqr = q3 - q1;
    let (iqr_low, iqr_high) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let std = stats::population_std(sorted);
    let median = stats::quantile_sorted(sorted, 0.5);
    let mut deviations: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
    deviations.sort_unstable_by(f64::total_cmp);
    let mad = stats::quantile_sorted(&deviations, 0.5);
    drop(deviations);
    let mut iqr_rule = OutlierRule {
        low: iqr_low,
        high: iqr_high,
        ..empty()
    };
    let mut z_rule = OutlierRule {
        low: mean - 3.0 * std,
        high: mean + 3.0 * std,
        ..empty()
    };
    let mut modified_rule = OutlierRule {
        low: median - 3.5 * mad / 0.6745,
        high: median + 3.5 * mad / 0.6745,
        ..empty()
    };
    let example = |row: usize, value: f64| {
        let (file, line) = places.place(row as u64);
        OutlierExample {
            row: row as u64,
            file: files.get(file).cloned().unwrap_or_default(),
            line,
            value,
        }
    };
    let flag = |rule: &mut OutlierRule, row: usize, value: f64| {
        rule.count += 1;
        if rule.examples.len() < n_examples {
            rule.examples.push(example(row, value));
        }
    };
    for (row, &value) in values.iter().enumerate() {
        if value.is_nan() {
            continue;
        }
        if value < iqr_low || value > iqr_high {
            flag(&mut iqr_rule, row, value);
        }
        if std > 0.0 && ((value - mean) / std).abs() > 3.0 {
            flag(&mut z_rule, row, value);
        }
        if mad > 0.0 && (0.6745 * (value - median) / mad).abs() > 3.5 {
            flag(&mut modified_rule, row, value);
        }
    }
    Outliers {
        iqr: iqr_rule,
        zscore: z_rule,
        modified_zscore: modified_rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_methods_follow_evidently() {
        let check = |column_type, n_reference, n_distinct, expected: Method| {
            assert_eq!(
                default_method(column_type, n_reference, n_distinct),
                expected,
                "{column_type:?} {n_reference} {n_distinct}"
            );
        };
        use ColumnType::{Categorical, Numerical};
        check(Numerical, 1001, 6, Method::Wasserstein);
        check(Numerical, 1001, 5, Method::JensenShannon);
        check(Categorical, 1001, 50, Method::JensenShannon);
        check(Numerical, 1000, 6, Method::Ks);
        check(Numerical, 1000, 5, Method::ChiSquare);
        check(Numerical, 1000, 2, Method::Z);
        check(Categorical, 1000, 3, Method::ChiSquare);
        check(Categorical, 10, 2, Method::Z);
    }

    #[test]
    fn binned_distances_match_evidently_on_scipy() {
        use stats::tests::{check, rounded, sample, sorted};
        let reference = sorted(sample(11, 3000, 0.0, 1.0));
        let current = sorted(sample(12, 2500, 0.3, 1.0));
        let integers_reference = sorted(rounded(sample(17, 3000, 0.0, 1.0), 20.0, false));
        let integers_current = sorted(rounded(sample(18, 2000, 0.2, 1.0), 20.0, false));
        let few_reference = sorted(rounded(sample(19, 3000, 0.0, 1.0), 3.0, false));
        let few_current = sorted(rounded(sample(20, 2000, 0.5, 1.0), 3.0, false));
        // (method, reference, current, integer dtype, expected) computed with Evidently's binning
        // in NumPy and SciPy.
        type Case<'a> = (Method, &'a [f64], &'a [f64], bool, f64);
        let cases: [Case<'_>; 7] = [
            (Method::Psi, &reference, &current, false, 0.4322153086775116),
            (
                Method::KlDiv,
                &reference,
                &current,
                false,
                0.20744198115016252,
            ),
            (
                Method::JensenShannon,
                &reference,
                &current,
                false,
                0.21742818361069702,
            ),
            (
                Method::Psi,
                &integers_reference,
                &integers_current,
                true,
                0.14527460076832183,
            ),
            (
                Method::JensenShannon,
                &few_reference,
                &few_current,
                false,
                0.3099587879115265,
            ),
            (
                Method::Hellinger,
                &reference,
                &current,
                false,
                0.22587499016061882,
            ),
            (
                Method::Hellinger,
                &integers_reference,
                &integers_current,
                true,
                0.12717031130134182,
            ),
        ];
        for (method, reference, current, integer, expected) in cases {
            let outcome = numeric_test(method, reference, current, integer);
            check(outcome.statistic, expected, 1e-10);
        }
    }

    #[test]
    fn verdicts_compare_scores_as_evidently() {
        assert!(Method::Ks.drifted(0.05, 0.05));
        assert!(!Method::ChiSquare.drifted(0.05, 0.05));
        assert!(Method::Wasserstein.drifted(0.1, 0.1));
        assert!(!Method::JensenShannon.drifted(0.09, 0.1));
    }

    #[test]
    fn missing_columns_are_named() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let error = match_columns(&names(&["a", "b", "c"]), &names(&["a", "d"]), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("the reference data lacks column(s) d; the current data lacks column(s) b, c")
        );
        let (matched, reference, current) = match_columns(
            &names(&["a", "b", "c"]),
            &names(&["c", "a"]),
            Some(&names(&["c", "a"])),
        )
        .unwrap();
        assert_eq!(
            (matched, reference, current),
            (names(&["c", "a"]), vec![2, 0], vec![0, 1])
        );
    }

    #[test]
    fn outliers_follow_the_three_rules() {
        let mut values: Vec<f64> = (0..100).map(|i| (i % 10) as f64).collect();
        values[7] = 1000.0;
        values[50] = f64::NAN;
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let places = RowPlaces {
            lines: (2..102).collect(),
            files: vec![(0, 0)],
        };
        let outliers = find_outliers(&values, &sorted, 5, &places, &["c.csv".to_string()]);
        assert_eq!(outliers.iqr.count, 1);
        assert_eq!(outliers.zscore.count, 1);
        assert_eq!(outliers.modified_zscore.count, 1);
        let example = &outliers.iqr.examples[0];
        assert_eq!((example.row, example.line, example.value), (7, 9, 1000.0));
    }
}
