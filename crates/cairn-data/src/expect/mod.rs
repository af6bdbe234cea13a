//! Expectations: each suite entry compiled to a [`Check`] that reads chunks in row order and gives an
//! [`ExpectationResult`] at the end. Pure: no files, no threads.
//!
//! Semantics follow Great Expectations on its pandas engine, so results agree value for value:
//! - Column-map expectations (`expect_column_values_to_*`) judge each non-null cell; nulls are only
//!   judged by the null expectations. `mostly` is the share of non-null cells that must pass;
//!   `max_unexpected_count` (cairn's) caps the failing cells as an absolute count.
//! - `unexpected_percent` is over non-null cells (GE's `unexpected_percent_nonmissing`).
//! - Up to 20 unexpected values are kept with their row (0-based, across files: pandas' index).
//! - A cell that should be a number but is text is unexpected (mixed types fail, they do not crash).

pub(crate) mod aggregate;
mod kwargs;
mod map;
pub(crate) mod table;

use serde::Serialize;
use serde_json::{Map, Value};

use std::sync::Arc;

use crate::error::Result;
use crate::spill::{MemoryBudget, MemoryPool};
use crate::suite::{ExpectationConfig, Suite};
use crate::table::{CellKind, Chunk, Column, Needs};

pub use kwargs::Kwargs;

/// How many unexpected values a result keeps.
pub const EXAMPLES: usize = 20;

/// One failing cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// Row number in the whole table (0-based).
    pub row: u64,
    /// The cell's value (a number where the cell is one).
    pub value: Value,
    /// The file it came from and its line there (when the source has lines).
    pub file_index: usize,
    pub line: u64,
}

/// The outcome of one expectation, shaped like Great Expectations' result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub expectation_type: String,
    pub kwargs: Map<String, Value>,
    pub success: bool,
    pub observed_value: Value,
    /// Rows judged (map expectations) or rows read (aggregates).
    pub element_count: Option<u64>,
    pub missing_count: Option<u64>,
    pub unexpected_count: Option<u64>,
    pub examples: Vec<Example>,
    /// Extra facts (per-quantile values, the expected set...).
    pub details: Map<String, Value>,
    /// Fields of GE's result beside the common ones (e.g. `partial_missing_list`).
    pub extra: Map<String, Value>,
    /// Why the expectation could not be evaluated (a missing column, non-numeric values...).
    pub error: Option<String>,
}

impl ExpectationResult {
    fn new(config: &ExpectationConfig) -> ExpectationResult {
        ExpectationResult {
            expectation_type: config.expectation_type.clone(),
            kwargs: config.kwargs.clone(),
            success: false,
            observed_value: Value::Null,
            element_count: None,
            missing_count: None,
            unexpected_count: None,
            examples: Vec::new(),
            details: Map::new(),
            extra: Map::new(),
            error: None,
        }
    }

    /// A result that failed before any data was read.
    pub fn failed(config: &ExpectationConfig, error: String) -> ExpectationResult {
        ExpectationResult {
            error: Some(error),
            ..ExpectationResult::new(config)
        }
    }

    /// Non-null cells judged.
    pub fn nonmissing_count(&self) -> Option<u64> {
        Some(self.element_count? - self.missing_count.unwrap_or(0))
    }

    /// Unexpected cells as a percentage of non-null cells.
    pub fn unexpected_percent(&self) -> Option<f64> {
        let unexpected = self.unexpected_count? as f64;
        let judged = self.nonmissing_count()?;
        Some(if judged == 0 {
            0.0
        } else {
            unexpected / judged as f64 * 100.0
        })
    }

    /// Unexpected cells as a percentage of all rows.
    pub fn unexpected_percent_total(&self) -> Option<f64> {
        let unexpected = self.unexpected_count? as f64;
        let total = self.element_count?;
        Some(if total == 0 {
            0.0
        } else {
            unexpected / total as f64 * 100.0
        })
    }

