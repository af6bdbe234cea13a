//! The `order_by` parser. (Being written: see ARCHITECTURE.md.)

use super::ast::{OrderBy, SearchKind};
use crate::error::{Error, Result};

/// Parses `order_by` entries such as `metrics.rmse DESC`.
pub fn parse_order_by(kind: SearchKind, order_by: &[String]) -> Result<Vec<OrderBy>> {
    if order_by.is_empty() {
        return Ok(Vec::new());
    }
    Err(Error::invalid(format!(
        "order_by is not supported yet for {kind:?}"
    )))
}
