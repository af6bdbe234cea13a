//! Column-aggregate expectations: one observed value per column (type, mean, median, quantiles, stdev,
//! sum, min, max, distinct values, unique counts, most common value, KL divergence).

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use xxhash_rust::xxh3::xxh3_64;

use super::table::within;
use super::{cell_number, value_of, Check, Compiled, ExpectationResult, Kwargs, TableFacts};
use crate::error::Result;
use crate::spill::counts::{Tally, ValueCounts};
use crate::spill::{f64_key, Allowance, DistinctHashes, Log, MemoryPool, Sorter};
use crate::stats::{self, Moments};
use crate::table::{CellKind, Chunk, Needs};

pub(crate) fn compile(
    name: &str,
    kwargs: &Kwargs<'_>,
    needs: &mut [Needs],
    pool: &Arc<MemoryPool>,
) -> Result<Option<Compiled>> {
    let column = match name {
        n if n.starts_with("expect_column_") => match kwargs.column_index("column")? {
            Ok(index) => index,
            Err(message) => {
                // Still check the arguments so a typo is reported before the data is blamed.
                compile_rule(name, kwargs)?;
                return Ok(Some(Compiled::Failed(message)));
            }
        },
        _ => return Ok(None),
    };
    let Some(rule) = compile_rule(name, kwargs)? else {
        return Ok(None);
    };
    let need = &mut needs[column];
    match rule {
        Rule::Type(_) => need.kinds = true,
        _ => need.numbers = true,
    }
    Ok(Some(Compiled::Check(Box::new(AggregateCheck::new(
        column, rule, pool,
    )))))
}

/// A `[min, max]` range as GE writes it, with optional strictness (also used by the PostgreSQL
/// pushdown, which must judge observed values the same way).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) strict_min: bool,
    pub(crate) strict_max: bool,
}

impl Range {
    pub(crate) fn read(kwargs: &Kwargs<'_>) -> Result<Range> {
        Ok(Range {
            min: kwargs.f64_opt("min_value")?,
            max: kwargs.f64_opt("max_value")?,
            strict_min: kwargs.bool_or("strict_min", false)?,
            strict_max: kwargs.bool_or("strict_max", false)?,
        })
    }

    pub(crate) fn holds(&self, value: f64) -> bool {
        !value.is_nan() && within(value, self.min, self.max, self.strict_min, self.strict_max)
    }
}

