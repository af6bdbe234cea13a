//! Compiles the search AST ([`Filter`], [`OrderBy`]) to SQL fragments.
//!
//! Every user-supplied value, keys included, is a bound parameter; the only text spliced into SQL comes
//! from the static tables below (column names, table names, correlation conditions).

use cairn_core::search::{Clause, Comparator, Entity, Filter, OrderBy, Value};
use cairn_core::{Error, Result};
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Postgres, Sqlite};

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    /// A `LIKE` pattern: `%` and `_` are wildcards and nothing escapes them, as in SQLite (and so
    /// in MLflow on SQLite). PostgreSQL's `LIKE` treats `\` as an escape by default, so its binding
    /// doubles every backslash to keep it literal.
    LikePattern(String),
    Int(i64),
    Real(f64),
}

/// SQL text with its parameters, in the order of their `?`.
///
/// The text is written with SQLite's `?` placeholders; [`Sql::pg_text`] renumbers them as
/// PostgreSQL's `$1, $2, ...`. No fragment spliced into a [`Sql`] contains a `?` of its own (every
/// value is bound), so the renumbering is a plain scan.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    pub fn bind(&mut self, bind: Bind) -> &mut Self {
        self.text.push('?');
        self.binds.push(bind);
        self
    }
    pub fn bind_text(&mut self, text: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(text.into()))
    }
    /// ` LIMIT ? OFFSET ?` for a search page: one row more than asked, to know whether a next page exists.
    pub fn push_page(&mut self, page: crate::PageRequest) -> &mut Self {
        let (limit, offset) = crate::shared::limit_offset(page);
        self.push(" LIMIT ")
            .bind(Bind::Int(limit))
            .push(" OFFSET ")
            .bind(Bind::Int(offset))
    }
    pub fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.binds.extend(other.binds);
        self
    }
    pub fn arguments(&self) -> Result<SqliteArguments<'static>> {
        let mut arguments = SqliteArguments::default();
        for bind in &self.binds {
            let added = match bind {
                Bind::Text(text) | Bind::LikePattern(text) => arguments.add(text.clone()),
                Bind::Int(int) => arguments.add(*int),
                Bind::Real(real) => arguments.add(*real),
            };
            added.map_err(|error| Error::internal(format!("cannot bind parameter: {error}")))?;
        }
        Ok(arguments)
    }
    /// `query_as` over this SQL with all parameters bound.
    pub fn query_as<'q, O>(
        &'q self,
    ) -> Result<sqlx::query::QueryAs<'q, Sqlite, O, SqliteArguments<'q>>>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        Ok(sqlx::query_as_with(&self.text, self.arguments()?))
    }
}

impl Sql {
    /// The text with `?` renumbered as `$1, $2, ...` (PostgreSQL).
    pub fn pg_text(&self) -> String {
        let mut text = String::with_capacity(self.text.len() + self.binds.len() * 2);
        let mut number = 0_usize;
        for character in self.text.chars() {
            if character == '?' {
                number += 1;
                text.push('$');
                text.push_str(&number.to_string());
            } else {
                text.push(character);
            }
        }
        text
    }
    pub fn pg_arguments(&self) -> Result<PgArguments> {
        let mut arguments = PgArguments::default();
        for bind in &self.binds {
            let added = match bind {
                Bind::Text(text) => arguments.add(text.clone()),
                Bind::LikePattern(pattern) => arguments.add(pattern.replace('\\', "\\\\")),
                Bind::Int(int) => arguments.add(*int),
                Bind::Real(real) => arguments.add(*real),
            };
            added.map_err(|error| Error::internal(format!("cannot bind parameter: {error}")))?;
        }
        Ok(arguments)
    }
    /// `query_as` over this SQL for PostgreSQL, with all parameters bound. `text` is
    /// [`Sql::pg_text`], kept by the caller for as long as the query lives.
    pub fn pg_query_as<'q, O>(
        &self,
        text: &'q str,
    ) -> Result<sqlx::query::QueryAs<'q, Postgres, O, PgArguments>>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        Ok(sqlx::query_as_with(text, self.pg_arguments()?))
    }
}

