//! Reading dates and times in cell text (pure).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

/// Date-time layouts tried in order by [`parse_flexible`].
const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S%.f",
    "%m/%d/%Y %H:%M",
    "%d %b %Y %H:%M:%S",
    "%b %d %Y %H:%M:%S",
    "%Y%m%dT%H%M%S",
];

/// Date layouts tried in order by [`parse_flexible`].
const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%d.%m.%Y",
    "%Y.%m.%d",
    "%Y%m%d",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%a, %d %b %Y",
    "%d-%b-%Y",
    "%Y-%b-%d",
];

/// Parses a date or date-time in the common layouts (ISO 8601 and RFC 3339 with offsets, RFC 2822,
/// `YYYY/MM/DD`, `MM/DD/YYYY`, `DD.MM.YYYY`, `12 Jan 2024`, `January 12, 2024`...). Offsets are applied
/// (the result is UTC). A subset of what python-dateutil reads: bare numbers and partial dates like
/// "March" are not dates here.
pub fn parse_flexible(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if text.len() < 6 || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(stamp) = DateTime::parse_from_rfc3339(text) {
        return Some(stamp.naive_utc());
    }
    if let Ok(stamp) = DateTime::parse_from_rfc2822(text) {
        return Some(stamp.naive_utc());
    }
    if let Ok(stamp) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(stamp.naive_utc());
    }
    let without_z = text.strip_suffix('Z').unwrap_or(text);
    for format in DATETIME_FORMATS {
        if let Ok(stamp) = NaiveDateTime::parse_from_str(without_z, format) {
            return Some(stamp);
        }
    }
    for format in DATE_FORMATS {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Some(date.and_time(NaiveTime::MIN));
        }
    }
    None
}

/// Whether `text` is written exactly in the strftime `format` (Python's `datetime.strptime` sense:
/// the whole text, a valid date).
pub fn parse_with_format(text: &str, format: &str) -> bool {
    if NaiveDateTime::parse_from_str(text, format).is_ok()
        || DateTime::parse_from_str(text, format).is_ok()
    {
        return true;
    }
    if NaiveDate::parse_from_str(text, format).is_ok() {
        return true;
    }
    // Formats with only a time, or with partial dates (`%Y-%m`), parse with a filler day.
    NaiveTime::parse_from_str(text, format).is_ok()
        || NaiveDate::parse_from_str(&format!("{text} 01"), &format!("{format} %d")).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flexible_dates() {
        let check = |text: &str, expected: Option<&str>| {
            let parsed =
                parse_flexible(text).map(|stamp| stamp.format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!(parsed.as_deref(), expected, "{text:?}");
        };
        check("2024-01-31", Some("2024-01-31 00:00:00"));
        check("2024-01-31T10:20:30Z", Some("2024-01-31 10:20:30"));
        check("2024-01-31T10:20:30+02:00", Some("2024-01-31 08:20:30"));
        check("2024-01-31 10:20:30.250", Some("2024-01-31 10:20:30"));
        check("2024/01/31", Some("2024-01-31 00:00:00"));
        check("01/31/2024", Some("2024-01-31 00:00:00"));
        check("31 Jan 2024", Some("2024-01-31 00:00:00"));
        check("January 31, 2024", Some("2024-01-31 00:00:00"));
        check("2024-02-30", None);
        check("not a date", None);
        check("12", None);
    }

    #[test]
    fn strftime_formats() {
        assert!(parse_with_format("2024-01-31", "%Y-%m-%d"));
        assert!(!parse_with_format("2024-1-31x", "%Y-%m-%d"));
        assert!(!parse_with_format("31/01/2024", "%Y-%m-%d"));
        assert!(parse_with_format("2024-01", "%Y-%m"));
        assert!(parse_with_format("10:20:30", "%H:%M:%S"));
        assert!(parse_with_format("2024-01-31 10:20", "%Y-%m-%d %H:%M"));
    }
}