enum Statistic {
    Mean,
    Median,
    Stdev,
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SetRule {
    /// Every distinct value is in the set.
    Within,
    /// The set's values all occur.
    Contains,
    /// Both.
    Equals,
}

enum Rule {
    /// Accepted pandas dtype names (aliases resolved).
    Type(Vec<String>),
    Statistic(Statistic, Range),
    Quantiles {
        quantiles: Vec<f64>,
        ranges: Vec<(Option<f64>, Option<f64>)>,
    },
    DistinctSet {
        rule: SetRule,
        set: Vec<Value>,
    },
    UniqueCount(Range),
    UniqueProportion(Range),
    MostCommonIn {
        set: Vec<Value>,
        ties_okay: bool,
    },
    KlDivergence {
        partition: Partition,
        threshold: f64,
        tail_weight_holdout: f64,
    },
}

enum Partition {
    Categorical {
        values: Vec<Value>,
        weights: Vec<f64>,
    },
    Continuous {
        bins: Vec<f64>,
        weights: Vec<f64>,
    },
}

const RANGE_KWARGS: &[&str] = &[
    "column",
    "min_value",
    "max_value",
    "strict_min",
    "strict_max",
];

fn compile_rule(name: &str, kwargs: &Kwargs<'_>) -> Result<Option<Rule>> {
    let statistic = |statistic: Statistic| -> Result<Option<Rule>> {
        kwargs.only(RANGE_KWARGS)?;
        Ok(Some(Rule::Statistic(statistic, Range::read(kwargs)?)))
    };
    match name {
        "expect_column_values_to_be_of_type" => {
            kwargs.only(&["column", "type_"])?;
            Ok(Some(Rule::Type(vec![kwargs.string("type_")?.to_string()])))
        }
        "expect_column_values_to_be_in_type_list" => {
            kwargs.only(&["column", "type_list"])?;
            Ok(Some(Rule::Type(kwargs.strings("type_list")?)))
        }
        "expect_column_mean_to_be_between" => statistic(Statistic::Mean),
        "expect_column_median_to_be_between" => statistic(Statistic::Median),
        "expect_column_stdev_to_be_between" => statistic(Statistic::Stdev),
        "expect_column_sum_to_be_between" => statistic(Statistic::Sum),
        "expect_column_min_to_be_between" => statistic(Statistic::Min),
        "expect_column_max_to_be_between" => statistic(Statistic::Max),
        "expect_column_quantile_values_to_be_between" => {
            kwargs.only(&["column", "quantile_ranges", "allow_relative_error"])?;
            let Some(Value::Object(ranges)) = kwargs.get("quantile_ranges") else {
                return Err(kwargs.error(
                    "`quantile_ranges` must be {quantiles: [...], value_ranges: [[min, max], ...]}"
                        .into(),
                ));
            };
            let quantiles: Vec<f64> = ranges
                .get("quantiles")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let value_ranges: Vec<(Option<f64>, Option<f64>)> = ranges
                .get("value_ranges")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|pair| {
                            let pair = pair.as_array();
                            let bound =
                                |i: usize| pair.and_then(|p| p.get(i)).and_then(Value::as_f64);
                            (bound(0), bound(1))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if quantiles.is_empty()
                || quantiles.len() != value_ranges.len()
                || quantiles.iter().any(|q| !(0.0..=1.0).contains(q))
            {
                return Err(kwargs.error("`quantile_ranges` needs as many value_ranges as quantiles, each quantile in [0, 1]".into()));
            }
            Ok(Some(Rule::Quantiles {
                quantiles,
                ranges: value_ranges,
            }))
        }
        "expect_column_distinct_values_to_be_in_set"
        | "expect_column_distinct_values_to_contain_set"
        | "expect_column_distinct_values_to_equal_set" => {
            kwargs.only(&["column", "value_set", "parse_strings_as_datetimes"])?;
            let rule = if name.ends_with("be_in_set") {
                SetRule::Within
            } else if name.ends_with("contain_set") {
                SetRule::Contains
            } else {
                SetRule::Equals
            };
            Ok(Some(Rule::DistinctSet {
                rule,
                set: kwargs.list("value_set")?.clone(),
            }))
        }
        "expect_column_unique_value_count_to_be_between" => {
            kwargs.only(RANGE_KWARGS)?;
            Ok(Some(Rule::UniqueCount(Range::read(kwargs)?)))
        }
        "expect_column_proportion_of_unique_values_to_be_between" => {
            kwargs.only(RANGE_KWARGS)?;
            Ok(Some(Rule::UniqueProportion(Range::read(kwargs)?)))
        }
        "expect_column_most_common_value_to_be_in_set" => {
            kwargs.only(&["column", "value_set", "ties_okay"])?;
            Ok(Some(Rule::MostCommonIn {
                set: kwargs.list("value_set")?.clone(),
                ties_okay: kwargs.bool_or("ties_okay", false)?,
            }))
        }
        "expect_column_kl_divergence_to_be_less_than" => {
            kwargs.only(&[
                "column",
                "partition_object",
                "threshold",
                "internal_weight_holdout",
                "tail_weight_holdout",
                "bucketize_data",
            ])?;
            let Some(Value::Object(partition)) = kwargs.get("partition_object") else {
                return Err(kwargs.error(
                    "`partition_object` must be {values, weights} or {bins, weights}".into(),
                ));
            };
            let weights: Vec<f64> = partition
                .get("weights")
                .and_then(Value::as_array)
                .map(|w| w.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let partition = if let Some(values) = partition.get("values").and_then(Value::as_array)
            {
                Partition::Categorical {
                    values: values.clone(),
                    weights,
                }
            } else if let Some(bins) = partition.get("bins").and_then(Value::as_array) {
                let bins: Vec<f64> = bins.iter().filter_map(Value::as_f64).collect();
                if bins.len() != weights.len() + 1 || bins.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(kwargs.error(
                        "`partition_object.bins` must be increasing edges, one more than `weights`"
                            .into(),
                    ));
                }
                Partition::Continuous { bins, weights }
            } else {
                return Err(kwargs.error("`partition_object` needs `values` or `bins`".into()));
            };
            let threshold = kwargs.f64("threshold")?;
            let tail_weight_holdout = kwargs.f64_opt("tail_weight_holdout")?.unwrap_or(0.0);
            if !(0.0..1.0).contains(&tail_weight_holdout) {
                return Err(kwargs.error("`tail_weight_holdout` must be in [0, 1)".into()));
            }
            Ok(Some(Rule::KlDivergence {
                partition,
                threshold,
                tail_weight_holdout,
            }))
        }
        _ => Ok(None),
    }
}

/// What an aggregate check gathers; only the parts its rule needs are filled.
struct AggregateCheck {
    column: usize,
    rule: Rule,
    rows: u64,
    nulls: u64,
    /// Per kind counts (for types).
    kinds: [u64; 5],
    moments: Moments,
    min: f64,
    max: f64,
    all_integral: bool,
    /// Non-numeric cells where numbers were needed: count and the first one.
    non_numeric: u64,
    first_non_numeric: Option<(u64, String)>,
    /// Every number, for medians and quantiles (sorted in memory, or externally past the
    /// allowance), as [`f64_key`]s.
    values: Option<Sorter<u64>>,
    /// Rows per bin of a continuous KL partition.
    bin_counts: Vec<f64>,
    /// Rows per distinct text, and each one's first cell (in memory, or spilled past the
    /// allowance and merged at the end).
    counts: Option<ValueCounts>,
    /// Where a categorical KL divergence keeps the counts of values outside its partition while
    /// it finishes.
    others: Option<Allowance>,
    /// Distinct values' hashes, for unique counts.
    hashes: Option<DistinctHashes>,
}

impl AggregateCheck {
    fn new(column: usize, rule: Rule, pool: &Arc<MemoryPool>) -> AggregateCheck {
        let keeps_values = matches!(
            rule,
            Rule::Statistic(Statistic::Median, _) | Rule::Quantiles { .. }
        );
        let counts_hashes = matches!(rule, Rule::UniqueCount(_) | Rule::UniqueProportion(_));
        let bins = match &rule {
            Rule::KlDivergence {
                partition: Partition::Continuous { weights, .. },
                ..
            } => weights.len(),
            _ => 0,
        };
        let counts_values = matches!(
            rule,
            Rule::DistinctSet { .. }
                | Rule::MostCommonIn { .. }
                | Rule::KlDivergence {
                    partition: Partition::Categorical { .. },
                    ..
                }
        );
        let (counts, others) = match (&rule, counts_values) {
            (Rule::KlDivergence { .. }, true) => {
                // Half for the counts, half for the other values' counts while finishing.
                let allowance = pool.allowance().divided(2);
                (Some(ValueCounts::new(allowance.clone())), Some(allowance))
            }
            (_, true) => (Some(ValueCounts::new(pool.allowance())), None),
            _ => (None, None),
        };
        AggregateCheck {
            column,
            rule,
            rows: 0,
            nulls: 0,
            kinds: [0; 5],
            moments: Moments::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            all_integral: true,
            non_numeric: 0,
            first_non_numeric: None,
            values: keeps_values.then(|| Sorter::new(pool.allowance(), false)),
            bin_counts: vec![0.0; bins],
            counts,
            others,
            hashes: counts_hashes.then(|| DistinctHashes::new(pool.allowance())),
        }
    }

    fn numeric_rule(&self) -> bool {
        matches!(self.rule, Rule::Statistic(..) | Rule::Quantiles { .. })
    }

    /// Rules judged on the numbers (a text cell is an error for them).
    fn reads_numbers(&self) -> bool {
        matches!(
            self.rule,
            Rule::KlDivergence {
                partition: Partition::Continuous { .. },
                ..
            }
        ) || self.values.is_some()
    }
}

impl Check for AggregateCheck {
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
        let column = chunk.column(self.column);
        let first_chunk = self.rows == 0;
        self.rows += chunk.n_rows as u64;
        if let Rule::Type(_) = self.rule {
            for kind in column.kinds() {
                self.kinds[*kind as usize] += 1;
            }
            return Ok(());
        }
        let numeric = self.numeric_rule() || self.reads_numbers();
        if first_chunk && chunk.rows_hint > 0 {
            // One allocation of the right size (within the allowance) rather than doublings.
            let expected = chunk.rows_hint + chunk.rows_hint / 16;
            if let Some(values) = self.values.as_mut() {
                values.reserve(expected);
            }
        }
        let bins = match &self.rule {
            Rule::KlDivergence {
                partition: Partition::Continuous { bins, .. },
                ..
            } => Some(bins.as_slice()),
            _ => None,
        };
        for (row, kind) in column.kinds().iter().enumerate() {
            match kind {
                CellKind::Null => {
                    self.nulls += 1;
                    continue;
                }
                CellKind::Int | CellKind::Float | CellKind::Bool if numeric => {
                    let value = column.numbers()[row];
                    self.all_integral &= *kind != CellKind::Float;
                    self.moments.push(value);
                    self.min = self.min.min(value);
                    self.max = self.max.max(value);
                    if let Some(values) = self.values.as_mut() {
                        values.push(f64_key(value))?;
                    }
                    if let Some(bins) = bins {
                        // As GE bins: values outside the edges are left out, the last bin holds
                        // its upper edge.
                        let last = bins.len() - 1;
                        if !(value < bins[0] || value > bins[last]) {
                            let upper = bins.partition_point(|edge| *edge <= value);
                            let bin = upper.saturating_sub(1).min(self.bin_counts.len() - 1);
                            self.bin_counts[bin] += 1.0;
                        }
                    }
                }
                _ if numeric => {
                    self.non_numeric += 1;
                    if self.first_non_numeric.is_none() {
                        self.first_non_numeric =
                            Some((chunk.first_row + row as u64, column.text(row).to_string()));
                    }
                }
                _ => {}
            }
            if let Some(counts) = self.counts.as_mut() {
                counts.add(column.text(row), || Tally {
                    count: 1,
                    row: chunk.first_row + row as u64,
                    file_index: chunk.file_index,
                    line: chunk.line(row),
                    kind: *kind,
                    number: cell_number(column, row),
                })?;
            }
            if let Some(hashes) = self.hashes.as_mut() {
                hashes.insert(xxh3_64(column.text(row).as_bytes()))?;
            }
        }
        Ok(())
    }

    fn finish(
        mut self: Box<Self>,
        _facts: &TableFacts,
        result: &mut ExpectationResult,
    ) -> Result<()> {
        result.element_count = Some(self.rows);
        result.missing_count = Some(self.nulls);
        if self.non_numeric > 0 {
            let (row, text) = self.first_non_numeric.take().unwrap_or_default();
            result.error = Some(format!(
                "the column has {} non-numeric value{} (first: {text:?} at row {row})",
                self.non_numeric,
                if self.non_numeric == 1 { "" } else { "s" }
            ));
            result.success = false;
            return Ok(());
        }
        let integral = self.all_integral;
        let number = |value: f64| -> Value {
            if value.is_nan() {
                Value::Null
            } else if integral && value.fract() == 0.0 && value.abs() < 9.0e15 {
                json!(value as i64)
            } else {
                json!(value)
            }
        };
        match std::mem::replace(&mut self.rule, Rule::Type(Vec::new())) {
            Rule::Type(accepted) => {
                let dtype = pandas_dtype(&self.kinds);
                result.observed_value = json!(dtype);
                result.success = accepted.iter().any(|name| type_matches(name, dtype));
            }
            Rule::Statistic(statistic, range) => {
                let observed = match statistic {
                    Statistic::Mean => json!(nan_null(self.moments.mean())),
                    Statistic::Stdev => json!(nan_null(self.moments.std())),
                    Statistic::Sum => number(self.moments.sum),
                    Statistic::Min => number(if self.moments.count == 0 {
                        f64::NAN
                    } else {
                        self.min
                    }),
                    Statistic::Max => number(if self.moments.count == 0 {
                        f64::NAN
                    } else {
                        self.max
                    }),
                    Statistic::Median => {
                        let median = self.quantiles(&[0.5], Quantile::Linear)?[0];
                        json!(nan_null(median))
                    }
                };
                result.success = observed.as_f64().is_some_and(|value| range.holds(value));
                result.observed_value = observed;
            }
            Rule::Quantiles { quantiles, ranges } => {
                let observed = self.quantiles(&quantiles, Quantile::Nearest)?;
                let success: Vec<bool> = observed
                    .iter()
                    .zip(&ranges)
                    .map(|(value, (min, max))| {
                        !value.is_nan() && within(*value, *min, *max, false, false)
                    })
                    .collect();
                result.success = success.iter().all(|s| *s);
                result.observed_value = json!({"quantiles": quantiles, "values": observed.iter().map(|v| number(*v)).collect::<Vec<_>>()});
                result
                    .details
                    .insert("success_details".into(), json!(success));
            }
            Rule::DistinctSet { rule, set } => {
                let mut summary = DistinctSetSummary::new(rule, &set);
                for entry in self.counted()? {
                    let (text, tally) = entry?;
                    let value = value_of(tally.kind, &text, tally.number);
                    summary.add(text, tally.count, value, |value| super::Example {
                        row: tally.row,
                        value: value.clone(),
                        file_index: tally.file_index,
                        line: tally.line,
                    });
                }
                summary.finish(result);
            }
            Rule::UniqueCount(range) => {
                let distinct = self.distinct_count()?;
                result.observed_value = json!(distinct);
                result.success = range.holds(distinct as f64);
            }
            Rule::UniqueProportion(range) => {
                let judged = self.rows - self.nulls;
                let distinct = self.distinct_count()?;
                let proportion = if judged == 0 {
                    0.0
                } else {
                    distinct as f64 / judged as f64
                };
                result.observed_value = json!(proportion);
                result.success = range.holds(proportion);
            }
            Rule::MostCommonIn { set, ties_okay } => {
                let mut modes = ModesSummary::new(&set, ties_okay);
                for entry in self.counted()? {
                    let (text, tally) = entry?;
                    modes.add(tally.count, || value_of(tally.kind, &text, tally.number));
                }
                modes.finish(result);
            }
            Rule::KlDivergence {
                partition,
                threshold,
                tail_weight_holdout,
            } => {
                let judged = (self.rows - self.nulls) as f64;
                let (observed, expected): (Vec<f64>, Vec<f64>) = match partition {
                    Partition::Categorical { values, weights } => {
                        return self.categorical_kl(
                            &values,
                            weights,
                            threshold,
                            tail_weight_holdout,
                            result,
                        );
                    }
                    Partition::Continuous { weights, .. } => (
                        self.bin_counts
                            .iter()
                            .map(|c| c / judged.max(1.0))
                            .collect(),
                        weights,
                    ),
                };
                let divergence = kl_divergence(&observed, &expected);
                record_kl(result, divergence, threshold, &observed, &expected);
            }
        }
        Ok(())
    }
}

/// How a quantile is read between ranks.
#[derive(Debug, Clone, Copy)]
enum Quantile {
    /// Linear interpolation (numpy's default; the median).
    Linear,
    /// The nearest rank (GE's `expect_column_quantile_values_to_be_between`).
    Nearest,
}

impl AggregateCheck {
    /// Quantiles of the kept numbers, read from their sorted stream (NaN when there are none).
    fn quantiles(&mut self, quantiles: &[f64], method: Quantile) -> Result<Vec<f64>> {
        let Some(values) = self.values.take() else {
            return Ok(vec![f64::NAN; quantiles.len()]);
        };
        let n = self.moments.count as usize;
        let ranks: Vec<usize> = quantiles
            .iter()
            .flat_map(|&q| match method {
                Quantile::Linear => {
                    let (low, high, _) = stats::linear_position(n, q);
                    vec![low, high]
                }
                Quantile::Nearest => vec![stats::nearest_rank(n, q)],
            })
            .collect();
        let found = values.values_at_ranks(ranks)?;
        let at = |rank: usize| found.get(&rank).copied().unwrap_or(f64::NAN);
        Ok(quantiles
            .iter()
            .map(|&q| match method {
                Quantile::Linear => stats::quantile_linear_by(n, q, at),
                Quantile::Nearest if n == 0 => f64::NAN,
                Quantile::Nearest => at(stats::nearest_rank(n, q)),
            })
            .collect())
    }

