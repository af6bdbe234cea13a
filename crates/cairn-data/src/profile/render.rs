//! A table profile as text (terminal), Markdown and self-contained HTML.

use std::fmt::Write;

use serde_json::Value;

use super::{ColumnSummary, TableProfile};
use crate::report::plot::{self, escape, Series};

/// A number for people: integers whole, others with 4 decimals (scientific when very large or
/// small), trailing zeros cut.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs();
    if !(1e-3..1e9).contains(&magnitude) {
        return format!("{value:.4e}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn value_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().map(number))
            .unwrap_or_default(),
        Some(other) => other.to_string(),
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

fn distinct_text(column: &ColumnSummary) -> String {
    if column.distinct_approximate {
        format!("~{}", column.distinct)
    } else {
        column.distinct.to_string()
    }
}

fn nulls_text(column: &ColumnSummary) -> String {
    format!("{} ({:.1}%)", column.nulls, column.null_percent)
}

/// The summary table's rows: one per column.
fn summary_rows(profile: &TableProfile) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "column", "type", "dtype", "count", "nulls", "distinct", "min", "max", "mean", "std",
    ];
    let rows = profile
        .columns
        .iter()
        .map(|column| {
            vec![
                column.name.clone(),
                column.inferred_type.as_str().to_string(),
                column.pandas_dtype.clone(),
                column.count.to_string(),
                nulls_text(column),
                distinct_text(column),
                cut(&value_text(column.min.as_ref()), 24),
                cut(&value_text(column.max.as_ref()), 24),
                column.mean.map(number).unwrap_or_default(),
                column.std.map(number).unwrap_or_default(),
            ]
        })
        .collect();
    (header, rows)
}

fn quantiles_text(column: &ColumnSummary) -> String {
    let mut text = column
        .quantiles
        .iter()
        .map(|q| format!("{}%: {}", number(q.q * 100.0), number(q.value)))
        .collect::<Vec<_>>()
        .join("  ");
    if column.quantiles_approximate {
        text.push_str("  (approximate: from a uniform sample)");
    }
    text
}

fn counts_text(items: &[super::ValueCount], error: u64, max_chars: usize) -> String {
    let mut text = items
        .iter()
        .map(|item| format!("{} ({})", cut(&item.value, max_chars), item.count))
        .collect::<Vec<_>>()
        .join(", ");
    if error > 0 {
        let _ = write!(text, "  (approximate: counts may be low by up to {error})");
    }
    text
}

fn lengths_text(column: &ColumnSummary) -> Option<String> {
    column.lengths.as_ref().map(|lengths| {
        format!(
            "min {}, mean {}, max {}",
            lengths.min,
            number(lengths.mean),
            lengths.max
        )
    })
}

/// Plain text for the terminal: a summary table, then each column's details.
pub fn text(profile: &TableProfile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} rows, {} columns",
        profile.source,
        profile.rows,
        profile.columns.len()
    );
    out.push('\n');
    let (header, rows) = summary_rows(profile);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            let pad = width - cell.chars().count();
            text.push_str(cell);
            if index + 1 < cells.len() {
                text.push_str(&" ".repeat(pad));
            }
        }
        text.push('\n');
        text
    };
    out.push_str(&line(header.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        out.push_str(&line(row));
    }
    for column in &profile.columns {
        let _ = writeln!(
            out,
            "\n{} ({}, {})",
            column.name,
            column.inferred_type.as_str(),
            column.pandas_dtype
        );
        if column.distinct_approximate {
            let _ = writeln!(
                out,
                "  distinct    ~{} (approximate: HyperLogLog past {} values)",
                column.distinct, profile.budgets.distinct_limit
            );
        }
        if !column.quantiles.is_empty() {
            let _ = writeln!(out, "  quantiles   {}", quantiles_text(column));
        }
        if !column.top_values.is_empty() {
            let _ = writeln!(
                out,
                "  top values  {}",
                counts_text(&column.top_values, column.top_values_error, 20)
            );
        }
        if let Some(lengths) = lengths_text(column) {
            let _ = writeln!(out, "  lengths     {lengths}");
        }
        if !column.patterns.is_empty() {
            let _ = writeln!(
                out,
                "  patterns    {}",
                counts_text(&column.patterns, column.patterns_error, 20)
            );
        }
    }
    out
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Markdown: the summary table and a details list per column.
pub fn markdown(profile: &TableProfile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Profile of `{}`\n\n{} rows, {} columns\n",
        profile.source,
        profile.rows,
        profile.columns.len()
    );
    let (header, rows) = summary_rows(profile);
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|cell| markdown_cell(cell)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    for column in &profile.columns {
        let _ = writeln!(out, "\n### `{}`\n", markdown_cell(&column.name));
        if !column.quantiles.is_empty() {
            let _ = writeln!(out, "- quantiles: {}", quantiles_text(column));
        }
        if !column.top_values.is_empty() {
            let _ = writeln!(
                out,
                "- top values: {}",
                markdown_cell(&counts_text(
                    &column.top_values,
                    column.top_values_error,
                    40
                ))
            );
        }
        if let Some(lengths) = lengths_text(column) {
            let _ = writeln!(out, "- lengths: {lengths}");
        }
        if !column.patterns.is_empty() {
            let _ = writeln!(
                out,
                "- patterns: {}",
                markdown_cell(&counts_text(&column.patterns, column.patterns_error, 40))
            );
        }
    }
    out
}

