//! Data-driven tests of the expectations: each case is a table, one expectation, and the result it
//! must give. Every table is also fed in chunks of one and two rows: streaming must not change
//! results.

use serde_json::{json, Value};

use super::*;
use crate::spill::MemoryBudget;
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

/// A budget so small that every check keeping values spills after a few rows (many runs).
fn tiny_budget() -> MemoryBudget {
    MemoryBudget {
        bytes: 0,
        temp_dir: None,
    }
}

/// Runs a suite over the table in chunks of `chunk_rows` rows within `memory`.
fn run_suite(
    header: &[&str],
    rows: &[&[&str]],
    suite: &Suite,
    chunk_rows: usize,
    memory: &MemoryBudget,
) -> Vec<ExpectationResult> {
    let columns: Vec<String> = header.iter().map(|c| c.to_string()).collect();
    let mut plan = Plan::compile(suite, &columns, memory).unwrap();
    for chunk in chunks(header, rows, chunk_rows.min(rows.len().max(1))) {
        plan.update(&chunk).unwrap();
    }
    let facts = TableFacts {
        columns,
        row_count: rows.len() as u64,
    };
    plan.finish(&facts).unwrap()
}

/// Runs one expectation over the table, whole and in small chunks, in memory and spilled to disk
/// after every few values; all runs must agree.
fn run(header: &[&str], rows: &[&[&str]], expectation: Value) -> ExpectationResult {
    let suite = suite(expectation);
    let mut results = Vec::new();
    for chunk_rows in [usize::MAX, 1, 2] {
        results
            .push(run_suite(header, rows, &suite, chunk_rows, &MemoryBudget::default()).remove(0));
    }
    assert_eq!(results[0], results[1], "one-row chunks changed the result");
    assert_eq!(results[0], results[2], "two-row chunks changed the result");
    for chunk_rows in [usize::MAX, 1] {
        let spilled = run_suite(header, rows, &suite, chunk_rows, &tiny_budget()).remove(0);
        assert_eq!(results[0], spilled, "spilling changed the result");
    }
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
    // GE 1.x's shape: distinct values outside the set are unexpected (where each first appears),
    // values of the set the data lacks are missing.
    let in_set = set(
        "expect_column_distinct_values_to_be_in_set",
        json!(["a", "b"]),
    );
    check(
        H,
        rows,
        in_set,
        false,
        Some(1),
        Some(json!(["a", "b", "c"])),
        Some(&[4]),
    );
    let contain = set(
        "expect_column_distinct_values_to_contain_set",
        json!(["a", "b"]),
    );
    check(H, rows, contain, true, None, None, None);
    let equal = set(
        "expect_column_distinct_values_to_equal_set",
        json!(["a", "b", "c"]),
    );
    check(H, rows, equal, true, Some(0), None, None);
    let absent = run(
        H,
        rows,
        set(
            "expect_column_distinct_values_to_contain_set",
            json!(["a", "z"]),
        ),
    );
    assert!(!absent.success);
    assert_eq!(absent.missing_count, Some(1));
    assert_eq!(absent.extra["partial_missing_list"], json!(["z"]));
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
        let error = Plan::compile(
            &suite(expectation.clone()),
            &columns,
            &MemoryBudget::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("{expectation} compiled"));
        let message = error.to_string();
        assert!(
            message.contains(needle) && message.starts_with("expectation 1 ("),
            "{expectation}: {message}"
        );
    }
}

/// A table big enough for a tiny memory budget to spill every check that keeps values many times:
/// ids repeated far apart (a value alone in each of several runs) and next to each other, nulls,
/// ties, negative zeros and infinities among the numbers, text keys for compound uniqueness.
fn big_table() -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec!["id", "x", "k"];
    let mut rows = Vec::new();
    for i in 0..4_000u64 {
        let id = if i % 97 == 0 && i > 1_500 {
            // Repeats a value last seen 1,500 rows earlier (another run).
            (i - 1_500).to_string()
        } else if i % 1_013 == 1 {
            // Repeats the previous row's value.
            (i - 1).to_string()
        } else if i % 89 == 0 {
            String::new()
        } else {
            i.to_string()
        };
        let x = match i % 53 {
            0 => String::new(),
            1 => "-0.0".to_string(),
            2 if i % 3 == 0 => "inf".to_string(),
            _ => format!("{:.1}", ((i * 7_919) % 1_009) as f64 / 10.0 - 30.0),
        };
        let k = format!("k{}", (i * 31) % 57);
        rows.push(vec![id, x, k]);
    }
    (header, rows)
}

