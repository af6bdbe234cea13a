//! Data-driven tests of the expectations: each case is a table, one expectation, and the result it
//! must give. Every table is also fed in chunks of one and two rows: streaming must not change
//! results.

use serde_json::{json, Value};

use super::*;
use crate::suite::Suite;
use crate::table::{CellReading, Column};

/// Builds chunks of `chunk_rows` rows from a header and rows of cells (kinds and numbers computed).
fn chunks(header: &[&str], rows: &[&[&str]], chunk_rows: usize) -> Vec<Chunk> {
    let reading = CellReading::default();
    let mut out = Vec::new();
    for (index, part) in rows.chunks(chunk_rows.max(1)).enumerate() {
        let mut columns: Vec<Column> = header
            .iter()
            .map(|_| Column::with_capacity(part.len(), 16, true))
            .collect();
        for row in part {
            for (column, cell) in columns.iter_mut().zip(row.iter()) {
                column.push_text(cell, &reading, true, true);
            }
        }
        let first = (index * chunk_rows.max(1)) as u64;
        out.push(Chunk {
            first_row: first,
            file_index: 0,
            lines: (0..part.len() as u64).map(|i| first + i + 2).collect(),
            columns,
            n_rows: part.len(),
            rows_hint: 0,
        });
    }
    out
}

fn suite(expectation: Value) -> Suite {
    let text = json!({"version": 1, "name": "t", "expectations": [expectation]}).to_string();
    Suite::parse(&text, "test").unwrap()
}

/// Runs one expectation over the table, whole and in small chunks; all runs must agree.
fn run(header: &[&str], rows: &[&[&str]], expectation: Value) -> ExpectationResult {
    let columns: Vec<String> = header.iter().map(|c| c.to_string()).collect();
    let suite = suite(expectation);
    let mut results = Vec::new();
    for chunk_rows in [usize::MAX, 1, 2] {
        let mut plan = Plan::compile(&suite, &columns).unwrap();
        for chunk in chunks(header, rows, chunk_rows.min(rows.len().max(1))) {
            plan.update(&chunk);
        }
        let facts = TableFacts {
            columns: columns.clone(),
            row_count: rows.len() as u64,
        };
        results.push(plan.finish(&facts).remove(0));
    }
    assert_eq!(results[0], results[1], "one-row chunks changed the result");
    assert_eq!(results[0], results[2], "two-row chunks changed the result");
    results.remove(0)
}

/// The facts a case checks: success, unexpected count, observed value (when given), example rows.
fn check(
    header: &[&str],
    rows: &[&[&str]],
    expectation: Value,
    success: bool,
    unexpected: Option<u64>,
    observed: Option<Value>,
    example_rows: Option<&[u64]>,
) {
    let label = expectation.to_string();
    let result = run(header, rows, expectation);
    assert_eq!(result.success, success, "success of {label}: {result:?}");
    assert_eq!(
        result.unexpected_count, unexpected,
        "unexpected count of {label}: {result:?}"
    );
    if let Some(observed) = observed {
        assert_eq!(result.observed_value, observed, "observed value of {label}");
    }
    if let Some(rows) = example_rows {
        let got: Vec<u64> = result.examples.iter().map(|e| e.row).collect();
        assert_eq!(got, rows, "example rows of {label}");
    }
}

const H: &[&str] = &["x"];

#[test]
fn null_expectations_judge_every_row() {
    let rows: &[&[&str]] = &[&["1"], &[""], &["3"], &["NA"]];
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_not_be_null", "column": "x"}),
        false,
        Some(2),
        None,
        Some(&[1, 3]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_not_be_null", "column": "x", "mostly": 0.5}),
        true,
        Some(2),
        None,
        None,
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_not_be_null", "column": "x", "mostly": 0.51}),
        false,
        Some(2),
        None,
        None,
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_null", "column": "x"}),
        false,
        Some(2),
        None,
        Some(&[0, 2]),
    );
}