    fn distinct_count(&mut self) -> Result<u64> {
        match self.hashes.take() {
            Some(hashes) => hashes.count(),
            None => Ok(0),
        }
    }

    /// The distinct texts counted, with their tallies, in text order.
    fn counted(&mut self) -> Result<impl Iterator<Item = Result<(String, Tally)>>> {
        let counts = self
            .counts
            .take()
            .map(ValueCounts::finish)
            .transpose()?
            .into_iter()
            .flatten();
        Ok(counts)
    }

    /// GE's KL divergence over a categorical partition: observed shares over the partition's
    /// values and any other value seen; those others share `tail_weight_holdout` of the expected
    /// weight (none: an infinite divergence). Read in one pass over the merged counts; the other
    /// values' counts wait in a log (spilled past the allowance) until their number is known.
    fn categorical_kl(
        &mut self,
        values: &[Value],
        weights: Vec<f64>,
        threshold: f64,
        tail_weight_holdout: f64,
        result: &mut ExpectationResult,
    ) -> Result<()> {
        let judged = ((self.rows - self.nulls) as f64).max(1.0);
        let mut member_counts = vec![0u64; values.len()];
        let mut others = Log::<u64>::new(match self.others.take() {
            Some(allowance) => allowance,
            None => MemoryPool::new(crate::spill::MemoryBudget::unlimited()).allowance(),
        });
        let mut n_others = 0u64;
        for entry in self.counted()? {
            let (text, tally) = entry?;
            let value = value_of(tally.kind, &text, tally.number);
            let mut member = false;
            for (index, candidate) in values.iter().enumerate() {
                if same_value(candidate, &value) {
                    member_counts[index] += tally.count;
                    member = true;
                }
            }
            if !member {
                others.push(tally.count)?;
                n_others += 1;
            }
        }
        let mut others = others.into_reader()?;
        let mut observed: Vec<f64> = member_counts
            .iter()
            .map(|count| *count as f64 / judged)
            .collect();
        let mut expected = weights;
        let each = if n_others > 0 {
            for weight in &mut expected {
                *weight *= 1.0 - tail_weight_holdout;
            }
            tail_weight_holdout / n_others as f64
        } else {
            0.0
        };
        // scipy.stats.entropy(pk, qk), summed in order: the partition's values, then the others.
        let mut p_sum: f64 = observed.iter().sum();
        for count in others.iter()? {
            p_sum += count? as f64 / judged;
        }
        let mut q_sum: f64 = expected.iter().sum();
        for _ in 0..n_others {
            q_sum += each;
        }
        let term = |p: f64, q: f64| kl_term(p / p_sum, q / q_sum);
        let mut divergence = if p_sum <= 0.0 || q_sum <= 0.0 {
            f64::NAN
        } else {
            observed
                .iter()
                .zip(&expected)
                .map(|(p, q)| term(*p, *q))
                .sum()
        };
        for (index, count) in others.iter()?.enumerate() {
            let p = count? as f64 / judged;
            divergence += term(p, each);
            if index < LISTED_VALUES {
                observed.push(p);
                expected.push(each);
            }
        }
        record_kl(result, divergence, threshold, &observed, &expected);
        if n_others > LISTED_VALUES as u64 {
            // The weights list the partition's values and the first other values (in text order).
            result
                .details
                .insert("other_values".into(), json!(n_others));
            result
                .details
                .insert("partition_truncated".into(), json!(true));
        }
        Ok(())
    }
}

/// The most values a result lists (the observed distinct values and their counts, the modes, a
/// categorical partition's other values). Past it a list holds the first ones (in its order) and
/// the details say how many there are; success, counts and examples are still computed over all.
pub(crate) const LISTED_VALUES: usize = 1_000;

/// The `limit` first items of a stream under an order, in bounded memory.
struct Smallest<T> {
    limit: usize,
    order: fn(&T, &T) -> Ordering,
    items: Vec<T>,
    seen: u64,
}

impl<T> Smallest<T> {
    fn new(limit: usize, order: fn(&T, &T) -> Ordering) -> Smallest<T> {
        Smallest {
            limit,
            order,
            items: Vec::new(),
            seen: 0,
        }
    }