/// Whether an attribute column holds text or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Text,
    Number,
}

/// A table of key/value pairs that belong to the searched thing (params, tags).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyValueTable {
    pub table: &'static str,
    /// The condition tying a row of the table (alias `{t}`) to the searched row.
    pub correlation: &'static str,
}

/// Where metric values come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MetricSource {
    /// One row per key (runs: `latest_metrics`).
    Latest(KeyValueTable),
    /// Many rows per key; the latest by (step, timestamp) counts (logged models).
    History(KeyValueTable),
}

/// What a search runs over.
pub(crate) struct Target {
    /// What the error messages call the searched things.
    pub what: &'static str,
    /// The attribute resolver: canonical key → (SQL column expression, type).
    pub attribute: fn(&str) -> Option<(&'static str, ColumnType)>,
    pub params: Option<KeyValueTable>,
    pub tags: Option<KeyValueTable>,
    pub metrics: Option<MetricSource>,
    /// The correlation of `run_dataset_inputs` (alias `{t}`) for `datasets.*` (runs only).
    pub datasets: Option<&'static str>,
    /// The registry's prompt rule (MLflow `_update_query_to_exclude_prompts`): unless the filter asks
    /// for prompts (``tags.`mlflow.prompt.is_prompt` = 'true'`` or `!= 'false'`), clauses on that tag
    /// are dropped and this condition (which excludes prompts) is added instead.
    pub prompt_exclusion: Option<&'static str>,
}

/// The tag that marks registered prompts.
const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// Whether a registry filter asks for prompts (MLflow `_is_querying_prompt`).
fn is_querying_prompt(filter: &Filter) -> bool {
    filter
        .clauses
        .iter()
        .find(|clause| clause.ident.entity == Entity::Tag && clause.ident.key == IS_PROMPT_TAG)
        .is_some_and(|clause| {
            let value = match &clause.value {
                Value::String(value) => value.to_lowercase(),
                _ => return false,
            };
            (clause.comparator == Comparator::Eq && value == "true")
                || (clause.comparator == Comparator::NotEq && value == "false")
        })
}

/// The compiled pieces of a search: joins (for ordering), `AND ...` conditions and `ORDER BY` terms.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub joins: Sql,
    pub conditions: Sql,
    /// Comma-separated order terms, without the `ORDER BY` keyword; empty if none.
    pub order: Sql,
    /// Canonical attribute keys that appear in the order.
    pub ordered_attributes: Vec<String>,
}

fn correlate(template: &str, alias: &str) -> String {
    template.replace("{t}", alias)
}

fn unsupported(target: &Target, what: &str) -> Error {
    Error::invalid(format!(
        "Invalid search expression: {what} is not supported when searching {}",
        target.what
    ))
}

/// Compiles a filter and an order to SQL for `target`.
pub(crate) fn compile(target: &Target, filter: &Filter, order_by: &[OrderBy]) -> Result<Compiled> {
    let mut compiled = Compiled::default();
    let exclude_prompts = match target.prompt_exclusion {
        Some(exclusion) if !is_querying_prompt(filter) => {
            compiled.conditions.push(" AND ").push(exclusion);
            true
        }
        _ => false,
    };
    for (index, order) in order_by.iter().enumerate() {
        if index > 0 {
            compiled.order.push(", ");
        }
        compile_order(target, filter, order, index, &mut compiled)?;
    }
    for (index, clause) in filter.clauses.iter().enumerate() {
        if exclude_prompts
            && clause.ident.entity == Entity::Tag
            && clause.ident.key == IS_PROMPT_TAG
        {
            continue;
        }
        if let Some(table) = joinable_key_value(target, clause) {
            key_value_join(&mut compiled.joins, table, clause, index)?;
            continue;
        }
        compiled.conditions.push(" AND ");
        if let Some(alias) = joined_latest_metric(target, order_by, clause) {
            joined_metric_clause(&mut compiled.conditions, &alias, clause)?;
            continue;
        }
        compile_clause(target, clause, index, &mut compiled.conditions)?;
    }
    Ok(compiled)
}

