//! A starting suite from a profile: what the reference data shows, as expectations a person edits.
//! Pure: a [`TableProfile`] in, a [`Suite`] out.
//!
//! Rules (Great Expectations' names and kwargs):
//! - the table: `expect_table_columns_to_match_ordered_list` (`column_list`) and
//!   `expect_table_row_count_to_be_between` within ±10% of the observed count;
//! - each column: `expect_column_to_exist`; `expect_column_values_to_be_of_type` with the pandas
//!   dtype (`type_`); `expect_column_values_to_not_be_null`, with `mostly` = the observed non-null
//!   share rounded down to 2 decimals when there are nulls (none when all are null);
//! - int/float columns: `expect_column_values_to_be_between` with the observed min and max;
//! - columns with at most [`VALUE_SET_LIMIT`] distinct values (not float, not all distinct):
//!   `expect_column_values_to_be_in_set` (`value_set`, typed as the column is);
//! - columns whose values are all distinct (known exactly): `expect_column_values_to_be_unique`;
//! - string, date and datetime columns: `expect_column_value_lengths_to_be_between`.

use serde_json::{Number, Value};

use crate::profile::{ColumnSummary, InferredType, TableProfile, VALUE_SET_LIMIT};
use crate::suite::{ExpectationConfig, Suite, SUITE_VERSION};
use crate::table::{classify, CellKind};

/// The row count range is the observed count ± this share.
pub const ROW_COUNT_TOLERANCE: f64 = 0.10;

/// The suite suggested for a profiled table; `name` names it.
pub fn suggest(profile: &TableProfile, name: &str) -> Suite {
    let mut expectations = Vec::new();
    let names: Vec<Value> = profile
        .columns
        .iter()
        .map(|column| Value::String(column.name.clone()))
        .collect();
    expectations.push(
        ExpectationConfig::new("expect_table_columns_to_match_ordered_list")
            .with("column_list", names),
    );
    let rows = profile.rows as f64;
    expectations.push(
        ExpectationConfig::new("expect_table_row_count_to_be_between")
            .with(
                "min_value",
                (rows * (1.0 - ROW_COUNT_TOLERANCE)).floor() as u64,
            )
            .with(
                "max_value",
                (rows * (1.0 + ROW_COUNT_TOLERANCE)).ceil() as u64,
            ),
    );
    for column in &profile.columns {
        column_expectations(column, &mut expectations);
    }
    Suite {
        version: SUITE_VERSION,
        name: name.to_string(),
        description: Some(format!(
            "suggested by cairn data suggest from {} ({} rows): observed columns, types, nulls, ranges, value sets, uniqueness and lengths; the row count may vary by {}%. A starting point: review before use",
            profile.source,
            profile.rows,
            (ROW_COUNT_TOLERANCE * 100.0).round()
        )),
        expectations,
        meta: serde_json::Map::new(),
    }
}

fn column_expectations(column: &ColumnSummary, out: &mut Vec<ExpectationConfig>) {
    let name = column.name.as_str();
    let expect =
        |expectation_type: &str| ExpectationConfig::new(expectation_type).with("column", name);
    out.push(expect("expect_column_to_exist"));
    if column.inferred_type == InferredType::Null {
        return;
    }
    out.push(
        expect("expect_column_values_to_be_of_type").with("type_", column.pandas_dtype.as_str()),
    );
    if column.nulls == 0 {
        out.push(expect("expect_column_values_to_not_be_null"));
    } else if column.rows > 0 {
        let share = column.count as f64 / column.rows as f64;
        let mostly = (share * 100.0).floor() / 100.0;
        if mostly > 0.0 {
            out.push(expect("expect_column_values_to_not_be_null").with("mostly", mostly));
        }
    }
    let numeric = matches!(
        column.inferred_type,
        InferredType::Int | InferredType::Float
    );
    if numeric {
        if let (Some(min), Some(max)) = (&column.min, &column.max) {
            if is_finite_number(min) && is_finite_number(max) {
                out.push(
                    expect("expect_column_values_to_be_between")
                        .with("min_value", min.clone())
                        .with("max_value", max.clone()),
                );
            }
        }
    }
    if !column.unique && column.inferred_type != InferredType::Float {
        if let Some(values) = &column.value_set {
            if values.len() <= VALUE_SET_LIMIT {
                let typed: Vec<Value> = values
                    .iter()
                    .map(|text| typed_value(text, column.inferred_type))
                    .collect();
                out.push(expect("expect_column_values_to_be_in_set").with("value_set", typed));
            }
        }
    }
    if column.unique {
        out.push(expect("expect_column_values_to_be_unique"));
    }
    let textual = matches!(
        column.inferred_type,
        InferredType::String | InferredType::Date | InferredType::Datetime
    );
    if textual {
        if let Some(lengths) = &column.lengths {
            out.push(
                expect("expect_column_value_lengths_to_be_between")
                    .with("min_value", lengths.min)
                    .with("max_value", lengths.max),
            );
        }
    }
}

fn is_finite_number(value: &Value) -> bool {
    value.as_f64().is_some_and(f64::is_finite)
}

