//! Bulk metric reads as one packed text value instead of one sqlx row per point.
//!
//! sqlx copies every column of every row (an allocation each) and hands rows over a channel from its
//! worker thread, which costs microseconds per row: a 100,000-point history took ~400 ms that way.
//! Here SQLite concatenates the points into one string and we parse it: values travel as their exact
//! IEEE-754 bits (`value_bits`), optional text as hex, so nothing is lost.
//!
//! Line format (lines joined by `;`): `step,timestamp,value,is_nan[,model_id,dataset_name,dataset_digest]`
//! where `value` is the bits as a signed integer (or `r<real>` for rows without bits); the three optional
//! texts are left out when all are NULL, else each is `~` for NULL or the hex of its UTF-8 bytes.

use std::cmp::Ordering;

use cairn_core::entities::Metric;
use cairn_core::{Error, Result};

use super::store_value;

/// The SQL expression of one packed line, over the columns of `metrics`.
pub(super) const PACKED_LINE: &str = "step || ',' || timestamp || ',' || \
     IFNULL(value_bits, 'r' || printf('%!.17g', value)) || ',' || is_nan || \
     (CASE WHEN model_id IS NULL AND dataset_name IS NULL AND dataset_digest IS NULL THEN '' ELSE \
       ',' || (CASE WHEN model_id IS NULL THEN '~' ELSE hex(model_id) END) || \
       ',' || (CASE WHEN dataset_name IS NULL THEN '~' ELSE hex(dataset_name) END) || \
       ',' || (CASE WHEN dataset_digest IS NULL THEN '~' ELSE hex(dataset_digest) END) END)";

fn corrupt(line: &str) -> Error {
    Error::internal(format!("unreadable packed metric line '{line}'"))
}

fn parse_optional_text(field: &str, line: &str) -> Result<Option<String>> {
    if field == "~" {
        return Ok(None);
    }
    let decoded = hex::decode(field).map_err(|_| corrupt(line))?;
    String::from_utf8(decoded)
        .map(Some)
        .map_err(|_| corrupt(line))
}

/// Parses packed lines into metrics named `key`, ordered by (step, timestamp, value).
pub(super) fn parse_packed(text: Option<&str>, key: &str) -> Result<Vec<Metric>> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut metrics = Vec::with_capacity(text.len() / 24);
    for line in text.split(';') {
        let mut fields = line.split(',');
        let mut next = || fields.next().ok_or_else(|| corrupt(line));
        let step: i64 = next()?.parse().map_err(|_| corrupt(line))?;
        let timestamp: i64 = next()?.parse().map_err(|_| corrupt(line))?;
        let value_field = next()?;
        let value = match value_field.strip_prefix('r') {
            Some(real) => real.parse::<f64>().map_err(|_| corrupt(line))?,
            None => f64::from_bits(value_field.parse::<i64>().map_err(|_| corrupt(line))? as u64),
        };
        let is_nan = next()? == "1";
        let (model_id, dataset_name, dataset_digest) = match fields.next() {
            None => (None, None, None),
            Some(model_id) => {
                let mut next = || fields.next().ok_or_else(|| corrupt(line));
                (
                    parse_optional_text(model_id, line)?,
                    parse_optional_text(next()?, line)?,
                    parse_optional_text(next()?, line)?,
                )
            }
        };
        metrics.push(Metric {
            key: key.to_owned(),
            value: if is_nan { f64::NAN } else { value },
            timestamp,
            step,
            model_id,
            dataset_name,
            dataset_digest,
            run_id: None,
        });
    }
    // group_concat does not promise an order: restore the history order if needed.
    let history_order = |a: &Metric, b: &Metric| {
        let (a_value, a_nan) = store_value(a.value);
        let (b_value, b_nan) = store_value(b.value);
        (a.step, a.timestamp)
            .cmp(&(b.step, b.timestamp))
            .then(a_value.partial_cmp(&b_value).unwrap_or(Ordering::Equal))
            .then(a_nan.cmp(&b_nan))
    };
    if !metrics.is_sorted_by(|a, b| history_order(a, b) != Ordering::Greater) {
        metrics.sort_by(history_order);
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fields() {
        let bits = |value: f64| value.to_bits() as i64;
        let text = format!(
            "2,20,{},0;1,10,{},1,6D2D31,,616263;1,10,r0.5,0,~,~,~",
            bits(0.1 + 0.2),
            bits(f64::NAN)
        );
        let metrics = parse_packed(Some(&text), "k").unwrap();
        assert_eq!(metrics.len(), 3);
        assert_eq!(metrics[0].step, 1);
        assert!(metrics[0].value.is_nan() || metrics[1].value.is_nan());
        let nan_point = metrics.iter().find(|m| m.value.is_nan()).unwrap();
        assert_eq!(nan_point.model_id.as_deref(), Some("m-1"));
        assert_eq!(nan_point.dataset_name.as_deref(), Some(""));
        assert_eq!(nan_point.dataset_digest.as_deref(), Some("abc"));
        assert_eq!(metrics[2].value, 0.1 + 0.2);
        assert!(parse_packed(None, "k").unwrap().is_empty());
        assert!(parse_packed(Some("1,2"), "k").is_err());
    }
}
