//! Renderings of a [`DriftReport`]: a terminal table, Markdown, self-contained HTML and JUnit XML.

use std::fmt::Write;

use super::{ColumnDrift, DriftReport, Outliers, PlotData};
use crate::report::plot::{self, escape, Series};

/// A score as shown in tables.
pub fn number(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v.is_nan() => "nan".to_string(),
        Some(v) if v != 0.0 && v.abs() < 1e-4 => format!("{v:.3e}"),
        Some(v) => format!("{v:.4}"),
    }
}

fn verdict(column: &ColumnDrift) -> &'static str {
    if column.skipped.is_some() {
        "skipped"
    } else if column.drifted {
        "DRIFT"
    } else {
        "ok"
    }
}

fn outlier_cell(outliers: Option<&Outliers>) -> String {
    match outliers {
        Some(o) => format!(
            "{}/{}/{}",
            o.iqr.count, o.zscore.count, o.modified_zscore.count
        ),
        None => "-".to_string(),
    }
}

fn summary_line(report: &DriftReport) -> String {
    format!(
        "{} of {} columns drifted ({:.1}%, dataset drift at {:.1}%): {}",
        report.n_drifted,
        report.n_columns,
        report.share_drifted * 100.0,
        report.drift_share * 100.0,
        if report.dataset_drift {
            "dataset drift detected"
        } else {
            "no dataset drift"
        }
    )
}