    fn push(&mut self, item: T) {
        self.seen += 1;
        self.items.push(item);
        if self.items.len() >= self.limit.max(1) * 2 {
            self.items.sort_by(self.order);
            self.items.truncate(self.limit);
        }
    }

    /// The kept items in order, and whether some were left out.
    fn into_sorted(mut self) -> (Vec<T>, bool) {
        self.items.sort_by(self.order);
        self.items.truncate(self.limit);
        let truncated = self.seen > self.items.len() as u64;
        (self.items, truncated)
    }
}

/// The distinct-value set expectations' result, in Great Expectations 1.x's shape, read from a
/// stream of distinct values: values outside the set are unexpected (with where each first
/// appears), values of the set the data lacks are missing (`partial_missing_list`); the observed
/// value is the sorted distinct values (the first [`LISTED_VALUES`] of them, and their count in
/// `details.distinct_values`, when there are more). Shared by the streaming engine and the
/// PostgreSQL pushdown.
pub(crate) struct DistinctSetSummary<'a> {
    rule: SetRule,
    set: &'a [Value],
    /// (value, text, rows) of the first distinct values in sorted order.
    listed: Smallest<(Value, String, u64)>,
    present: Vec<bool>,
    outside: Smallest<super::Example>,
}

impl<'a> DistinctSetSummary<'a> {
    pub(crate) fn new(rule: SetRule, set: &'a [Value]) -> DistinctSetSummary<'a> {
        DistinctSetSummary {
            rule,
            set,
            listed: Smallest::new(LISTED_VALUES, |a, b| compare_values(&a.0, &b.0)),
            present: vec![false; set.len()],
            outside: Smallest::new(super::EXAMPLES, |a, b| a.row.cmp(&b.row)),
        }
    }

    /// One distinct value: its text, rows and typed value; `first` gives its first cell.
    pub(crate) fn add(
        &mut self,
        text: String,
        count: u64,
        value: Value,
        first: impl FnOnce(&Value) -> super::Example,
    ) {
        let mut inside = false;
        for (member, present) in self.set.iter().zip(self.present.iter_mut()) {
            if same_value(member, &value) {
                *present = true;
                inside = true;
            }
        }
        if !inside {
            self.outside.push(first(&value));
        }
        self.listed.push((value, text, count));
    }

    pub(crate) fn finish(self, result: &mut ExpectationResult) {
        let distinct = self.listed.seen;
        let outside_count = self.outside.seen;
        let (outside, _) = self.outside.into_sorted();
        let (listed, truncated) = self.listed.into_sorted();
        let absent: Vec<Value> = self
            .set
            .iter()
            .zip(&self.present)
            .filter(|(_, present)| !**present)
            .map(|(member, _)| member.clone())
            .collect();
        result.success = match self.rule {
            SetRule::Within => outside_count == 0,
            SetRule::Contains => absent.is_empty(),
            SetRule::Equals => outside_count == 0 && absent.is_empty(),
        };
        result.element_count = None;
        result.missing_count = None;
        if self.rule != SetRule::Contains {
            result.unexpected_count = Some(outside_count);
            result.examples = outside;
        }
        if self.rule != SetRule::Within {
            result.missing_count = Some(absent.len() as u64);
            result
                .extra
                .insert("partial_missing_list".into(), Value::Array(absent));
        }
        let counts: Map<String, Value> = listed
            .iter()
            .map(|(_, text, count)| (text.clone(), json!(count)))
            .collect();
        result
            .details
            .insert("value_counts".into(), Value::Object(counts));
        if truncated {
            result
                .details
                .insert("distinct_values".into(), json!(distinct));
            result
                .details
                .insert("observed_value_truncated".into(), json!(true));
        }
        result.observed_value =
            Value::Array(listed.into_iter().map(|(value, _, _)| value).collect());
    }
}

/// `expect_column_most_common_value_to_be_in_set`, read from a stream of distinct values with their
/// rows: the values with the most rows (sorted; the first [`LISTED_VALUES`] when there are more) must
/// all be in the set, or one of them with `ties_okay`. Shared with the PostgreSQL pushdown.
pub(crate) struct ModesSummary<'a> {
    set: &'a [Value],
    ties_okay: bool,
    top: u64,
    modes: Smallest<Value>,
    any_inside: bool,
    all_inside: bool,
}