/// The param or tag table a clause can be tested through as an inner join instead of an `EXISTS`:
/// every such table holds at most one row per (owner, key), so joining that row filters without
/// multiplying rows, and the planner is free to drive the search from either side (an `EXISTS` is a
/// correlated subquery run per candidate). `IS NULL` stays a `NOT EXISTS`.
fn joinable_key_value(target: &Target, clause: &Clause) -> Option<KeyValueTable> {
    if clause.comparator == Comparator::IsNull {
        return None;
    }
    match clause.ident.entity {
        Entity::Param => target.params,
        Entity::Tag => target.tags,
        _ => None,
    }
}

/// ` JOIN table f{index} ON <owner> AND key = ? AND <comparison>` for [`joinable_key_value`].
fn key_value_join(
    sql: &mut Sql,
    table: KeyValueTable,
    clause: &Clause,
    index: usize,
) -> Result<()> {
    let alias = format!("f{index}");
    sql.push(&format!(
        " JOIN {} {alias} ON {} AND {alias}.key = ",
        table.table,
        correlate(table.correlation, &alias)
    ))
    .bind_text(clause.ident.key.clone());
    if clause.comparator != Comparator::IsNotNull {
        sql.push(" AND ");
        compare(
            sql,
            &format!("{alias}.value"),
            ColumnType::Text,
            clause.comparator,
            &clause.value,
        )?;
    }
    Ok(())
}

/// Whether the filter only keeps things whose latest `key` metric exists and is a number: an
/// `=`/`<`/`<=`/`>`/`>=` clause on it (those never match a missing or NaN value). Ordering by
/// such a metric then needs no "values first, then NaN, then missing" term, so the order can come
/// straight from the `(key, is_nan, value)` index: a `max_results` page stops early.
fn filter_requires_number(filter: &Filter, key: &str) -> bool {
    filter.clauses.iter().any(|clause| {
        clause.ident.entity == Entity::Metric
            && clause.ident.key == key
            && matches!(
                clause.comparator,
                Comparator::Eq | Comparator::Gt | Comparator::Ge | Comparator::Lt | Comparator::Le
            )
    })
}

/// The alias of the order join (`o{i}`) that already holds the one `latest_metrics` row `clause`
/// tests, if there is one. Filter clauses are all ANDed, so testing that row directly is the same as
/// an `EXISTS` on it; it saves a second lookup per run, and a condition on the joined row lets
/// SQLite turn the `LEFT JOIN` into an inner join driven by the `(key, is_nan, value)` index, which
/// for `metrics.m > x ORDER BY metrics.m` visits only the matching runs, already in order.
fn joined_latest_metric(target: &Target, order_by: &[OrderBy], clause: &Clause) -> Option<String> {
    if clause.ident.entity != Entity::Metric
        || !matches!(target.metrics, Some(MetricSource::Latest(_)))
    {
        return None;
    }
    order_by
        .iter()
        .position(|order| {
            order.ident.entity == Entity::Metric && order.ident.key == clause.ident.key
        })
        .map(|index| format!("o{index}"))
}

/// A metric clause over the row joined as `alias` (see [`joined_latest_metric`]); a run without the
/// metric has a NULL row there and matches nothing but `IS NULL`.
fn joined_metric_clause(sql: &mut Sql, alias: &str, clause: &Clause) -> Result<()> {
    let comparator = clause.comparator;
    match comparator {
        Comparator::IsNull => {
            sql.push(&format!("{alias}.key IS NULL"));
        }
        Comparator::IsNotNull => {
            sql.push(&format!("{alias}.key IS NOT NULL"));
        }
        Comparator::NotEq => {
            let number = number_value(&clause.value, comparator)?;
            sql.push(&format!(
                "{alias}.key IS NOT NULL AND ({alias}.is_nan = TRUE OR {alias}.value != "
            ))
            .bind(Bind::Real(number))
            .push(")");
        }
        Comparator::Eq | Comparator::Gt | Comparator::Ge | Comparator::Lt | Comparator::Le => {
            let number = number_value(&clause.value, comparator)?;
            sql.push(&format!(
                "{alias}.key IS NOT NULL AND {alias}.is_nan = FALSE AND {alias}.value {} ",
                comparator.as_str()
            ))
            .bind(Bind::Real(number));
        }
        other => {
            return Err(Error::invalid(format!(
                "Invalid comparator '{}' for a metric",
                other.as_str()
            )))
        }
    }
    Ok(())
}

