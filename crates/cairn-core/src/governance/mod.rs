//! Model governance: promotion policies and naming conventions, as pure functions.
//!
//! A policy file (YAML or JSON, one serde model, `version: 1`) says which aliases and stages are
//! *protected* and which rules a model version must pass to receive one, and which naming conventions
//! new experiments, models, runs and keys must follow. Everything here works on in-memory values: the
//! server loads the file, gathers the [`Evidence`] from its store, passes the clock in as `now_ms`, and
//! turns an [`Evaluation`] or a [`NamingViolation`] into its own error.
//!
//! - [`policy`]: the file model ([`PolicyFile`], [`ModelPolicy`], [`Rule`]) and its parsing.
//! - [`evaluate`](mod@evaluate): checking a candidate version against a list of rules.
//! - [`naming`]: naming conventions ([`NamingPolicy`], [`NameRule`]).
//! - [`gate`]: quality gate files for `cairn gate check` ([`GateFile`], [`Baseline`]), over the
//!   same rules.

pub mod evaluate;
pub mod gate;
pub mod naming;
pub mod policy;

#[cfg(test)]
mod tests;

pub use evaluate::{
    evaluate, BenchmarkEvidence, DatasetEvidence, Evaluation, Evidence, RuleOutcome,
    ValidationEvidence, SLICE_GAP_PREFIX,
};
pub use gate::{Baseline, GateError, GateFile, SUPPORTED_GATE_VERSION};
pub use naming::{NameRule, NamedThing, NamingPolicy, NamingViolation};
pub use policy::{
    AgeLimit, ComparisonOp, DatasetRequirement, ModelPolicy, PolicyFile, Rule, TimeUnit, Tolerance,
    VsCurrent, SUPPORTED_POLICY_VERSION,
};

/// Why a policy file (or one part of it) could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The YAML or JSON is malformed or does not fit the model; the message keeps the parser's
    /// field path and line/column.
    #[error("invalid policy file: {0}")]
    Syntax(String),
    /// The file is not empty but says nothing about its version.
    #[error(
        "the policy file has no version: add 'version: {SUPPORTED_POLICY_VERSION}' at the top"
    )]
    MissingVersion,
    /// The file is written for a version this build does not read.
    #[error(
        "unsupported policy version {found}: this cairn reads version {SUPPORTED_POLICY_VERSION}"
    )]
    UnsupportedVersion { found: String },
    /// A promotion rule does not parse or is inconsistent.
    #[error("invalid rule '{rule}': {reason}")]
    InvalidRule { rule: String, reason: String },
    /// A naming rule (template or regex) does not compile.
    #[error("invalid naming rule for {field}: {reason}")]
    InvalidNameRule { field: String, reason: String },
}

impl From<PolicyError> for crate::Error {
    fn from(error: PolicyError) -> Self {
        crate::Error::invalid(error.to_string())
    }
}
