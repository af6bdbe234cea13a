//! Great Expectations suites (JSON) to cairn suites. Pure: text in, suite and warnings out.
//!
//! Both formats GE writes are read:
//! - 0.x: `{"expectation_suite_name", "expectations": [{"expectation_type", "kwargs", "meta"}], "meta"}`
//! - 1.x: `{"name", "expectations": [{"type", "kwargs", "meta", "id", "notes", ...}], "meta", "notes"}`
//!
//! Kwargs keep their names (cairn uses GE's). Output options (`result_format`, `catch_exceptions`,
//! `include_config`) are dropped quietly; arguments cairn cannot honour (`row_condition`,
//! `condition_parser`, ...) are dropped with a warning; an expectation whose arguments are evaluation
//! parameters (`{"$PARAMETER": ...}`) is skipped with a warning. An expectation's `meta` (and 1.x
//! `notes`/`description`) becomes its `meta` entry; the suite's `meta` becomes the suite's.

use serde_json::{Map, Value};

use crate::error::{DataError, Result};
use crate::suite::{ExpectationConfig, Suite, SUITE_VERSION};

/// Kwargs that only shape GE's output: dropped without a word.
const OUTPUT_KWARGS: &[&str] = &["result_format", "catch_exceptions", "include_config"];

/// Kwargs cairn does not honour: dropped with a warning.
const UNSUPPORTED_KWARGS: &[&str] = &[
    "row_condition",
    "condition_parser",
    "parse_strings_as_datetimes",
    "allow_cross_type_comparisons",
    "output_strftime_format",
    "auto",
    "profiler_config",
    "batch_id",
];

/// A converted suite and what was lost on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub suite: Suite,
    pub warnings: Vec<String>,
}

/// Converts the JSON text of a GE suite; `origin` names it in messages.
pub fn import(text: &str, origin: &str) -> Result<Imported> {
    if text.trim().is_empty() {
        return Err(DataError::usage(format!("{origin}: the file is empty")));
    }
    let document: Value = serde_json::from_str(text).map_err(|error| {
        DataError::usage(format!(
            "{origin}:{}: not JSON: {error}",
            error.line().max(1)
        ))
    })?;
    let Value::Object(document) = document else {
        return Err(DataError::usage(format!(
            "{origin}: not a Great Expectations suite (expected a JSON object)"
        )));
    };
    let name = document
        .get("name")
        .or_else(|| document.get("expectation_suite_name"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            DataError::usage(format!(
                "{origin}: not a Great Expectations suite (no \"name\" or \"expectation_suite_name\")"
            ))
        })?;
    let Some(Value::Array(expectations)) = document.get("expectations") else {
        return Err(DataError::usage(format!(
            "{origin}: not a Great Expectations suite (no \"expectations\" list)"
        )));
    };
    let mut warnings = Vec::new();
    let mut converted = Vec::with_capacity(expectations.len());
    for (index, expectation) in expectations.iter().enumerate() {
        if let Some(config) = convert_expectation(expectation, index, origin, &mut warnings)? {
            converted.push(config);
        }
    }
    let meta = match document.get("meta") {
        Some(Value::Object(meta)) => meta.clone(),
        _ => Map::new(),
    };
    let description = document
        .get("notes")
        .and_then(notes_text)
        .filter(|text| !text.is_empty());
    Ok(Imported {
        suite: Suite {
            version: SUITE_VERSION,
            name,
            description,
            expectations: converted,
            meta,
        },
        warnings,
    })
}