fn compile_clause(target: &Target, clause: &Clause, index: usize, sql: &mut Sql) -> Result<()> {
    let alias = format!("f{index}");
    let key = &clause.ident.key;
    match clause.ident.entity {
        Entity::Attribute => {
            let (column, column_type) = (target.attribute)(key).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid attribute key '{key}' specified for searching {}",
                    target.what
                ))
            })?;
            compare(sql, column, column_type, clause.comparator, &clause.value)
        }
        Entity::Param | Entity::Tag => {
            let table = if clause.ident.entity == Entity::Param {
                target.params
            } else {
                target.tags
            }
            .ok_or_else(|| unsupported(target, "this entity"))?;
            key_value_clause(sql, table, &alias, key, clause.comparator, &clause.value)
        }
        Entity::Metric => {
            let source = target
                .metrics
                .ok_or_else(|| unsupported(target, "metrics"))?;
            metric_clause(sql, source, &alias, key, clause.comparator, &clause.value)
        }
        Entity::Dataset => {
            let correlation = target
                .datasets
                .ok_or_else(|| unsupported(target, "datasets"))?;
            dataset_clause(
                sql,
                correlation,
                &alias,
                key,
                clause.comparator,
                &clause.value,
            )
        }
    }
}

fn key_value_clause(
    sql: &mut Sql,
    table: KeyValueTable,
    alias: &str,
    key: &str,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    let exists = if comparator == Comparator::IsNull {
        "NOT EXISTS"
    } else {
        "EXISTS"
    };
    sql.push(&format!(
        "{exists} (SELECT 1 FROM {} {alias} WHERE {} AND {alias}.key = ",
        table.table,
        correlate(table.correlation, alias)
    ))
    .bind_text(key);
    if !matches!(comparator, Comparator::IsNull | Comparator::IsNotNull) {
        sql.push(" AND ");
        compare(
            sql,
            &format!("{alias}.value"),
            ColumnType::Text,
            comparator,
            value,
        )?;
    }
    sql.push(")");
    Ok(())
}

fn metric_clause(
    sql: &mut Sql,
    source: MetricSource,
    alias: &str,
    key: &str,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    let (table, latest_only) = match source {
        MetricSource::Latest(table) => (table, false),
        MetricSource::History(table) => (table, true),
    };
    let exists = if comparator == Comparator::IsNull {
        "NOT EXISTS"
    } else {
        "EXISTS"
    };
    sql.push(&format!(
        "{exists} (SELECT 1 FROM {} {alias} WHERE {} AND {alias}.key = ",
        table.table,
        correlate(table.correlation, alias)
    ))
    .bind_text(key);
    if latest_only {
        // The latest point of the key: no other point with a greater (step, timestamp).
        let newer = format!("{alias}n");
        sql.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM {} {newer} WHERE {} AND {newer}.key = {alias}.key \
             AND ({newer}.step, {newer}.timestamp, {newer}.value) > ({alias}.step, {alias}.timestamp, {alias}.value))",
            table.table,
            correlate(table.correlation, &newer)
        ));
    }
    match comparator {
        Comparator::IsNull | Comparator::IsNotNull => {}
        Comparator::NotEq => {
            let number = number_value(value, comparator)?;
            sql.push(&format!(" AND ({alias}.is_nan = TRUE OR {alias}.value != "))
                .bind(Bind::Real(number))
                .push(")");
        }
        Comparator::Eq | Comparator::Gt | Comparator::Ge | Comparator::Lt | Comparator::Le => {
            let number = number_value(value, comparator)?;
            sql.push(&format!(
                " AND {alias}.is_nan = FALSE AND {alias}.value {} ",
                comparator.as_str()
            ))
            .bind(Bind::Real(number));
        }
        other => {
            return Err(Error::invalid(format!(
                "Invalid comparator '{}' for a metric",
                other.as_str()
            )))
        }
    }
    sql.push(")");
    Ok(())
}

