//! A suite compiled to PostgreSQL (pure: SQL text in, results out, no connection).
//!
//! `cairn data validate postgresql://... --table t` keeps the data in the database: [`compile`] turns
//! the suite into one aggregate query (a `count(*) FILTER (WHERE ...)` per column-map expectation, an
//! aggregate per column statistic), then [`Compiled::followups`] asks only for what that row cannot
//! say (examples of failing expectations, quantiles, value counts, neighbours for monotonic checks),
//! and [`Compiled::finish`] builds the same [`ExpectationResult`]s as the streaming engine.
//!
//! Identifiers are always double-quoted ([`quote_ident`]); every value from the suite is written as
//! an escaped literal ([`literal`], [`float_literal`]), so no input reaches the SQL text raw.
//!
//! Cells are typed by the database, not guessed from text: integer columns hold ints, `real`,
//! `double precision` and `numeric` hold floats (NaN is null, as pandas reads it), `boolean` holds
//! booleans (rendered `True`/`False`), everything else is text (rendered with `::text`; a text
//! column whose values look like numbers stays text). The type expectations see the dtype
//! `pandas.read_sql` would give.
//!
//! Regexes run with `~` (PostgreSQL's ARE, unanchored like Rust's `is_match`). The two agree on the
//! common syntax (classes, `\d \w \s`, quantifiers, anchors, `(?i)` at the start); they differ in
//! that `.` and negated classes match a newline in PostgreSQL, `\d`/`\w` follow the database's
//! locale, and Unicode classes (`\p{L}`) or a `(?i)` after the start are Rust-only (a pattern the
//! server rejects runs on the engine instead). Text order (monotonic, pair comparisons) uses
//! `COLLATE "C"`: byte order, as Rust compares strings.
//!
//! Not pushed down (they return [`Plan::Engine`] and run on the streaming engine over the needed
//! columns only): dateutil/strftime/JSON parsing, z-scores, outliers, KL divergence, `between` with
//! date bounds, numeric statistics of text columns, regexes PostgreSQL cannot compile (the adapter
//! checks each one first), and every expectation that needs no data (table shape, missing columns).

use crate::expect::aggregate::{type_matches, DistinctSetSummary, ModesSummary, Range, SetRule};
use serde_json::{json, Value};

use crate::error::{DataError, Result};
use crate::expect::table::within;
use crate::expect::{Example, ExpectationResult, Kwargs, Tolerance, EXAMPLES};
use crate::suite::{ExpectationConfig, Suite};

/// Column name of the row number the queries add (0-based, in `--order-by` order or scan order).
const ROW: &str = "\"__cairn_row\"";

/// What is validated: a table or view, or the rows of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    Table {
        schema: Option<String>,
        name: String,
    },
    Query(String),
}

impl Relation {
    /// Reads `--table`: `name` or `schema.name`; a part in double quotes keeps its case and may hold
    /// dots (`"My.Schema"."Orders"`), a bare part is lower-cased as PostgreSQL does.
    pub fn parse_table(text: &str) -> Result<Relation> {
        let mut parts = Vec::new();
        let mut chars = text.trim().chars().peekable();
        loop {
            let mut part = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        Some('"') => break,
                        Some(other) => part.push(other),
                        None => {
                            return Err(DataError::usage(format!(
                                "--table {text:?}: unterminated quoted name"
                            )))
                        }
                    }
                }
            } else {
                while let Some(&next) = chars.peek() {
                    if next == '.' {
                        break;
                    }
                    part.push(next.to_ascii_lowercase());
                    chars.next();
                }
            }
            if part.is_empty() {
                return Err(DataError::usage(format!(
                    "--table {text:?}: expected `name` or `schema.name`"
                )));
            }
            parts.push(part);
            match chars.next() {
                None => break,
                Some('.') => continue,
                Some(other) => {
                    return Err(DataError::usage(format!(
                        "--table {text:?}: unexpected {other:?} after a quoted name"
                    )))
                }
            }
        }
        match parts.len() {
            1 => Ok(Relation::Table {
                schema: None,
                name: parts.remove(0),
            }),
            2 => Ok(Relation::Table {
                name: parts.remove(1),
                schema: Some(parts.remove(0)),
            }),
            _ => Err(DataError::usage(format!(
                "--table {text:?}: expected `name` or `schema.name`"
            ))),
        }
    }

    /// The relation as a FROM item, aliased `"__cairn_src"`.
    pub fn from_item(&self) -> String {
        match self {
            Relation::Table { schema, name } => {
                let qualified = match schema {
                    Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
                    None => quote_ident(name),
                };
                format!("{qualified} AS \"__cairn_src\"")
            }
            Relation::Query(query) => {
                let query = query.trim().trim_end_matches(';').trim_end();
                format!("({query}\n) AS \"__cairn_src\"")
            }
        }
    }

    /// `SELECT * FROM` the relation: what the adapter describes to learn the columns.
    pub fn select_all(&self) -> String {
        format!("SELECT * FROM {}", self.from_item())
    }

    /// How the relation is named in reports.
    pub fn describe(&self) -> String {
        match self {
            Relation::Table {
                schema: Some(schema),
                name,
            } => format!("table {}.{}", quote_ident(schema), quote_ident(name)),
            Relation::Table { schema: None, name } => format!("table {}", quote_ident(name)),
            Relation::Query(_) => "query".to_string(),
        }
    }
}

/// How a PostgreSQL column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    Int,
    Float,
    Numeric,
    Bool,
    Text,
}

impl TypeClass {
    /// The class of a type as sqlx names it (`INT4`, `FLOAT8`, `NUMERIC`, `BOOL`, `TEXT`...).
    pub fn of(type_name: &str) -> TypeClass {
        match type_name.to_ascii_uppercase().as_str() {
            "INT2" | "INT4" | "INT8" | "SMALLINT" | "INTEGER" | "BIGINT" => TypeClass::Int,
            "FLOAT4" | "FLOAT8" | "REAL" | "DOUBLE PRECISION" => TypeClass::Float,
            "NUMERIC" | "DECIMAL" => TypeClass::Numeric,
            "BOOL" | "BOOLEAN" => TypeClass::Bool,
            _ => TypeClass::Text,
        }
    }

    fn numeric(self) -> bool {
        matches!(
            self,
            TypeClass::Int | TypeClass::Float | TypeClass::Numeric | TypeClass::Bool
        )
    }
}

