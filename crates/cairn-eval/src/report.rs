//! Renderings of an [`Evaluation`]: a terminal table, Markdown, self-contained HTML (inline SVG, no
//! script, no external asset) and the SVG plots on their own (logged as artifacts).

use std::fmt::Write;

use crate::curve::Point;
use crate::result::{Evaluation, Group, NamedCurve, Task};

/// Series colours.
const COLOURS: [&str; 6] = [
    "#4269d0", "#ef7a30", "#3ca951", "#a463f2", "#ff725c", "#6cc5b0",
];

/// Escapes text for SVG/HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A metric value for people: up to 6 significant decimals; `-` when undefined.
pub fn number(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(value) if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:.0}"),
        Some(value) if value != 0.0 && !(1e-4..1e9).contains(&value.abs()) => {
            format!("{value:.4e}")
        }
        Some(value) => format!("{value:.6}"),
    }
}

fn heading(evaluation: &Evaluation) -> String {
    let mut text = format!(
        "{}, {} rows",
        evaluation.task.name(),
        evaluation.overall.rows
    );
    if !evaluation.classes.is_empty() {
        let shown: Vec<&str> = evaluation
            .classes
            .iter()
            .take(20)
            .map(String::as_str)
            .collect();
        let more = if evaluation.classes.len() > 20 {
            format!(" (+{} more)", evaluation.classes.len() - 20)
        } else {
            String::new()
        };
        let _ = write!(text, ", classes {}{more}", shown.join(", "));
    }
    if let Some(positive) = &evaluation.pos_label {
        let _ = write!(text, " (positive: {positive})");
    }
    text
}

/// Rows of a table as aligned text columns (first column left-aligned, the others right).
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column == 0 {
                let _ = write!(line, "{cell:<width$}", width = widths[0]);
            } else {
                let _ = write!(line, "  {cell:>width$}", width = widths[column]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn metric_rows(group: &Group) -> Vec<Vec<String>> {
    group
        .metrics
        .iter()
        .map(|(name, value)| vec![name.clone(), number(*value)])
        .collect()
}

fn class_rows(group: &Group) -> Vec<Vec<String>> {
    let probabilities = group.per_class.iter().any(|c| c.roc_auc.is_some());
    let mut header: Vec<String> = ["class", "precision", "recall", "f1", "support"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if probabilities {
        header.push("roc_auc".into());
        header.push("average_precision".into());
    }
    let mut rows = vec![header];
    for class in &group.per_class {
        let mut row = vec![
            class.class.clone(),
            number(Some(class.precision)),
            number(Some(class.recall)),
            number(Some(class.f1)),
            class.support.to_string(),
        ];
        if probabilities {
            row.push(number(class.roc_auc));
            row.push(number(class.average_precision));
        }
        rows.push(row);
    }
    rows
}

fn confusion_rows(evaluation: &Evaluation) -> Vec<Vec<String>> {
    let mut header = vec!["true \\ predicted".to_owned()];
    header.extend(evaluation.classes.iter().cloned());
    let mut rows = vec![header];
    for (class, counts) in evaluation
        .classes
        .iter()
        .zip(&evaluation.overall.confusion_matrix)
    {
        let mut row = vec![class.clone()];
        row.extend(counts.iter().map(u64::to_string));
        rows.push(row);
    }
    rows
}

/// Per slice column: a table with one column per slice value and the gap.
fn slice_rows(evaluation: &Evaluation) -> Vec<(String, Vec<Vec<String>>)> {
    evaluation
        .slices
        .iter()
        .map(|column| {
            let mut header = vec!["metric".to_owned()];
            header.extend(column.slices.iter().map(|slice| slice.value.clone()));
            header.push("gap".into());
            let mut rows = vec![header];
            let mut names: Vec<&String> = column
                .slices
                .iter()
                .flat_map(|slice| slice.group.metrics.keys())
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                let mut row = vec![name.clone()];
                row.extend(
                    column
                        .slices
                        .iter()
                        .map(|slice| number(slice.group.metrics.get(name).copied().flatten())),
                );
                row.push(number(column.gaps.get(name).map(|gap| gap.gap)));
                rows.push(row);
            }
            (column.column.clone(), rows)
        })
        .collect()
}

/// The terminal rendering.
pub fn text(evaluation: &Evaluation) -> String {
    let mut out = format!("cairn eval: {}\n\n", heading(evaluation));
    out.push_str(&aligned(&metric_rows(&evaluation.overall)));
    if !evaluation.overall.per_class.is_empty() && evaluation.classes.len() <= 50 {
        out.push('\n');
        out.push_str(&aligned(&class_rows(&evaluation.overall)));
    }
    if !evaluation.overall.confusion_matrix.is_empty() && evaluation.classes.len() <= 20 {
        out.push_str("\nconfusion matrix\n");
        out.push_str(&aligned(&confusion_rows(evaluation)));
    }
    for (column, rows) in slice_rows(evaluation) {
        let _ = writeln!(out, "\nslices by {column} (gap = max - min)");
        out.push_str(&aligned(&rows));
    }
    if !evaluation.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in &evaluation.warnings {
            let _ = writeln!(out, "- {warning}");
        }
    }
    out
}

fn markdown_table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|cell| cell.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if index == 0 {
            let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
        }
    }
    out
}

