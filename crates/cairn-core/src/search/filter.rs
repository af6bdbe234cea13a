//! The filter parser: `clause (AND clause)*`, as MLflow's `SearchUtils.parse_search_filter` accepts it.
//!
//! ```text
//! filter  := clause ( AND clause )*                 (no OR, no parentheses)
//! clause  := ident op value | ident IS [NOT] NULL | ident [NOT] IN '(' string (',' string)* [','] ')'
//! ident   := [entity '.'] key                       (each part a bare word, `back-ticked` or "quoted";
//!                                                     after the entity, dots belong to the key)
//! op      := = | != | > | >= | < | <= | LIKE | ILIKE  (keywords are case-insensitive)
//! value   := 'string' | "string" | number           (SQL numeric literal: -1, 2.5, .5, 1e-3)
//! ```
//!
//! Not supported, as in MLflow: `OR`, parentheses, `NOT` other than in `NOT IN`, `NOT LIKE`, `<>`,
//! `RLIKE`, functions, numbers in lists, `NULL` other than after `IS`.
//!
//! Checks happen in one pass: the identifier (entity, key) against the kind, then the comparator
//! against the identifier, then the value's type against the identifier.

use super::ast::{Clause, Comparator, Entity, Filter, SearchKind, Value};
use super::lex::{self, Cursor, Resolved};
use super::schema::{self, AttributeType, Usage};
use crate::error::{Error, Result};

/// Parses an MLflow filter string for the given kind of search. An empty or blank filter matches
/// everything.
pub fn parse_filter(kind: SearchKind, filter: &str) -> Result<Filter> {
    let mut cursor = Cursor::new(filter, "filter");
    let mut clauses = Vec::new();
    cursor.skip_whitespace();
    if cursor.is_at_end() {
        return Ok(Filter::default());
    }
    loop {
        cursor.skip_whitespace();
        clauses.push(clause(kind, &mut cursor, filter)?);
        cursor.skip_whitespace();
        if cursor.is_at_end() {
            return Ok(Filter { clauses });
        }
        if cursor.eat_keyword("AND") {
            cursor.skip_whitespace();
            if cursor.is_at_end() {
                return Err(Error::invalid(format!(
                    "Invalid clause(s) in filter string: 'AND'. Expected a clause after AND in '{filter}'"
                )));
            }
            continue;
        }
        let rest = cursor.rest();
        if cursor.peek_word().eq_ignore_ascii_case("OR") {
            return Err(Error::invalid(format!(
                "Invalid clause(s) in filter string: '{rest}'. OR is not supported: join clauses with AND"
            )));
        }
        return Err(Error::invalid(format!(
            "Invalid clause(s) in filter string: '{rest}'. Expected AND between clauses"
        )));
    }
}

fn clause(kind: SearchKind, cursor: &mut Cursor<'_>, filter: &str) -> Result<Clause> {
    let start = cursor.position();
    let Some(raw_ident) = lex::identifier(cursor)? else {
        let rest = cursor.rest();
        let detail = match cursor.peek() {
            Some('(' | ')') => "Parentheses are not supported: join clauses with AND",
            _ => {
                "Expected an identifier such as metrics.accuracy, params.lr, tags.`my tag` or an \
                 attribute"
            }
        };
        return Err(Error::invalid(format!(
            "Invalid clause(s) in filter string: '{rest}'. {detail}"
        )));
    };
    let resolved = lex::resolve(kind, Usage::Filter, raw_ident)?;
    cursor.skip_whitespace();
    let comparator = comparator(cursor, filter, start, &resolved, kind)?;
    let value = match comparator {
        Comparator::IsNull | Comparator::IsNotNull => Value::Null,
        _ => {
            cursor.skip_whitespace();
            let value_start = cursor.position();
            let raw = raw_value(cursor)?;
            let text = cursor.since(value_start);
            let Some(raw) = raw else {
                return Err(Error::invalid(format!(
                    "Invalid comparison clause '{}'. Expected a value after '{}'",
                    cursor.since(start).trim_end(),
                    comparator.as_str()
                )));
            };
            typed_value(kind, &resolved, comparator, raw, text)?
        }
    };
    Ok(Clause {
        ident: resolved.ident,
        comparator,
        value,
    })
}