/// A column of the relation.
#[derive(Debug, Clone, PartialEq)]
pub struct DbColumn {
    pub name: String,
    /// The type as sqlx names it.
    pub type_name: String,
    pub class: TypeClass,
}

impl DbColumn {
    pub fn new(name: &str, type_name: &str) -> DbColumn {
        DbColumn {
            name: name.to_string(),
            type_name: type_name.to_string(),
            class: TypeClass::of(type_name),
        }
    }

    fn ident(&self) -> String {
        quote_ident(&self.name)
    }

    /// The SQL condition "this cell is null" (NaN counts as null, as in pandas).
    fn null(&self) -> String {
        let ident = self.ident();
        match self.class {
            TypeClass::Float | TypeClass::Numeric => {
                format!("({ident} IS NULL OR {ident} = 'NaN')")
            }
            _ => format!("{ident} IS NULL"),
        }
    }

    fn not_null(&self) -> String {
        format!("NOT {}", self.null())
    }

    fn text(&self) -> String {
        text_of(&self.ident(), self.class)
    }

    fn number(&self) -> String {
        number_of(&self.ident(), self.class)
    }
}

/// The text of a value: booleans as pandas prints them, the rest as PostgreSQL does.
fn text_of(expression: &str, class: TypeClass) -> String {
    match class {
        TypeClass::Bool => format!("(CASE WHEN {expression} THEN 'True' ELSE 'False' END)"),
        _ => format!("({expression})::text"),
    }
}

/// The value of a numeric-like cell as float8.
fn number_of(expression: &str, class: TypeClass) -> String {
    match class {
        TypeClass::Bool => format!("({expression})::int::float8"),
        _ => format!("({expression})::float8"),
    }
}

/// `"name"` with inner quotes doubled: any column name is safe.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal: `'...'` with quotes doubled, or `E'...'` with backslashes doubled too, so the
/// value reads the same whatever `standard_conforming_strings` says. NUL bytes (which PostgreSQL text
/// cannot hold) are refused.
pub fn literal(text: &str) -> Result<String> {
    if text.contains('\0') {
        return Err(DataError::usage(format!(
            "{text:?}: PostgreSQL text cannot hold a NUL character"
        )));
    }
    let quoted = text.replace('\'', "''");
    Ok(if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    })
}

/// A float8 literal that round-trips (NaN and infinities included).
pub fn float_literal(value: f64) -> String {
    if value.is_nan() {
        "'NaN'::float8".to_string()
    } else if value == f64::INFINITY {
        "'Infinity'::float8".to_string()
    } else if value == f64::NEG_INFINITY {
        "'-Infinity'::float8".to_string()
    } else {
        format!("'{value:?}'::float8")
    }
}

fn text_array(values: &[String]) -> Result<String> {
    if values.is_empty() {
        return Ok("'{}'::text[]".to_string());
    }
    let items = values
        .iter()
        .map(|value| literal(value))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("ARRAY[{}]::text[]", items.join(", ")))
}

fn float_array(values: &[f64]) -> String {
    if values.is_empty() {
        return "'{}'::float8[]".to_string();
    }
    let items: Vec<String> = values.iter().map(|v| float_literal(*v)).collect();
    format!("ARRAY[{}]", items.join(", "))
}

/// `min ≤ x ≤ max` in SQL, with GE's strictness; `None` when there is no bound.
fn within_sql(
    expression: &str,
    min: Option<f64>,
    max: Option<f64>,
    strict_min: bool,
    strict_max: bool,
) -> String {
    let mut parts = Vec::new();
    if let Some(min) = min {
        let op = if strict_min { ">" } else { ">=" };
        parts.push(format!("{expression} {op} {}", float_literal(min)));
    }
    if let Some(max) = max {
        let op = if strict_max { "<" } else { "<=" };
        parts.push(format!("{expression} {op} {}", float_literal(max)));
    }
    if parts.is_empty() {
        "TRUE".to_string()
    } else {
        format!("({})", parts.join(" AND "))
    }
}

/// One query; every row comes back as text cells (`None` for NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
}

pub type Rows = Vec<Vec<Option<String>>>;

/// Which rows a multi-column expectation skips (GE's `ignore_row_if`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ignore {
    All,
    Any,
    Never,
}

impl Ignore {
    fn read(kwargs: &Kwargs<'_>, default: Ignore) -> Result<Ignore> {
        Ok(match kwargs.string_opt("ignore_row_if")? {
            None => default,
            Some("all_values_are_missing" | "both_values_are_missing") => Ignore::All,
            Some("any_value_is_missing" | "either_value_is_missing") => Ignore::Any,
            Some("never") => Ignore::Never,
            Some(other) => return Err(kwargs.error(format!("unknown `ignore_row_if` {other:?}"))),
        })
    }

    fn sql(self, columns: &[&DbColumn]) -> String {
        let nulls: Vec<String> = columns.iter().map(|c| c.null()).collect();
        match self {
            Ignore::All => format!("({})", nulls.join(" AND ")),
            Ignore::Any => format!("({})", nulls.join(" OR ")),
            Ignore::Never => "FALSE".to_string(),
        }
    }
}

/// How a column-map expectation is counted.
#[derive(Debug, Clone)]
enum MapKind {
    /// `count(*) FILTER (WHERE NOT missing AND unexpected)`.
    Rows { unexpected: String },
    /// Rows whose values repeat (`GROUP BY ... HAVING count(*) > 1`).
    Unique,
    /// A value against the previous non-null one (needs a row order).
    Monotonic { increasing: bool, strictly: bool },
}

#[derive(Debug, Clone)]
struct MapSpec {
    kind: MapKind,
    /// Rows skipped (nulls); `None` for the null expectations, which judge every row.
    missing: Option<String>,
    columns: Vec<usize>,
    /// Examples are arrays (several columns) rather than one value.
    array: bool,
    tolerance: Tolerance,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Statistic {
    Mean,
    Median,
    Stdev,
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone)]
enum Aggregate {
    Statistic(Statistic, Range),
    Quantiles {
        quantiles: Vec<f64>,
        ranges: Vec<(Option<f64>, Option<f64>)>,
    },
    Type(Vec<String>),
    UniqueCount(Range),
    UniqueProportion(Range),
    DistinctSet {
        rule: SetRule,
        set: Vec<Value>,
    },
    MostCommon {
        set: Vec<Value>,
        ties_okay: bool,
    },
}