fn dataset_clause(
    sql: &mut Sql,
    correlation: &str,
    alias: &str,
    key: &str,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    match key {
        "name" | "digest" => {
            sql.push(&format!(
                "EXISTS (SELECT 1 FROM run_dataset_inputs {alias} \
                 JOIN datasets {alias}d ON {alias}d.dataset_uuid = {alias}.dataset_uuid WHERE {} AND ",
                correlate(correlation, alias)
            ));
            let column = if key == "name" {
                format!("{alias}d.name")
            } else {
                format!("{alias}d.digest")
            };
            compare(sql, &column, ColumnType::Text, comparator, value)?;
        }
        "context" => {
            sql.push(&format!(
                "EXISTS (SELECT 1 FROM run_dataset_input_tags {alias} WHERE {} \
                 AND {alias}.key = 'mlflow.data.context' AND ",
                correlate(correlation, alias)
            ));
            compare(
                sql,
                &format!("{alias}.value"),
                ColumnType::Text,
                comparator,
                value,
            )?;
        }
        other => {
            return Err(Error::invalid(format!(
                "Invalid dataset key '{other}' specified. Valid keys are '{{'name', 'digest', 'context'}}'"
            )))
        }
    }
    sql.push(")");
    Ok(())
}

fn number_value(value: &Value, comparator: Comparator) -> Result<f64> {
    match value {
        Value::Number(number) => Ok(*number),
        Value::String(text) => text.trim().parse::<f64>().map_err(|_| {
            Error::invalid(format!(
                "Expected a numeric value for comparator '{}', got '{text}'",
                comparator.as_str()
            ))
        }),
        other => Err(Error::invalid(format!(
            "Expected a numeric value for comparator '{}', got {other:?}",
            comparator.as_str()
        ))),
    }
}

fn scalar_bind(value: &Value, column_type: ColumnType, comparator: Comparator) -> Result<Bind> {
    match (value, column_type) {
        (Value::Number(number), ColumnType::Number) => Ok(Bind::Real(*number)),
        (Value::String(text), ColumnType::Text) => Ok(Bind::Text(text.clone())),
        (Value::Number(number), ColumnType::Text) => Ok(Bind::Text(format_number(*number))),
        (Value::String(_), ColumnType::Number) => Ok(Bind::Real(number_value(value, comparator)?)),
        (other, _) => Err(Error::invalid(format!(
            "Invalid value {other:?} for comparator '{}'",
            comparator.as_str()
        ))),
    }
}

/// A text bind used as a `LIKE` pattern.
fn like_bind(bind: Bind) -> Bind {
    match bind {
        Bind::Text(text) => Bind::LikePattern(text),
        other => other,
    }
}

fn format_number(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        format!("{}", number as i64)
    } else {
        number.to_string()
    }
}

/// `column <comparator> value`, with the value bound.
fn compare(
    sql: &mut Sql,
    column: &str,
    column_type: ColumnType,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    match comparator {
        Comparator::Eq
        | Comparator::NotEq
        | Comparator::Gt
        | Comparator::Ge
        | Comparator::Lt
        | Comparator::Le => {
            let bind = scalar_bind(value, column_type, comparator)?;
            sql.push(&format!("{column} {} ", comparator.as_str()))
                .bind(bind);
        }
        Comparator::Like => {
            let bind = like_bind(scalar_bind(value, ColumnType::Text, comparator)?);
            sql.push(&format!("{column} LIKE ")).bind(bind);
        }
        Comparator::ILike => {
            let bind = like_bind(scalar_bind(value, ColumnType::Text, comparator)?);
            sql.push(&format!("LOWER({column}) LIKE LOWER("))
                .bind(bind)
                .push(")");
        }
        Comparator::In | Comparator::NotIn => {
            let items = match value {
                Value::List(items) => items.clone(),
                Value::String(item) => vec![item.clone()],
                other => {
                    return Err(Error::invalid(format!(
                        "Invalid value {other:?} for comparator '{}': expected a list",
                        comparator.as_str()
                    )))
                }
            };
            let keyword = if comparator == Comparator::In {
                "IN"
            } else {
                "NOT IN"
            };
            sql.push(&format!("{column} {keyword} ("));
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    sql.push(", ");
                }
                sql.bind_text(item);
            }
            sql.push(")");
        }
        Comparator::IsNull => {
            sql.push(&format!("{column} IS NULL"));
        }
        Comparator::IsNotNull => {
            sql.push(&format!("{column} IS NOT NULL"));
        }
    }
    Ok(())
}