/// Reads the comparator and checks it is allowed on the identifier.
fn comparator(
    cursor: &mut Cursor<'_>,
    filter: &str,
    clause_start: usize,
    resolved: &Resolved,
    kind: SearchKind,
) -> Result<Comparator> {
    let (allowed, closing_quote) = schema::comparators(
        kind,
        resolved.ident.entity,
        resolved.attribute.map(|spec| spec.attribute_type),
    );
    let written = read_comparator(cursor);
    if written.is_empty() {
        let found = cursor.rest();
        let found = if found.is_empty() {
            "the end of the filter".to_string()
        } else {
            format!("'{found}'")
        };
        return Err(Error::invalid(format!(
            "Invalid comparison clause '{}' in filter '{filter}'. Expected a comparator, found {found}",
            cursor.since(clause_start).trim_end()
        )));
    }
    let parsed = match written.to_ascii_uppercase().as_str() {
        "=" => Some(Comparator::Eq),
        "!=" => Some(Comparator::NotEq),
        ">" => Some(Comparator::Gt),
        ">=" => Some(Comparator::Ge),
        "<" => Some(Comparator::Lt),
        "<=" => Some(Comparator::Le),
        "LIKE" => Some(Comparator::Like),
        "ILIKE" => Some(Comparator::ILike),
        "IN" => Some(Comparator::In),
        "NOT IN" => Some(Comparator::NotIn),
        "IS NULL" => Some(Comparator::IsNull),
        "IS NOT NULL" => Some(Comparator::IsNotNull),
        _ => None,
    };
    match parsed {
        Some(comparator) if allowed.contains(&comparator) => Ok(comparator),
        _ => Err(schema::invalid_comparator(
            &written.to_ascii_uppercase(),
            allowed,
            closing_quote,
        )),
    }
}

/// The comparator as written, normalised to single spaces (`NOT IN`, `IS NOT NULL`); empty when
/// there is none.
fn read_comparator(cursor: &mut Cursor<'_>) -> String {
    const OPERATOR_CHARS: &[char] = &['=', '!', '<', '>'];
    if cursor.peek().is_some_and(|c| OPERATOR_CHARS.contains(&c)) {
        let start = cursor.position();
        while cursor.peek().is_some_and(|c| OPERATOR_CHARS.contains(&c)) {
            cursor.bump();
        }
        return cursor.since(start).to_string();
    }
    let word = take_word(cursor);
    if word.eq_ignore_ascii_case("NOT") || word.eq_ignore_ascii_case("IS") {
        let mut words = vec![word];
        // `NOT IN`, `IS NULL`, `IS NOT NULL`: up to two more words.
        for _ in 0..2 {
            cursor.skip_whitespace();
            let next = take_word(cursor);
            if next.is_empty() {
                break;
            }
            let done = !next.eq_ignore_ascii_case("NOT");
            words.push(next);
            if done {
                break;
            }
        }
        return words.join(" ");
    }
    word
}

fn take_word(cursor: &mut Cursor<'_>) -> String {
    let word = cursor.peek_word().to_string();
    for _ in word.chars() {
        cursor.bump();
    }
    word
}

/// A value as written, before it is checked against the identifier.
#[derive(Debug, Clone, PartialEq)]
enum RawValue {
    String(String),
    Number(f64),
    /// `( ... )`: each item as written.
    List(Vec<RawValue>),
    /// Anything else: an unquoted word, a malformed number.
    Bare,
}

/// Reads one value; `None` at the end of the input.
fn raw_value(cursor: &mut Cursor<'_>) -> Result<Option<RawValue>> {
    match cursor.peek() {
        None => Ok(None),
        Some('\'' | '"') => Ok(Some(RawValue::String(cursor.quoted()?))),
        Some('(') => list(cursor).map(Some),
        Some(_) => Ok(Some(scalar(cursor))),
    }
}

/// A number, or failing that an unquoted word (up to whitespace, a comma or a parenthesis).
fn scalar(cursor: &mut Cursor<'_>) -> RawValue {
    let start = cursor.position();
    while cursor
        .peek()
        .is_some_and(|c| !c.is_whitespace() && !matches!(c, ',' | '(' | ')' | '\'' | '"'))
    {
        cursor.bump();
    }
    let text = cursor.since(start);
    match number(text) {
        Some(number) => RawValue::Number(number),
        None if text.is_empty() => {
            // A lone character such as a stray quote or parenthesis: consume it so that errors show it.
            cursor.bump();
            RawValue::Bare
        }
        None => RawValue::Bare,
    }
}

