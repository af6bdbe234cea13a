//! A gate verdict as a terminal table, JSON, JUnit XML (one test case per rule) or Markdown.

use std::fmt::Write as _;

use serde_json::json;

use super::Verdict;

fn verdict_word(passed: bool) -> &'static str {
    if passed {
        "PASS"
    } else {
        "FAIL"
    }
}

pub fn text(verdict: &Verdict) -> String {
    let headers = ["rule", "actual", "required", "verdict"];
    let rows: Vec<[String; 4]> = verdict
        .evaluation
        .results
        .iter()
        .map(|outcome| {
            [
                outcome.rule.clone(),
                outcome.actual.clone(),
                outcome.required.clone(),
                verdict_word(outcome.passed).to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(|header| header.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index > 0 {
                out.push_str("  ");
            }
            if index == 3 {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}");
            }
        }
        out.push('\n');
        out
    };
    let mut out = format!("gate '{}' on {}\n", verdict.gate, verdict.candidate);
    if let Some(baseline) = &verdict.baseline {
        let _ = writeln!(out, "baseline: {baseline}");
    }
    out.push('\n');
    out.push_str(&line(headers));
    out.push_str(&line(
        widths
            .map(|width| "-".repeat(width))
            .each_ref()
            .map(String::as_str),
    ));
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    let failed = verdict.evaluation.failures().len();
    let _ = writeln!(
        out,
        "\n{}: {} of {} rules passed",
        if verdict.passed() { "PASSED" } else { "FAILED" },
        verdict.evaluation.results.len() - failed,
        verdict.evaluation.results.len()
    );
    out
}

pub fn json(verdict: &Verdict) -> String {
    let results: Vec<_> = verdict
        .evaluation
        .results
        .iter()
        .zip(&verdict.kinds)
        .map(|(outcome, kind)| {
            json!({
                "kind": kind,
                "rule": outcome.rule,
                "actual": outcome.actual,
                "required": outcome.required,
                "passed": outcome.passed,
            })
        })
        .collect();
    let body = json!({
        "gate": verdict.gate,
        "candidate": verdict.candidate,
        "baseline": verdict.baseline,
        "passed": verdict.passed(),
        "checked_at": verdict.checked_at_ms,
        "results": results,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    )
}

/// Text for XML: escaped, without the control characters XML 1.0 forbids.
fn xml(text: &str) -> String {
    let allowed: String = text
        .chars()
        .filter(|&c| (c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    cairn_data::report::plot::escape(&allowed)
}

pub fn junit(verdict: &Verdict) -> String {
    let results = &verdict.evaluation.results;
    let failures = verdict.evaluation.failures().len();
    let suite = xml(&format!("cairn.gate.{}", verdict.gate));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"cairn gate\" tests=\"{}\" failures=\"{failures}\">",
        results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\">",
        results.len()
    );
    for (index, outcome) in results.iter().enumerate() {
        let name = xml(&format!("{:02} {}", index + 1, outcome.rule));
        let _ = write!(out, "    <testcase classname=\"{suite}\" name=\"{name}\"");
        if outcome.passed {
            out.push_str("/>\n");
        } else {
            let message = xml(&format!(
                "actual {}, required {}",
                outcome.actual, outcome.required
            ));
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{message}\">{message} ({})</failure>\n    </testcase>",
                xml(&verdict.candidate)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(verdict: &Verdict) -> String {
    let mut out = format!(
        "### Gate `{}`: {}\n\nCandidate: {}\n",
        cell(&verdict.gate),
        if verdict.passed() {
            "✅ passed"
        } else {
            "❌ failed"
        },
        cell(&verdict.candidate)
    );
    if let Some(baseline) = &verdict.baseline {
        let _ = writeln!(out, "\nBaseline: {}", cell(baseline));
    }
    out.push_str("\n| rule | actual | required | verdict |\n|---|---|---|---|\n");
    for outcome in &verdict.evaluation.results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&outcome.rule),
            cell(&outcome.actual),
            cell(&outcome.required),
            if outcome.passed { "✅" } else { "❌" }
        );
    }
    out
}
