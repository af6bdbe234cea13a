//! Small SVG drawings rendered on the server: sparklines, the compare page's scatter plot and
//! parallel coordinates. Text goes through [`escape`]; numbers are formatted here.

use std::fmt::Write;

use cairn_core::downsample::lttb;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A 120×28 sparkline of (x, y) points (x ascending), downsampled to 60 points by LTTB.
pub fn sparkline(points: &[(f64, f64)]) -> String {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let kept: Vec<(f64, f64)> = lttb(&finite, 60).into_iter().map(|i| finite[i]).collect();
    let mut out = String::from(
        r#"<svg class="sparkline" viewBox="0 0 120 28" preserveAspectRatio="none" aria-hidden="true">"#,
    );
    if kept.len() >= 2 {
        let (x0, x1) = bounds(kept.iter().map(|p| p.0));
        let (y0, y1) = bounds(kept.iter().map(|p| p.1));
        out.push_str("<polyline points=\"");
        for (x, y) in &kept {
            let px = scale(*x, x0, x1, 1.0, 119.0);
            let py = scale(*y, y0, y1, 26.0, 2.0);
            let _ = write!(out, "{px:.1},{py:.1} ");
        }
        out.push_str("\"/>");
    }
    out.push_str("</svg>");
    out
}

pub fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for value in values.filter(|value| value.is_finite()) {
        low = low.min(value);
        high = high.max(value);
    }
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    if low == high {
        return (low - 0.5, high + 0.5);
    }
    (low, high)
}

pub fn scale(value: f64, from_low: f64, from_high: f64, to_low: f64, to_high: f64) -> f64 {
    to_low + (value - from_low) / (from_high - from_low) * (to_high - to_low)
}

/// Where a value sits on one axis: numbers on a linear scale, anything else as a category.
pub enum Axis {
    Numeric { low: f64, high: f64 },
    Categories(Vec<String>),
}

impl Axis {
    /// An axis over these values (`None` = missing): numeric if every present value parses.
    pub fn over(values: &[Option<String>]) -> Axis {
        let present: Vec<&String> = values.iter().flatten().collect();
        let numbers: Vec<f64> = present
            .iter()
            .filter_map(|v| v.parse::<f64>().ok())
            .collect();
        if !present.is_empty() && numbers.len() == present.len() {
            let (low, high) = bounds(numbers.into_iter());
            Axis::Numeric { low, high }
        } else {
            let mut categories: Vec<String> = present.into_iter().cloned().collect();
            categories.sort();
            categories.dedup();
            Axis::Categories(categories)
        }
    }

    /// The position (0..1) of a value, if it has one.
    pub fn position(&self, value: Option<&str>) -> Option<f64> {
        let value = value?;
        match self {
            Axis::Numeric { low, high } => {
                let number = value.parse::<f64>().ok().filter(|n| n.is_finite())?;
                Some(scale(number, *low, *high, 0.0, 1.0))
            }
            Axis::Categories(categories) => {
                let index = categories.iter().position(|c| c == value)?;
                Some(if categories.len() == 1 {
                    0.5
                } else {
                    index as f64 / (categories.len() - 1) as f64
                })
            }
        }
    }

    /// Tick labels at positions 0..1.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        match self {
            Axis::Numeric { low, high } => (0..=4)
                .map(|i| {
                    let t = f64::from(i) / 4.0;
                    (t, crate::view::format_value(low + (high - low) * t))
                })
                .collect(),
            Axis::Categories(categories) => categories
                .iter()
                .enumerate()
                .map(|(index, category)| {
                    let position = if categories.len() == 1 {
                        0.5
                    } else {
                        index as f64 / (categories.len() - 1) as f64
                    };
                    (position, category.clone())
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_has_points() {
        let points: Vec<(f64, f64)> = (0..500).map(|i| (i as f64, (i as f64).sqrt())).collect();
        let svg = sparkline(&points);
        assert!(svg.starts_with("<svg class=\"sparkline\""));
        assert_eq!(svg.matches(',').count(), 60);
        assert!(!sparkline(&[]).contains("polyline"));
    }

    #[test]
    fn axes() {
        let numeric = Axis::over(&[Some("1".into()), Some("3".into()), None]);
        assert_eq!(numeric.position(Some("2")), Some(0.5));
        let categories = Axis::over(&[Some("adam".into()), Some("sgd".into())]);
        assert_eq!(categories.position(Some("sgd")), Some(1.0));
        assert_eq!(categories.position(Some("other")), None);
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