/// The table printed on the terminal.
pub fn text(report: &DriftReport) -> String {
    let header = [
        "column",
        "type",
        "method",
        "statistic",
        "p-value",
        "threshold",
        "drift",
        "outliers iqr/z/mod-z",
    ];
    let rows: Vec<[String; 8]> = report
        .columns
        .iter()
        .map(|c| {
            [
                c.column.clone(),
                c.column_type.name().to_string(),
                c.method.name().to_string(),
                number(c.statistic),
                number(c.p_value),
                number(Some(c.threshold)),
                verdict(c).to_string(),
                outlier_cell(c.outliers.as_ref()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    let _ = writeln!(
        out,
        "reference: {} ({} rows)  current: {} ({} rows)",
        report.reference, report.reference_rows, report.current, report.current_rows
    );
    line(&mut out, &header.map(String::from));
    for row in &rows {
        line(&mut out, row);
    }
    for column in &report.columns {
        if let Some(reason) = &column.skipped {
            let _ = writeln!(out, "{}: skipped, {reason}", column.column);
        }
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// A Markdown summary.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Data drift: {}\n", summary_line(report));
    let _ = writeln!(
        out,
        "Reference `{}` ({} rows), current `{}` ({} rows).\n",
        report.reference, report.reference_rows, report.current, report.current_rows
    );
    let _ = writeln!(
        out,
        "| column | type | method | statistic | p-value | threshold | drift | outliers (IQR / z / modified z) |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---|---|");
    for c in &report.columns {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.column.replace('|', "\\|"),
            c.column_type.name(),
            c.method.display_name(),
            number(c.statistic),
            number(c.p_value),
            number(Some(c.threshold)),
            verdict(c),
            outlier_cell(c.outliers.as_ref())
        );
    }
    out
}

/// A self-contained HTML page: the summary table, then per column its plot and outliers.
pub fn html(report: &DriftReport) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data drift</title><style>");
    out.push_str("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.drift{color:#b00;font-weight:bold}.ok{color:#070}section{margin:1.5em 0;padding-top:.5em;border-top:1px solid #ddd}.plot{max-width:100%}");
    out.push_str("</style></head><body>");
    let _ = write!(
        out,
        "<h1>Data drift</h1><p>Reference <code>{}</code> ({} rows), current <code>{}</code> ({} rows).</p><p class=\"{}\">{}</p>",
        escape(&report.reference),
        report.reference_rows,
        escape(&report.current),
        report.current_rows,
        if report.dataset_drift { "drift" } else { "ok" },
        escape(&summary_line(report))
    );
    out.push_str("<table><thead><tr><th>column</th><th>type</th><th>method</th><th>statistic</th><th>p-value</th><th>threshold</th><th>drift</th><th>outliers (IQR / z / modified z)</th></tr></thead><tbody>");
    for (index, c) in report.columns.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td><a href=\"#col-{index}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(&c.column),
            c.column_type.name(),
            escape(c.method.display_name()),
            number(c.statistic),
            number(c.p_value),
            number(Some(c.threshold)),
            if c.drifted { "drift" } else { "ok" },
            verdict(c),
            outlier_cell(c.outliers.as_ref()),
        );
    }
    out.push_str("</tbody></table>");
    for (index, c) in report.columns.iter().enumerate() {
        let _ = write!(
            out,
            "<section id=\"col-{index}\"><h2>{}</h2><p>{} &middot; {}: {} &middot; threshold {} &middot; <span class=\"{}\">{}</span></p>",
            escape(&c.column),
            c.column_type.name(),
            escape(c.method.display_name()),
            number(c.score),
            number(Some(c.threshold)),
            if c.drifted { "drift" } else { "ok" },
            verdict(c)
        );
        if let Some(reason) = &c.skipped {
            let _ = write!(out, "<p>skipped: {}</p>", escape(reason));
        }
        match &c.plot {
            Some(PlotData::Histogram {
                low,
                high,
                reference,
                current,
            }) => out.push_str(&plot::histogram(
                &format!("{} (share per bin)", c.column),
                *low,
                *high,
                &[
                    Series {
                        label: "reference",
                        values: reference,
                    },
                    Series {
                        label: "current",
                        values: current,
                    },
                ],
            )),
            Some(PlotData::Categories {
                names,
                reference,
                current,
            }) => out.push_str(&plot::categories(
                &format!("{} (share per value)", c.column),
                names,
                &[
                    Series {
                        label: "reference",
                        values: reference,
                    },
                    Series {
                        label: "current",
                        values: current,
                    },
                ],
            )),
            None => {}
        }
        if let Some(outliers) = &c.outliers {
            out.push_str("<table><thead><tr><th>outlier rule</th><th>rows</th><th>bounds</th><th>examples (row: value)</th></tr></thead><tbody>");
            for (name, rule) in [
                ("IQR 1.5&times;", &outliers.iqr),
                ("z-score &gt; 3", &outliers.zscore),
                ("modified z &gt; 3.5", &outliers.modified_zscore),
            ] {
                let examples: Vec<String> = rule
                    .examples
                    .iter()
                    .map(|e| {
                        format!(
                            "{} (line {}): {}",
                            e.row,
                            e.line,
                            plot::short_number(e.value)
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<tr><td>{name}</td><td>{}</td><td>[{}, {}]</td><td>{}</td></tr>",
                    rule.count,
                    number(Some(rule.low)),
                    number(Some(rule.high)),
                    escape(&examples.join("; "))
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    out
}

/// JUnit XML: one test case per column, failed when it drifts, plus one for the dataset.
pub fn junit(report: &DriftReport) -> String {
    let failures = report.n_drifted + usize::from(report.dataset_drift);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites><testsuite name=\"cairn data drift\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\">",
        report.columns.len() + 1,
        report.columns.len() - report.n_columns
    );
    for c in &report.columns {
        let _ = write!(
            out,
            "<testcase classname=\"drift\" name=\"{}\">",
            escape(&c.column)
        );
        if let Some(reason) = &c.skipped {
            let _ = write!(out, "<skipped message=\"{}\"/>", escape(reason));
        } else if c.drifted {
            let _ = write!(
                out,
                "<failure message=\"{}: {} = {} (threshold {})\"/>",
                escape(&c.column),
                escape(c.method.display_name()),
                number(c.score),
                number(Some(c.threshold))
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("<testcase classname=\"drift\" name=\"dataset\">");
    if report.dataset_drift {
        let _ = write!(
            out,
            "<failure message=\"{}\"/>",
            escape(&summary_line(report))
        );
    }
    out.push_str("</testcase>\n</testsuite></testsuites>\n");
    out
}
