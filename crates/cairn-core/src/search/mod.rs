//! MLflow's search grammar: filters, `order_by` clauses and page tokens.
//!
//! Parsing is pure: a filter string becomes a [`Filter`] (a conjunction of [`Clause`]s) that the store
//! compiles to SQL. Which identifiers and comparators are allowed depends on what is searched
//! ([`SearchKind`]); a violation is an `INVALID_PARAMETER_VALUE` error whose message points at the problem.

mod ast;
mod filter;
mod lex;
mod order_by;
mod page_token;
mod schema;
#[cfg(test)]
mod tests;

pub use ast::*;
pub use filter::parse_filter;
pub use order_by::parse_order_by;
pub use page_token::{
    decode_history_token, decode_page_token, encode_history_token, encode_page_token, HistoryCursor,
};
