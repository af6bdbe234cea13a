//! A [`Validation`] rendered for people and machines: terminal text, JSON (Great Expectations' result
//! shape, so values compare one to one), JUnit XML, Markdown and self-contained HTML.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::plot::escape;
use crate::expect::ExpectationResult;
use crate::validate::Validation;

/// A short description of an expectation: its type without `expect_`, and its main arguments.
pub fn describe(result: &ExpectationResult) -> String {
    let name = result.expectation_type.trim_start_matches("expect_");
    let mut arguments = Vec::new();
    for key in [
        "column",
        "column_A",
        "column_B",
        "column_list",
        "column_set",
        "type_",
        "type_list",
        "value",
        "regex",
        "strftime_format",
        "threshold",
    ] {
        if let Some(value) = result.kwargs.get(key) {
            arguments.push(compact(value));
        }
    }
    let min = result.kwargs.get("min_value").filter(|v| !v.is_null());
    let max = result.kwargs.get("max_value").filter(|v| !v.is_null());
    if min.is_some() || max.is_some() {
        arguments.push(format!(
            "{}..{}",
            min.map(compact).unwrap_or_default(),
            max.map(compact).unwrap_or_default()
        ));
    }
    if let Some(set) = result.kwargs.get("value_set") {
        arguments.push(format!("in {}", shorten(&compact(set), 40)));
    }
    if let Some(mostly) = result.kwargs.get("mostly") {
        arguments.push(format!("mostly {}", compact(mostly)));
    }
    format!("{name}({})", arguments.join(", "))
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// One line on why a result failed (or what it saw).
pub fn finding(result: &ExpectationResult, validation: &Validation) -> String {
    if let Some(error) = &result.error {
        return error.clone();
    }
    let mut parts = Vec::new();
    if let (Some(unexpected), Some(percent)) =
        (result.unexpected_count, result.unexpected_percent())
    {
        if unexpected > 0 || !result.success {
            parts.push(format!(
                "{unexpected} unexpected ({})",
                percent_text(percent)
            ));
        }
    }
    if !result.observed_value.is_null() {
        parts.push(format!(
            "observed {}",
            shorten(&compact(&result.observed_value), 60)
        ));
    }
    if let Some(example) = result.examples.first() {
        let place = match (validation.files.get(example.file_index), example.line) {
            (Some(file), line) if line > 0 => format!("row {}, {file}:{line}", example.row),
            _ => format!("row {}", example.row),
        };
        parts.push(format!(
            "e.g. {} ({place})",
            shorten(&compact(&example.value), 40)
        ));
    }
    parts.join("; ")
}

fn percent_text(percent: f64) -> String {
    if percent == 0.0 || percent >= 0.01 {
        format!("{percent:.2}%")
    } else {
        format!("{percent:.2e}%")
    }
}

/// The terminal summary.
pub fn text(validation: &Validation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "suite {:?} on {}: {} rows, {} columns, {:.2} s",
        validation.suite_name,
        validation.data,
        validation.row_count,
        validation.columns.len(),
        validation.elapsed.as_secs_f64()
    );
    for result in &validation.results {
        let mark = if result.success { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  {mark} {}", describe(result));
        let detail = finding(result, validation);
        if !result.success && !detail.is_empty() {
            let _ = writeln!(out, "         {detail}");
        }
    }
    let total = validation.results.len();
    let passed = validation.successful();
    let _ = writeln!(
        out,
        "{passed}/{total} expectations passed: {}",
        if validation.success() {
            "PASSED"
        } else {
            "FAILED"
        }
    );
    out
}

/// The results as JSON, in Great Expectations' result shape (plus cairn's row/file/line examples).
pub fn json(validation: &Validation) -> Value {
    let total = validation.results.len();
    let passed = validation.successful();
    let results: Vec<Value> = validation
        .results
        .iter()
        .map(|result| result_json(result, validation))
        .collect();
    json!({
        "success": validation.success(),
        "suite": validation.suite_name,
        "data": validation.data,
        "files": validation.files,
        "columns": validation.columns,
        "row_count": validation.row_count,
        "elapsed_seconds": validation.elapsed.as_secs_f64(),
        "statistics": {
            "evaluated_expectations": total,
            "successful_expectations": passed,
            "unsuccessful_expectations": total - passed,
            "success_percent": if total == 0 { 100.0 } else { passed as f64 / total as f64 * 100.0 },
        },
        "results": results,
    })
}

fn result_json(result: &ExpectationResult, validation: &Validation) -> Value {
    let mut body = Map::new();
    body.insert("observed_value".into(), result.observed_value.clone());
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("element_count", result.element_count.map(Value::from));
    put("missing_count", result.missing_count.map(Value::from));
    put("missing_percent", result.missing_percent().map(Value::from));
    put("unexpected_count", result.unexpected_count.map(Value::from));
    put(
        "unexpected_percent",
        result.unexpected_percent().map(Value::from),
    );
    put(
        "unexpected_percent_total",
        result.unexpected_percent_total().map(Value::from),
    );
    put(
        "unexpected_percent_nonmissing",
        result.unexpected_percent().map(Value::from),
    );
    if result.unexpected_count.is_some() {
        body.insert(
            "partial_unexpected_list".into(),
            result.examples.iter().map(|e| e.value.clone()).collect(),
        );
        body.insert(
            "partial_unexpected_index_list".into(),
            result.examples.iter().map(|e| json!(e.row)).collect(),
        );
        body.insert(
            "partial_unexpected_examples".into(),
            result
                .examples
                .iter()
                .map(|e| {
                    json!({
                        "row": e.row,
                        "value": e.value,
                        "file": validation.files.get(e.file_index),
                        "line": if e.line > 0 { Some(e.line) } else { None },
                    })
                })
                .collect(),
        );
    }
    if !result.details.is_empty() {
        body.insert("details".into(), Value::Object(result.details.clone()));
    }
    json!({
        "expectation_type": result.expectation_type,
        "kwargs": result.kwargs,
        "success": result.success,
        "result": body,
        "exception_info": {
            "raised_exception": result.error.is_some(),
            "exception_message": result.error,
        },
    })
}

/// Markdown: a headline and a table, for `$GITHUB_STEP_SUMMARY`.
pub fn markdown(validation: &Validation) -> String {
    let mut out = String::new();
    let verdict = if validation.success() {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let _ = writeln!(out, "### Data validation: {verdict}\n");
    let _ = writeln!(
        out,
        "Suite `{}` on `{}`: {} rows, {} columns, {}/{} expectations passed.\n",
        validation.suite_name,
        validation.data,
        validation.row_count,
        validation.columns.len(),
        validation.successful(),
        validation.results.len()
    );
    let _ = writeln!(out, "| | Expectation | Finding |");
    let _ = writeln!(out, "|---|---|---|");
    for result in &validation.results {
        let mark = if result.success { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {} |",
            describe(result).replace('|', "\\|"),
            finding(result, validation).replace('|', "\\|")
        );
    }
    out
}

/// JUnit XML: one test case per expectation, failures with their finding.
pub fn junit(validation: &Validation) -> String {
    let failures = validation.results.len() - validation.successful();
    let errors = validation
        .results
        .iter()
        .filter(|r| r.error.is_some())
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = escape(&validation.suite_name);
    let _ = writeln!(
        out,
        "<testsuites name=\"cairn data validate\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" time=\"{:.3}\">",
        validation.results.len(),
        failures - errors,
        validation.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" time=\"{:.3}\">",
        validation.results.len(),
        failures - errors,
        validation.elapsed.as_secs_f64()
    );
    for (index, result) in validation.results.iter().enumerate() {
        let name = escape(&format!("{}: {}", index + 1, describe(result)));
        let _ = write!(out, "    <testcase classname=\"{suite}\" name=\"{name}\"");
        if result.success {
            out.push_str("/>\n");
            continue;
        }
        let detail = escape(&finding(result, validation));
        let tag = if result.error.is_some() {
            "error"
        } else {
            "failure"
        };
        let _ = writeln!(
            out,
            ">\n      <{tag} message=\"{detail}\">{detail}</{tag}>\n    </testcase>"
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A self-contained HTML report: verdict, one row per expectation with its examples, and any
/// extra sections (e.g. per-column distribution plots) given as HTML.
pub fn html(validation: &Validation, extra_sections: &str) -> String {
    let mut rows = String::new();
    for result in &validation.results {
        let class = if result.success { "ok" } else { "fail" };
        let mut examples = String::new();
        if !result.examples.is_empty() {
            examples.push_str("<details><summary>examples</summary><table class=\"examples\"><tr><th>row</th><th>where</th><th>value</th></tr>");
            for example in &result.examples {
                let place = match validation.files.get(example.file_index) {
                    Some(file) if example.line > 0 => format!("{file}:{}", example.line),
                    Some(file) => file.clone(),
                    None => String::new(),
                };
                let _ = write!(
                    examples,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    example.row,
                    escape(&place),
                    escape(&compact(&example.value))
                );
            }
            examples.push_str("</table></details>");
        }
        let _ = write!(
            rows,
            "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td><td>{}{examples}</td></tr>",
            if result.success { "✔" } else { "✘" },
            escape(&describe(result)),
            escape(&finding(result, validation))
        );
    }
    let verdict = if validation.success() {
        "passed"
    } else {
        "failed"
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cairn data validation: {suite}</title>
<style>
:root {{ color-scheme: light dark; font-family: system-ui, sans-serif; }}
body {{ max-width: 1100px; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #8884; padding: .35rem .5rem; text-align: left; vertical-align: top; }}
tr.fail td:first-child {{ color: #d03030; font-weight: bold; }}
tr.ok td:first-child {{ color: #2a9d4a; }}
.verdict.failed {{ color: #d03030; }} .verdict.passed {{ color: #2a9d4a; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
table.examples {{ width: auto; font-size: .9em; }}
</style></head><body>
<h1>Data validation: <span class="verdict {verdict}">{verdict}</span></h1>
<p>Suite <code>{suite}</code> on <code>{data}</code>: {rows_count} rows, {columns} columns, {passed}/{total} expectations passed ({elapsed:.2} s).</p>
<table><thead><tr><th></th><th>Expectation</th><th>Finding</th></tr></thead><tbody>{rows}</tbody></table>
{extra_sections}
</body></html>
"#,
        suite = escape(&validation.suite_name),
        data = escape(&validation.data),
        rows_count = validation.row_count,
        columns = validation.columns.len(),
        passed = validation.successful(),
        total = validation.results.len(),
        elapsed = validation.elapsed.as_secs_f64(),
    )
}
