//! The filter parser. (Being written: see ARCHITECTURE.md.)

use super::ast::{Filter, SearchKind};
use crate::error::{Error, Result};

/// Parses an MLflow filter string for the given kind of search.
pub fn parse_filter(kind: SearchKind, filter: &str) -> Result<Filter> {
    if filter.trim().is_empty() {
        return Ok(Filter::default());
    }
    Err(Error::invalid(format!(
        "filters are not supported yet for {kind:?}"
    )))
}