/// GE 1.x notes: a string or a list of strings.
fn notes_text(notes: &Value) -> Option<String> {
    match notes {
        Value::String(text) => Some(text.clone()),
        Value::Array(lines) => Some(
            lines
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

fn convert_expectation(
    expectation: &Value,
    index: usize,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<ExpectationConfig>> {
    let number = index + 1;
    let Value::Object(expectation) = expectation else {
        return Err(DataError::usage(format!(
            "{origin}: expectation {number} is not a JSON object"
        )));
    };
    let expectation_type = expectation
        .get("type")
        .or_else(|| expectation.get("expectation_type"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            DataError::usage(format!(
                "{origin}: expectation {number} has no \"type\" or \"expectation_type\""
            ))
        })?;
    let kwargs = match expectation.get("kwargs") {
        Some(Value::Object(kwargs)) => kwargs.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(DataError::usage(format!(
                "{origin}: expectation {number} ({expectation_type}): \"kwargs\" is not an object"
            )))
        }
    };
    let mut config = ExpectationConfig::new(expectation_type);
    for (key, value) in kwargs {
        if OUTPUT_KWARGS.contains(&key.as_str()) {
            continue;
        }
        if value.is_null() && key != "min_value" && key != "max_value" {
            // GE writes unset optional arguments as null; absent means the same.
            continue;
        }
        if UNSUPPORTED_KWARGS.contains(&key.as_str()) {
            warnings.push(format!(
                "expectation {number} ({expectation_type}): {key} is not supported and was dropped{}",
                if key == "row_condition" {
                    "; the expectation now applies to every row"
                } else {
                    ""
                }
            ));
            continue;
        }
        if is_evaluation_parameter(&value) {
            warnings.push(format!(
                "expectation {number} ({expectation_type}): {key} is an evaluation parameter, which cairn does not evaluate; the expectation was skipped"
            ));
            return Ok(None);
        }
        if key == "meta" || key == "type" {
            warnings.push(format!(
                "expectation {number} ({expectation_type}): the argument {key:?} clashes with cairn's field of that name and was dropped"
            ));
            continue;
        }
        config.kwargs.insert(key, value);
    }
    let mut meta = match expectation.get("meta") {
        Some(Value::Object(meta)) => meta.clone(),
        _ => Map::new(),
    };
    for field in ["notes", "description"] {
        if let Some(text) = expectation.get(field).and_then(notes_text) {
            if !text.is_empty() {
                meta.insert(field.to_string(), Value::String(text));
            }
        }
    }
    if !meta.is_empty() {
        config
            .kwargs
            .insert("meta".to_string(), Value::Object(meta));
    }
    Ok(Some(config))
}

/// `{"$PARAMETER": "..."}`, GE's reference to a value computed elsewhere.
fn is_evaluation_parameter(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|object| object.contains_key("$PARAMETER"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, expected_yaml: &str, expected_warnings: &[&str]) {
        let imported = import(json, "suite.json").unwrap();
        let expected = Suite::parse(expected_yaml, "expected").unwrap();
        assert_eq!(imported.suite, expected, "{}", imported.suite.to_yaml());
        assert_eq!(
            imported.warnings.len(),
            expected_warnings.len(),
            "{:?}",
            imported.warnings
        );
        for (warning, expected) in imported.warnings.iter().zip(expected_warnings) {
            assert!(warning.contains(expected), "{warning:?} lacks {expected:?}");
        }
    }

    fn check_error(json: &str, expected: &str) {
        let error = import(json, "suite.json").unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        assert!(error.starts_with("suite.json"), "{error}");
    }

    /// As GE 0.15/0.18 writes a suite (`context.save_expectation_suite`).
    const GE_0X_SUITE: &str = r#"{
  "data_asset_type": null,
  "expectation_suite_name": "taxi.demo",
  "expectations": [
    {
      "expectation_type": "expect_table_columns_to_match_ordered_list",
      "kwargs": {
        "column_list": ["vendor_id", "passenger_count", "payment_type"]
      },
      "meta": {}
    },
    {
      "expectation_type": "expect_column_values_to_not_be_null",
      "kwargs": {
        "column": "passenger_count",
        "mostly": 0.95,
        "result_format": "COMPLETE",
        "catch_exceptions": true
      },
      "meta": {"notes": {"format": "markdown", "content": "checked by ops"}}
    },
    {
      "expectation_type": "expect_column_values_to_be_between",
      "kwargs": {
        "column": "passenger_count",
        "max_value": 6,
        "min_value": 1,
        "row_condition": "vendor_id==1",
        "condition_parser": "pandas"
      },
      "meta": {}
    },
    {
      "expectation_type": "expect_column_values_to_be_in_set",
      "kwargs": {"column": "payment_type", "value_set": [1, 2, 3, 4]},
      "meta": {}
    },
    {
      "expectation_type": "expect_table_row_count_to_be_between",
      "kwargs": {"min_value": {"$PARAMETER": "upstream_row_count"}, "max_value": null},
      "meta": {}
    }
  ],
  "ge_cloud_id": null,
  "meta": {
    "great_expectations_version": "0.15.50"
  }
}"#;

    /// As GE 1.x writes a suite (`gx/expectations/<name>.json`).
    const GE_1X_SUITE: &str = r#"{
  "expectations": [
    {
      "id": "4d3b8c52-6f38-4b4a-9d5c-39a3a4e2b1a0",
      "kwargs": {"column": "passenger_count", "max_value": 6.0, "min_value": 1.0},
      "meta": {},
      "severity": "critical",
      "type": "expect_column_values_to_be_between"
    },
    {
      "description": "ids never repeat",
      "id": "7a1e2f30-2b77-4a5e-8a0e-2f6d0c1d9e11",
      "kwargs": {"column": "trip_id"},
      "meta": {"owner": "data-eng"},
      "notes": null,
      "type": "expect_column_values_to_be_unique"
    },
    {
      "id": "0f0e7c1b-9f0e-4f2e-9b8e-3c0a2d4e5f60",
      "kwargs": {"column": "pickup_datetime", "strftime_format": "%Y-%m-%d %H:%M:%S", "mostly": null},
      "meta": {},
      "type": "expect_column_values_to_match_strftime_format"
    }
  ],
  "id": "8b8e8b1c-4b2d-4a4f-8e4c-2a9c0b3d7e1f",
  "meta": {"great_expectations_version": "1.3.5"},
  "name": "taxi_suite",
  "notes": "nightly checks"
}"#;

    #[test]
    fn converts_a_0x_suite_as_ge_writes_it() {
        check(
            GE_0X_SUITE,
            r#"
version: 1
name: taxi.demo
meta: {great_expectations_version: 0.15.50}
expectations:
  - type: expect_table_columns_to_match_ordered_list
    column_list: [vendor_id, passenger_count, payment_type]
  - type: expect_column_values_to_not_be_null
    column: passenger_count
    mostly: 0.95
    meta: {notes: {format: markdown, content: checked by ops}}
  - type: expect_column_values_to_be_between
    column: passenger_count
    max_value: 6
    min_value: 1
  - type: expect_column_values_to_be_in_set
    column: payment_type
    value_set: [1, 2, 3, 4]
"#,
            &[
                "expectation 3 (expect_column_values_to_be_between): condition_parser is not supported",
                "row_condition is not supported and was dropped; the expectation now applies to every row",
                "expectation 5 (expect_table_row_count_to_be_between): min_value is an evaluation parameter",
            ],
        );
    }

    #[test]
    fn converts_a_1x_suite_as_ge_writes_it() {
        check(
            GE_1X_SUITE,
            r#"
version: 1
name: taxi_suite
description: nightly checks
meta: {great_expectations_version: 1.3.5}
expectations:
  - type: expect_column_values_to_be_between
    column: passenger_count
    max_value: 6.0
    min_value: 1.0
  - type: expect_column_values_to_be_unique
    column: trip_id
    meta: {owner: data-eng, description: ids never repeat}
  - type: expect_column_values_to_match_strftime_format
    column: pickup_datetime
    strftime_format: "%Y-%m-%d %H:%M:%S"
"#,
            &[],
        );
    }

    #[test]
    fn the_converted_suite_round_trips_through_yaml() {
        for json in [GE_0X_SUITE, GE_1X_SUITE] {
            let imported = import(json, "suite.json").unwrap();
            let again = Suite::parse(&imported.suite.to_yaml(), "again").unwrap();
            assert_eq!(again, imported.suite);
        }
    }

    #[test]
    fn bad_suites_are_refused_with_their_origin() {
        check_error("", "the file is empty");
        check_error(
            "{\"name\": \"x\",\n \"expectations\": [",
            "suite.json:2: not JSON",
        );
        check_error("[]", "expected a JSON object");
        check_error("{\"expectations\": []}", "no \"name\"");
        check_error("{\"name\": \"x\"}", "no \"expectations\" list");
        check_error(
            "{\"name\": \"x\", \"expectations\": [{\"kwargs\": {}}]}",
            "expectation 1 has no \"type\"",
        );
        check_error(
            "{\"name\": \"x\", \"expectations\": [{\"type\": \"t\", \"kwargs\": [1]}]}",
            "\"kwargs\" is not an object",
        );
    }
}