/// The plot for one column: its histogram when numeric, else its most frequent values.
pub fn column_plot(column: &ColumnSummary) -> Option<String> {
    if let Some(histogram) = &column.histogram {
        let values: Vec<f64> = histogram.counts.iter().map(|&c| c as f64).collect();
        let title = if histogram.approximate {
            format!("{} (approximate)", column.name)
        } else {
            column.name.clone()
        };
        return Some(plot::histogram(
            &title,
            histogram.low,
            histogram.high,
            &[Series {
                label: "rows",
                values: &values,
            }],
        ));
    }
    if column.top_values.is_empty() {
        return None;
    }
    let names: Vec<String> = column.top_values.iter().map(|v| v.value.clone()).collect();
    let values: Vec<f64> = column.top_values.iter().map(|v| v.count as f64).collect();
    Some(plot::categories(
        &format!("{}: most frequent values", column.name),
        &names,
        &[Series {
            label: "rows",
            values: &values,
        }],
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fff}\
table{border-collapse:collapse;margin:0.5rem 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:0.9rem}\
th{background:#f3f3f3}section{margin:1.5rem 0;padding-top:0.5rem;border-top:1px solid #ddd}\
.plot{max-width:100%;height:auto}.note{color:#666;font-size:0.85rem}";

/// A self-contained HTML page: summary table, then per column its statistics and a plot.
pub fn html(profile: &TableProfile) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Profile of {}</title><style>{STYLE}</style></head><body>",
        escape(&profile.source)
    );
    let _ = write!(
        out,
        "<h1>Profile of <code>{}</code></h1><p>{} rows, {} columns</p>",
        escape(&profile.source),
        profile.rows,
        profile.columns.len()
    );
    let (header, rows) = summary_rows(profile);
    out.push_str("<table><thead><tr>");
    for cell in &header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    for column in &profile.columns {
        let _ = write!(
            out,
            "<section><h2><code>{}</code> <small>{}, {}</small></h2><table>",
            escape(&column.name),
            column.inferred_type.as_str(),
            escape(&column.pandas_dtype)
        );
        let mut row = |name: &str, value: String| {
            let _ = write!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                escape(&value)
            );
        };
        row("count", column.count.to_string());
        row("nulls", nulls_text(column));
        row("distinct", distinct_text(column));
        row("min", value_text(column.min.as_ref()));
        row("max", value_text(column.max.as_ref()));
        if let Some(mean) = column.mean {
            row("mean", number(mean));
        }
        if let Some(std) = column.std {
            row("std", number(std));
        }
        if !column.quantiles.is_empty() {
            row("quantiles", quantiles_text(column));
        }
        if !column.top_values.is_empty() {
            row(
                "top values",
                counts_text(&column.top_values, column.top_values_error, 40),
            );
        }
        if let Some(lengths) = lengths_text(column) {
            row("lengths", lengths);
        }
        if !column.patterns.is_empty() {
            row(
                "patterns",
                counts_text(&column.patterns, column.patterns_error, 40),
            );
        }
        out.push_str("</table>");
        if let Some(svg) = column_plot(column) {
            out.push_str(&svg);
        }
        out.push_str("</section>");
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Exact up to {} distinct values, {} numbers and {} frequent keys per column; past these, estimates are marked approximate.</p></body></html>",
        profile.budgets.distinct_limit, profile.budgets.sample_budget, profile.budgets.top_capacity
    );
    out
}
