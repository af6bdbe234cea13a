//! Table-level expectations: row count, column set and order, column count, column presence.
//! They are decided from [`TableFacts`] alone.

use serde_json::{json, Value};

use super::{Check, Compiled, ExpectationResult, Kwargs, TableFacts};
use crate::error::Result;
use crate::table::{Chunk, Needs};

enum Rule {
    RowCountBetween {
        min: Option<f64>,
        max: Option<f64>,
        strict_min: bool,
        strict_max: bool,
    },
    RowCountEqual(u64),
    ColumnsMatchSet {
        set: Vec<String>,
        exact: bool,
    },
    ColumnsMatchList(Vec<String>),
    ColumnCountEqual(u64),
    ColumnCountBetween {
        min: Option<f64>,
        max: Option<f64>,
    },
    ColumnExists {
        column: String,
        index: Option<usize>,
    },
}

struct TableCheck {
    rule: Rule,
}

pub(crate) fn compile(
    name: &str,
    kwargs: &Kwargs<'_>,
    _needs: &mut [Needs],
) -> Result<Option<Compiled>> {
    let rule = match name {
        "expect_table_row_count_to_be_between" => {
            kwargs.only(&["min_value", "max_value", "strict_min", "strict_max"])?;
            Rule::RowCountBetween {
                min: kwargs.f64_opt("min_value")?,
                max: kwargs.f64_opt("max_value")?,
                strict_min: kwargs.bool_or("strict_min", false)?,
                strict_max: kwargs.bool_or("strict_max", false)?,
            }
        }
        "expect_table_row_count_to_equal" => {
            kwargs.only(&["value"])?;
            Rule::RowCountEqual(
                kwargs
                    .u64_opt("value")?
                    .ok_or_else(|| kwargs.error("`value` is required".into()))?,
            )
        }
        "expect_table_columns_to_match_set" => {
            kwargs.only(&["column_set", "exact_match"])?;
            Rule::ColumnsMatchSet {
                set: kwargs.strings("column_set")?,
                exact: kwargs.bool_or("exact_match", true)?,
            }
        }
        "expect_table_columns_to_match_ordered_list" => {
            kwargs.only(&["column_list"])?;
            Rule::ColumnsMatchList(kwargs.strings("column_list")?)
        }
        "expect_table_column_count_to_equal" => {
            kwargs.only(&["value"])?;
            Rule::ColumnCountEqual(
                kwargs
                    .u64_opt("value")?
                    .ok_or_else(|| kwargs.error("`value` is required".into()))?,
            )
        }
        "expect_table_column_count_to_be_between" => {
            kwargs.only(&["min_value", "max_value"])?;
            Rule::ColumnCountBetween {
                min: kwargs.f64_opt("min_value")?,
                max: kwargs.f64_opt("max_value")?,
            }
        }
        "expect_column_to_exist" => {
            kwargs.only(&["column", "column_index"])?;
            Rule::ColumnExists {
                column: kwargs.string("column")?.to_string(),
                index: kwargs.u64_opt("column_index")?.map(|i| i as usize),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Compiled::Check(Box::new(TableCheck { rule }))))
}

/// `min ≤ value ≤ max` with GE's optional strictness; a missing bound is open.
pub(crate) fn within(
    value: f64,
    min: Option<f64>,
    max: Option<f64>,
    strict_min: bool,
    strict_max: bool,
) -> bool {
    let above = match min {
        None => true,
        Some(min) if strict_min => value > min,
        Some(min) => value >= min,
    };
    let below = match max {
        None => true,
        Some(max) if strict_max => value < max,
        Some(max) => value <= max,
    };
    above && below
}

impl Check for TableCheck {
    fn update(&mut self, _chunk: &Chunk) -> Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>, facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        let columns = &facts.columns;
        match &self.rule {
            Rule::RowCountBetween {
                min,
                max,
                strict_min,
                strict_max,
            } => {
                result.observed_value = json!(facts.row_count);
                result.success =
                    within(facts.row_count as f64, *min, *max, *strict_min, *strict_max);
            }
            Rule::RowCountEqual(expected) => {
                result.observed_value = json!(facts.row_count);
                result.success = facts.row_count == *expected;
            }
            Rule::ColumnsMatchSet { set, exact } => {
                // GE reports the columns sorted (it compares sets).
                let mut sorted = columns.clone();
                sorted.sort();
                result.observed_value = json!(sorted);
                let missing: Vec<&String> = set.iter().filter(|c| !columns.contains(c)).collect();
                let unexpected: Vec<&String> =
                    columns.iter().filter(|c| !set.contains(c)).collect();
                result.success = missing.is_empty() && (!exact || unexpected.is_empty());
                if !result.success {
                    result.details.insert(
                        "mismatched".into(),
                        json!({"unexpected": unexpected, "missing": missing}),
                    );
                }
            }
            Rule::ColumnsMatchList(list) => {
                result.observed_value = json!(columns);
                result.success = list == columns;
                if !result.success {
                    let length = list.len().max(columns.len());
                    let mismatched: Vec<Value> = (0..length)
                        .filter(|&i| list.get(i) != columns.get(i))
                        .map(|i| json!({"Expected Column Position": i, "Expected": list.get(i), "Found": columns.get(i)}))
                        .collect();
                    result
                        .details
                        .insert("mismatched".into(), Value::Array(mismatched));
                }
            }
            Rule::ColumnCountEqual(expected) => {
                result.observed_value = json!(columns.len());
                result.success = columns.len() as u64 == *expected;
            }
            Rule::ColumnCountBetween { min, max } => {
                result.observed_value = json!(columns.len());
                result.success = within(columns.len() as f64, *min, *max, false, false);
            }
            Rule::ColumnExists { column, index } => {
                let position = columns.iter().position(|c| c == column);
                result.observed_value = json!(position.is_some());
                result.success = match (position, index) {
                    (Some(found), Some(expected)) => found == *expected,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
            }
        }
        Ok(())
    }
}
