//! `cairn serve`: ONNX models behind MLflow's scoring protocol and the Open Inference Protocol v2.
//!
//! - [`runtime`] finds and loads the ONNX Runtime shared library.
//! - [`resolve`] turns a model URI (`models:/name@alias`, `runs:/...`, a folder, an `.onnx` file) into
//!   a local folder, downloading through a tracking server's artifact proxy.
//! - [`mlmodel`] reads an `MLmodel` file; [`request`] parses request bodies (both pure).
//! - [`model`] binds a parsed request to the model's inputs, runs it and shapes the outputs;
//!   [`zipmap`] rewrites a classifier's ZipMap output into a tensor at load time.
//! - [`batch`] lets concurrent requests for one model version share a model call.
//! - [`http`] is the axum router: protocols, limits, metrics; each model sits in a slot that hot
//!   reload can swap.
//! - [`reload`] follows `models:/name@alias` aliases: polls the registry, loads a new version in
//!   the background, switches to it.
//! - [`metrics`] writes Prometheus text; [`process`] reads the process' CPU and memory (Linux).

pub mod batch;
pub mod http;
pub mod metrics;
pub mod mlmodel;
pub mod model;
pub mod predlog;
pub mod process;
pub mod reload;
pub mod request;
pub mod resolve;
pub mod runtime;
pub mod zipmap;

/// Everything that can go wrong, with the HTTP status each maps to (see [`ServeError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The client's request is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    NotFound(String),
    #[error("server overloaded: {0}")]
    Overloaded(String),
    #[error("request timed out after {0} ms")]
    Timeout(u64),
    /// A model that cannot be loaded or used.
    #[error("{0}")]
    Model(String),
    /// ONNX Runtime missing or failing.
    #[error("{0}")]
    Runtime(String),
    /// Resolving or downloading a model through a tracking server.
    #[error("{0}")]
    Resolve(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    pub fn status(&self) -> u16 {
        match self {
            ServeError::BadRequest(_) => 400,
            ServeError::NotFound(_) => 404,
            ServeError::TooLarge { .. } => 413,
            ServeError::UnsupportedMediaType(_) => 415,
            ServeError::Overloaded(_) => 503,
            ServeError::Timeout(_) => 504,
            ServeError::Model(_)
            | ServeError::Runtime(_)
            | ServeError::Resolve(_)
            | ServeError::Io { .. } => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
        let context = context.into();
        move |source| ServeError::Io { context, source }
    }
}
