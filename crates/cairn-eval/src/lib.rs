//! `cairn eval`: model evaluation metrics over a predictions table, as scikit-learn computes them.
//!
//! Pure: no files, HTTP or SQL. The caller feeds rows (label, prediction, probabilities, slice
//! values) chunk by chunk into a [`classification::ClassificationAccumulator`] or a
//! [`regression::RegressionAccumulator`], then calls `finish` for an [`result::Evaluation`]
//! (overall metrics, curves, per-slice metrics and the gap between slices), which [`report`] renders
//! as text, Markdown, JSON and self-contained HTML with SVG plots.
//!
//! Memory (stated, not estimated): classification keeps a confusion matrix per slice cell and, when
//! probabilities are given, the probabilities themselves: 8 bytes per row for binary (the positive
//! class' score, filed under the row's cell and true label; sorting a list takes one more buffer of
//! its length, 8 bytes per row of the lists being sorted at once, one per core), 8 x K bytes per row
//! for K classes (plus 16 bytes per row while one class' one-vs-rest curve is sorted). Regression
//! keeps 8 bytes per row (the residual, for exact quantiles; 16 while the quantiles of a slice made
//! of several cells, or of the whole sliced input, are selected). Everything else is counters.

pub mod classification;
pub mod curve;
pub mod error;
pub mod keys;
pub mod parallel;
pub mod regression;
pub mod report;
pub mod result;
pub mod sum;

pub use error::{EvalError, Result};