fn spill_cases() -> Vec<Value> {
    vec![
        json!({"type": "expect_column_values_to_be_unique", "column": "id"}),
        json!({"type": "expect_column_values_to_be_unique", "column": "x", "mostly": 0.1}),
        json!({"type": "expect_compound_columns_to_be_unique", "column_list": ["x", "k"]}),
        json!({"type": "expect_column_unique_value_count_to_be_between", "column": "x", "min_value": 1}),
        json!({"type": "expect_column_proportion_of_unique_values_to_be_between", "column": "id", "min_value": 0.9}),
        json!({"type": "expect_column_median_to_be_between", "column": "x", "min_value": -100}),
        json!({"type": "expect_column_median_to_be_between", "column": "id", "max_value": 0}),
        json!({"type": "expect_column_quantile_values_to_be_between", "column": "x",
            "quantile_ranges": {"quantiles": [0.0, 0.05, 0.333, 0.5, 0.95, 1.0],
                "value_ranges": [[null, null], [null, null], [null, null], [null, null], [null, null], [null, 10]]}}),
        json!({"type": "expect_column_value_z_scores_to_be_less_than", "column": "id", "threshold": 1.5}),
        json!({"type": "expect_column_values_to_not_be_outliers", "column": "x"}),
        json!({"type": "expect_column_values_to_not_be_outliers", "column": "id", "method": "mad", "threshold": 1.0}),
        json!({"type": "expect_column_kl_divergence_to_be_less_than", "column": "x",
            "partition_object": {"bins": [-40, -10, 0, 10, 80], "weights": [0.3, 0.2, 0.2, 0.3]}, "threshold": 0.1}),
        // Checks that count rows per distinct value (index 12 on).
        json!({"type": "expect_column_distinct_values_to_be_in_set", "column": "k",
            "value_set": ["k1", "k2", "k3", "k40", "nope"]}),
        json!({"type": "expect_column_distinct_values_to_contain_set", "column": "id",
            "value_set": [1, 2, 3_999, 123_456]}),
        json!({"type": "expect_column_distinct_values_to_equal_set", "column": "x",
            "value_set": [-30.0, "inf", 0]}),
        json!({"type": "expect_column_distinct_values_to_be_in_set", "column": "id",
            "value_set": [1, 2, 3]}),
        json!({"type": "expect_column_most_common_value_to_be_in_set", "column": "k",
            "value_set": ["k5", "k7"], "ties_okay": true}),
        json!({"type": "expect_column_most_common_value_to_be_in_set", "column": "id",
            "value_set": [0]}),
        json!({"type": "expect_column_most_common_value_to_be_in_set", "column": "x",
            "value_set": [0]}),
        json!({"type": "expect_column_kl_divergence_to_be_less_than", "column": "k",
            "partition_object": {"values": ["k0", "k1", "k2"], "weights": [0.5, 0.3, 0.2]},
            "threshold": 0.1, "tail_weight_holdout": 0.2}),
        json!({"type": "expect_column_kl_divergence_to_be_less_than", "column": "id",
            "partition_object": {"values": [1, 2], "weights": [0.5, 0.5]},
            "threshold": 0.1, "tail_weight_holdout": 0.5}),
    ]
}

