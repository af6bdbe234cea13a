//! The parsed form of a filter and of `order_by`.

/// What is being searched; decides the identifiers, comparators and defaults allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchKind {
    Runs,
    Experiments,
    RegisteredModels,
    ModelVersions,
    LoggedModels,
}

/// The namespace of an identifier (`metrics.x`, `params.x`, `tags.x`, `attributes.x`, `datasets.x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    /// A column of the searched thing itself (run_id, name, creation_time, ...).
    Attribute,
    /// `datasets.name`, `datasets.digest`, `datasets.context` (runs only).
    Dataset,
}

/// An identifier. For attributes `key` is the canonical column name (aliases such as `created`,
/// `Run name`, `creation_timestamp` are resolved by the parser).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub entity: Entity,
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    Eq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    /// Case-sensitive SQL LIKE with `%` and `_` wildcards.
    Like,
    /// Case-insensitive LIKE.
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::NotEq => "!=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Metrics and numeric attributes (times, version numbers).
    Number(f64),
    /// Params, tags and string attributes.
    String(String),
    /// `IN (...)` / `NOT IN (...)`.
    List(Vec<String>),
    /// `IS NULL` / `IS NOT NULL`.
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub ident: Ident,
    pub comparator: Comparator,
    pub value: Value,
}

/// A conjunction of clauses; the empty filter matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub ident: Ident,
    pub ascending: bool,
}