/// What one expectation becomes.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Evaluated by the streaming engine (over the columns it names, or over no data at all).
    Engine,
    /// Already decided (e.g. a monotonic check without a row order).
    Failed(String),
    Map(usize),
    Aggregate(usize),
}

/// A suite compiled against the relation's columns.
#[derive(Debug, Clone)]
pub struct Compiled {
    relation: Relation,
    columns: Vec<DbColumn>,
    order_by: Option<String>,
    configs: Vec<ExpectationConfig>,
    pub plans: Vec<Plan>,
    maps: Vec<MapSpec>,
    /// (column, rule).
    aggregates: Vec<(usize, Aggregate)>,
    /// Select-list items of the aggregate query, and where each map/aggregate reads its own.
    select: Vec<String>,
    map_slots: Vec<(usize, usize)>,
    /// Aggregate slot of each aggregate expectation's first value; nulls per column.
    aggregate_slots: Vec<usize>,
    null_slots: Vec<Option<usize>>,
}

/// The aggregate row, parsed.
#[derive(Debug, Clone)]
pub struct AggregateRow(Vec<Option<f64>>);

impl AggregateRow {
    pub fn parse(row: &[Option<String>]) -> AggregateRow {
        AggregateRow(
            row.iter()
                .map(|cell| cell.as_deref().and_then(|text| text.trim().parse().ok()))
                .collect(),
        )
    }

    fn get(&self, slot: usize) -> Option<f64> {
        self.0.get(slot).copied().flatten()
    }

    fn count(&self, slot: usize) -> u64 {
        self.get(slot).map_or(0, |v| v.max(0.0) as u64)
    }

    pub fn row_count(&self) -> u64 {
        self.count(0)
    }
}

/// A query asked after the aggregate one, and what its rows answer.
#[derive(Debug, Clone)]
pub struct Followup {
    pub query: Query,
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Examples (and, for monotonic checks, the count) of map expectation `n`.
    Examples(usize),
    /// The nearest-rank quantiles of aggregate `n`.
    Quantiles(usize),
    /// Value counts of aggregate `n`'s column.
    ValueCounts(usize),
}