/// A Markdown summary (for `$GITHUB_STEP_SUMMARY` and pull requests).
pub fn markdown(evaluation: &Evaluation) -> String {
    let mut out = format!("## cairn eval: {}\n\n", heading(evaluation));
    let mut metrics = vec![vec!["metric".to_owned(), "value".to_owned()]];
    metrics.extend(metric_rows(&evaluation.overall));
    out.push_str(&markdown_table(&metrics));
    if !evaluation.overall.per_class.is_empty() {
        out.push_str("\n### Per class\n\n");
        out.push_str(&markdown_table(&class_rows(&evaluation.overall)));
    }
    if !evaluation.overall.confusion_matrix.is_empty() && evaluation.classes.len() <= 20 {
        out.push_str("\n### Confusion matrix\n\n");
        out.push_str(&markdown_table(&confusion_rows(evaluation)));
    }
    for (column, rows) in slice_rows(evaluation) {
        let _ = write!(out, "\n### Slices by {column}\n\n");
        out.push_str(&markdown_table(&rows));
    }
    if !evaluation.warnings.is_empty() {
        out.push_str("\n### Warnings\n\n");
        for warning in &evaluation.warnings {
            let _ = writeln!(out, "- {warning}");
        }
    }
    out
}

const SIZE: f64 = 320.0;
const MARGIN: f64 = 44.0;

fn svg_open(out: &mut String, title: &str, width: f64, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="11"><title>{}</title><rect width="{width}" height="{height}" fill="white"/><text x="{}" y="16" text-anchor="middle" font-size="13">{}</text>"#,
        escape(title),
        width / 2.0,
        escape(title)
    );
}

