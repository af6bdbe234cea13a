//! The domain error. Each [`ErrorKind`] maps to exactly one MLflow `error_code` (see the server's table).

use std::fmt;

/// What went wrong, as a client needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or violates a rule (MLflow `INVALID_PARAMETER_VALUE`, HTTP 400).
    InvalidParameterValue,
    /// A uniquely-named thing already exists (MLflow `RESOURCE_ALREADY_EXISTS`, HTTP 400).
    ResourceAlreadyExists,
    /// The addressed thing does not exist (MLflow `RESOURCE_DOES_NOT_EXIST`, HTTP 404).
    ResourceDoesNotExist,
    /// The operation is refused by a policy (MLflow `PERMISSION_DENIED`, HTTP 403).
    PermissionDenied,
    /// The thing is in a state that forbids the operation (MLflow `INVALID_STATE`).
    InvalidState,
    /// A dependency (the database, the object store) cannot be reached right now; the request did not
    /// take effect and may be retried (MLflow `TEMPORARILY_UNAVAILABLE`, HTTP 503).
    Unavailable,
    /// A real server fault: corrupt data, a bug (MLflow `INTERNAL_ERROR`, HTTP 500).
    Internal,
}

/// A domain error: a kind plus a message meant for the person who sent the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameterValue, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceAlreadyExists, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// MLflow's wording for a required field that is absent.
    pub fn missing(param: &str) -> Self {
        Self::invalid(format!(
            "Missing value for required parameter '{param}'. See the API docs for more information about request parameters."
        ))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
