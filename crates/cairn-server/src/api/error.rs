//! MLflow's error format, and the one table from domain error kinds to MLflow codes and HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_artifacts::ArtifactError;
use cairn_core::{Error, ErrorKind};

/// An error as the MLflow client expects it: `{"error_code": ..., "message": ...}` with MLflow's status.
#[derive(Debug)]
pub struct ApiError {
    pub error_code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

/// The table. Every domain error kind has exactly one MLflow code.
fn code_and_status(kind: ErrorKind) -> (&'static str, StatusCode) {
    match kind {
        ErrorKind::InvalidParameterValue => ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST),
        // MLflow answers 400 (not 409) here, and `register_model` depends on it.
        ErrorKind::ResourceAlreadyExists => ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST),
        ErrorKind::ResourceDoesNotExist => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
        ErrorKind::PermissionDenied => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
        // MLflow maps INVALID_STATE to 500, which makes its client retry for minutes; a refused state
        // change is the client's problem, so it is a 400 here.
        ErrorKind::InvalidState => ("INVALID_STATE", StatusCode::BAD_REQUEST),
        ErrorKind::Unavailable => ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        ErrorKind::Internal => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The `error_class` MLflow 3 adds next to the code.
fn error_class(error_code: &str) -> &str {
    match error_code {
        "RESOURCE_DOES_NOT_EXIST" => "RESOURCE_NOT_FOUND",
        other => other,
    }
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::invalid(message).into()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (error_code, status) = code_and_status(error.kind);
        match error.kind {
            ErrorKind::Internal => tracing::error!(message = %error.message, "internal error"),
            ErrorKind::Unavailable => tracing::warn!(message = %error.message, "unavailable"),
            _ => {}
        }
        Self {
            error_code,
            status,
            message: error.message,
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(error: ArtifactError) -> Self {
        let domain = match error {
            ArtifactError::NotFound(path) => {
                Error::not_found(format!("No such artifact: '{path}'"))
            }
            ArtifactError::InvalidPath => Error::invalid("Invalid path"),
            // The object store is down or unreachable: a server-side outage, not a bug, and one the
            // client may retry. MLflow's TEMPORARILY_UNAVAILABLE is a 503. Metadata calls are unaffected.
            ArtifactError::Unavailable(reason) => {
                tracing::warn!(%reason, "artifact storage unavailable");
                return Self {
                    error_code: "TEMPORARILY_UNAVAILABLE",
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: format!("Artifact storage is unavailable: {reason}"),
                };
            }
            other => Error::internal(other.to_string()),
        };
        domain.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error_code": self.error_code,
            "message": self.message,
            "error_class": error_class(self.error_code),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