    /// Missing cells as a percentage of all rows.
    pub fn missing_percent(&self) -> Option<f64> {
        let missing = self.missing_count? as f64;
        let total = self.element_count?;
        Some(if total == 0 {
            0.0
        } else {
            missing / total as f64 * 100.0
        })
    }
}

/// What every check knows once the scan is over.
#[derive(Debug, Clone)]
pub struct TableFacts {
    pub columns: Vec<String>,
    pub row_count: u64,
}

/// A compiled expectation, fed every chunk in row order. Errors are those of spill files (a check
/// that keeps values past its memory allowance writes them to disk); a result the data fails is
/// not an error.
pub trait Check: Send {
    fn update(&mut self, chunk: &Chunk) -> Result<()>;
    fn finish(self: Box<Self>, facts: &TableFacts, result: &mut ExpectationResult) -> Result<()>;
}

/// A suite compiled against a table's columns.
pub struct Plan {
    entries: Vec<(ExpectationResult, Option<Box<dyn Check>>)>,
    needs: Vec<Needs>,
}

impl Plan {
    /// Compiles `suite` for a table with `columns`. Bad arguments are a usage error; a column the
    /// data lacks fails that expectation only. The checks that keep values (uniqueness, medians,
    /// quantiles, outliers) share `memory` equally and spill to its directory past it.
    pub fn compile(suite: &Suite, columns: &[String], memory: &MemoryBudget) -> Result<Plan> {
        let mut needs = vec![Needs::default(); columns.len()];
        let mut entries = Vec::with_capacity(suite.expectations.len());
        let pool = MemoryPool::new(memory.clone());
        for (index, config) in suite.expectations.iter().enumerate() {
            let kwargs = Kwargs::new(index, config, columns);
            let result = ExpectationResult::new(config);
            match compile_one(&kwargs, &mut needs, &pool)? {
                Compiled::Check(check) => entries.push((result, Some(check))),
                Compiled::Failed(error) => {
                    entries.push((ExpectationResult::failed(config, error), None))
                }
            }
        }
        Ok(Plan { entries, needs })
    }

    /// What the reader must compute per column.
    pub fn needs(&self) -> Vec<Needs> {
        self.needs.clone()
    }

    pub fn update(&mut self, chunk: &Chunk) -> Result<()> {
        for (_, check) in &mut self.entries {
            if let Some(check) = check {
                check.update(chunk)?;
            }
        }
        Ok(())
    }

    /// The running checks, for callers that spread them over threads (each check must still see
    /// every chunk, in order).
    pub fn checks_mut(&mut self) -> Vec<&mut Box<dyn Check>> {
        self.entries
            .iter_mut()
            .filter_map(|(_, check)| check.as_mut())
            .collect()
    }

    pub fn finish(self, facts: &TableFacts) -> Result<Vec<ExpectationResult>> {
        self.entries
            .into_iter()
            .map(|(mut result, check)| {
                if let Some(check) = check {
                    check.finish(facts, &mut result)?;
                }
                Ok(result)
            })
            .collect()
    }
}

pub(crate) enum Compiled {
    Check(Box<dyn Check>),
    Failed(String),
}

/// Every expectation type cairn knows, for `--help` and error messages.
pub const KNOWN: &[&str] = &[
    "expect_table_row_count_to_be_between",
    "expect_table_row_count_to_equal",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_select_column_values_to_be_unique_within_record",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
    "expect_column_values_to_be_increasing",
    "expect_column_values_to_be_decreasing",
    "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_quantile_values_to_be_between",
    "expect_column_stdev_to_be_between",
    "expect_column_sum_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
    "expect_column_distinct_values_to_be_in_set",
    "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between",
    "expect_column_most_common_value_to_be_in_set",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_values_to_be_dateutil_parseable",
    "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_json_parseable",
    "expect_column_value_z_scores_to_be_less_than",
    "expect_column_values_to_not_be_outliers",
    "expect_column_kl_divergence_to_be_less_than",
];

