//! The `order_by` parser: each entry is `<ident> [ASC|DESC]`, ascending by default.

use super::ast::{OrderBy, SearchKind};
use super::lex::{self, Cursor};
use super::schema::Usage;
use crate::error::{Error, Result};

/// Parses `order_by` entries such as `metrics.rmse DESC` or ``tags.`my tag` asc``.
///
/// The identifier is checked against what `kind` can be ordered by (attribute aliases resolved, e.g.
/// `created` becomes `start_time`); the same identifier twice is an error.
pub fn parse_order_by(kind: SearchKind, order_by: &[String]) -> Result<Vec<OrderBy>> {
    let mut parsed: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for entry in order_by {
        let order = parse_one(kind, entry)?;
        if parsed.iter().any(|earlier| earlier.ident == order.ident) {
            return Err(Error::invalid(format!(
                "`order_by` contains duplicate fields: '{entry}' orders by {} '{}' again",
                order.ident.entity.as_str(),
                order.ident.key
            )));
        }
        parsed.push(order);
    }
    Ok(parsed)
}

fn parse_one(kind: SearchKind, entry: &str) -> Result<OrderBy> {
    let unparsable = || {
        Error::invalid(format!(
            "Invalid order_by clause '{entry}'. Could not be parsed."
        ))
    };
    let mut cursor = Cursor::new(entry, "order_by clause");
    cursor.skip_whitespace();
    let raw = lex::identifier(&mut cursor)?.ok_or_else(unparsable)?;
    let before_direction = cursor.position();
    cursor.skip_whitespace();
    let ascending = if cursor.is_at_end() {
        true
    } else if cursor.position() == before_direction {
        // Something glued to the identifier, e.g. `metrics.a+1`.
        return Err(unparsable());
    } else if cursor.eat_keyword("ASC") {
        true
    } else if cursor.eat_keyword("DESC") {
        false
    } else if cursor.peek().is_some_and(lex::is_word_char) {
        return Err(Error::invalid(format!(
            "Invalid ordering key in order_by clause '{entry}'. Expected ASC or DESC"
        )));
    } else {
        return Err(unparsable());
    };
    cursor.skip_whitespace();
    if !cursor.is_at_end() {
        return Err(unparsable());
    }
    let resolved = lex::resolve(kind, Usage::OrderBy, raw)?;
    Ok(OrderBy {
        ident: resolved.ident,
        ascending,
    })
}