/// `[+-]digits[.digits][e[+-]digits]` or `[+-].digits...`: SQL numeric literals, finite only.
fn number(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(index) => (&unsigned[..index], Some(&unsigned[index + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if let Some(exponent) = exponent {
        let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        if exponent.is_empty() || !all_digits(exponent) {
            return None;
        }
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// `( 'a', "b", ... )`, a trailing comma allowed; items are checked by the caller.
fn list(cursor: &mut Cursor<'_>) -> Result<RawValue> {
    let start = cursor.position();
    cursor.bump(); // (
    let mut items = Vec::new();
    loop {
        cursor.skip_whitespace();
        match cursor.peek() {
            Some(')') => {
                cursor.bump();
                return Ok(RawValue::List(items));
            }
            None => {
                return Err(Error::invalid(format!(
                "While parsing a list in the query, expected a non-empty list of string values, \
                     but got ill-formed list: {}",
                cursor.since(start).trim_end()
            )))
            }
            Some('\'' | '"') => items.push(RawValue::String(cursor.quoted()?)),
            Some(_) => items.push(scalar(cursor)),
        }
        cursor.skip_whitespace();
        match cursor.peek() {
            Some(',') => {
                cursor.bump();
            }
            Some(')') => {}
            _ => {
                return Err(Error::invalid(format!(
                "While parsing a list in the query, expected a non-empty list of string values, \
                     but got ill-formed list: {}",
                cursor.since(start).trim_end()
            )))
            }
        }
    }
}

/// Checks the value against the identifier and comparator, and converts it.
fn typed_value(
    kind: SearchKind,
    resolved: &Resolved,
    comparator: Comparator,
    raw: RawValue,
    text: &str,
) -> Result<Value> {
    let entity = resolved.ident.entity;
    let key = &resolved.ident.key;
    let written_key = resolved
        .attribute
        .map_or(key.as_str(), |spec| spec.spelling);
    let accepts_list = match resolved.attribute {
        Some(spec) => spec.list,
        None => entity != Entity::Metric,
    };
    if matches!(comparator, Comparator::In | Comparator::NotIn) {
        if !accepts_list {
            return Err(schema::list_attributes_message(kind));
        }
        let RawValue::List(items) = raw else {
            return Err(Error::invalid(format!(
                "Expected a list of quoted string values such as ('a', 'b') after '{}'. Got value {text}",
                comparator.as_str()
            )));
        };
        if items.is_empty() {
            return Err(Error::invalid(
                "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
            ));
        }
        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            let RawValue::String(string) = item else {
                return Err(Error::invalid(format!(
                    "While parsing a list in the query, expected string value, punctuation, or whitespace, \
                     but got different type in list: {text}"
                )));
            };
            strings.push(string);
        }
        return Ok(Value::List(strings));
    }
    let numeric = match resolved.attribute {
        Some(spec) => spec.attribute_type == AttributeType::Number,
        None => entity == Entity::Metric,
    };
    if numeric {
        return match raw {
            RawValue::Number(number) => Ok(Value::Number(number)),
            // MLflow accepts `version_number = '3'` (it converts with int()).
            RawValue::String(ref string) if kind == SearchKind::ModelVersions => string
                .trim()
                .parse::<i64>()
                .map(|number| Value::Number(number as f64))
                .map_err(|_| numeric_error(entity, written_key, text)),
            _ => Err(numeric_error(entity, written_key, text)),
        };
    }
    if let RawValue::List(_) = raw {
        if entity == Entity::Attribute && !accepts_list {
            return Err(schema::list_attributes_message(kind));
        }
        if accepts_list {
            return Err(Error::invalid(format!(
                "Invalid value {text} for comparator '{}': a list needs IN or NOT IN",
                comparator.as_str()
            )));
        }
    }
    match raw {
        RawValue::String(string) => Ok(Value::String(string)),
        RawValue::Bare => Err(Error::invalid(format!(
            "Parameter value is either not quoted or unidentified quote types used for string value {text}. \
             Use either single or double quotes."
        ))),
        RawValue::Number(_) | RawValue::List(_) => Err(Error::invalid(match entity {
            Entity::Param => format!(
                "Expected a quoted string value for parameter (e.g. 'my-value'). Got value {text}"
            ),
            Entity::Tag => {
                format!("Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}")
            }
            Entity::Dataset => {
                format!("Expected a quoted string value for dataset attributes. Got value {text}")
            }
            Entity::Attribute | Entity::Metric => {
                format!("Expected a quoted string value for attributes. Got value {text}")
            }
        })),
    }
}

fn numeric_error(entity: Entity, key: &str, text: &str) -> Error {
    if entity == Entity::Metric {
        Error::invalid(format!(
            "Expected numeric value type for metric. Found {text}"
        ))
    } else {
        Error::invalid(format!(
            "Expected numeric value type for numeric attribute: {key}. Found {text}"
        ))
    }
}
