//! cairn's domain model. Everything here is pure: no HTTP, no SQL, no filesystem.
//!
//! - [`entities`]: experiments, runs, metrics, logged models, the registry.
//! - [`error`]: the one error type every layer speaks; the server maps its kinds to MLflow error codes.
//! - [`validation`]: MLflow's limits and naming rules.
//! - [`search`]: MLflow's filter grammar, `order_by` and page tokens.
//! - [`artifact_path`]: client-supplied artifact paths, made safe.
//! - [`lineage`]: the lineage graph (what produced what) and its renderings.
//! - [`governance`]: promotion policies (protected aliases and stages, their rules) and naming conventions.

pub mod artifact_path;
pub mod downsample;
pub mod entities;
pub mod error;
pub mod governance;
pub mod lineage;
pub mod search;
pub mod time;
pub mod validation;

pub use error::{Error, ErrorKind, Result};