fn compile_order(
    target: &Target,
    filter: &Filter,
    order: &OrderBy,
    index: usize,
    compiled: &mut Compiled,
) -> Result<()> {
    let direction = if order.ascending { "ASC" } else { "DESC" };
    let alias = format!("o{index}");
    let key = &order.ident.key;
    match order.ident.entity {
        Entity::Attribute => {
            let (column, _) = (target.attribute)(key).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid order_by key '{key}' specified for searching {}",
                    target.what
                ))
            })?;
            compiled.ordered_attributes.push(key.clone());
            compiled
                .order
                .push(&format!("({column} IS NULL) ASC, {column} {direction}"));
        }
        Entity::Param | Entity::Tag => {
            let table = if order.ident.entity == Entity::Param {
                target.params
            } else {
                target.tags
            }
            .ok_or_else(|| unsupported(target, "ordering by this entity"))?;
            compiled
                .joins
                .push(&format!(
                    " LEFT JOIN {} {alias} ON {} AND {alias}.key = ",
                    table.table,
                    correlate(table.correlation, &alias)
                ))
                .bind_text(key.clone());
            compiled.order.push(&format!(
                "({alias}.value IS NULL) ASC, {alias}.value {direction}"
            ));
        }
        Entity::Metric => {
            let source = target
                .metrics
                .ok_or_else(|| unsupported(target, "ordering by metrics"))?;
            match source {
                MetricSource::Latest(table) => {
                    let present = filter_requires_number(filter, key);
                    compiled
                        .joins
                        .push(&format!(
                            " {} {} {alias} ON {} AND {alias}.key = ",
                            if present { "JOIN" } else { "LEFT JOIN" },
                            table.table,
                            correlate(table.correlation, &alias)
                        ))
                        .bind_text(key.clone());
                    if present {
                        compiled.order.push(&format!("{alias}.value {direction}"));
                        return Ok(());
                    }
                }
                MetricSource::History(table) => {
                    let newer = format!("{alias}n");
                    compiled
                        .joins
                        .push(&format!(
                            " LEFT JOIN {} {alias} ON {} AND {alias}.key = ",
                            table.table,
                            correlate(table.correlation, &alias)
                        ))
                        .bind_text(key.clone())
                        .push(&format!(
                            " AND NOT EXISTS (SELECT 1 FROM {} {newer} WHERE {} AND {newer}.key = {alias}.key \
                             AND ({newer}.step, {newer}.timestamp, {newer}.value) > ({alias}.step, {alias}.timestamp, {alias}.value))",
                            table.table,
                            correlate(table.correlation, &newer)
                        ));
                }
            }
            // Values first, then NaN, then missing: in both directions.
            compiled.order.push(&format!(
                "(CASE WHEN {alias}.key IS NULL THEN 2 WHEN {alias}.is_nan = TRUE THEN 1 ELSE 0 END) ASC, \
                 {alias}.value {direction}"
            ));
        }
        Entity::Dataset => return Err(unsupported(target, "ordering by datasets")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::search::Ident;

    fn run_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
        match key {
            "run_name" => Some(("r.name", ColumnType::Text)),
            "start_time" => Some(("r.start_time", ColumnType::Number)),
            _ => None,
        }
    }

    const RUNS: Target = Target {
        what: "runs",
        attribute: run_attribute,
        params: Some(KeyValueTable {
            table: "params",
            correlation: "{t}.run_uuid = r.run_uuid",
        }),
        tags: None,
        metrics: Some(MetricSource::Latest(KeyValueTable {
            table: "latest_metrics",
            correlation: "{t}.run_uuid = r.run_uuid",
        })),
        datasets: None,
        prompt_exclusion: None,
    };

    fn clause(entity: Entity, key: &str, comparator: Comparator, value: Value) -> Clause {
        Clause {
            ident: Ident {
                entity,
                key: key.into(),
            },
            comparator,
            value,
        }
    }

    #[test]
    fn values_and_keys_are_bound() {
        let filter = Filter {
            clauses: vec![
                clause(
                    Entity::Param,
                    "x' OR 1=1 --",
                    Comparator::Eq,
                    Value::String("'; DROP TABLE runs; --".into()),
                ),
                clause(Entity::Metric, "m", Comparator::Gt, Value::Number(0.5)),
                clause(
                    Entity::Attribute,
                    "run_name",
                    Comparator::ILike,
                    Value::String("A%".into()),
                ),
            ],
        };
        let compiled = compile(&RUNS, &filter, &[]).unwrap();
        for sql in [&compiled.conditions, &compiled.joins] {
            assert!(!sql.text.contains("DROP"));
            assert!(!sql.text.contains("1=1"));
        }
        // The param clause is a join (key and value bound there), the others are conditions.
        assert_eq!(compiled.joins.binds.len(), 2);
        assert!(compiled.joins.text.starts_with(" JOIN params f0 ON "));
        assert_eq!(compiled.conditions.binds.len(), 3);
        assert!(compiled
            .conditions
            .text
            .contains("LOWER(r.name) LIKE LOWER(?)"));
    }

    fn order(key: &str, ascending: bool) -> OrderBy {
        OrderBy {
            ident: Ident {
                entity: Entity::Metric,
                key: key.into(),
            },
            ascending,
        }
    }

    #[test]
    fn a_filtered_metric_orders_without_the_missing_and_nan_term() {
        let gt = clause(Entity::Metric, "m", Comparator::Gt, Value::Number(0.5));
        let compiled = compile(
            &RUNS,
            &Filter {
                clauses: vec![gt.clone()],
            },
            &[order("m", false)],
        )
        .unwrap();
        assert!(compiled.joins.text.starts_with(" JOIN latest_metrics o0 "));
        assert_eq!(compiled.order.text, "o0.value DESC");
        // Without such a clause (or with one that keeps NaN or missing values) the run may lack
        // the metric: values first, then NaN, then missing.
        for clauses in [
            vec![],
            vec![clause(
                Entity::Metric,
                "m",
                Comparator::NotEq,
                Value::Number(0.5),
            )],
            vec![clause(
                Entity::Metric,
                "other",
                Comparator::Gt,
                Value::Number(0.5),
            )],
        ] {
            let compiled = compile(&RUNS, &Filter { clauses }, &[order("m", true)]).unwrap();
            assert!(compiled
                .joins
                .text
                .starts_with(" LEFT JOIN latest_metrics o0 "));
            assert!(compiled
                .order
                .text
                .contains("CASE WHEN o0.key IS NULL THEN 2"));
        }
    }

    #[test]
    fn a_missing_param_stays_a_not_exists() {
        let compiled = compile(
            &RUNS,
            &Filter {
                clauses: vec![clause(Entity::Param, "p", Comparator::IsNull, Value::Null)],
            },
            &[],
        )
        .unwrap();
        assert!(compiled.joins.text.is_empty());
        assert!(compiled
            .conditions
            .text
            .contains("NOT EXISTS (SELECT 1 FROM params f0"));
    }

    #[test]
    fn unknown_things_are_invalid() {
        let filter = Filter {
            clauses: vec![clause(
                Entity::Attribute,
                "nope",
                Comparator::Eq,
                Value::String("x".into()),
            )],
        };
        assert!(compile(&RUNS, &filter, &[]).is_err());
        let filter = Filter {
            clauses: vec![clause(
                Entity::Tag,
                "t",
                Comparator::Eq,
                Value::String("x".into()),
            )],
        };
        assert!(compile(&RUNS, &filter, &[]).is_err());
    }
}
