//! `cairn data`: validation suites, profiles, suggested suites and drift, over files too big for memory.
//!
//! Layers (the pure ones know no files, no HTTP, no SQL):
//! - [`table`] (pure): the [`table::Chunk`] every reader produces and how cells are read.
//! - [`suite`] (pure): the versioned suite file; [`expect`] (pure): expectations compiled to checks
//!   fed chunk by chunk, with Great Expectations' semantics; [`stats`], [`time`], [`hashing`] (pure).
//! - [`profile`] (pure accumulators, plus `profile_source` driving a source), [`suggest`] (a suite
//!   from a profile), [`ge`] (Great Expectations suites converted).
//! - [`source`] (I/O): CSV/TSV, JSON lines and Parquet files, folders and globs, as chunks in row order.
//! - [`validate`]: a suite run over a source in one streaming pass; [`report`]: text, JSON, JUnit,
//!   Markdown and HTML renderings and SVG plots.

pub mod drift;
pub mod error;
pub mod expect;
pub mod ge;
pub mod hashing;
pub mod profile;
pub mod report;
pub mod source;
pub mod spill;
pub mod sql;
pub mod stats;
pub mod suggest;
pub mod suite;
pub mod table;
pub mod time;
pub mod validate;

pub use error::{DataError, Result};