impl<'a> ModesSummary<'a> {
    pub(crate) fn new(set: &'a [Value], ties_okay: bool) -> ModesSummary<'a> {
        ModesSummary {
            set,
            ties_okay,
            top: 0,
            modes: Smallest::new(LISTED_VALUES, compare_values),
            any_inside: false,
            all_inside: true,
        }
    }

    /// One distinct value held by `count` rows (`value` is built only if it is a mode so far).
    pub(crate) fn add(&mut self, count: u64, value: impl FnOnce() -> Value) {
        if count == 0 || count < self.top {
            return;
        }
        if count > self.top {
            self.top = count;
            self.modes = Smallest::new(LISTED_VALUES, compare_values);
            self.any_inside = false;
            self.all_inside = true;
        }
        let value = value();
        let inside = self.set.iter().any(|member| same_value(member, &value));
        self.any_inside |= inside;
        self.all_inside &= inside;
        self.modes.push(value);
    }

    pub(crate) fn finish(self, result: &mut ExpectationResult) {
        let count = self.modes.seen;
        let (modes, truncated) = self.modes.into_sorted();
        result.success = count > 0
            && if self.ties_okay {
                self.any_inside
            } else {
                self.all_inside
            };
        if truncated {
            result.details.insert("modes".into(), json!(count));
            result
                .details
                .insert("observed_value_truncated".into(), json!(true));
        }
        result.observed_value = Value::Array(modes);
    }
}

/// scipy.stats.entropy(pk, qk): both normalised to sum 1, Σ pk·ln(pk/qk).
fn kl_divergence(pk: &[f64], qk: &[f64]) -> f64 {
    let p_sum: f64 = pk.iter().sum();
    let q_sum: f64 = qk.iter().sum();
    if p_sum <= 0.0 || q_sum <= 0.0 {
        return f64::NAN;
    }
    pk.iter()
        .zip(qk)
        .map(|(p, q)| kl_term(p / p_sum, q / q_sum))
        .sum()
}

/// One value's share of a KL divergence, from normalised weights: p·ln(p/q), 0 where p is 0.
fn kl_term(p: f64, q: f64) -> f64 {
    if p == 0.0 {
        0.0
    } else if q == 0.0 {
        f64::INFINITY
    } else {
        p * (p / q).ln()
    }
}

fn nan_null(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// Whether a suite value and an observed value are the same (numbers by value, else text).
pub(crate) fn same_value(expected: &Value, observed: &Value) -> bool {
    match (expected, observed) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => {
            a.trim().parse::<f64>().ok() == b.as_f64()
        }
        _ => false,
    }
}

/// The order of listed values: numbers first (by value), then text (by its JSON).
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.to_string().cmp(&b.to_string()),
    }
}

