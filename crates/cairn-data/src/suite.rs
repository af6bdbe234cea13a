//! The suite file: YAML, versioned, one expectation per entry, with Great Expectations' names and
//! arguments (`kwargs` written inline).
//!
//! ```yaml
//! version: 1
//! name: orders
//! expectations:
//!   - type: expect_column_values_to_not_be_null
//!     column: order_id
//!   - type: expect_column_values_to_be_between
//!     column: amount
//!     min_value: 0
//!     max_value: 10000
//!     mostly: 0.99
//! ```
//!
//! `mostly` has Great Expectations' meaning: the fraction of non-null values that must pass. cairn adds
//! `max_unexpected_count`: at most this many rows may fail (both may be given; both must hold).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{DataError, Result};

/// The suite format version this build reads and writes.
pub const SUITE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub expectations: Vec<ExpectationConfig>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
}

/// One expectation as written: its Great Expectations type and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationConfig {
    #[serde(rename = "type")]
    pub expectation_type: String,
    #[serde(flatten)]
    pub kwargs: Map<String, Value>,
}

impl ExpectationConfig {
    pub fn new(expectation_type: &str) -> ExpectationConfig {
        ExpectationConfig {
            expectation_type: expectation_type.to_string(),
            kwargs: Map::new(),
        }
    }

    /// Builder: adds one argument.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ExpectationConfig {
        self.kwargs.insert(key.to_string(), value.into());
        self
    }

    /// The `column` argument, if any.
    pub fn column(&self) -> Option<&str> {
        self.kwargs.get("column").and_then(Value::as_str)
    }
}

impl Suite {
    /// Reads a suite from its YAML (or JSON) text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Suite> {
        let suite: Suite = serde_yaml_ng::from_str(text)
            .map_err(|error| DataError::usage(format!("{origin}: not a cairn suite: {error}")))?;
        if suite.version > SUITE_VERSION {
            return Err(DataError::usage(format!(
                "{origin}: suite version {} is newer than this cairn reads ({SUITE_VERSION}); upgrade cairn",
                suite.version
            )));
        }
        if suite.version == 0 {
            return Err(DataError::usage(format!(
                "{origin}: suite version must be 1"
            )));
        }
        Ok(suite)
    }

    /// The suite as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inline_kwargs_and_round_trips() {
        let text = "version: 1\nname: orders\nexpectations:\n  - type: expect_column_values_to_be_between\n    column: amount\n    min_value: 0\n    mostly: 0.99\n";
        let suite = Suite::parse(text, "suite.yaml").unwrap();
        assert_eq!(
            suite.expectations[0].expectation_type,
            "expect_column_values_to_be_between"
        );
        assert_eq!(suite.expectations[0].column(), Some("amount"));
        assert_eq!(
            suite.expectations[0].kwargs["mostly"],
            serde_json::json!(0.99)
        );
        assert_eq!(Suite::parse(&suite.to_yaml(), "again").unwrap(), suite);
    }

    #[test]
    fn refuses_newer_versions_and_unknown_fields() {
        let newer = Suite::parse("version: 9\nname: x\nexpectations: []\n", "s.yaml").unwrap_err();
        assert!(newer.to_string().contains("newer"), "{newer}");
        let unknown = Suite::parse(
            "version: 1\nname: x\nexpectations: []\nrules: []\n",
            "s.yaml",
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("rules"), "{unknown}");
    }
}