/// The regexes the suite pushes down, to be tried on the server before the aggregate query (one
/// PostgreSQL rejects sends its expectation to the engine, see [`Compiled`]).
pub fn regexes(config: &ExpectationConfig) -> Vec<String> {
    let mut patterns = Vec::new();
    if let Some(Value::String(pattern)) = config.kwargs.get("regex") {
        patterns.push(pattern.clone());
    }
    if let Some(Value::Array(list)) = config.kwargs.get("regex_list") {
        patterns.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    patterns
}

/// The columns an expectation reads (`column`, `column_A`, `column_B`, `column_list`).
pub fn columns_named(config: &ExpectationConfig) -> Vec<String> {
    let mut names = Vec::new();
    for key in ["column", "column_A", "column_B"] {
        if let Some(Value::String(name)) = config.kwargs.get(key) {
            names.push(name.clone());
        }
    }
    if let Some(Value::Array(list)) = config.kwargs.get("column_list") {
        names.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    names
}

/// Compiles `suite`. `engine_regexes`: patterns PostgreSQL cannot compile (their expectations go to
/// the engine). Arguments must already have passed the engine's own compile (same usage errors).
pub fn compile(
    suite: &Suite,
    relation: &Relation,
    columns: &[DbColumn],
    order_by: Option<&str>,
    engine_regexes: &[String],
) -> Result<Compiled> {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    if let Some(order) = order_by {
        if !names.iter().any(|n| n == order) {
            return Err(DataError::usage(format!(
                "--order-by {order:?}: no such column (columns: {})",
                names.join(", ")
            )));
        }
    }
    let mut compiled = Compiled {
        relation: relation.clone(),
        columns: columns.to_vec(),
        order_by: order_by.map(str::to_string),
        configs: suite.expectations.clone(),
        plans: Vec::new(),
        maps: Vec::new(),
        aggregates: Vec::new(),
        select: vec!["count(*)".to_string()],
        map_slots: Vec::new(),
        aggregate_slots: Vec::new(),
        null_slots: vec![None; columns.len()],
    };
    for (index, config) in suite.expectations.iter().enumerate() {
        let kwargs = Kwargs::new(index, config, &names);
        let missing_column = columns_named(config)
            .iter()
            .any(|name| !names.contains(name));
        let engine_regex = regexes(config)
            .iter()
            .any(|pattern| engine_regexes.contains(pattern));
        let plan = if missing_column || engine_regex {
            Plan::Engine
        } else {
            compiled.plan_one(&kwargs)?
        };
        compiled.plans.push(plan);
    }
    Ok(compiled)
}

impl Compiled {
    fn column(&self, kwargs: &Kwargs<'_>, key: &str) -> Result<usize> {
        let name = kwargs.string(key)?;
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| kwargs.error(format!("column {name:?} is not in the data")))
    }

    fn nulls_slot(&mut self, column: usize) -> usize {
        if let Some(slot) = self.null_slots[column] {
            return slot;
        }
        let slot = self.push(format!(
            "count(*) FILTER (WHERE {})",
            self.columns[column].null()
        ));
        self.null_slots[column] = Some(slot);
        slot
    }

    fn push(&mut self, item: String) -> usize {
        self.select.push(item);
        self.select.len() - 1
    }

    fn add_map(&mut self, spec: MapSpec) -> Plan {
        let missing_slot = match &spec.missing {
            Some(missing) => self.push(format!("count(*) FILTER (WHERE {missing})")),
            None => 0,
        };
        let not_missing = spec
            .missing
            .as_ref()
            .map_or("TRUE".to_string(), |m| format!("NOT {m}"));
        let unexpected_slot = match &spec.kind {
            MapKind::Rows { unexpected } => self.push(format!(
                "count(*) FILTER (WHERE {not_missing} AND ({unexpected}))"
            )),
            MapKind::Unique => {
                let groups: Vec<String> = spec
                    .columns
                    .iter()
                    .map(|&c| self.columns[c].text())
                    .collect();
                self.push(format!(
                    "(SELECT coalesce(sum(\"__cairn_n\"), 0) FROM (SELECT count(*) AS \"__cairn_n\" FROM {} WHERE {not_missing} GROUP BY {} HAVING count(*) > 1) AS \"__cairn_groups\")",
                    self.relation.from_item(),
                    groups.join(", ")
                ))
            }
            // Counted by its own query.
            MapKind::Monotonic { .. } => 0,
        };
        self.map_slots.push((missing_slot, unexpected_slot));
        self.maps.push(spec);
        Plan::Map(self.maps.len() - 1)
    }

    fn add_aggregate(&mut self, column: usize, rule: Aggregate) -> Plan {
        self.nulls_slot(column);
        let c = &self.columns[column];
        let (not_null, number, text) = (c.not_null(), c.number(), c.text());
        let filter = format!("FILTER (WHERE {not_null})");
        let first = match &rule {
            Aggregate::Statistic(statistic, _) => {
                let item = match statistic {
                    Statistic::Mean => format!("avg({number}) {filter}"),
                    Statistic::Stdev => format!("stddev_samp({number}) {filter}"),
                    Statistic::Sum => format!("sum({number}) {filter}"),
                    Statistic::Min => format!("min({number}) {filter}"),
                    Statistic::Max => format!("max({number}) {filter}"),
                    Statistic::Median => {
                        format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY {number}) {filter}")
                    }
                };
                self.push(item)
            }
            Aggregate::UniqueCount(_) | Aggregate::UniqueProportion(_) => {
                self.push(format!("count(DISTINCT {text}) {filter}"))
            }
            // Nulls and rows say all; quantiles and value counts come in a followup.
            Aggregate::Type(_)
            | Aggregate::Quantiles { .. }
            | Aggregate::DistinctSet { .. }
            | Aggregate::MostCommon { .. } => 0,
        };
        self.aggregate_slots.push(first);
        self.aggregates.push((column, rule));
        Plan::Aggregate(self.aggregates.len() - 1)
    }

    fn plan_one(&mut self, kwargs: &Kwargs<'_>) -> Result<Plan> {
        let name = kwargs.expectation_type().to_string();
        let name = name.as_str();
        if name.starts_with("expect_table_") || name == "expect_column_to_exist" {
            return Ok(Plan::Engine);
        }
        let tolerance = Tolerance::read(kwargs)?;
        let row_spec = |this: &Compiled, column: usize, unexpected: String| MapSpec {
            kind: MapKind::Rows { unexpected },
            missing: Some(this.columns[column].null()),
            columns: vec![column],
            array: false,
            tolerance,
        };
        let plan = match name {
            "expect_column_values_to_not_be_null" | "expect_column_values_to_be_null" => {
                let column = self.column(kwargs, "column")?;
                let null = self.columns[column].null();
                let unexpected = if name.ends_with("not_be_null") {
                    null
                } else {
                    format!("NOT {null}")
                };
                self.add_map(MapSpec {
                    kind: MapKind::Rows { unexpected },
                    missing: None,
                    columns: vec![column],
                    array: false,
                    tolerance,
                })
            }
            "expect_column_values_to_be_between" => {
                let date_bounds = ["min_value", "max_value"]
                    .iter()
                    .any(|key| matches!(kwargs.get(key), Some(Value::String(_))));
                if date_bounds {
                    return Ok(Plan::Engine);
                }
                let column = self.column(kwargs, "column")?;
                let c = &self.columns[column];
                let unexpected = match c.class {
                    TypeClass::Int | TypeClass::Float | TypeClass::Numeric => {
                        let range = Range::read(kwargs)?;
                        format!(
                            "NOT {}",
                            within_sql(
                                &c.number(),
                                range.min,
                                range.max,
                                range.strict_min,
                                range.strict_max
                            )
                        )
                    }
                    // The engine finds no number in a boolean or text cell: all are unexpected.
                    TypeClass::Bool | TypeClass::Text => "TRUE".to_string(),
                };
                let spec = row_spec(self, column, unexpected);
                self.add_map(spec)
            }
            "expect_column_values_to_be_in_set" | "expect_column_values_to_not_be_in_set" => {
                let column = self.column(kwargs, "column")?;
                let c = &self.columns[column];
                let (texts, numbers) = value_set(kwargs.list("value_set")?);
                let text_test = format!("{} = ANY({})", c.text(), text_array(&texts)?);
                let contains = match c.class {
                    TypeClass::Int | TypeClass::Float | TypeClass::Numeric
                        if !numbers.is_empty() =>
                    {
                        format!(
                            "({} = ANY({}) OR {text_test})",
                            c.number(),
                            float_array(&numbers)
                        )
                    }
                    _ => text_test,
                };
                let unexpected = if name.contains("not_be") {
                    contains
                } else {
                    format!("NOT ({contains})")
                };
                let spec = row_spec(self, column, unexpected);
                self.add_map(spec)
            }
            "expect_column_values_to_match_regex"
            | "expect_column_values_to_not_match_regex"
            | "expect_column_values_to_match_regex_list"
            | "expect_column_values_to_not_match_regex_list" => {
                let column = self.column(kwargs, "column")?;
                let text = self.columns[column].text();
                let patterns = regexes(kwargs.config());
                let all = kwargs.string_opt("match_on")? == Some("all");
                let negate = name.contains("not_match");
                let tests = patterns
                    .iter()
                    .map(|p| Ok(format!("{text} ~ {}", literal(p)?)))
                    .collect::<Result<Vec<_>>>()?;
                let joiner = if all && !negate { " AND " } else { " OR " };
                let matched = format!("({})", tests.join(joiner));
                let unexpected = if negate {
                    matched
                } else {
                    format!("NOT {matched}")
                };
                let spec = row_spec(self, column, unexpected);
                self.add_map(spec)
            }
            "expect_column_value_lengths_to_be_between"
            | "expect_column_value_lengths_to_equal" => {
                let column = self.column(kwargs, "column")?;
                let length = format!("char_length({})::float8", self.columns[column].text());
                let range = if name.ends_with("equal") {
                    let value = kwargs.f64("value")?;
                    Range {
                        min: Some(value),
                        max: Some(value),
                        strict_min: false,
                        strict_max: false,
                    }
                } else {
                    Range::read(kwargs)?
                };
                let unexpected = format!(
                    "NOT {}",
                    within_sql(
                        &length,
                        range.min,
                        range.max,
                        range.strict_min,
                        range.strict_max
                    )
                );
                let spec = row_spec(self, column, unexpected);
                self.add_map(spec)
            }
            "expect_column_values_to_be_unique" => {
                let column = self.column(kwargs, "column")?;
                self.add_map(MapSpec {
                    kind: MapKind::Unique,
                    missing: Some(self.columns[column].null()),
                    columns: vec![column],
                    array: false,
                    tolerance,
                })
            }
            "expect_compound_columns_to_be_unique"
            | "expect_select_column_values_to_be_unique_within_record" => {
                let mut indexes = Vec::new();
                for column_name in kwargs.strings("column_list")? {
                    match self.columns.iter().position(|c| c.name == column_name) {
                        Some(index) => indexes.push(index),
                        None => return Ok(Plan::Engine),
                    }
                }
                let ignore = Ignore::read(kwargs, Ignore::All)?;
                let refs: Vec<&DbColumn> = indexes.iter().map(|&i| &self.columns[i]).collect();
                let missing = Some(ignore.sql(&refs));
                let kind = if name == "expect_compound_columns_to_be_unique" {
                    MapKind::Unique
                } else {
                    let texts: Vec<String> = refs
                        .iter()
                        .map(|c| format!("coalesce({}, '')", c.text()))
                        .collect();
                    let mut pairs = Vec::new();
                    for i in 0..texts.len() {
                        for j in i + 1..texts.len() {
                            pairs.push(format!("{} = {}", texts[i], texts[j]));
                        }
                    }
                    MapKind::Rows {
                        unexpected: if pairs.is_empty() {
                            "FALSE".to_string()
                        } else {
                            pairs.join(" OR ")
                        },
                    }
                };
                self.add_map(MapSpec {
                    kind,
                    missing,
                    columns: indexes,
                    array: true,
                    tolerance,
                })
            }
            "expect_column_values_to_be_increasing" | "expect_column_values_to_be_decreasing" => {
                if kwargs.bool_or("parse_strings_as_datetimes", false)? {
                    return Ok(Plan::Engine);
                }
                let column = self.column(kwargs, "column")?;
                if self.order_by.is_none() {
                    return Ok(Plan::Failed(format!(
                        "{name} needs a row order, which a PostgreSQL relation does not have: pass --order-by COLUMN"
                    )));
                }
                self.add_map(MapSpec {
                    kind: MapKind::Monotonic {
                        increasing: name.ends_with("increasing"),
                        strictly: kwargs.bool_or("strictly", false)?,
                    },
                    missing: Some(self.columns[column].null()),
                    columns: vec![column],
                    array: false,
                    tolerance,
                })
            }
            "expect_column_pair_values_to_be_equal"
            | "expect_column_pair_values_a_to_be_greater_than_b" => {
                let a = self.column(kwargs, "column_A")?;
                let b = self.column(kwargs, "column_B")?;
                let (ca, cb) = (&self.columns[a], &self.columns[b]);
                let ignore = Ignore::read(kwargs, Ignore::All)?;
                let missing = ignore.sql(&[ca, cb]);
                let op = if name.ends_with("equal") {
                    "="
                } else if kwargs.bool_or("or_equal", false)? {
                    ">="
                } else {
                    ">"
                };
                let holds = match (ca.class.numeric(), cb.class.numeric()) {
                    (true, true) => format!("{} {op} {}", ca.number(), cb.number()),
                    (false, false) => format!(
                        "{} COLLATE \"C\" {op} {} COLLATE \"C\"",
                        ca.text(),
                        cb.text()
                    ),
                    // The engine orders any number before any text.
                    (true, false) => "FALSE".to_string(),
                    (false, true) => (op != "=").to_string().to_uppercase(),
                };
                let unexpected = format!("{} OR {} OR NOT ({holds})", ca.null(), cb.null());
                self.add_map(MapSpec {
                    kind: MapKind::Rows { unexpected },
                    missing: Some(missing),
                    columns: vec![a, b],
                    array: true,
                    tolerance,
                })
            }
            "expect_column_values_to_be_of_type" | "expect_column_values_to_be_in_type_list" => {
                let column = self.column(kwargs, "column")?;
                let accepted = if name.ends_with("of_type") {
                    vec![kwargs.string("type_")?.to_string()]
                } else {
                    kwargs.strings("type_list")?
                };
                self.add_aggregate(column, Aggregate::Type(accepted))
            }
            "expect_column_mean_to_be_between"
            | "expect_column_median_to_be_between"
            | "expect_column_stdev_to_be_between"
            | "expect_column_sum_to_be_between"
            | "expect_column_min_to_be_between"
            | "expect_column_max_to_be_between"
            | "expect_column_quantile_values_to_be_between" => {
                let column = self.column(kwargs, "column")?;
                if !self.columns[column].class.numeric() {
                    // The engine reports the non-numeric values.
                    return Ok(Plan::Engine);
                }
                let rule = match name {
                    "expect_column_quantile_values_to_be_between" => quantile_rule(kwargs)?,
                    _ => {
                        let statistic = match name {
                            "expect_column_mean_to_be_between" => Statistic::Mean,
                            "expect_column_median_to_be_between" => Statistic::Median,
                            "expect_column_stdev_to_be_between" => Statistic::Stdev,
                            "expect_column_sum_to_be_between" => Statistic::Sum,
                            "expect_column_min_to_be_between" => Statistic::Min,
                            _ => Statistic::Max,
                        };
                        Aggregate::Statistic(statistic, Range::read(kwargs)?)
                    }
                };
                self.add_aggregate(column, rule)
            }
            "expect_column_unique_value_count_to_be_between" => {
                let column = self.column(kwargs, "column")?;
                self.add_aggregate(column, Aggregate::UniqueCount(Range::read(kwargs)?))
            }
            "expect_column_proportion_of_unique_values_to_be_between" => {
                let column = self.column(kwargs, "column")?;
                self.add_aggregate(column, Aggregate::UniqueProportion(Range::read(kwargs)?))
            }
            "expect_column_distinct_values_to_be_in_set"
            | "expect_column_distinct_values_to_contain_set"
            | "expect_column_distinct_values_to_equal_set" => {
                let column = self.column(kwargs, "column")?;
                let rule = if name.ends_with("be_in_set") {
                    SetRule::Within
                } else if name.ends_with("contain_set") {
                    SetRule::Contains
                } else {
                    SetRule::Equals
                };
                let set = kwargs.list("value_set")?.clone();
                self.add_aggregate(column, Aggregate::DistinctSet { rule, set })
            }
            "expect_column_most_common_value_to_be_in_set" => {
                let column = self.column(kwargs, "column")?;
                let set = kwargs.list("value_set")?.clone();
                let ties_okay = kwargs.bool_or("ties_okay", false)?;
                self.add_aggregate(column, Aggregate::MostCommon { set, ties_okay })
            }
            _ => Plan::Engine,
        };
        Ok(plan)
    }

    /// The one aggregate query (its first column is the row count).
    pub fn aggregate_query(&self) -> Query {
        let items: Vec<String> = self
            .select
            .iter()
            .enumerate()
            .map(|(i, item)| format!("({item})::text AS \"c{i}\""))
            .collect();
        Query {
            sql: format!(
                "SELECT {} FROM {}",
                items.join(",\n       "),
                self.relation.from_item()
            ),
        }
    }

    /// The relation with a 0-based row number column `"__cairn_row"` (in `--order-by` order, else
    /// in the order the server scans it).
    fn numbered(&self) -> String {
        let order = match &self.order_by {
            Some(column) => format!("ORDER BY {}", quote_ident(column)),
            None => String::new(),
        };
        format!(
            "(SELECT row_number() OVER ({order}) - 1 AS {ROW}, * FROM {}) AS \"__cairn_numbered\"",
            self.relation.from_item()
        )
    }

    /// Which expectations go to the streaming engine.
    pub fn engine_indexes(&self) -> Vec<usize> {
        self.plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| matches!(plan, Plan::Engine))
            .map(|(index, _)| index)
            .collect()
    }

    /// The queries the aggregate row leaves open: examples of failing map expectations, quantiles,
    /// value counts, monotonic checks.
    pub fn followups(&self, row: &AggregateRow) -> Vec<Followup> {
        let mut followups = Vec::new();
        for (index, spec) in self.maps.iter().enumerate() {
            let values: Vec<String> = spec
                .columns
                .iter()
                .map(|&c| self.columns[c].text())
                .collect();
            let not_missing = spec
                .missing
                .as_ref()
                .map_or("TRUE".to_string(), |m| format!("NOT {m}"));
            let sql = match &spec.kind {
                MapKind::Rows { unexpected } => {
                    if row.count(self.map_slots[index].1) == 0 {
                        continue;
                    }
                    format!(
                        "SELECT {ROW}::text AS \"__cairn_r\", {} FROM {} WHERE {not_missing} AND ({unexpected}) ORDER BY {ROW} LIMIT {EXAMPLES}",
                        values.join(", "),
                        self.numbered()
                    )
                }
                MapKind::Unique => {
                    if row.count(self.map_slots[index].1) == 0 {
                        continue;
                    }
                    let groups: Vec<String> = spec
                        .columns
                        .iter()
                        .map(|&c| self.columns[c].text())
                        .collect();
                    format!(
                        "SELECT {ROW}::text AS \"__cairn_r\", {} FROM (SELECT *, count(*) OVER (PARTITION BY {}) AS \"__cairn_n\" FROM {} WHERE {not_missing}) AS \"__cairn_counted\" WHERE \"__cairn_n\" > 1 ORDER BY {ROW} LIMIT {EXAMPLES}",
                        values.join(", "),
                        groups.join(", "),
                        self.numbered()
                    )
                }
                MapKind::Monotonic {
                    increasing,
                    strictly,
                } => {
                    let c = &self.columns[spec.columns[0]];
                    let op = match (increasing, strictly) {
                        (true, false) => ">=",
                        (true, true) => ">",
                        (false, false) => "<=",
                        (false, true) => "<",
                    };
                    let holds = if c.class.numeric() {
                        format!(
                            "{} {op} {}",
                            number_of("\"__cairn_v\"", c.class),
                            number_of("\"__cairn_p\"", c.class)
                        )
                    } else {
                        format!(
                            "{} COLLATE \"C\" {op} {} COLLATE \"C\"",
                            text_of("\"__cairn_v\"", c.class),
                            text_of("\"__cairn_p\"", c.class)
                        )
                    };
                    format!(
                        "SELECT {ROW}::text AS \"__cairn_r\", {}, (count(*) OVER ())::text FROM (SELECT {ROW}, {ident} AS \"__cairn_v\", lag({ident}) OVER (ORDER BY {ROW}) AS \"__cairn_p\" FROM {} WHERE {not_missing}) AS \"__cairn_lagged\" WHERE \"__cairn_p\" IS NOT NULL AND NOT ({holds}) ORDER BY {ROW} LIMIT {EXAMPLES}",
                        text_of("\"__cairn_v\"", c.class),
                        self.numbered(),
                        ident = c.ident(),
                    )
                }
            };
            followups.push(Followup {
                query: Query { sql },
                target: Target::Examples(index),
            });
        }
        for (index, (column, rule)) in self.aggregates.iter().enumerate() {
            let c = &self.columns[*column];
            match rule {
                Aggregate::Quantiles { quantiles, .. } => {
                    let judged = self.judged(row, *column);
                    if judged == 0 {
                        continue;
                    }
                    let items: Vec<String> = quantiles
                        .iter()
                        .map(|q| {
                            format!(
                                "(percentile_disc({}) WITHIN GROUP (ORDER BY {}) FILTER (WHERE {}))::text",
                                float_literal(nearest_fraction(*q, judged)),
                                c.number(),
                                c.not_null()
                            )
                        })
                        .collect();
                    followups.push(Followup {
                        query: Query {
                            sql: format!(
                                "SELECT {} FROM {}",
                                items.join(", "),
                                self.relation.from_item()
                            ),
                        },
                        target: Target::Quantiles(index),
                    });
                }
                Aggregate::DistinctSet { .. } | Aggregate::MostCommon { .. } => {
                    followups.push(Followup {
                        query: Query {
                            sql: format!(
                                "SELECT {text}, count(*)::text, min({ROW})::text FROM {} WHERE {} GROUP BY {text}",
                                self.numbered(),
                                c.not_null(),
                                text = c.text(),
                            ),
                        },
                        target: Target::ValueCounts(index),
                    });
                }
                _ => {}
            }
        }
        followups
    }

    fn judged(&self, row: &AggregateRow, column: usize) -> u64 {
        let nulls = self.null_slots[column].map_or(0, |slot| row.count(slot));
        row.row_count().saturating_sub(nulls)
    }

    /// The results of every pushed-down expectation (`None` where the engine decides), in suite order.
    pub fn finish(
        &self,
        row: &AggregateRow,
        answers: &[(Followup, Rows)],
    ) -> Vec<Option<ExpectationResult>> {
        let rows = row.row_count();
        self.plans
            .iter()
            .zip(&self.configs)
            .map(|(plan, config)| match plan {
                Plan::Engine => None,
                Plan::Failed(message) => Some(ExpectationResult::failed(config, message.clone())),
                Plan::Map(index) => Some(self.finish_map(*index, config, row, rows, answers)),
                Plan::Aggregate(index) => {
                    Some(self.finish_aggregate(*index, config, row, rows, answers))
                }
            })
            .collect()
    }

    fn finish_map(
        &self,
        index: usize,
        config: &ExpectationConfig,
        row: &AggregateRow,
        rows: u64,
        answers: &[(Followup, Rows)],
    ) -> ExpectationResult {
        let spec = &self.maps[index];
        let (missing_slot, unexpected_slot) = self.map_slots[index];
        let answer = answers
            .iter()
            .find(|(followup, _)| followup.target == Target::Examples(index))
            .map(|(_, rows)| rows.as_slice())
            .unwrap_or(&[]);
        let unexpected = match spec.kind {
            MapKind::Monotonic { .. } => answer
                .first()
                .and_then(|r| r.last().cloned().flatten())
                .and_then(|text| text.parse().ok())
                .unwrap_or(0),
            _ => row.count(unexpected_slot),
        };
        let examples: Vec<Example> = answer
            .iter()
            .map(|cells| {
                let row_number = cells
                    .first()
                    .cloned()
                    .flatten()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let values: Vec<Value> = spec
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| {
                        typed_value(
                            self.columns[c].class,
                            cells.get(i + 1).cloned().flatten().as_deref(),
                        )
                    })
                    .collect();
                Example {
                    row: row_number,
                    value: if spec.array {
                        Value::Array(values)
                    } else {
                        values.into_iter().next().unwrap_or(Value::Null)
                    },
                    file_index: 0,
                    line: 0,
                }
            })
            .collect();
        let mut result = blank(config);
        result.element_count = Some(rows);
        result.unexpected_count = Some(unexpected);
        result.examples = examples;
        match spec.missing {
            Some(_) => {
                let missing = row.count(missing_slot);
                result.missing_count = Some(missing);
                result.success = spec
                    .tolerance
                    .success(rows.saturating_sub(missing), unexpected);
            }
            None => result.success = spec.tolerance.success(rows, unexpected),
        }
        result
    }

    fn finish_aggregate(
        &self,
        index: usize,
        config: &ExpectationConfig,
        row: &AggregateRow,
        rows: u64,
        answers: &[(Followup, Rows)],
    ) -> ExpectationResult {
        let (column, rule) = &self.aggregates[index];
        let class = self.columns[*column].class;
        let nulls = self.null_slots[*column].map_or(0, |slot| row.count(slot));
        let judged = rows.saturating_sub(nulls);
        let slot = self.aggregate_slots[index];
        let answer = |target: Target| -> &[Vec<Option<String>>] {
            answers
                .iter()
                .find(|(followup, _)| followup.target == target)
                .map(|(_, rows)| rows.as_slice())
                .unwrap_or(&[])
        };
        // The engine writes whole numbers as integers when no cell was a float.
        let integral = !matches!(class, TypeClass::Float | TypeClass::Numeric) || judged == 0;
        let number = |value: f64| -> Value {
            if value.is_nan() {
                Value::Null
            } else if integral && value.fract() == 0.0 && value.abs() < 9.0e15 {
                json!(value as i64)
            } else {
                json!(value)
            }
        };
        let mut result = blank(config);
        result.element_count = Some(rows);
        result.missing_count = Some(nulls);
        match rule {
            Aggregate::Type(accepted) => {
                // The engine's type check counts kinds only (its missing count stays 0).
                result.missing_count = Some(0);
                let dtype = pandas_dtype(&self.columns[*column], rows, nulls);
                result.observed_value = json!(dtype);
                result.success = accepted.iter().any(|name| type_matches(name, dtype));
            }
            Aggregate::Statistic(statistic, range) => {
                let value = row.get(slot);
                let observed = match statistic {
                    Statistic::Mean | Statistic::Stdev | Statistic::Median => {
                        json!(value.filter(|v| v.is_finite()))
                    }
                    Statistic::Sum => number(value.unwrap_or(0.0)),
                    Statistic::Min | Statistic::Max => number(value.unwrap_or(f64::NAN)),
                };
                result.success = observed.as_f64().is_some_and(|v| range.holds(v));
                result.observed_value = observed;
            }
            Aggregate::Quantiles { quantiles, ranges } => {
                let cells = answer(Target::Quantiles(index)).first();
                let observed: Vec<f64> = (0..quantiles.len())
                    .map(|i| {
                        cells
                            .and_then(|cells| cells.get(i).cloned().flatten())
                            .and_then(|text| text.parse().ok())
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
                let success: Vec<bool> = observed
                    .iter()
                    .zip(ranges)
                    .map(|(value, (min, max))| {
                        !value.is_nan() && within(*value, *min, *max, false, false)
                    })
                    .collect();
                result.success = success.iter().all(|s| *s);
                result.observed_value = json!({"quantiles": quantiles, "values": observed.iter().map(|v| number(*v)).collect::<Vec<_>>()});
                result
                    .details
                    .insert("success_details".into(), json!(success));
            }
            Aggregate::UniqueCount(range) => {
                let count = row.count(slot);
                result.observed_value = json!(count);
                result.success = range.holds(count as f64);
            }
            Aggregate::UniqueProportion(range) => {
                let count = row.count(slot);
                let proportion = if judged == 0 {
                    0.0
                } else {
                    count as f64 / judged as f64
                };
                result.observed_value = json!(proportion);
                result.success = range.holds(proportion);
            }
            Aggregate::DistinctSet { rule, set } => {
                let mut summary = DistinctSetSummary::new(*rule, set);
                for (text, count, value, first_row) in
                    value_counts(class, answer(Target::ValueCounts(index)))
                {
                    summary.add(text, count, value, |value| Example {
                        row: first_row,
                        value: value.clone(),
                        file_index: 0,
                        line: 0,
                    });
                }
                summary.finish(&mut result);
            }
            Aggregate::MostCommon { set, ties_okay } => {
                let mut modes = ModesSummary::new(set, *ties_okay);
                for (_, count, value, _) in value_counts(class, answer(Target::ValueCounts(index)))
                {
                    modes.add(count, || value);
                }
                modes.finish(&mut result);
            }
        }
        result
    }
}

fn blank(config: &ExpectationConfig) -> ExpectationResult {
    ExpectationResult {
        error: None,
        ..ExpectationResult::failed(config, String::new())
    }
}

/// The fraction whose `percentile_disc` is numpy's `nearest` quantile: the engine takes index
/// `round_half_even(q·(n−1))`; `percentile_disc(f)` takes the row `ceil(f·n)` (1-based), so
/// `f = (index + ½) / n` lands in the middle of that row's interval, safe from rounding.
pub fn nearest_fraction(q: f64, judged: u64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (judged.saturating_sub(1)) as f64;
    let index = position.round_ties_even();
    (index + 0.5) / judged as f64
}

fn quantile_rule(kwargs: &Kwargs<'_>) -> Result<Aggregate> {
    let Some(Value::Object(ranges)) = kwargs.get("quantile_ranges") else {
        return Err(kwargs.error("`quantile_ranges` must be {quantiles, value_ranges}".into()));
    };
    let quantiles: Vec<f64> = ranges
        .get("quantiles")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let value_ranges: Vec<(Option<f64>, Option<f64>)> = ranges
        .get("value_ranges")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|pair| {
                    let pair = pair.as_array();
                    let bound = |i: usize| pair.and_then(|p| p.get(i)).and_then(Value::as_f64);
                    (bound(0), bound(1))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Aggregate::Quantiles {
        quantiles,
        ranges: value_ranges,
    })
}

/// A `value_set` as the engine reads it: texts (numbers and booleans spelled as cells spell them)
/// and numbers.
fn value_set(values: &[Value]) -> (Vec<String>, Vec<f64>) {
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    for value in values {
        match value {
            Value::String(text) => texts.push(text.clone()),
            Value::Number(number) => {
                if let Some(n) = number.as_f64() {
                    numbers.push(n);
                }
                texts.push(number.to_string());
            }
            Value::Bool(flag) => {
                texts.push(if *flag { "True" } else { "False" }.to_string());
                texts.push(flag.to_string());
            }
            other => texts.push(other.to_string()),
        }
    }
    (texts, numbers)
}

/// A cell's JSON value from its text (as the queries render it) and its column's class.
pub fn typed_value(class: TypeClass, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match class {
        TypeClass::Int => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        TypeClass::Float | TypeClass::Numeric => match text.parse::<f64>() {
            Ok(value) if value.is_nan() => Value::Null,
            Ok(value) => serde_json::Number::from_f64(value)
                .map_or_else(|| Value::String(text.to_string()), Value::Number),
            Err(_) => Value::String(text.to_string()),
        },
        TypeClass::Bool => Value::Bool(matches!(text, "True" | "true" | "t")),
        TypeClass::Text => Value::String(text.to_string()),
    }
}

/// Rows of a value-counts query: (text, rows holding it, typed value, first row number).
fn value_counts(class: TypeClass, rows: &[Vec<Option<String>>]) -> Vec<(String, u64, Value, u64)> {
    let mut counts: Vec<(String, u64, Value, u64)> = rows
        .iter()
        .filter_map(|cells| {
            let text = cells.first().cloned().flatten()?;
            let count = cells.get(1).cloned().flatten()?.parse().ok()?;
            let first_row = cells
                .get(2)
                .cloned()
                .flatten()
                .and_then(|row| row.parse().ok())
                .unwrap_or(0);
            let value = typed_value(class, Some(&text));
            Some((text, count, value, first_row))
        })
        .collect();
    // In text order, as the streaming engine reads its merged counts.
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    counts
}

/// The dtype `pandas.read_sql` gives the column (integers with nulls become float64, booleans with
/// nulls object, as pandas does; an empty result is object).
pub fn pandas_dtype(column: &DbColumn, rows: u64, nulls: u64) -> &'static str {
    if rows == 0 {
        return "object";
    }
    let values = rows - nulls;
    match column.class {
        TypeClass::Int if nulls == 0 => "int64",
        TypeClass::Int | TypeClass::Float | TypeClass::Numeric => "float64",
        TypeClass::Bool if nulls == 0 => "bool",
        TypeClass::Bool if values == 0 => "float64",
        TypeClass::Bool => "object",
        TypeClass::Text if values == 0 => "float64",
        TypeClass::Text => match column.type_name.to_ascii_uppercase().as_str() {
            "TIMESTAMP" => "datetime64[ns]",
            "TIMESTAMPTZ" => "datetime64[ns, UTC]",
            _ => "object",
        },
    }
}

/// The SQL that checks a regex compiles on the server (`SELECT '' ~ pattern`).
pub fn regex_probe(pattern: &str) -> Result<Query> {
    Ok(Query {
        sql: format!("SELECT ('' ~ {})::text", literal(pattern)?),
    })
}

/// What the streaming engine reads for the expectations it decides: the needed columns rendered as
/// text, in row order.
pub fn stream_query(compiled: &Compiled, needed: &[usize]) -> Query {
    // Aliased: an output named like a column would take over ORDER BY (and sort as text).
    let items: Vec<String> = needed
        .iter()
        .enumerate()
        .map(|(i, &c)| format!("{} AS \"__cairn_c{i}\"", compiled.columns[c].text()))
        .collect();
    let order = match &compiled.order_by {
        Some(column) => format!(" ORDER BY {}", quote_ident(column)),
        None => String::new(),
    };
    Query {
        sql: format!(
            "SELECT {} FROM {}{order}",
            if items.is_empty() {
                "1".to_string()
            } else {
                items.join(", ")
            },
            compiled.relation.from_item()
        ),
    }
}

impl Compiled {
    pub fn columns(&self) -> &[DbColumn] {
        &self.columns
    }
}

#[cfg(test)]
mod tests;