#[test]
fn map_expectations_ignore_nulls_and_apply_mostly_to_non_null_cells() {
    // 4 non-null cells, 2 unexpected (50 and the text), 1 null.
    let rows: &[&[&str]] = &[&["1"], &["2"], &["50"], &["x"], &[""]];
    let between = json!({"type": "expect_column_values_to_be_between", "column": "x", "min_value": 0, "max_value": 10});
    check(
        H,
        rows,
        between.clone(),
        false,
        Some(2),
        None,
        Some(&[2, 3]),
    );
    let mut mostly = between.clone();
    mostly["mostly"] = json!(0.5);
    check(H, rows, mostly.clone(), true, Some(2), None, None);
    mostly["mostly"] = json!(0.75);
    check(H, rows, mostly, false, Some(2), None, None);
    let mut capped = between.clone();
    capped["max_unexpected_count"] = json!(2);
    check(H, rows, capped.clone(), true, Some(2), None, None);
    capped["max_unexpected_count"] = json!(1);
    check(H, rows, capped, false, Some(2), None, None);
    let result = run(H, rows, between);
    assert_eq!(
        (result.element_count, result.missing_count),
        (Some(5), Some(1))
    );
    assert_eq!(result.unexpected_percent(), Some(50.0));
    assert_eq!(result.examples[0].value, json!(50));
    assert_eq!(result.examples[1].value, json!("x"));
    assert_eq!(result.examples[0].line, 4);
}

#[test]
fn between_bounds_strictness_and_dates() {
    let rows: &[&[&str]] = &[&["0"], &["5"], &["10"]];
    let strict = json!({"type": "expect_column_values_to_be_between", "column": "x", "min_value": 0, "max_value": 10, "strict_min": true, "strict_max": true});
    check(H, rows, strict, false, Some(2), None, Some(&[0, 2]));
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_between", "column": "x", "min_value": 5}),
        false,
        Some(1),
        None,
        Some(&[0]),
    );
    let dates: &[&[&str]] = &[&["2024-01-01"], &["2024-06-30"], &["2025-01-01"], &["soon"]];
    let range = json!({"type": "expect_column_values_to_be_between", "column": "x", "min_value": "2024-01-01", "max_value": "2024-12-31"});
    check(H, dates, range, false, Some(2), None, Some(&[2, 3]));
}

#[test]
fn set_membership_compares_numbers_as_numbers() {
    let rows: &[&[&str]] = &[&["1"], &["2.0"], &["3"], &["a"]];
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_in_set", "column": "x", "value_set": [1, 2, "a"]}),
        false,
        Some(1),
        None,
        Some(&[2]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_not_be_in_set", "column": "x", "value_set": [3, "b"]}),
        false,
        Some(1),
        None,
        Some(&[2]),
    );
}

