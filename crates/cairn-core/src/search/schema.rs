//! What each kind of search accepts: entity prefixes, attribute keys (with their aliases), comparators.
//!
//! The tables mirror MLflow's `mlflow/utils/search_utils.py` (`SearchUtils`, `SearchExperimentsUtils`,
//! `SearchModelUtils`, `SearchModelVersionUtils`, `SearchLoggedModelsUtils`). Error messages keep
//! MLflow's wording so that clients and tests that match on it keep working.

use super::ast::{Comparator, Entity, SearchKind};
use crate::error::Error;

/// Whether an attribute holds a number (times, version numbers) or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeType {
    String,
    Number,
}

/// One spelling of an attribute key, and what it means.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttributeSpec {
    /// As the user writes it (`created`, `Run name`, `timestamp`, ...).
    pub spelling: &'static str,
    /// The column it resolves to (see [`super::ast::Ident`]).
    pub canonical: &'static str,
    pub attribute_type: AttributeType,
    /// Accepts `IN (...)` / `NOT IN (...)`.
    pub list: bool,
    /// Usable in a filter.
    pub filter: bool,
    /// Usable in `order_by`.
    pub order: bool,
}

const fn attribute(
    spelling: &'static str,
    canonical: &'static str,
    attribute_type: AttributeType,
    list: bool,
    filter: bool,
    order: bool,
) -> AttributeSpec {
    AttributeSpec {
        spelling,
        canonical,
        attribute_type,
        list,
        filter,
        order,
    }
}

use AttributeType::{Number, String as Str};

// The order of the runs table is the order of MLflow's own error message (see wire_examples.md,
// "SearchRuns unknown attribute").
const RUN_ATTRIBUTES: &[AttributeSpec] = &[
    attribute("Run Name", "run_name", Str, false, true, false),
    attribute("run_id", "run_id", Str, true, true, true),
    attribute("Created", "start_time", Number, false, true, true),
    attribute("status", "status", Str, false, true, true),
    attribute("created", "start_time", Number, false, true, true),
    attribute("run_name", "run_name", Str, false, true, true),
    attribute("run name", "run_name", Str, false, true, false),
    attribute("Run name", "run_name", Str, false, true, false),
    attribute("artifact_uri", "artifact_uri", Str, false, true, true),
    attribute("end_time", "end_time", Number, false, true, true),
    attribute("start_time", "start_time", Number, false, true, true),
    attribute("user_id", "user_id", Str, false, true, true),
];

const EXPERIMENT_ATTRIBUTES: &[AttributeSpec] = &[
    attribute("name", "name", Str, false, true, true),
    attribute("experiment_id", "experiment_id", Str, true, true, true),
    attribute("creation_time", "creation_time", Number, false, true, true),
    attribute(
        "last_update_time",
        "last_update_time",
        Number,
        false,
        true,
        true,
    ),
];

const REGISTERED_MODEL_ATTRIBUTES: &[AttributeSpec] = &[
    attribute("name", "name", Str, true, true, true),
    attribute(
        "timestamp",
        "creation_timestamp",
        Number,
        false,
        false,
        true,
    ),
    attribute(
        "creation_timestamp",
        "creation_timestamp",
        Number,
        false,
        false,
        true,
    ),
    attribute(
        "last_updated_timestamp",
        "last_updated_timestamp",
        Number,
        false,
        false,
        true,
    ),
];

const MODEL_VERSION_ATTRIBUTES: &[AttributeSpec] = &[
    attribute("name", "name", Str, false, true, true),
    attribute("run_id", "run_id", Str, true, true, false),
    attribute("source_path", "source_path", Str, false, true, false),
    attribute(
        "version_number",
        "version_number",
        Number,
        false,
        true,
        true,
    ),
    attribute(
        "creation_timestamp",
        "creation_timestamp",
        Number,
        false,
        false,
        true,
    ),
    attribute(
        "last_updated_timestamp",
        "last_updated_timestamp",
        Number,
        false,
        false,
        true,
    ),
];

