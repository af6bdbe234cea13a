//! Errors of `cairn data`. Every input problem names its file and, where there is one, its line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataError {
    /// The data cannot be read as the format says (ragged row, broken quoting, bad bytes...).
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: String,
        line: u64,
        message: String,
    },
    /// The input as a whole is unusable (missing, empty, unknown format, mismatched headers...).
    #[error("{0}")]
    Input(String),
    /// A suite, gate or option that cannot be used as written.
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl DataError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> DataError {
        DataError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn input(message: impl Into<String>) -> DataError {
        DataError::Input(message.into())
    }

    pub fn usage(message: impl Into<String>) -> DataError {
        DataError::Usage(message.into())
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
