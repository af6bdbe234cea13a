//! Opaque page tokens: base64 of `{"offset": N}`, as MLflow's own server uses.

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
}
