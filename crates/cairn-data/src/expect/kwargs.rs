//! Reading an expectation's arguments, with errors that name the expectation and the argument.

use serde_json::Value;

use crate::error::DataError;
use crate::suite::ExpectationConfig;

/// Arguments allowed on every expectation (not judged by any check).
const COMMON: &[&str] = &[
    "mostly",
    "max_unexpected_count",
    "result_format",
    "catch_exceptions",
    "include_config",
    "meta",
    "notes",
    "id",
    "description",
];

pub struct Kwargs<'a> {
    index: usize,
    config: &'a ExpectationConfig,
    columns: &'a [String],
}

impl<'a> Kwargs<'a> {
    pub fn new(index: usize, config: &'a ExpectationConfig, columns: &'a [String]) -> Kwargs<'a> {
        Kwargs {
            index,
            config,
            columns,
        }
    }

    pub fn expectation_type(&self) -> &str {
        &self.config.expectation_type
    }

    pub fn config(&self) -> &ExpectationConfig {
        self.config
    }

    pub fn columns(&self) -> &[String] {
        self.columns
    }

    /// A usage error about this expectation.
    pub fn error(&self, message: String) -> DataError {
        DataError::usage(format!(
            "expectation {} ({}): {message}",
            self.index + 1,
            self.config.expectation_type
        ))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.config.kwargs.get(key).filter(|value| !value.is_null())
    }

    /// Refuses arguments the expectation does not take (a typo must not pass silently).
    pub fn only(&self, allowed: &[&str]) -> Result<(), DataError> {
        for key in self.config.kwargs.keys() {
            if !allowed.contains(&key.as_str()) && !COMMON.contains(&key.as_str()) {
                if matches!(key.as_str(), "row_condition" | "condition_parser") {
                    return Err(self.error(format!("`{key}` is not supported by cairn yet")));
                }
                return Err(self.error(format!(
                    "unknown argument `{key}` (expected one of: {})",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn string(&self, key: &str) -> Result<&str, DataError> {
        match self.get(key) {
            Some(Value::String(text)) => Ok(text),
            Some(other) => Err(self.error(format!("`{key}` must be a string, not {other}"))),
            None => Err(self.error(format!("`{key}` is required"))),
        }
    }

    pub fn string_opt(&self, key: &str) -> Result<Option<&str>, DataError> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.string(key).map(Some),
        }
    }

    pub fn f64_opt(&self, key: &str) -> Result<Option<f64>, DataError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64()),
            Some(other) => Err(self.error(format!("`{key}` must be a number, not {other}"))),
        }
    }

    pub fn f64(&self, key: &str) -> Result<f64, DataError> {
        self.f64_opt(key)?
            .ok_or_else(|| self.error(format!("`{key}` is required")))
    }

    pub fn u64_opt(&self, key: &str) -> Result<Option<u64>, DataError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => number
                .as_u64()
                .or_else(|| {
                    number
                        .as_f64()
                        .filter(|v| v.fract() == 0.0 && *v >= 0.0)
                        .map(|v| v as u64)
                })
                .map(Some)
                .ok_or_else(|| {
                    self.error(format!("`{key}` must be a whole number ≥ 0, not {number}"))
                }),
            Some(other) => Err(self.error(format!("`{key}` must be a whole number, not {other}"))),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, DataError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.error(format!("`{key}` must be true or false, not {other}"))),
        }
    }

    /// A list argument (`value_set`, `column_list`...).
    pub fn list(&self, key: &str) -> Result<&Vec<Value>, DataError> {
        match self.get(key) {
            Some(Value::Array(values)) => Ok(values),
            Some(other) => Err(self.error(format!("`{key}` must be a list, not {other}"))),
            None => Err(self.error(format!("`{key}` is required"))),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>, DataError> {
        self.list(key)?
            .iter()
            .map(|value| match value {
                Value::String(text) => Ok(text.clone()),
                other => Err(self.error(format!("`{key}` must list strings, not {other}"))),
            })
            .collect()
    }

    /// The index of the column named by `key` (default `column`), or the message of a failed result
    /// when the data lacks it.
    pub fn column_index(&self, key: &str) -> Result<Result<usize, String>, DataError> {
        let name = self.string(key)?;
        Ok(self
            .columns
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| {
                format!(
                    "column {name:?} is not in the data (columns: {})",
                    self.columns.join(", ")
                )
            }))
    }
}