/// The dtype pandas' `read_csv` would give a column with these cell kinds.
pub fn pandas_dtype(kinds: &[u64; 5]) -> &'static str {
    let [nulls, ints, floats, bools, texts] = *kinds;
    if texts > 0 || (bools > 0 && (ints + floats > 0 || nulls > 0)) {
        return "object";
    }
    if bools > 0 {
        return "bool";
    }
    if floats > 0 || nulls > 0 {
        return "float64";
    }
    if ints > 0 {
        return "int64";
    }
    // No rows at all: pandas reads an empty column as object.
    "object"
}

/// Whether a type name from a suite (pandas, numpy, Python or SQL spelling) names `dtype`.
pub(crate) fn type_matches(name: &str, dtype: &str) -> bool {
    let canonical = match name.to_ascii_lowercase().as_str() {
        "int" | "int64" | "int32" | "integer" | "bigint" | "long" | "int64dtype" => "int64",
        "float" | "float64" | "float32" | "double" | "real" | "numeric" | "decimal" | "number" => {
            "float64"
        }
        "bool" | "boolean" => "bool",
        "object" | "str" | "string" | "text" | "varchar" | "char" => "object",
        other => return other == dtype,
    };
    canonical == dtype
}

/// A KL divergence check's result: the divergence (null when infinite), success against the
/// threshold, and both partitions' weights.
fn record_kl(
    result: &mut ExpectationResult,
    divergence: f64,
    threshold: f64,
    observed: &[f64],
    expected: &[f64],
) {
    result.observed_value = if divergence.is_finite() {
        json!(divergence)
    } else {
        Value::Null
    };
    result.success = divergence <= threshold;
    result
        .details
        .insert("observed_partition".into(), json!({"weights": observed}));
    result
        .details
        .insert("expected_partition".into(), json!({"weights": expected}));
}