#[test]
fn text_expectations() {
    let rows: &[&[&str]] = &[&["ab12"], &["cd"], &["é"], &["{\"a\": 1}"]];
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_match_regex", "column": "x", "regex": "[0-9]"}),
        false,
        Some(2),
        None,
        Some(&[1, 2]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_not_match_regex", "column": "x", "regex": "^[a-z]+$"}),
        false,
        Some(1),
        None,
        Some(&[1]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_match_regex_list", "column": "x", "regex_list": ["a", "b"], "match_on": "all"}),
        false,
        Some(3),
        None,
        None,
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_value_lengths_to_be_between", "column": "x", "min_value": 2, "max_value": 4}),
        false,
        Some(2),
        None,
        Some(&[2, 3]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_value_lengths_to_equal", "column": "x", "value": 1}),
        false,
        Some(3),
        None,
        None,
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_json_parseable", "column": "x"}),
        false,
        Some(3),
        None,
        Some(&[0, 1, 2]),
    );
    let dates: &[&[&str]] = &[&["2024-01-31"], &["2024-02-30"], &["Jan 5 2024"], &["x1"]];
    check(
        H,
        dates,
        json!({"type": "expect_column_values_to_match_strftime_format", "column": "x", "strftime_format": "%Y-%m-%d"}),
        false,
        Some(3),
        None,
        Some(&[1, 2, 3]),
    );
    check(
        H,
        dates,
        json!({"type": "expect_column_values_to_be_dateutil_parseable", "column": "x"}),
        false,
        Some(2),
        None,
        Some(&[1, 3]),
    );
}

#[test]
fn uniqueness_flags_every_row_of_a_repeated_value() {
    let rows: &[&[&str]] = &[&["a"], &["b"], &["a"], &["c"], &["a"], &[""], &[""]];
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_unique", "column": "x"}),
        false,
        Some(3),
        None,
        Some(&[0, 2, 4]),
    );
    let pairs: &[&[&str]] = &[&["1", "a"], &["1", "b"], &["1", "a"], &["", ""]];
    check(
        &["p", "q"],
        pairs,
        json!({"type": "expect_compound_columns_to_be_unique", "column_list": ["p", "q"]}),
        false,
        Some(2),
        None,
        Some(&[0, 2]),
    );
    check(
        &["p", "q"],
        pairs,
        json!({"type": "expect_select_column_values_to_be_unique_within_record", "column_list": ["p", "q"]}),
        true,
        Some(0),
        None,
        None,
    );
}

#[test]
fn monotonic_values_compare_with_the_previous_non_null_value() {
    let rows: &[&[&str]] = &[&["1"], &["2"], &["2"], &["1"], &[""], &["3"]];
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_increasing", "column": "x"}),
        false,
        Some(1),
        None,
        Some(&[3]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_increasing", "column": "x", "strictly": true}),
        false,
        Some(2),
        None,
        Some(&[2, 3]),
    );
    check(
        H,
        rows,
        json!({"type": "expect_column_values_to_be_decreasing", "column": "x"}),
        false,
        Some(2),
        None,
        Some(&[1, 5]),
    );
}

#[test]
fn column_pairs() {
    let rows: &[&[&str]] = &[&["1", "1"], &["2", "1"], &["1", "2"], &["", ""], &["3", ""]];
    let header = &["a", "b"];
    check(
        header,
        rows,
        json!({"type": "expect_column_pair_values_to_be_equal", "column_A": "a", "column_B": "b"}),
        false,
        Some(3),
        None,
        Some(&[1, 2, 4]),
    );
    check(
        header,
        rows,
        json!({"type": "expect_column_pair_values_a_to_be_greater_than_b", "column_A": "a", "column_B": "b"}),
        false,
        Some(3),
        None,
        Some(&[0, 2, 4]),
    );
    check(
        header,
        rows,
        json!({"type": "expect_column_pair_values_a_to_be_greater_than_b", "column_A": "a", "column_B": "b", "or_equal": true, "ignore_row_if": "either_value_is_missing"}),
        false,
        Some(1),
        None,
        Some(&[2]),
    );
}

#[test]
fn statistics_match_pandas() {
    // pandas: mean 2.5, median 2.5, std 1.2909944487358056, sum 10, min 1, max 4.
    let rows: &[&[&str]] = &[&["1"], &["2"], &[""], &["3"], &["4"]];
    let stat = |name: &str, min: f64, max: f64| json!({"type": name, "column": "x", "min_value": min, "max_value": max});
    check(
        H,
        rows,
        stat("expect_column_mean_to_be_between", 2.5, 2.5),
        true,
        None,
        Some(json!(2.5)),
        None,
    );
    check(
        H,
        rows,
        stat("expect_column_median_to_be_between", 0.0, 2.0),
        false,
        None,
        Some(json!(2.5)),
        None,
    );
    check(
        H,
        rows,
        stat("expect_column_stdev_to_be_between", 1.29, 1.3),
        true,
        None,
        Some(json!(1.2909944487358056)),
        None,
    );
    check(
        H,
        rows,
        stat("expect_column_sum_to_be_between", 10.0, 10.0),
        true,
        None,
        Some(json!(10)),
        None,
    );
    check(
        H,
        rows,
        stat("expect_column_min_to_be_between", 1.0, 1.0),
        true,
        None,
        Some(json!(1)),
        None,
    );
    check(
        H,
        rows,
        stat("expect_column_max_to_be_between", 0.0, 3.0),
        false,
        None,
        Some(json!(4)),
        None,
    );
    // numpy.quantile([1, 2, 3, 4], [0.25, 0.5, 0.9], method="nearest") == [2, 3, 4]
    let quantiles = json!({"type": "expect_column_quantile_values_to_be_between", "column": "x",
        "quantile_ranges": {"quantiles": [0.25, 0.5, 0.9], "value_ranges": [[2, 2], [3, 3], [0, 3]]}});
    check(
        H,
        rows,
        quantiles,
        false,
        None,
        Some(json!({"quantiles": [0.25, 0.5, 0.9], "values": [2, 3, 4]})),
        None,
    );
    // Text among numbers: an aggregate cannot be computed, and says why.
    let mixed: &[&[&str]] = &[&["1"], &["oops"]];
    let result = run(H, mixed, stat("expect_column_mean_to_be_between", 0.0, 9.0));
    assert!(!result.success);
    assert!(
        result
            .error
            .as_deref()
            .is_some_and(|e| e.contains("non-numeric") && e.contains("oops")),
        "{result:?}"
    );
}

#[test]
fn distinct_values_and_types() {
    let rows: &[&[&str]] = &[&["b"], &["a"], &["b"], &[""], &["c"]];
    let set = |name: &str, values: Value| json!({"type": name, "column": "x", "value_set": values});
    check(
        H,
        rows,
        set(
            "expect_column_distinct_values_to_be_in_set",
            json!(["a", "b"]),
        ),
        false,
        None,
        Some(json!(["a", "b", "c"])),
        None,
    );
    check(
        H,
        rows,
        set(
            "expect_column_distinct_values_to_contain_set",
            json!(["a", "b"]),
        ),
        true,
        None,
        None,
        None,
    );
    check(
        H,
        rows,
        set(
            "expect_column_distinct_values_to_equal_set",
            json!(["a", "b", "c"]),
        ),
        true,
        None,
        None,
        None,
    );
    check(
        H,
        rows,
        set("expect_column_most_common_value_to_be_in_set", json!(["b"])),
        true,
        None,
        Some(json!(["b"])),
        None,
    );
    let range = |name: &str, min: f64, max: f64| json!({"type": name, "column": "x", "min_value": min, "max_value": max});
    check(
        H,
        rows,
        range("expect_column_unique_value_count_to_be_between", 3.0, 3.0),
        true,
        None,
        Some(json!(3)),
        None,
    );
    check(
        H,
        rows,
        range(
            "expect_column_proportion_of_unique_values_to_be_between",
            0.0,
            0.7,
        ),
        false,
        None,
        Some(json!(0.75)),
        None,
    );
    let of_type = |type_: &str, rows: &[&[&str]]| {
        run(
            H,
            rows,
            json!({"type": "expect_column_values_to_be_of_type", "column": "x", "type_": type_}),
        )
    };
    assert_eq!(
        of_type("int64", &[&["1"], &["2"]]).observed_value,
        json!("int64")
    );
    assert_eq!(
        of_type("int", &[&["1"], &[""]]).observed_value,
        json!("float64")
    );
    assert!(of_type("float", &[&["1"], &[""]]).success);
    assert!(of_type("str", &[&["1"], &["a"]]).success);
    assert_eq!(
        of_type("bool", &[&["True"], &["False"]]).observed_value,
        json!("bool")
    );
    let in_list = run(
        H,
        &[&["1.5"]],
        json!({"type": "expect_column_values_to_be_in_type_list", "column": "x", "type_list": ["int", "str"]}),
    );
    assert!(!in_list.success);
}

#[test]
fn whole_column_rules() {
    let mut cells: Vec<String> = (0..20).map(|i| (10 + i % 3).to_string()).collect();
    cells.push("100".into());
    cells.push(String::new());
    let rows: Vec<[&str; 1]> = cells.iter().map(|c| [c.as_str()]).collect();
    let rows: Vec<&[&str]> = rows.iter().map(|r| r.as_slice()).collect();
    check(
        H,
        &rows,
        json!({"type": "expect_column_value_z_scores_to_be_less_than", "column": "x", "threshold": 3}),
        false,
        Some(1),
        None,
        Some(&[20]),
    );
    check(
        H,
        &rows,
        json!({"type": "expect_column_values_to_not_be_outliers", "column": "x"}),
        false,
        Some(1),
        None,
        Some(&[20]),
    );
    check(
        H,
        &rows,
        json!({"type": "expect_column_values_to_not_be_outliers", "column": "x", "method": "mad"}),
        false,
        Some(1),
        None,
        Some(&[20]),
    );
}

#[test]
fn kl_divergence_against_a_categorical_partition() {
    // scipy.stats.entropy([0.75, 0.25], [0.5, 0.5]) == 0.13081203594113694
    let rows: &[&[&str]] = &[&["a"], &["a"], &["a"], &["b"]];
    let expectation = json!({"type": "expect_column_kl_divergence_to_be_less_than", "column": "x",
        "partition_object": {"values": ["a", "b"], "weights": [0.5, 0.5]}, "threshold": 0.1});
    let result = run(H, rows, expectation);
    assert!(!result.success);
    let observed = result.observed_value.as_f64().unwrap();
    assert!(
        (observed - 0.130_812_035_941_136_94).abs() < 1e-12,
        "{observed}"
    );
}

#[test]
fn table_expectations() {
    let header = &["a", "b"];
    let rows: &[&[&str]] = &[&["1", "2"], &["3", "4"]];
    check(
        header,
        rows,
        json!({"type": "expect_table_row_count_to_be_between", "min_value": 1, "max_value": 2}),
        true,
        None,
        Some(json!(2)),
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_table_row_count_to_equal", "value": 3}),
        false,
        None,
        Some(json!(2)),
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_table_columns_to_match_set", "column_set": ["b", "a"]}),
        true,
        None,
        None,
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_table_columns_to_match_set", "column_set": ["a"], "exact_match": false}),
        true,
        None,
        None,
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_table_columns_to_match_ordered_list", "column_list": ["b", "a"]}),
        false,
        None,
        None,
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_table_column_count_to_equal", "value": 2}),
        true,
        None,
        Some(json!(2)),
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_column_to_exist", "column": "b", "column_index": 1}),
        true,
        None,
        None,
        None,
    );
    check(
        header,
        rows,
        json!({"type": "expect_column_to_exist", "column": "c"}),
        false,
        None,
        None,
        None,
    );
}

#[test]
fn a_column_the_data_lacks_fails_that_expectation_only() {
    let result = run(
        H,
        &[&["1"]],
        json!({"type": "expect_column_values_to_not_be_null", "column": "missing"}),
    );
    assert!(!result.success);
    assert!(
        result
            .error
            .as_deref()
            .is_some_and(|e| e.contains("\"missing\" is not in the data")),
        "{result:?}"
    );
}

#[test]
fn bad_arguments_are_usage_errors_naming_the_expectation() {
    let columns = vec!["x".to_string()];
    let cases = [
        (
            json!({"type": "expect_column_values_to_be_between", "column": "x"}),
            "min_value",
        ),
        (
            json!({"type": "expect_column_values_to_be_between", "column": "x", "min_value": 1, "maxvalue": 2}),
            "unknown argument `maxvalue`",
        ),
        (
            json!({"type": "expect_column_values_to_match_regex", "column": "x", "regex": "("}),
            "bad regex",
        ),
        (
            json!({"type": "expect_column_values_to_not_be_null", "column": "x", "mostly": 2}),
            "mostly",
        ),
        (
            json!({"type": "expect_column_values_to_be_nice", "column": "x"}),
            "unknown expectation type",
        ),
        (
            json!({"type": "expect_column_values_to_not_be_null", "column": 3}),
            "must be a string",
        ),
        (
            json!({"type": "expect_column_values_to_not_be_null", "column": "x", "row_condition": "x>1"}),
            "not supported",
        ),
    ];
    for (expectation, needle) in cases {
        let error = Plan::compile(&suite(expectation.clone()), &columns)
            .err()
            .unwrap_or_else(|| panic!("{expectation} compiled"));
        let message = error.to_string();
        assert!(
            message.contains(needle) && message.starts_with("expectation 1 ("),
            "{expectation}: {message}"
        );
    }
}