fn compile_one(
    kwargs: &Kwargs<'_>,
    needs: &mut [Needs],
    pool: &Arc<MemoryPool>,
) -> Result<Compiled> {
    let name = kwargs.expectation_type();
    if let Some(compiled) = table::compile(name, kwargs, needs)? {
        return Ok(compiled);
    }
    if let Some(compiled) = map::compile(name, kwargs, needs, pool)? {
        return Ok(compiled);
    }
    if let Some(compiled) = aggregate::compile(name, kwargs, needs, pool)? {
        return Ok(compiled);
    }
    Err(kwargs.error(format!(
        "unknown expectation type (cairn knows: {})",
        KNOWN
            .iter()
            .map(|n| n.trim_start_matches("expect_"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// A cell as a JSON value: a number where the cell is one, else its text.
pub(crate) fn cell_value(column: &Column, row: usize) -> Value {
    value_of(column.kind(row), column.text(row), cell_number(column, row))
}

/// The number the reader parsed for a cell, when it parsed numbers.
pub(crate) fn cell_number(column: &Column, row: usize) -> Option<f64> {
    column.has_numbers().then(|| column.numbers()[row])
}

/// A cell's JSON value from its parts: kind, text and (when parsed) number.
pub(crate) fn value_of(kind: CellKind, text: &str, number: Option<f64>) -> Value {
    match kind {
        CellKind::Null => Value::Null,
        CellKind::Int => {
            let text = text.trim();
            text.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.to_string()))
        }
        CellKind::Float => {
            let parsed = number.unwrap_or_else(|| text.trim().parse().unwrap_or(f64::NAN));
            serde_json::Number::from_f64(parsed)
                .map_or_else(|| Value::String(text.to_string()), Value::Number)
        }
        CellKind::Bool => Value::Bool(
            number.is_some_and(|v| v == 1.0) || matches!(text, "True" | "true" | "TRUE"),
        ),
        CellKind::Text => Value::String(text.to_string()),
    }
}

/// Collects the first [`EXAMPLES`] unexpected cells, in row order.
#[derive(Debug, Default)]
pub(crate) struct Examples {
    pub(crate) list: Vec<Example>,
}

impl Examples {
    pub(crate) fn wants_more(&self) -> bool {
        self.list.len() < EXAMPLES
    }

    pub(crate) fn push(&mut self, chunk: &Chunk, column: usize, row: usize) {
        if self.wants_more() {
            self.push_value(chunk, row, cell_value(chunk.column(column), row));
        }
    }

    pub(crate) fn push_value(&mut self, chunk: &Chunk, row: usize, value: Value) {
        if self.wants_more() {
            self.list.push(Example {
                row: chunk.first_row + row as u64,
                value,
                file_index: chunk.file_index,
                line: chunk.line(row),
            });
        }
    }
}

/// `mostly` and `max_unexpected_count` applied to counts (GE's `_mostly_success`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tolerance {
    pub(crate) mostly: Option<f64>,
    pub(crate) max_unexpected: Option<u64>,
}

impl Tolerance {
    pub(crate) fn read(kwargs: &Kwargs<'_>) -> Result<Tolerance> {
        let mostly = kwargs.f64_opt("mostly")?;
        if let Some(mostly) = mostly {
            if !(0.0..=1.0).contains(&mostly) {
                return Err(kwargs.error("`mostly` must be between 0 and 1".into()));
            }
        }
        let max_unexpected = kwargs.u64_opt("max_unexpected_count")?;
        Ok(Tolerance {
            mostly,
            max_unexpected,
        })
    }

    pub(crate) fn success(&self, judged: u64, unexpected: u64) -> bool {
        if let Some(max) = self.max_unexpected {
            if unexpected > max {
                return false;
            }
        }
        match self.mostly {
            None => unexpected == 0 || (self.max_unexpected.is_some()),
            Some(_) if judged == 0 => true,
            Some(mostly) => (judged - unexpected) as f64 / judged as f64 >= mostly,
        }
    }
}

#[cfg(test)]
mod tests;
