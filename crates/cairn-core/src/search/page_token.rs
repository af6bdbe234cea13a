//! Opaque page tokens: base64 of `{"offset": N}`, as MLflow's own server uses.
//!
//! Metric-history pages add where the page ended, `{"offset": N, "after": [step, timestamp,
//! value_bits, is_nan]}`, so that the next page seeks straight to it instead of skipping N points.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{Error, Result};

pub fn encode_page_token(offset: u64) -> String {
    STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Decodes a token produced by [`encode_page_token`]; an absent or empty token is offset 0.
pub fn decode_page_token(token: Option<&str>) -> Result<u64> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(0);
    };
    let invalid = || Error::invalid(format!("Invalid page token '{token}'"));
    let bytes = STANDARD.decode(token.trim()).map_err(|_| invalid())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    json.get("offset")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(invalid)
}

/// The sort key of the last point of a metric-history page: (step, timestamp, value, is_nan), with
/// NaN stored as value 0 and `is_nan` set, as the stores order it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryCursor {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
    pub is_nan: bool,
}

/// A history page token: the offset (what MLflow's tokens carry) and where the page ended.
pub fn encode_history_token(offset: u64, after: HistoryCursor) -> String {
    STANDARD.encode(format!(
        "{{\"offset\": {offset}, \"after\": [{}, {}, {}, {}]}}",
        after.step,
        after.timestamp,
        after.value.to_bits(),
        u8::from(after.is_nan)
    ))
}

/// Decodes a token from [`encode_history_token`] or [`encode_page_token`] (offset only).
pub fn decode_history_token(token: Option<&str>) -> Result<(u64, Option<HistoryCursor>)> {
    let offset = decode_page_token(token)?;
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok((offset, None));
    };
    let invalid = || Error::invalid(format!("Invalid page token '{token}'"));
    let bytes = STANDARD.decode(token.trim()).map_err(|_| invalid())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let Some(after) = json.get("after") else {
        return Ok((offset, None));
    };
    let parts = after
        .as_array()
        .filter(|parts| parts.len() == 4)
        .ok_or_else(invalid)?;
    let cursor = HistoryCursor {
        step: parts[0].as_i64().ok_or_else(invalid)?,
        timestamp: parts[1].as_i64().ok_or_else(invalid)?,
        value: f64::from_bits(parts[2].as_u64().ok_or_else(invalid)?),
        is_nan: parts[3].as_u64().ok_or_else(invalid)? != 0,
    };
    Ok((offset, Some(cursor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for offset in [0, 1, 25_000, u64::MAX] {
            assert_eq!(
                decode_page_token(Some(&encode_page_token(offset))),
                Ok(offset)
            );
        }
        assert_eq!(decode_page_token(None), Ok(0));
        assert_eq!(decode_page_token(Some("")), Ok(0));
    }

    #[test]
    fn mlflow_token_is_accepted() {
        // The stock server's token for offset 1.
        assert_eq!(decode_page_token(Some("eyJvZmZzZXQiOiAxfQ==")), Ok(1));
    }

    #[test]
    fn garbage_is_invalid_parameter() {
        for token in ["!!", "bm90IGpzb24=", "eyJvZmZzZXQiOiAtMX0="] {
            let result = decode_page_token(Some(token));
            assert!(
                matches!(&result, Err(error) if error.kind == crate::ErrorKind::InvalidParameterValue),
                "{token}: {result:?}"
            );
        }
    }

    #[test]
    fn history_tokens() {
        let after = HistoryCursor {
            step: -3,
            timestamp: 1_700_000_000_000,
            value: 0.1 + 0.2,
            is_nan: false,
        };
        let token = encode_history_token(25_000, after);
        assert_eq!(decode_page_token(Some(&token)), Ok(25_000));
        assert_eq!(
            decode_history_token(Some(&token)),
            Ok((25_000, Some(after)))
        );
        let offset_only = encode_page_token(7);
        assert_eq!(decode_history_token(Some(&offset_only)), Ok((7, None)));
        assert_eq!(decode_history_token(None), Ok((0, None)));
        let bad = STANDARD.encode("{\"offset\": 1, \"after\": [1, 2]}");
        assert!(decode_history_token(Some(&bad)).is_err());
    }
}
