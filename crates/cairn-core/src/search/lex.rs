//! A character cursor and the pieces of syntax shared by filters and `order_by`: identifiers, quoted
//! strings, keywords.
//!
//! Hand-written rather than generated: the grammar is tiny, and MLflow's (a `sqlparse` token stream
//! re-interpreted) is easiest to match rule by rule.

use super::ast::{Entity, Ident, SearchKind};
use super::schema::{self, AttributeSpec, Usage};
use crate::error::{Error, Result};

/// A position in the text being parsed. Positions are byte offsets that always sit on a `char`
/// boundary.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    position: usize,
    /// What is being parsed, for error messages: `filter` or `order_by clause`.
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str, what: &'static str) -> Self {
        Self {
            text,
            position: 0,
            what,
        }
    }

    /// MLflow's wording for text that could not be tokenised, with what went wrong.
    pub fn error(&self, detail: &str) -> Error {
        Error::invalid(format!(
            "Error on parsing {} '{}': {detail}",
            self.what, self.text
        ))
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or_default()
    }

    /// The text between `start` and the current position.
    pub fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.position).unwrap_or_default()
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.position += next.len_utf8();
        Some(next)
    }

    pub fn is_at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    pub fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The bare word (letters, digits, `_`) at the cursor, without consuming it.
    pub fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|&(_, character)| !is_word_char(character))
            .map_or(rest.len(), |(index, _)| index);
        &rest[..end]
    }

    /// Consumes `keyword` (case-insensitively) if it is the whole word at the cursor.
    pub fn eat_keyword(&mut self, keyword: &str) -> bool {
        let word = self.peek_word();
        if word.eq_ignore_ascii_case(keyword) {
            self.position += word.len();
            true
        } else {
            false
        }
    }

    /// Reads a string quoted with `quote` (the cursor is on the opening quote). A doubled quote
    /// (`'it''s'`) or a backslash-escaped one (`'it\'s'`) stands for the quote itself; any other
    /// backslash is kept as written (it may be meant for a LIKE pattern).
    pub fn quoted(&mut self) -> Result<String> {
        let start = self.position;
        let Some(quote) = self.bump() else {
            return Err(self.error("expected a quoted string"));
        };
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(&format!(
                        "unterminated quoted string starting at position {start}: {}",
                        self.text.get(start..).unwrap_or_default()
                    )))
                }
                Some(character) if character == quote => {
                    if self.peek() == Some(quote) {
                        self.bump();
                        value.push(quote);
                    } else {
                        return Ok(value);
                    }
                }
                Some('\\') if self.peek() == Some(quote) => {
                    self.bump();
                    value.push(quote);
                }
                Some(character) => value.push(character),
            }
        }
    }
}

pub(crate) fn is_word_char(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// An identifier as written: `[prefix.]key`, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawIdent {
    pub prefix: Option<String>,
    pub key: String,
}

/// Reads `[entity.]key` where each dot-separated part is a bare word or a back-ticked or
/// double-quoted name. After the entity the rest is the key, dots included (`tags.mlflow.runName`).
/// Returns `None`, consuming nothing, when the cursor is not on an identifier.
pub(crate) fn identifier(cursor: &mut Cursor<'_>) -> Result<Option<RawIdent>> {
    let start = cursor.position();
    let mut parts: Vec<String> = Vec::new();
    loop {
        match cursor.peek() {
            Some('`' | '"') => parts.push(cursor.quoted()?),
            Some(character) if is_word_char(character) => {
                let word = cursor.peek_word();
                for _ in word.chars() {
                    cursor.bump();
                }
                parts.push(word.to_string());
            }
            _ if parts.is_empty() => return Ok(None),
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid identifier '{}'. Expected a key after '.'; quote keys that contain \
                     special characters with backticks, e.g. metrics.`my-metric`",
                    cursor.since(start)
                )))
            }
        }
        if cursor.peek() == Some('.') {
            cursor.bump();
        } else {
            break;
        }
    }
    let text = cursor.since(start);
    let mut parts = parts.into_iter();
    let first = parts.next().unwrap_or_default();
    let rest: Vec<String> = parts.collect();
    let (prefix, key) = if rest.is_empty() {
        (None, first)
    } else {
        (Some(first), rest.join("."))
    };
    if key.is_empty() {
        return Err(Error::invalid(format!(
            "Invalid identifier '{text}'. The key is empty"
        )));
    }
    Ok(Some(RawIdent { prefix, key }))
}

/// An identifier checked against what `kind` accepts; `attribute` is set for attributes.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub ident: Ident,
    pub attribute: Option<AttributeSpec>,
}

/// Checks the entity prefix and, for attributes and datasets, the key; resolves attribute aliases.
pub(crate) fn resolve(kind: SearchKind, usage: Usage, raw: RawIdent) -> Result<Resolved> {
    let entity = match raw.prefix.as_deref() {
        None => Entity::Attribute,
        Some(prefix) => schema::entity_from_prefix(kind, prefix)
            .ok_or_else(|| schema::unknown_entity(kind, prefix))?,
    };
    if usage == Usage::OrderBy {
        check_order_by_entity(kind, entity, raw.prefix.as_deref().unwrap_or("attribute"))?;
    }
    match entity {
        Entity::Attribute => {
            let spec = schema::find_attribute(kind, usage, &raw.key)
                .ok_or_else(|| schema::unknown_attribute(kind, usage, &raw.key))?;
            Ok(Resolved {
                ident: Ident {
                    entity,
                    key: spec.canonical.to_string(),
                },
                attribute: Some(spec),
            })
        }
        Entity::Dataset if !schema::DATASET_KEYS.contains(&raw.key.as_str()) => {
            Err(Error::invalid(format!(
                "Invalid dataset key '{}' specified. Valid keys are '{}'",
                raw.key,
                schema::python_set(schema::DATASET_KEYS.iter().copied())
            )))
        }
        Entity::Metric | Entity::Param | Entity::Tag | Entity::Dataset => Ok(Resolved {
            ident: Ident {
                entity,
                key: raw.key,
            },
            attribute: None,
        }),
    }
}

fn check_order_by_entity(kind: SearchKind, entity: Entity, prefix: &str) -> Result<()> {
    let allowed = match kind {
        SearchKind::Runs => entity != Entity::Dataset,
        SearchKind::Experiments | SearchKind::RegisteredModels | SearchKind::ModelVersions => {
            entity == Entity::Attribute
        }
        SearchKind::LoggedModels => matches!(entity, Entity::Attribute | Entity::Metric),
    };
    if allowed {
        return Ok(());
    }
    let message = match kind {
        SearchKind::Runs => format!("Invalid order_by entity type '{prefix}'"),
        SearchKind::LoggedModels => {
            format!("Invalid order by field name: {prefix}, only `metrics.<name>` is allowed.")
        }
        _ => format!("Invalid order_by entity: {prefix}"),
    };
    Err(Error::invalid(message))
}
