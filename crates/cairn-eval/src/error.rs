//! Errors of the evaluation. Messages name the value; the caller adds `file:line` and the column.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum EvalError {
    /// A label or prediction that is not one of the classes the probability columns name.
    #[error("class {label:?} has no probability column (classes: {classes})")]
    UnknownClass { label: String, classes: String },
    /// A third class with one probability column.
    #[error(
        "a third class {label:?} (after {classes}) but one probability column: for multiclass probabilities pass --proba-prefix"
    )]
    NotBinary { label: String, classes: String },
    /// A probability outside [0, 1] (scikit-learn refuses them too).
    #[error("probability {value} is outside [0, 1]")]
    ProbabilityOutOfRange { value: f64 },
    /// Anything else the options or data make impossible.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