const LOGGED_MODEL_ATTRIBUTES: &[AttributeSpec] = &[
    attribute("name", "name", Str, true, true, true),
    attribute("model_id", "model_id", Str, true, true, true),
    attribute("model_type", "model_type", Str, true, true, true),
    attribute("status", "status", Str, true, true, true),
    attribute("source_run_id", "source_run_id", Str, true, true, true),
    attribute(
        "creation_timestamp",
        "creation_timestamp",
        Number,
        false,
        true,
        true,
    ),
    attribute(
        "creation_time",
        "creation_timestamp",
        Number,
        false,
        true,
        true,
    ),
    attribute(
        "last_updated_timestamp",
        "last_updated_timestamp",
        Number,
        false,
        true,
        true,
    ),
    attribute(
        "last_updated_time",
        "last_updated_timestamp",
        Number,
        false,
        true,
        true,
    ),
];

pub(crate) fn attributes(kind: SearchKind) -> &'static [AttributeSpec] {
    match kind {
        SearchKind::Runs => RUN_ATTRIBUTES,
        SearchKind::Experiments => EXPERIMENT_ATTRIBUTES,
        SearchKind::RegisteredModels => REGISTERED_MODEL_ATTRIBUTES,
        SearchKind::ModelVersions => MODEL_VERSION_ATTRIBUTES,
        SearchKind::LoggedModels => LOGGED_MODEL_ATTRIBUTES,
    }
}

/// Whether the statement is a filter or an `order_by` entry: they accept different keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    Filter,
    OrderBy,
}

fn usable(spec: &AttributeSpec, usage: Usage) -> bool {
    match usage {
        Usage::Filter => spec.filter,
        Usage::OrderBy => spec.order,
    }
}

/// Looks an attribute key up (case-sensitively, as MLflow does).
pub(crate) fn find_attribute(kind: SearchKind, usage: Usage, key: &str) -> Option<AttributeSpec> {
    attributes(kind)
        .iter()
        .find(|spec| spec.spelling == key && usable(spec, usage))
        .copied()
}

