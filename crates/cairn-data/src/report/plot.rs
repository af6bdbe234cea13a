//! Small self-contained SVG plots for the HTML reports: histograms (one or two overlaid series, e.g.
//! reference vs current) and bar charts of categories. No script, no external asset.

use std::fmt::Write;

/// One series of a plot: a label and one value per bin (or category).
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f64],
}

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 34.0;
const TOP: f64 = 22.0;
const RIGHT: f64 = 10.0;
/// Series colours: reference (blue), current (orange), more (green, purple).
const COLOURS: [&str; 4] = ["#4269d0", "#ef7a30", "#3ca951", "#a463f2"];

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

/// A short number for an axis label.
pub fn short_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e6).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// A histogram over equal-width bins between `low` and `high`; each series gives one value per bin
/// (counts or shares). Series are drawn side by side within each bin.
pub fn histogram(title: &str, low: f64, high: f64, series: &[Series<'_>]) -> String {
    let bins = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let labels = [
        short_number(low),
        short_number((low + high) / 2.0),
        short_number(high),
    ];
    bars(title, bins, series, &AxisLabels::Range(labels))
}

/// A bar chart of categories (e.g. most frequent values), one group of bars per category.
pub fn categories(title: &str, names: &[String], series: &[Series<'_>]) -> String {
    bars(title, names.len(), series, &AxisLabels::Names(names))
}

enum AxisLabels<'a> {
    Range([String; 3]),
    Names(&'a [String]),
}

fn bars(title: &str, groups: usize, series: &[Series<'_>], axis: &AxisLabels<'_>) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}" class="plot">"#,
        title = escape(title)
    );
    let _ = write!(svg, r#"<title>{}</title>"#, escape(title));
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="14" font-size="12" font-family="sans-serif" fill="currentColor">{}</text>"##,
        escape(title)
    );
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let baseline = TOP + plot_height;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{baseline}" x2="{}" y2="{baseline}" stroke="#888" stroke-width="1"/>"##,
        WIDTH - RIGHT
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="10" text-anchor="end" font-family="sans-serif" fill="currentColor">{}</text>"##,
        LEFT - 4.0,
        TOP + 8.0,
        escape(&short_number(max))
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{baseline}" font-size="10" text-anchor="end" font-family="sans-serif" fill="currentColor">0</text>"##,
        LEFT - 4.0
    );
    if groups > 0 && max > 0.0 {
        let group_width = plot_width / groups as f64;
        let n_series = series.len().max(1) as f64;
        let bar_width = (group_width * 0.9 / n_series).max(0.5);
        for (index, one) in series.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            for (group, value) in one.values.iter().enumerate() {
                if !value.is_finite() || *value <= 0.0 {
                    continue;
                }
                let height = value / max * plot_height;
                let x = LEFT
                    + group as f64 * group_width
                    + group_width * 0.05
                    + index as f64 * bar_width;
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.2}" y="{:.2}" width="{bar_width:.2}" height="{height:.2}" fill="{colour}" fill-opacity="0.85"><title>{}: {}</title></rect>"#,
                    baseline - height,
                    escape(one.label),
                    escape(&short_number(*value))
                );
            }
        }
    }
    match axis {
        AxisLabels::Range(labels) => {
            let positions = [
                (LEFT, "start"),
                (LEFT + plot_width / 2.0, "middle"),
                (WIDTH - RIGHT, "end"),
            ];
            for (label, (x, anchor)) in labels.iter().zip(positions) {
                let _ = write!(
                    svg,
                    r##"<text x="{x}" y="{}" font-size="10" text-anchor="{anchor}" font-family="sans-serif" fill="currentColor">{}</text>"##,
                    baseline + 12.0,
                    escape(label)
                );
            }
        }
        AxisLabels::Names(names) => {
            let group_width = plot_width / names.len().max(1) as f64;
            for (index, name) in names.iter().enumerate() {
                let short: String = name.chars().take(12).collect();
                let _ = write!(
                    svg,
                    r##"<text x="{:.2}" y="{}" font-size="9" text-anchor="middle" font-family="sans-serif" fill="currentColor">{}</text>"##,
                    LEFT + (index as f64 + 0.5) * group_width,
                    baseline + 12.0,
                    escape(&short)
                );
            }
        }
    }
    // Legend when there is more than one series.
    if series.len() > 1 {
        let mut x = LEFT;
        for (index, one) in series.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}" font-size="10" font-family="sans-serif" fill="currentColor">{}</text>"##,
                HEIGHT - 12.0,
                x + 14.0,
                HEIGHT - 3.0,
                escape(one.label)
            );
            x += 24.0 + one.label.len() as f64 * 6.0;
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_draws_one_rect_per_positive_bin_and_escapes_text() {
        let reference = [1.0, 0.0, 3.0];
        let current = [2.0, 2.0, 2.0];
        let svg = histogram(
            "a<b",
            0.0,
            1.0,
            &[
                Series {
                    label: "reference",
                    values: &reference,
                },
                Series {
                    label: "current",
                    values: &current,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 2 + 3 + 2, "{svg}");
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(12.0), "12");
        assert_eq!(short_number(1234567.0), "1.23e6");
        assert_eq!(short_number(-0.0001), "-1.00e-4");
    }
}