/// A value as the column's type holds it: ints as integers, booleans as booleans, else text.
fn typed_value(text: &str, inferred: InferredType) -> Value {
    match inferred {
        InferredType::Int | InferredType::Float => match classify(text.as_bytes()) {
            (CellKind::Int, value) if value.abs() < 9.007_199_254_740_992e15 => {
                Value::from(value as i64)
            }
            (CellKind::Int | CellKind::Float, value) => {
                Number::from_f64(value).map_or_else(|| Value::String(text.into()), Value::Number)
            }
            _ => Value::String(text.into()),
        },
        InferredType::Bool => Value::Bool(text == "True"),
        _ => Value::String(text.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ProfileOptions, TableProfiler};
    use crate::table::{CellReading, Chunk, Column};

    /// Profiles columns given as (name, cells) and suggests a suite.
    fn suggest_for(columns: &[(&str, &[&str])]) -> Suite {
        let reading = CellReading::default();
        let names: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
        let mut profiler = TableProfiler::new(&names, ProfileOptions::default(), None);
        let chunk = Chunk {
            n_rows: columns[0].1.len(),
            columns: columns
                .iter()
                .map(|(_, cells)| {
                    let mut column = Column::with_capacity(cells.len(), 64, true);
                    for cell in *cells {
                        column.push_text(cell, &reading, true, true);
                    }
                    column
                })
                .collect(),
            ..Default::default()
        };
        profiler.update(&chunk, 1).unwrap();
        suggest(&profiler.finish("data.csv", &[]).unwrap(), "data")
    }

    /// The expectations for `column` as YAML lines `type kwargs-json`, in order.
    fn for_column(suite: &Suite, column: &str) -> Vec<String> {
        suite
            .expectations
            .iter()
            .filter(|e| e.column() == Some(column))
            .map(|e| {
                let mut kwargs = e.kwargs.clone();
                kwargs.remove("column");
                format!("{} {}", e.expectation_type, Value::Object(kwargs))
            })
            .collect()
    }

    fn check(cells: &[&str], expected: &[&str]) {
        let suite = suggest_for(&[("c", cells)]);
        assert_eq!(for_column(&suite, "c"), expected, "{cells:?}");
    }

    #[test]
    fn column_rules() {
        check(
            &["1", "2", "3", "4"],
            &[
                "expect_column_to_exist {}",
                r#"expect_column_values_to_be_of_type {"type_":"int64"}"#,
                "expect_column_values_to_not_be_null {}",
                r#"expect_column_values_to_be_between {"max_value":4,"min_value":1}"#,
                "expect_column_values_to_be_unique {}",
            ],
        );
        check(
            &["1", "2", "2", ""],
            &[
                "expect_column_to_exist {}",
                r#"expect_column_values_to_be_of_type {"type_":"float64"}"#,
                r#"expect_column_values_to_not_be_null {"mostly":0.75}"#,
                r#"expect_column_values_to_be_between {"max_value":2,"min_value":1}"#,
                r#"expect_column_values_to_be_in_set {"value_set":[1,2]}"#,
            ],
        );
        check(
            &["0.5", "1.5", "1.5"],
            &[
                "expect_column_to_exist {}",
                r#"expect_column_values_to_be_of_type {"type_":"float64"}"#,
                "expect_column_values_to_not_be_null {}",
                r#"expect_column_values_to_be_between {"max_value":1.5,"min_value":0.5}"#,
            ],
        );
        check(
            &["red", "blue", "red", "green", "", "", ""],
            &[
                "expect_column_to_exist {}",
                r#"expect_column_values_to_be_of_type {"type_":"object"}"#,
                r#"expect_column_values_to_not_be_null {"mostly":0.57}"#,
                r#"expect_column_values_to_be_in_set {"value_set":["blue","green","red"]}"#,
                r#"expect_column_value_lengths_to_be_between {"max_value":5,"min_value":3}"#,
            ],
        );
        check(
            &["True", "False", "True"],
            &[
                "expect_column_to_exist {}",
                r#"expect_column_values_to_be_of_type {"type_":"bool"}"#,
                "expect_column_values_to_not_be_null {}",
                r#"expect_column_values_to_be_in_set {"value_set":[false,true]}"#,
            ],
        );
        check(&["", ""], &["expect_column_to_exist {}"]);
    }

    #[test]
    fn many_distinct_values_make_no_value_set() {
        let cells: Vec<String> = (0..42).map(|i| format!("v{}", i % 21)).collect();
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        let suite = suggest_for(&[("c", &cells)]);
        assert!(suite
            .expectations
            .iter()
            .all(|e| e.expectation_type != "expect_column_values_to_be_in_set"));
    }

    #[test]
    fn table_rules_and_the_suite_parses_back() {
        let ids: Vec<String> = (0..95).map(|i| i.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let kinds = vec!["a"; 95];
        let suite = suggest_for(&[("id", &ids), ("kind", &kinds)]);
        assert_eq!(
            suite.expectations[0],
            ExpectationConfig::new("expect_table_columns_to_match_ordered_list")
                .with("column_list", serde_json::json!(["id", "kind"]))
        );
        assert_eq!(
            suite.expectations[1],
            ExpectationConfig::new("expect_table_row_count_to_be_between")
                .with("min_value", 85)
                .with("max_value", 105)
        );
        assert!(suite.description.as_deref().unwrap_or("").contains("10%"));
        assert_eq!(Suite::parse(&suite.to_yaml(), "again").unwrap(), suite);
    }
}
