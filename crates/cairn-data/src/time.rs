//! Reading dates and times in cell text (pure).

use chrono::format::{Item, Parsed, StrftimeItems};
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

/// A strftime format read once, to test many cells against (Python's `datetime.strptime` sense: the
/// whole text, a valid date).
#[derive(Debug, Clone)]
pub struct TimeFormat {
    items: Vec<Item<'static>>,
}

impl TimeFormat {
    /// Reads `format`; `None` when chrono cannot read it.
    pub fn new(format: &str) -> Option<TimeFormat> {
        let items: Vec<Item<'static>> = StrftimeItems::new(format).parse_to_owned().ok()?;
        Some(TimeFormat { items })
    }

    pub fn matches(&self, text: &str) -> bool {
        let mut parsed = Parsed::new();
        if chrono::format::parse(&mut parsed, text, self.items.iter()).is_err() {
            return false;
        }
        let stamp = parsed.timestamp().is_some();
        let has_date = stamp
            || parsed.year().is_some()
            || parsed.year_div_100().is_some()
            || parsed.isoyear().is_some();
        let has_time = parsed.hour_div_12().is_some() || parsed.minute().is_some();
        if has_date {
            if !stamp
                && parsed.month().is_none()
                && parsed.ordinal().is_none()
                && parsed.isoweek().is_none()
            {
                // `%Y` alone: complete the date with January.
                let _ = parsed.set_month(1);
            }
            if !stamp
                && parsed.day().is_none()
                && parsed.ordinal().is_none()
                && parsed.weekday().is_none()
            {
                // `%Y-%m`: complete the date with the first day.
                let _ = parsed.set_day(1);
            }
            return if has_time {
                parsed.to_naive_datetime_with_offset(0).is_ok()
            } else {
                parsed.to_naive_date().is_ok()
            };
        }
        has_time && parsed.to_naive_time().is_ok()
    }
}

/// Whether `text` is written exactly in the strftime `format`.
pub fn parse_with_format(text: &str, format: &str) -> bool {
    TimeFormat::new(format).is_some_and(|format| format.matches(text))
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