/// A square plot of curves on [0, 1] x [0, 1].
fn unit_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[NamedCurve],
    diagonal: bool,
) -> String {
    let width = SIZE + MARGIN + 120.0;
    let height = SIZE + 2.0 * MARGIN;
    let (left, top) = (MARGIN, 28.0);
    let x = |value: f64| left + value.clamp(0.0, 1.0) * SIZE;
    let y = |value: f64| top + (1.0 - value.clamp(0.0, 1.0)) * SIZE;
    let mut out = String::new();
    svg_open(&mut out, title, width, height);
    let _ = write!(
        out,
        r##"<rect x="{left}" y="{top}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#999"/>"##
    );
    for tick in 0..=5 {
        let value = tick as f64 / 5.0;
        let _ = write!(
            out,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#eee"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text><line x1="{5}" y1="{6}" x2="{7}" y2="{6}" stroke="#eee"/><text x="{8}" y="{9}" text-anchor="end">{4}</text>"##,
            x(value),
            top,
            top + SIZE,
            top + SIZE + 14.0,
            value,
            left,
            y(value),
            left + SIZE,
            left - 4.0,
            y(value) + 4.0
        );
    }
    if diagonal {
        let _ = write!(
            out,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
            x(0.0),
            y(0.0),
            x(1.0),
            y(1.0)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(12 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left + SIZE / 2.0,
        top + SIZE + 30.0,
        escape(x_label),
        top + SIZE / 2.0,
        escape(y_label)
    );
    for (index, curve) in curves.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<String> = curve
            .points
            .iter()
            .map(|Point { x: px, y: py }| format!("{:.2},{:.2}", x(*px), y(*py)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            points.join(" ")
        );
        if curves.len() > 1 || !curve.name.is_empty() {
            let legend_y = top + 14.0 + index as f64 * 16.0;
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
                left + SIZE + 10.0,
                legend_y - 9.0,
                left + SIZE + 24.0,
                legend_y,
                escape(&curve.name)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn confusion_svg(evaluation: &Evaluation) -> String {
    let k = evaluation.classes.len();
    let cell = (360.0 / k.max(1) as f64).clamp(4.0, 60.0);
    let left = 90.0;
    let top = 40.0;
    let width = left + cell * k as f64 + 20.0;
    let height = top + cell * k as f64 + 50.0;
    let mut out = String::new();
    svg_open(
        &mut out,
        "Confusion matrix (rows: true, columns: predicted)",
        width.max(340.0),
        height,
    );
    let label = |text: &str| -> String {
        let short: String = text.chars().take(12).collect();
        escape(&short)
    };
    for (row, counts) in evaluation.overall.confusion_matrix.iter().enumerate() {
        let total: u64 = counts.iter().sum();
        for (column, count) in counts.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                *count as f64 / total as f64
            };
            let light = (95.0 - share * 60.0).round();
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{cell:.1}" height="{cell:.1}" fill="hsl(220 70% {light}%)" stroke="#fff"><title>true {} / predicted {}: {count} ({:.1}% of the row)</title></rect>"##,
                left + column as f64 * cell,
                top + row as f64 * cell,
                escape(&evaluation.classes[row]),
                escape(&evaluation.classes[column]),
                share * 100.0
            );
            if cell >= 28.0 {
                let colour = if share > 0.5 { "white" } else { "black" };
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{colour}" font-size="10">{count}</text>"#,
                    left + (column as f64 + 0.5) * cell,
                    top + (row as f64 + 0.5) * cell + 4.0
                );
            }
        }
        if cell >= 10.0 {
            let _ = write!(
                out,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                left - 4.0,
                top + (row as f64 + 0.5) * cell + 4.0,
                label(&evaluation.classes[row]),
                left + (row as f64 + 0.5) * cell,
                top + k as f64 * cell + 14.0,
                label(&evaluation.classes[row])
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn residual_svg(evaluation: &Evaluation) -> Option<String> {
    let bins = &evaluation.overall.curves.as_ref()?.residual_histogram;
    let (first, last) = (bins.first()?, bins.last()?);
    let highest = bins.iter().map(|bin| bin.count).max().unwrap_or(0).max(1) as f64;
    let (left, top, width, height) = (MARGIN, 28.0, 420.0, 200.0);
    let mut out = String::new();
    svg_open(
        &mut out,
        "Residuals (y - prediction)",
        width + MARGIN + 20.0,
        height + 70.0,
    );
    let bar = width / bins.len() as f64;
    for (index, bin) in bins.iter().enumerate() {
        let bar_height = bin.count as f64 / highest * height;
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>[{}, {}): {}</title></rect>"#,
            left + index as f64 * bar,
            top + height - bar_height,
            (bar - 1.0).max(0.5),
            bar_height,
            COLOURS[0],
            number(Some(bin.lower)),
            number(Some(bin.upper)),
            bin.count
        );
    }
    let _ = write!(
        out,
        r#"<text x="{left}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="middle">rows per bin (max {})</text>"#,
        top + height + 16.0,
        number(Some(first.lower)),
        left + width,
        top + height + 16.0,
        number(Some(last.upper)),
        left + width / 2.0,
        top + height + 34.0,
        highest
    );
    out.push_str("</svg>\n");
    Some(out)
}

/// The plots as `(file name, SVG)`: confusion matrix, ROC, precision-recall and reliability curves
/// (classification), residual histogram (regression).
pub fn plots(evaluation: &Evaluation) -> Vec<(String, String)> {
    let mut plots = Vec::new();
    match evaluation.task {
        Task::Classification => {
            if !evaluation.classes.is_empty() {
                plots.push(("confusion_matrix.svg".into(), confusion_svg(evaluation)));
            }
            let Some(curves) = &evaluation.overall.curves else {
                return plots;
            };
            let metric =
                |name: &str| number(evaluation.overall.metrics.get(name).copied().flatten());
            if !curves.roc.is_empty() {
                let title = format!("ROC curve (AUC {})", metric("roc_auc"));
                plots.push((
                    "roc_curve.svg".into(),
                    unit_plot(
                        &title,
                        "false positive rate",
                        "true positive rate",
                        &curves.roc,
                        true,
                    ),
                ));
            }
            if !curves.precision_recall.is_empty() {
                let title = format!(
                    "Precision-recall curve (AP {})",
                    metric("precision_recall_auc")
                );
                plots.push((
                    "precision_recall_curve.svg".into(),
                    unit_plot(
                        &title,
                        "recall",
                        "precision",
                        &curves.precision_recall,
                        false,
                    ),
                ));
            }
            if !curves.reliability.is_empty() {
                let points: Vec<Point> = curves
                    .reliability
                    .iter()
                    .filter_map(|bin| {
                        Some(Point {
                            x: bin.mean_predicted?,
                            y: bin.fraction_positive?,
                        })
                    })
                    .collect();
                let title = format!(
                    "Reliability diagram (ECE {})",
                    metric("expected_calibration_error")
                );
                let name = if evaluation.pos_label.is_some() {
                    String::new()
                } else {
                    "top label".to_owned()
                };
                plots.push((
                    "reliability_diagram.svg".into(),
                    unit_plot(
                        &title,
                        "mean predicted probability",
                        "fraction of positives",
                        &[NamedCurve { name, points }],
                        true,
                    ),
                ));
            }
        }
        Task::Regression => {
            if let Some(svg) = residual_svg(evaluation) {
                plots.push(("residuals.svg".into(), svg));
            }
        }
    }
    plots
}

fn html_table(rows: &[Vec<String>], class: &str) -> String {
    let mut out = format!("<table class=\"{class}\">");
    for (index, row) in rows.iter().enumerate() {
        out.push_str("<tr>");
        for cell in row {
            if index == 0 {
                let _ = write!(out, "<th>{}</th>", escape(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
    out
}

/// A self-contained HTML report.
pub fn html(evaluation: &Evaluation) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>cairn eval</title><style>\n\
         body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }\n\
         table { border-collapse: collapse; margin: 0.5em 0 1.5em; }\n\
         th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; font-variant-numeric: tabular-nums; }\n\
         th:first-child, td:first-child { text-align: left; }\n\
         th { background: #f4f4f4; }\n\
         .plots { display: flex; flex-wrap: wrap; gap: 1em; }\n\
         .warnings li { color: #a05a00; }\n\
         </style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>cairn eval</h1><p>{}</p>",
        escape(&heading(evaluation))
    );
    out.push_str("<h2>Metrics</h2>\n");
    let mut metrics = vec![vec!["metric".to_owned(), "value".to_owned()]];
    metrics.extend(metric_rows(&evaluation.overall));
    out.push_str(&html_table(&metrics, "metrics"));
    let plots = plots(evaluation);
    if !plots.is_empty() {
        out.push_str("<h2>Plots</h2>\n<div class=\"plots\">\n");
        for (_, svg) in &plots {
            out.push_str(svg);
        }
        out.push_str("</div>\n");
    }
    if !evaluation.overall.per_class.is_empty() {
        out.push_str("<h2>Per class</h2>\n");
        out.push_str(&html_table(&class_rows(&evaluation.overall), "classes"));
    }
    for (column, rows) in slice_rows(evaluation) {
        let _ = writeln!(
            out,
            "<h2>Slices by {}</h2><p>Each metric per value of <code>{}</code>; gap = largest minus smallest.</p>",
            escape(&column),
            escape(&column)
        );
        out.push_str(&html_table(&rows, "slices"));
    }
    if !evaluation.warnings.is_empty() {
        out.push_str("<h2>Warnings</h2><ul class=\"warnings\">");
        for warning in &evaluation.warnings {
            let _ = write!(out, "<li>{}</li>", escape(warning));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Per slice column, a CSV table: one row per slice value, its rows and every metric.
pub fn slice_csv(evaluation: &Evaluation) -> Vec<(String, String)> {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    evaluation
        .slices
        .iter()
        .map(|column| {
            let mut names: Vec<&String> = column
                .slices
                .iter()
                .flat_map(|slice| slice.group.metrics.keys())
                .collect();
            names.sort();
            names.dedup();
            let mut out = field(&column.column);
            out.push_str(",rows");
            for name in &names {
                out.push(',');
                out.push_str(&field(name));
            }
            out.push('\n');
            for slice in &column.slices {
                out.push_str(&field(&slice.value));
                let _ = write!(out, ",{}", slice.group.rows);
                for name in &names {
                    out.push(',');
                    if let Some(Some(value)) = slice.group.metrics.get(*name) {
                        let _ = write!(out, "{value}");
                    }
                }
                out.push('\n');
            }
            out.push_str("gap,");
            for name in &names {
                out.push(',');
                if let Some(gap) = column.gaps.get(*name) {
                    let _ = write!(out, "{}", gap.gap);
                }
            }
            out.push('\n');
            (column.column.clone(), out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classification::{ClassificationAccumulator, ClassificationOptions, Probabilities};

    fn evaluation() -> Evaluation {
        let mut accumulator = ClassificationAccumulator::new(ClassificationOptions {
            probabilities: Probabilities::Binary,
            slice_columns: vec!["region".into()],
            ..ClassificationOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for (label, prediction, p, region) in [
            ("0", "0", 0.2, "eu"),
            ("1", "1", 0.9, "eu"),
            ("1", "0", 0.4, "us<script>"),
            ("0", "1", 0.6, "us<script>"),
        ] {
            let cell = accumulator.cell(&[region]);
            accumulator
                .push(cell, label, prediction, &[p])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        accumulator.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn renderings_show_metrics_slices_and_escape_values() {
        let evaluation = evaluation();
        let text = text(&evaluation);
        assert!(text.contains("accuracy_score"), "{text}");
        assert!(text.contains("slices by region"), "{text}");
        let html = html(&evaluation);
        assert!(!html.contains("<script>"));
        assert!(html.contains("us&lt;script&gt;"));
        for name in [
            "ROC curve",
            "Precision-recall curve",
            "Reliability diagram",
            "Confusion matrix",
        ] {
            assert!(html.contains(name), "{name}");
        }
        let plots: Vec<String> = plots(&evaluation)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            plots,
            [
                "confusion_matrix.svg",
                "roc_curve.svg",
                "precision_recall_curve.svg",
                "reliability_diagram.svg"
            ]
        );
        let markdown = markdown(&evaluation);
        assert!(
            markdown.contains("| accuracy_score | 0.500000 |"),
            "{markdown}"
        );
        let csv = slice_csv(&evaluation);
        assert_eq!(csv[0].0, "region");
        let lines: Vec<&str> = csv[0].1.lines().collect();
        assert!(
            lines[0].starts_with("region,rows,accuracy_score,"),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("eu,2,1,"), "{}", lines[1]);
        assert!(lines[3].starts_with("gap,,1,"), "{}", lines[3]);
    }
}
