//! Formatting shared by the pages: times, durations, metric values, URLs.

/// `2026-11-23 05:12:03` (UTC) from milliseconds since the epoch.
pub fn format_time(ms: i64) -> String {
    cairn_core::time::format_utc(ms)
}

/// `850ms`, `12.3s`, `4m 05s`, `2h 03m`, `3d 04h`.
pub fn format_duration(ms: i64) -> String {
    if ms < 0 {
        return String::new();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let seconds = ms / 1000;
    if seconds < 3600 {
        return format!("{}m {:02}s", seconds / 60, seconds % 60);
    }
    if seconds < 86_400 {
        return format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60);
    }
    format!("{}d {:02}h", seconds / 86_400, seconds % 86_400 / 3600)
}

/// A metric value for a table cell: up to 6 significant digits, exact integers as integers.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor();
    if !(-4.0..15.0).contains(&magnitude) {
        return format!("{value:.5e}");
    }
    let decimals = (5.0 - magnitude).clamp(0.0, 12.0) as usize;
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// Percent-encodes one query value or path segment.
pub fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Percent-encodes one path segment (`/models/my%20model`).
pub fn path_encode(text: &str) -> String {
    // byte_serialize writes a space as `+` and a `+` as `%2B`, so every `+` left is a space.
    url_encode(text).replace('+', "%20")
}

/// A query string from pairs (`?a=1&b=2`), empty values left out.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
            any = true;
        }
    }
    if any {
        format!("?{}", serializer.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(850), "850ms");
        assert_eq!(format_duration(12_345), "12.3s");
        assert_eq!(format_duration(245_000), "4m 05s");
        assert_eq!(format_duration(7_380_000), "2h 03m");
    }

    #[test]
    fn values() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.123456789), "0.123457");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(1e-9), "1.00000e-9");
        assert_eq!(format_value(-2.5), "-2.5");
    }

    #[test]
    fn queries() {
        assert_eq!(query_string([("a", "x y"), ("b", "")]), "?a=x+y");
        assert_eq!(query_string([("a", "")]), "");
        assert_eq!(url_encode("a/b c"), "a%2Fb+c");
    }
}