#[test]
fn spilling_to_disk_gives_the_in_memory_results() {
    let (header, rows) = big_table();
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| row.iter().map(String::as_str).collect())
        .collect();
    let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
    let expectations = spill_cases();
    let suite = Suite::parse(
        &json!({"version": 1, "name": "t", "expectations": expectations}).to_string(),
        "test",
    )
    .unwrap();
    let in_memory = run_suite(&header, &rows, &suite, 1_000, &MemoryBudget::default());
    // From runs of a few values to a first run of about a thousand (values alone in it, repeated
    // in later runs, are shown from a later row).
    for (budget, chunk_rows) in [
        (0usize, 1_000usize),
        (0, 7),
        (3_000, 333),
        (200_000, 1_000),
        (2_000_000, 4_000),
    ] {
        let memory = MemoryBudget {
            bytes: budget,
            temp_dir: None,
        };
        let spilled = run_suite(&header, &rows, &suite, chunk_rows, &memory);
        for (expected, got) in in_memory.iter().zip(&spilled) {
            assert_eq!(
                expected, got,
                "{} with {budget} bytes, chunks of {chunk_rows}",
                expected.expectation_type
            );
        }
    }
    // Each of these checks did write to disk with no budget: pointed at a missing directory, each
    // fails with the directory's name.
    for expectation in expectations {
        let one = Suite::parse(
            &json!({"version": 1, "name": "t", "expectations": [expectation]}).to_string(),
            "test",
        )
        .unwrap();
        if expectation["partition_object"].get("bins").is_some() {
            continue; // binned as it streams: keeps no values
        }
        let columns: Vec<String> = header.iter().map(|c| c.to_string()).collect();
        let memory = MemoryBudget {
            bytes: 0,
            temp_dir: Some("/nonexistent/cairn-spill-test".into()),
        };
        let mut plan = Plan::compile(&one, &columns, &memory).unwrap();
        let facts = TableFacts {
            columns: columns.clone(),
            row_count: rows.len() as u64,
        };
        let outcome = chunks(&header, &rows, 1_000)
            .iter()
            .try_for_each(|chunk| plan.update(chunk))
            .and_then(|()| plan.finish(&facts).map(|_| ()));
        let message = outcome.expect_err("should spill").to_string();
        assert!(
            message.contains("/nonexistent/cairn-spill-test"),
            "{expectation}: {message}"
        );
    }
}