/// Writes names the way Python prints a set of strings: `{'a', 'b'}`.
pub(crate) fn python_set<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|name| format!("'{name}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

pub(crate) fn unknown_attribute(kind: SearchKind, usage: Usage, key: &str) -> Error {
    let valid = python_set(
        attributes(kind)
            .iter()
            .filter(|spec| usable(spec, usage))
            .map(|spec| spec.spelling),
    );
    if kind == SearchKind::RegisteredModels && usage == Usage::OrderBy {
        return Error::invalid(format!(
            "Invalid order by key '{key}' specified. Valid keys are '{valid}'"
        ));
    }
    if kind == SearchKind::LoggedModels && usage == Usage::OrderBy {
        return Error::invalid(format!(
            "Invalid order by field name: {key}. Valid keys are '{valid}'"
        ));
    }
    Error::invalid(format!(
        "Invalid attribute key '{key}' specified. Valid keys are '{valid}'"
    ))
}

/// The entity prefixes a kind accepts in filters, as `(spelling, entity)`.
pub(crate) fn entity_from_prefix(kind: SearchKind, prefix: &str) -> Option<Entity> {
    let entity = match prefix {
        "metric" | "metrics" => Entity::Metric,
        "param" | "params" | "parameter" | "parameters" => Entity::Param,
        "tag" | "tags" => Entity::Tag,
        "attribute" | "attributes" | "attr" => Entity::Attribute,
        "run" => Entity::Attribute,
        "dataset" | "datasets" => Entity::Dataset,
        _ => return None,
    };
    let allowed = match kind {
        SearchKind::Runs => true,
        SearchKind::LoggedModels => entity != Entity::Dataset,
        SearchKind::Experiments | SearchKind::RegisteredModels | SearchKind::ModelVersions => {
            matches!(entity, Entity::Tag | Entity::Attribute) && prefix != "run"
        }
    };
    allowed.then_some(entity)
}

pub(crate) fn unknown_entity(kind: SearchKind, prefix: &str) -> Error {
    match kind {
        SearchKind::Runs => Error::invalid(format!(
            "Invalid entity type '{prefix}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        )),
        SearchKind::LoggedModels => Error::invalid(format!(
            "Invalid entity type '{prefix}'. Valid values are ['metric', 'parameter', 'tag', 'attribute']"
        )),
        SearchKind::Experiments | SearchKind::RegisteredModels | SearchKind::ModelVersions => {
            Error::invalid(format!(
                "Invalid entity type '{prefix}'. Valid entity types are ('attribute', 'tag', 'tags')"
            ))
        }
    }
}

/// Keys of `datasets.<key>` (runs only).
pub(crate) const DATASET_KEYS: &[&str] = &["name", "digest", "context"];

use Comparator::{Eq, Ge, Gt, ILike, In, IsNotNull, IsNull, Le, Like, Lt, NotEq, NotIn};

/// The order of MLflow's own message (wire_examples.md, "SearchRuns bad filter").
const NUMERIC_COMPARATORS: &[Comparator] = &[Ge, NotEq, Eq, Gt, Le, Lt];
/// Params and tags. `IS [NOT] NULL` since MLflow 3 (mlflow/mlflow#21283); `[NOT] IN` as MLflow's search
/// docs show (``params."learning rate" IN ('0.001', '0.01')``) and the e2e suite uses.
const KEY_VALUE_COMPARATORS: &[Comparator] =
    &[Eq, NotEq, Like, ILike, In, NotIn, IsNull, IsNotNull];
const STRING_ATTRIBUTE_COMPARATORS: &[Comparator] = &[NotEq, Eq, Like, ILike, In, NotIn];
/// Model versions do not accept `NOT IN` (MLflow's `SearchModelVersionUtils`).
const MODEL_VERSION_STRING_COMPARATORS: &[Comparator] = &[NotEq, Eq, Like, ILike, In];
const DATASET_COMPARATORS: &[Comparator] = &[NotEq, Eq, Like, ILike, In, NotIn];

/// The comparators allowed on an identifier, and whether MLflow's message for a bad one closes its
/// quote (it does for params and string attributes only; we keep its exact wording).
pub(crate) fn comparators(
    kind: SearchKind,
    entity: Entity,
    attribute_type: Option<AttributeType>,
) -> (&'static [Comparator], bool) {
    match entity {
        Entity::Metric => (NUMERIC_COMPARATORS, false),
        Entity::Param => (KEY_VALUE_COMPARATORS, true),
        Entity::Tag => (KEY_VALUE_COMPARATORS, false),
        Entity::Dataset => (DATASET_COMPARATORS, false),
        Entity::Attribute => match attribute_type {
            Some(AttributeType::Number) => (NUMERIC_COMPARATORS, false),
            _ if kind == SearchKind::ModelVersions => (MODEL_VERSION_STRING_COMPARATORS, true),
            _ => (STRING_ATTRIBUTE_COMPARATORS, true),
        },
    }
}

pub(crate) fn invalid_comparator(
    comparator: &str,
    allowed: &[Comparator],
    closing_quote: bool,
) -> Error {
    let set = python_set(allowed.iter().map(|comparator| comparator.as_str()));
    let quote = if closing_quote { "'" } else { "" };
    Error::invalid(format!(
        "Invalid comparator '{comparator}' not one of '{set}{quote}"
    ))
}

/// The attribute keys that accept a list, for MLflow's "Only the 'run_id' attribute supports ..."
/// message.
pub(crate) fn list_attributes_message(kind: SearchKind) -> Error {
    let names: Vec<&str> = attributes(kind)
        .iter()
        .filter(|spec| spec.list && spec.filter)
        .map(|spec| spec.spelling)
        .collect();
    if let [only] = names.as_slice() {
        return Error::invalid(format!(
            "Only the '{only}' attribute supports comparison with a list of quoted string values."
        ));
    }
    Error::invalid(format!(
        "Only attributes in {} support comparison with a list of quoted string values.",
        python_set(names)
    ))
}
