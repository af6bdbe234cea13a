//! `cairn data`: validation suites, profiles, suggested suites and drift, over files too big for memory.
//!
//! Layers (the pure ones know no files, no HTTP, no SQL):
//! - [`table`] (pure): the [`table::Chunk`] every reader produces and how cells are read.
//! - [`source`] (I/O): CSV/TSV, JSON lines and Parquet files, folders and globs, as chunks in row order.

pub mod error;
pub mod expect;
pub mod report;
pub mod source;
pub mod stats;
pub mod suite;
pub mod table;
pub mod time;
pub mod validate;

pub use error::{DataError, Result};