#[test]
fn spilled_results_match_a_plain_computation() {
    let (header, rows) = big_table();
    let row_refs: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| row.iter().map(String::as_str).collect())
        .collect();
    let row_refs: Vec<&[&str]> = row_refs.iter().map(Vec::as_slice).collect();
    let suite = Suite::parse(
        &json!({"version": 1, "name": "t", "expectations": spill_cases()}).to_string(),
        "test",
    )
    .unwrap();
    let results = run_suite(&header, &row_refs, &suite, 500, &tiny_budget());

    // Uniqueness: every row of a value held by several rows (pandas' duplicated(keep=False)).
    let ids: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for id in ids.iter().filter(|id| !id.is_empty()) {
        *counts.entry(id).or_default() += 1;
    }
    let repeated: Vec<u64> = (0..ids.len() as u64)
        .filter(|&row| {
            counts
                .get(ids[row as usize])
                .is_some_and(|count| *count > 1)
        })
        .collect();
    let unique = &results[0];
    assert_eq!(unique.unexpected_count, Some(repeated.len() as u64));
    assert!(repeated.len() > EXAMPLES);
    let example_rows: Vec<u64> = unique.examples.iter().map(|e| e.row).collect();
    assert_eq!(example_rows, repeated[..EXAMPLES]);
    for example in &unique.examples {
        let text = ids[example.row as usize];
        assert_eq!(example.value, json!(text.parse::<i64>().unwrap()));
        // A value's first row has no line (as before any spilling); the others have theirs (the
        // chunks number lines from 2, after a header line).
        let first = ids.iter().position(|id| *id == text).unwrap() as u64;
        let line = if example.row == first {
            0
        } else {
            example.row + 2
        };
        assert_eq!(example.line, line, "row {}", example.row);
    }

    // Numbers as pandas reads them (nulls dropped), for the distinct count, median and quantiles.
    let mut xs: Vec<f64> = rows
        .iter()
        .filter(|row| !row[1].is_empty())
        .map(|row| row[1].parse::<f64>().unwrap())
        .collect();
    xs.sort_by(f64::total_cmp);
    let distinct_texts: std::collections::HashSet<&str> = rows
        .iter()
        .map(|row| row[1].as_str())
        .filter(|x| !x.is_empty())
        .collect();
    assert_eq!(results[3].observed_value, json!(distinct_texts.len()));
    assert_eq!(
        results[5].observed_value,
        json!(crate::stats::median(&xs)),
        "median of x"
    );
    let quantiles = [0.0, 0.05, 0.333, 0.5, 0.95, 1.0];
    let expected: Vec<Value> = quantiles
        .iter()
        .map(|q| {
            let value = crate::stats::quantile_nearest(&xs, *q);
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
        })
        .collect();
    assert_eq!(results[7].observed_value["values"], json!(expected));

    // Distinct values of `id` (thousands): the first LISTED_VALUES in order, every count exact.
    let id_numbers: Vec<i64> = {
        let set: std::collections::BTreeSet<i64> = ids
            .iter()
            .filter(|id| !id.is_empty())
            .map(|id| id.parse().unwrap())
            .collect();
        set.into_iter().collect()
    };
    let in_set = &results[15];
    assert!(id_numbers.len() > aggregate::LISTED_VALUES);
    assert_eq!(
        in_set.observed_value,
        json!(id_numbers[..aggregate::LISTED_VALUES])
    );
    assert_eq!(in_set.details["distinct_values"], json!(id_numbers.len()));
    assert_eq!(in_set.details["observed_value_truncated"], json!(true));
    assert_eq!(
        in_set.details["value_counts"].as_object().unwrap().len(),
        aggregate::LISTED_VALUES
    );
    let outside = |set: &[i64]| id_numbers.iter().filter(|n| !set.contains(n)).count();
    assert_eq!(in_set.unexpected_count, Some(outside(&[1, 2, 3]) as u64));
    let first_rows: Vec<u64> = in_set.examples.iter().map(|e| e.row).collect();
    let expected_rows: Vec<u64> = (0..ids.len() as u64)
        .filter(|&row| {
            let id = ids[row as usize];
            !id.is_empty()
                && !["1", "2", "3"].contains(&id)
                && ids.iter().position(|other| other == &id) == Some(row as usize)
        })
        .take(EXAMPLES)
        .collect();
    assert_eq!(first_rows, expected_rows);
    let contains = &results[13];
    assert!(!contains.success);
    assert_eq!(contains.extra["partial_missing_list"], json!([1, 123_456]));

    // Most common `k`: the values with the most rows, all listed (ties).
    let mut k_counts: std::collections::BTreeMap<&str, u64> = Default::default();
    for row in &rows {
        *k_counts.entry(row[2].as_str()).or_default() += 1;
    }
    let top = k_counts.values().max().copied().unwrap();
    let modes: Vec<&str> = k_counts
        .iter()
        .filter(|(_, count)| **count == top)
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(results[16].observed_value, json!(modes));
    // KL over `id`'s distinct values: thousands of other values, the partition's weights listed
    // for the first thousand.
    let kl = &results[20];
    assert_eq!(kl.details["other_values"], json!(outside(&[1, 2])));
    assert_eq!(
        kl.details["observed_partition"]["weights"]
            .as_array()
            .unwrap()
            .len(),
        2 + aggregate::LISTED_VALUES
    );
}

#[test]
fn long_values_are_logged_whole_for_examples_found_across_runs() {
    // Values longer than the log's stack record, repeated far apart (each alone in its run).
    let long = |i: usize| format!("{i:0>4}{}", "é-long ".repeat(40 + i % 7));
    let values: Vec<String> = (0..400)
        .map(|i| if i >= 300 { long(i - 300) } else { long(i) })
        .collect();
    let rows: Vec<[&str; 2]> = values
        .iter()
        .enumerate()
        .map(|(i, v)| [v.as_str(), if i % 2 == 0 { "a" } else { "b" }])
        .collect();
    let rows: Vec<&[&str]> = rows.iter().map(|r| r.as_slice()).collect();
    for expectation in [
        json!({"type": "expect_column_values_to_be_unique", "column": "s"}),
        json!({"type": "expect_compound_columns_to_be_unique", "column_list": ["s", "t"]}),
    ] {
        let result = run(&["s", "t"], &rows, expectation);
        assert_eq!(result.examples.len(), EXAMPLES);
        assert_eq!(result.examples[0].row, 0);
        let first = &result.examples[0].value;
        let text = first.as_str().or_else(|| first[0].as_str()).unwrap();
        assert_eq!(text, long(0));
    }
}
