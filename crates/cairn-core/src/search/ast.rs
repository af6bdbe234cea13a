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

impl Entity {
    /// The canonical prefix: `metrics`, `params`, `tags`, `attributes`, `datasets`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
            Entity::Attribute => "attributes",
            Entity::Dataset => "datasets",
        }
    }
}

/// An identifier. For attributes `key` is the canonical column name (aliases such as `created`,
/// `Run name`, `timestamp` are resolved by the parser); for metrics, params and tags it is the key
/// exactly as logged (quotes removed, dots kept: ``tags.`mlflow.runName` `` has key `mlflow.runName`).
///
/// Canonical attribute names, per [`SearchKind`] (F = filterable, O = orderable, N = numeric value,
/// L = accepts `IN`/`NOT IN`):
///
/// | Kind | Canonical key | Accepted spellings | Use |
/// |---|---|---|---|
/// | Runs | `run_id` | run_id | F O L |
/// | Runs | `run_name` | run_name, `run name`, `Run name`, `Run Name` (the last three filter only) | F O |
/// | Runs | `status`, `user_id`, `artifact_uri` | same | F O |
/// | Runs | `start_time` | start_time, created, Created | F O N |
/// | Runs | `end_time` | end_time | F O N |
/// | Experiments | `name` | name | F O |
/// | Experiments | `experiment_id` | experiment_id | F O L |
/// | Experiments | `creation_time`, `last_update_time` | same | F O N |
/// | RegisteredModels | `name` | name | F O L |
/// | RegisteredModels | `creation_timestamp` | creation_timestamp, timestamp | O N |
/// | RegisteredModels | `last_updated_timestamp` | same | O N |
/// | ModelVersions | `name` | name | F O |
/// | ModelVersions | `run_id` | run_id (`IN` but not `NOT IN`, as MLflow) | F L |
/// | ModelVersions | `source_path` | source_path (the version's `source`) | F |
/// | ModelVersions | `version_number` | version_number (the version's `version`; `'3'` accepted) | F O N |
/// | ModelVersions | `creation_timestamp`, `last_updated_timestamp` | same | O N |
/// | LoggedModels | `name`, `model_id`, `model_type`, `status`, `source_run_id` | same | F O L |
/// | LoggedModels | `creation_timestamp` | creation_timestamp, creation_time | F O N |
/// | LoggedModels | `last_updated_timestamp` | last_updated_timestamp, last_updated_time | F O N |
///
/// Entities: runs take all five (`datasets.name|digest|context`, filter only); logged models take
/// metrics, params, tags and attributes (order by attributes and metrics only); experiments and the
/// registry take tags and attributes (order by attributes only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub entity: Entity,
    pub key: String,
}

impl Ident {
    pub fn new(entity: Entity, key: impl Into<String>) -> Self {
        Self {
            entity,
            key: key.into(),
        }
    }
    pub fn attribute(key: impl Into<String>) -> Self {
        Self::new(Entity::Attribute, key)
    }
    pub fn metric(key: impl Into<String>) -> Self {
        Self::new(Entity::Metric, key)
    }
    pub fn param(key: impl Into<String>) -> Self {
        Self::new(Entity::Param, key)
    }
    pub fn tag(key: impl Into<String>) -> Self {
        Self::new(Entity::Tag, key)
    }
    pub fn dataset(key: impl Into<String>) -> Self {
        Self::new(Entity::Dataset, key)
    }
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
    /// Params, tags and string attributes. Quotes removed; inside, a doubled quote (`'it''s'`) or a
    /// backslash-escaped one (`'it\'s'`) stands for the quote; other characters (LIKE's `%`, `_`,
    /// backslashes) are kept as written.
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

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub ident: Ident,
    pub ascending: bool,
}
