//! Column-map expectations: every non-null cell is judged on its own (or against its neighbour, or
//! against the whole column for z-scores and outliers).

use std::collections::HashSet;

use regex::Regex;
use serde_json::{json, Value};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::table::within;
use super::{
    cell_value, Check, Compiled, Examples, ExpectationResult, Kwargs, TableFacts, Tolerance,
};
use crate::error::Result;
use crate::hashing::{IdMap, TextSet};
use crate::table::{CellKind, Chunk, Column, Needs};
use crate::time::{parse_flexible, TimeFormat};

pub(crate) fn compile(
    name: &str,
    kwargs: &Kwargs<'_>,
    needs: &mut [Needs],
) -> Result<Option<Compiled>> {
    let tolerance = Tolerance::read(kwargs)?;
    macro_rules! column {
        () => {
            match kwargs.column_index("column")? {
                Ok(index) => index,
                Err(message) => return Ok(Some(Compiled::Failed(message))),
            }
        };
    }
    let check: Box<dyn Check> = match name {
        "expect_column_values_to_not_be_null" | "expect_column_values_to_be_null" => {
            kwargs.only(&["column"])?;
            let column = column!();
            Box::new(NullCheck {
                column,
                want_null: name.ends_with("to_be_null"),
                tolerance,
                rows: 0,
                unexpected: 0,
                examples: Examples::default(),
            })
        }
        "expect_column_values_to_be_between" => {
            kwargs.only(&[
                "column",
                "min_value",
                "max_value",
                "strict_min",
                "strict_max",
                "parse_strings_as_datetimes",
                "output_strftime_format",
            ])?;
            let column = column!();
            let test = between_test(kwargs)?;
            if matches!(test, RowTest::Between { .. }) {
                needs[column].numbers = true;
            }
            row_check(column, test, tolerance)
        }
        "expect_column_values_to_be_in_set" | "expect_column_values_to_not_be_in_set" => {
            kwargs.only(&["column", "value_set", "parse_strings_as_datetimes"])?;
            let column = column!();
            let set = ValueSet::new(kwargs.list("value_set")?);
            needs[column].numbers = true;
            row_check(
                column,
                RowTest::InSet {
                    set,
                    negate: name.contains("not_be"),
                },
                tolerance,
            )
        }
        "expect_column_values_to_match_regex" | "expect_column_values_to_not_match_regex" => {
            kwargs.only(&["column", "regex"])?;
            let column = column!();
            let regex = compile_regex(kwargs, kwargs.string("regex")?)?;
            let negate = name.contains("not_match");
            row_check(
                column,
                RowTest::Regex {
                    regexes: vec![regex],
                    all: false,
                    negate,
                },
                tolerance,
            )
        }
        "expect_column_values_to_match_regex_list"
        | "expect_column_values_to_not_match_regex_list" => {
            kwargs.only(&["column", "regex_list", "match_on"])?;
            let column = column!();
            let regexes = kwargs
                .strings("regex_list")?
                .iter()
                .map(|pattern| compile_regex(kwargs, pattern))
                .collect::<Result<Vec<_>>>()?;
            let all = match kwargs.string_opt("match_on")? {
                None | Some("any") => false,
                Some("all") => true,
                Some(other) => {
                    return Err(kwargs.error(format!(
                        "`match_on` must be \"any\" or \"all\", not {other:?}"
                    )))
                }
            };
            let negate = name.contains("not_match");
            row_check(
                column,
                RowTest::Regex {
                    regexes,
                    all: all && !negate,
                    negate,
                },
                tolerance,
            )
        }
        "expect_column_value_lengths_to_be_between" => {
            kwargs.only(&[
                "column",
                "min_value",
                "max_value",
                "strict_min",
                "strict_max",
            ])?;
            let column = column!();
            let min = kwargs.f64_opt("min_value")?;
            let max = kwargs.f64_opt("max_value")?;
            if min.is_none() && max.is_none() {
                return Err(kwargs.error("give `min_value`, `max_value` or both".into()));
            }
            let strict_min = kwargs.bool_or("strict_min", false)?;
            let strict_max = kwargs.bool_or("strict_max", false)?;
            row_check(
                column,
                RowTest::Length {
                    min,
                    max,
                    strict_min,
                    strict_max,
                },
                tolerance,
            )
        }
        "expect_column_value_lengths_to_equal" => {
            kwargs.only(&["column", "value"])?;
            let column = column!();
            let value = kwargs.f64("value")?;
            row_check(
                column,
                RowTest::Length {
                    min: Some(value),
                    max: Some(value),
                    strict_min: false,
                    strict_max: false,
                },
                tolerance,
            )
        }
        "expect_column_values_to_be_dateutil_parseable" => {
            kwargs.only(&["column"])?;
            row_check(column!(), RowTest::DateParseable, tolerance)
        }
        "expect_column_values_to_match_strftime_format" => {
            kwargs.only(&["column", "strftime_format"])?;
            let column = column!();
            let text = kwargs.string("strftime_format")?;
            let format = TimeFormat::new(text)
                .ok_or_else(|| kwargs.error(format!("cannot read the strftime format {text:?}")))?;
            row_check(column, RowTest::Strftime(format), tolerance)
        }
        "expect_column_values_to_be_json_parseable" => {
            kwargs.only(&["column"])?;
            row_check(column!(), RowTest::Json, tolerance)
        }
        "expect_column_values_to_be_unique" => {
            kwargs.only(&["column"])?;
            let column = column!();
            Box::new(UniqueCheck::new(
                vec![column],
                tolerance,
                Ignore::AllMissing,
            ))
        }
        "expect_compound_columns_to_be_unique"
        | "expect_select_column_values_to_be_unique_within_record" => {
            kwargs.only(&["column_list", "ignore_row_if"])?;
            let mut columns = Vec::new();
            for name in kwargs.strings("column_list")? {
                match kwargs.columns().iter().position(|c| *c == name) {
                    Some(index) => columns.push(index),
                    None => {
                        return Ok(Some(Compiled::Failed(format!(
                            "column {name:?} is not in the data"
                        ))))
                    }
                }
            }
            let ignore = Ignore::read(kwargs, Ignore::AllMissing)?;
            if name == "expect_compound_columns_to_be_unique" {
                Box::new(UniqueCheck::new(columns, tolerance, ignore))
            } else {
                Box::new(WithinRecordCheck {
                    columns,
                    ignore,
                    tolerance,
                    counts: Counts::default(),
                    examples: Examples::default(),
                })
            }
        }
        "expect_column_values_to_be_increasing" | "expect_column_values_to_be_decreasing" => {
            kwargs.only(&["column", "strictly", "parse_strings_as_datetimes"])?;
            let column = column!();
            needs[column].numbers = true;
            Box::new(MonotonicCheck {
                column,
                increasing: name.ends_with("increasing"),
                strictly: kwargs.bool_or("strictly", false)?,
                tolerance,
                previous: None,
                counts: Counts::default(),
                examples: Examples::default(),
            })
        }
        "expect_column_pair_values_to_be_equal"
        | "expect_column_pair_values_a_to_be_greater_than_b" => {
            kwargs.only(&[
                "column_A",
                "column_B",
                "or_equal",
                "ignore_row_if",
                "parse_strings_as_datetimes",
                "allow_cross_type_comparisons",
            ])?;
            let a = match kwargs.column_index("column_A")? {
                Ok(index) => index,
                Err(message) => return Ok(Some(Compiled::Failed(message))),
            };
            let b = match kwargs.column_index("column_B")? {
                Ok(index) => index,
                Err(message) => return Ok(Some(Compiled::Failed(message))),
            };
            needs[a].numbers = true;
            needs[b].numbers = true;
            let comparison = if name.ends_with("equal") {
                Pair::Equal
            } else {
                Pair::Greater {
                    or_equal: kwargs.bool_or("or_equal", false)?,
                }
            };
            Box::new(PairCheck {
                a,
                b,
                comparison,
                ignore: Ignore::read(kwargs, Ignore::BothMissing)?,
                tolerance,
                counts: Counts::default(),
                examples: Examples::default(),
            })
        }
        "expect_column_value_z_scores_to_be_less_than" => {
            kwargs.only(&["column", "threshold", "double_sided"])?;
            let column = column!();
            needs[column].numbers = true;
            let threshold = kwargs.f64("threshold")?;
            let double_sided = kwargs.bool_or("double_sided", true)?;
            Box::new(WholeColumnCheck::new(
                column,
                WholeColumnRule::ZScore {
                    threshold,
                    double_sided,
                },
                tolerance,
            ))
        }
        "expect_column_values_to_not_be_outliers" => {
            kwargs.only(&["column", "method", "multiplier", "threshold"])?;
            let column = column!();
            needs[column].numbers = true;
            let method = kwargs.string_opt("method")?.unwrap_or("iqr");
            let rule = match method {
                "iqr" => WholeColumnRule::Iqr {
                    multiplier: kwargs.f64_opt("multiplier")?.unwrap_or(1.5),
                },
                "zscore" | "z-score" => WholeColumnRule::ZScore {
                    threshold: kwargs.f64_opt("threshold")?.unwrap_or(3.0),
                    double_sided: true,
                },
                "mad" => WholeColumnRule::Mad {
                    threshold: kwargs.f64_opt("threshold")?.unwrap_or(3.5),
                },
                other => {
                    return Err(kwargs.error(format!(
                        "`method` must be iqr, zscore or mad, not {other:?}"
                    )))
                }
            };
            Box::new(WholeColumnCheck::new(column, rule, tolerance))
        }
        _ => return Ok(None),
    };
    Ok(Some(Compiled::Check(check)))
}

fn compile_regex(kwargs: &Kwargs<'_>, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|error| kwargs.error(format!("bad regex {pattern:?}: {error}")))
}

fn row_check(column: usize, test: RowTest, tolerance: Tolerance) -> Box<dyn Check> {
    Box::new(RowCheck {
        column,
        test,
        tolerance,
        counts: Counts::default(),
        examples: Examples::default(),
    })
}

/// Rows seen, nulls among them, failing cells.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    rows: u64,
    missing: u64,
    unexpected: u64,
}

impl Counts {
    fn report(&self, tolerance: &Tolerance, examples: Examples, result: &mut ExpectationResult) {
        result.element_count = Some(self.rows);
        result.missing_count = Some(self.missing);
        result.unexpected_count = Some(self.unexpected);
        result.success = tolerance.success(self.rows - self.missing, self.unexpected);
        result.examples = examples.list;
    }
}

/// `between` over numbers, or over dates when the bounds are date strings.
fn between_test(kwargs: &Kwargs<'_>) -> Result<RowTest> {
    let strict_min = kwargs.bool_or("strict_min", false)?;
    let strict_max = kwargs.bool_or("strict_max", false)?;
    let min = kwargs.get("min_value");
    let max = kwargs.get("max_value");
    if min.is_none() && max.is_none() {
        return Err(kwargs.error("give `min_value`, `max_value` or both".into()));
    }
    let is_date = |value: Option<&Value>| matches!(value, Some(Value::String(_)));
    if is_date(min) || is_date(max) {
        let bound = |key: &str| -> Result<Option<i64>> {
            match kwargs.get(key) {
                None => Ok(None),
                Some(Value::String(text)) => parse_flexible(text)
                    .map(|stamp| Some(stamp.and_utc().timestamp_micros()))
                    .ok_or_else(|| {
                        kwargs.error(format!("`{key}` {text:?} is neither a number nor a date"))
                    }),
                Some(other) => Err(kwargs.error(format!(
                    "`{key}` must be a date string like its partner, not {other}"
                ))),
            }
        };
        return Ok(RowTest::BetweenDates {
            min: bound("min_value")?,
            max: bound("max_value")?,
            strict_min,
            strict_max,
        });
    }
    Ok(RowTest::Between {
        min: kwargs.f64_opt("min_value")?,
        max: kwargs.f64_opt("max_value")?,
        strict_min,
        strict_max,
    })
}

/// A `value_set`: members compare as numbers with numeric cells, as text otherwise.
#[derive(Debug)]
struct ValueSet {
    texts: TextSet,
    numbers: Vec<f64>,
}

impl ValueSet {
    fn new(values: &[Value]) -> ValueSet {
        let mut texts = TextSet::default();
        let mut numbers = Vec::new();
        for value in values {
            match value {
                Value::String(text) => {
                    texts.insert(text.clone());
                }
                Value::Number(number) => {
                    if let Some(n) = number.as_f64() {
                        numbers.push(n);
                    }
                    texts.insert(number.to_string());
                }
                Value::Bool(flag) => {
                    texts.insert(if *flag { "True" } else { "False" }.to_string());
                    texts.insert(flag.to_string());
                }
                other => {
                    texts.insert(other.to_string());
                }
            }
        }
        ValueSet { texts, numbers }
    }

    fn contains(&self, column: &Column, row: usize) -> bool {
        match column.kind(row) {
            CellKind::Int | CellKind::Float if !self.numbers.is_empty() => {
                let value = column.numbers()[row];
                self.numbers.contains(&value) || self.texts.contains(column.text(row))
            }
            _ => self.texts.contains(column.text(row)),
        }
    }
}

enum RowTest {
    Between {
        min: Option<f64>,
        max: Option<f64>,
        strict_min: bool,
        strict_max: bool,
    },
    /// Bounds in microseconds since the epoch.
    BetweenDates {
        min: Option<i64>,
        max: Option<i64>,
        strict_min: bool,
        strict_max: bool,
    },
    InSet {
        set: ValueSet,
        negate: bool,
    },
    /// `all`: every regex must match (else any); `negate`: a match is unexpected.
    Regex {
        regexes: Vec<Regex>,
        all: bool,
        negate: bool,
    },
    Length {
        min: Option<f64>,
        max: Option<f64>,
        strict_min: bool,
        strict_max: bool,
    },
    DateParseable,
    Strftime(TimeFormat),
    Json,
}

impl RowTest {
    /// Whether the non-null cell passes.
    fn passes(&self, column: &Column, row: usize) -> bool {
        match self {
            RowTest::Between {
                min,
                max,
                strict_min,
                strict_max,
            } => {
                matches!(column.kind(row), CellKind::Int | CellKind::Float)
                    && within(column.numbers()[row], *min, *max, *strict_min, *strict_max)
            }
            RowTest::BetweenDates {
                min,
                max,
                strict_min,
                strict_max,
            } => match parse_flexible(column.text(row)) {
                Some(stamp) => {
                    let micros = stamp.and_utc().timestamp_micros() as f64;
                    within(
                        micros,
                        min.map(|m| m as f64),
                        max.map(|m| m as f64),
                        *strict_min,
                        *strict_max,
                    )
                }
                None => false,
            },
            RowTest::InSet { set, negate } => set.contains(column, row) != *negate,
            RowTest::Regex {
                regexes,
                all,
                negate,
            } => {
                let text = column.text(row);
                let matched = if *all {
                    regexes.iter().all(|r| r.is_match(text))
                } else {
                    regexes.iter().any(|r| r.is_match(text))
                };
                matched != *negate
            }
            RowTest::Length {
                min,
                max,
                strict_min,
                strict_max,
            } => {
                let length = column.text(row).chars().count() as f64;
                within(length, *min, *max, *strict_min, *strict_max)
            }
            RowTest::DateParseable => parse_flexible(column.text(row)).is_some(),
            RowTest::Strftime(format) => format.matches(column.text(row)),
            RowTest::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(column.text(row)).is_ok()
            }
        }
    }
}

struct RowCheck {
    column: usize,
    test: RowTest,
    tolerance: Tolerance,
    counts: Counts,
    examples: Examples,
}

impl Check for RowCheck {
    fn update(&mut self, chunk: &Chunk) {
        let column = chunk.column(self.column);
        self.counts.rows += chunk.n_rows as u64;
        // The common numeric case runs over the parsed numbers without a per-cell dispatch.
        if let RowTest::Between {
            min,
            max,
            strict_min,
            strict_max,
        } = self.test
        {
            let kinds = column.kinds();
            for (row, value) in column.numbers().iter().enumerate() {
                let kind = kinds[row];
                if kind == CellKind::Null {
                    self.counts.missing += 1;
                } else if !(matches!(kind, CellKind::Int | CellKind::Float)
                    && within(*value, min, max, strict_min, strict_max))
                {
                    self.counts.unexpected += 1;
                    self.examples.push(chunk, self.column, row);
                }
            }
            return;
        }
        for row in 0..chunk.n_rows {
            if column.is_null(row) {
                self.counts.missing += 1;
            } else if !self.test.passes(column, row) {
                self.counts.unexpected += 1;
                self.examples.push(chunk, self.column, row);
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        self.counts.report(&self.tolerance, self.examples, result);
        result.observed_value = Value::Null;
    }
}

/// `not_be_null` (nulls are unexpected) and `be_null` (values are), over every row.
struct NullCheck {
    column: usize,
    want_null: bool,
    tolerance: Tolerance,
    rows: u64,
    unexpected: u64,
    examples: Examples,
}

impl Check for NullCheck {
    fn update(&mut self, chunk: &Chunk) {
        let column = chunk.column(self.column);
        self.rows += chunk.n_rows as u64;
        for (row, kind) in column.kinds().iter().enumerate() {
            if (*kind == CellKind::Null) != self.want_null {
                self.unexpected += 1;
                self.examples.push(chunk, self.column, row);
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        result.element_count = Some(self.rows);
        result.unexpected_count = Some(self.unexpected);
        result.success = self.tolerance.success(self.rows, self.unexpected);
        result.examples = self.examples.list;
    }
}

/// Which rows a multi-column expectation skips (GE's `ignore_row_if`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ignore {
    AllMissing,
    AnyMissing,
    BothMissing,
    EitherMissing,
    Never,
}

impl Ignore {
    fn read(kwargs: &Kwargs<'_>, default: Ignore) -> Result<Ignore> {
        Ok(match kwargs.string_opt("ignore_row_if")? {
            None => default,
            Some("all_values_are_missing") => Ignore::AllMissing,
            Some("any_value_is_missing") => Ignore::AnyMissing,
            Some("both_values_are_missing") => Ignore::BothMissing,
            Some("either_value_is_missing") => Ignore::EitherMissing,
            Some("never") => Ignore::Never,
            Some(other) => return Err(kwargs.error(format!("unknown `ignore_row_if` {other:?}"))),
        })
    }

    fn skips(self, nulls: usize, columns: usize) -> bool {
        match self {
            Ignore::AllMissing | Ignore::BothMissing => nulls == columns,
            Ignore::AnyMissing | Ignore::EitherMissing => nulls > 0,
            Ignore::Never => false,
        }
    }
}

/// Unique values (one column) or unique combinations (several): every row of a repeated value is
/// unexpected, as pandas' `duplicated(keep=False)`. Values are kept as 64-bit xxh3 hashes with the row
/// where each first appeared (16 bytes per distinct value).
struct UniqueCheck {
    columns: Vec<usize>,
    tolerance: Tolerance,
    ignore: Ignore,
    /// hash → first row.
    seen: IdMap<u64>,
    /// hash → rows holding it, for repeated values only.
    repeated: IdMap<u64>,
    rows: u64,
    missing: u64,
    /// The first rows of repeated values, sorted; at most EXAMPLES.
    examples: Vec<super::Example>,
    /// (first row, file index) of each chunk, to place first occurrences.
    chunk_files: Vec<(u64, usize)>,
}

impl UniqueCheck {
    fn new(columns: Vec<usize>, tolerance: Tolerance, ignore: Ignore) -> UniqueCheck {
        UniqueCheck {
            columns,
            tolerance,
            ignore,
            seen: IdMap::default(),
            repeated: IdMap::default(),
            rows: 0,
            missing: 0,
            examples: Vec::new(),
            chunk_files: Vec::new(),
        }
    }

    fn value(&self, chunk: &Chunk, row: usize) -> Value {
        if self.columns.len() == 1 {
            return cell_value(chunk.column(self.columns[0]), row);
        }
        Value::Array(
            self.columns
                .iter()
                .map(|&c| cell_value(chunk.column(c), row))
                .collect(),
        )
    }

    fn wants(&self, row: u64) -> bool {
        self.examples.len() < super::EXAMPLES
            || self.examples.last().is_some_and(|last| last.row > row)
    }

    fn keep_example(&mut self, example: super::Example) {
        if !self.wants(example.row) {
            return;
        }
        let at = self.examples.partition_point(|e| e.row < example.row);
        self.examples.insert(at, example);
        self.examples.truncate(super::EXAMPLES);
    }

    fn file_of(&self, row: u64) -> usize {
        let at = self.chunk_files.partition_point(|(first, _)| *first <= row);
        self.chunk_files
            .get(at.saturating_sub(1))
            .map_or(0, |(_, file)| *file)
    }
}

impl Check for UniqueCheck {
    fn update(&mut self, chunk: &Chunk) {
        self.rows += chunk.n_rows as u64;
        if self.seen.is_empty() && chunk.rows_hint > 0 {
            // One allocation of the right size (capped at 2^27 values, 2 GiB) rather than doublings.
            self.seen
                .reserve((chunk.rows_hint + chunk.rows_hint / 16).min(1 << 27) as usize);
        }
        if self
            .chunk_files
            .last()
            .is_none_or(|(_, file)| *file != chunk.file_index)
        {
            self.chunk_files.push((chunk.first_row, chunk.file_index));
        }
        for row in 0..chunk.n_rows {
            let nulls = self
                .columns
                .iter()
                .filter(|&&c| chunk.column(c).is_null(row))
                .count();
            if self.ignore.skips(nulls, self.columns.len()) {
                self.missing += 1;
                continue;
            }
            let hash = if self.columns.len() == 1 {
                xxh3_64(chunk.column(self.columns[0]).text(row).as_bytes())
            } else {
                let mut hasher = Xxh3::new();
                for &c in &self.columns {
                    let text = chunk.column(c).text(row);
                    hasher.update(&(text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
                hasher.digest()
            };
            let absolute = chunk.first_row + row as u64;
            let first_row = *self.seen.entry(hash).or_insert(absolute);
            if first_row == absolute {
                continue;
            }
            let count = self.repeated.entry(hash).or_insert(1);
            *count += 1;
            if *count == 2 && self.wants(first_row) {
                // The first occurrence holds the same value (same hash).
                let example = super::Example {
                    row: first_row,
                    value: self.value(chunk, row),
                    file_index: self.file_of(first_row),
                    line: 0,
                };
                self.keep_example(example);
            }
            if self.wants(absolute) {
                let example = super::Example {
                    row: absolute,
                    value: self.value(chunk, row),
                    file_index: chunk.file_index,
                    line: chunk.line(row),
                };
                self.keep_example(example);
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        let unexpected: u64 = self.repeated.values().sum();
        result.element_count = Some(self.rows);
        result.missing_count = Some(self.missing);
        result.unexpected_count = Some(unexpected);
        result.success = self.tolerance.success(self.rows - self.missing, unexpected);
        result.examples = self.examples;
    }
}

/// The values of the listed columns differ from each other within every row.
struct WithinRecordCheck {
    columns: Vec<usize>,
    ignore: Ignore,
    tolerance: Tolerance,
    counts: Counts,
    examples: Examples,
}

impl Check for WithinRecordCheck {
    fn update(&mut self, chunk: &Chunk) {
        self.counts.rows += chunk.n_rows as u64;
        for row in 0..chunk.n_rows {
            let nulls = self
                .columns
                .iter()
                .filter(|&&c| chunk.column(c).is_null(row))
                .count();
            if self.ignore.skips(nulls, self.columns.len()) {
                self.counts.missing += 1;
                continue;
            }
            let texts: Vec<&str> = self
                .columns
                .iter()
                .map(|&c| chunk.column(c).text(row))
                .collect();
            let distinct: HashSet<&&str> = texts.iter().collect();
            if distinct.len() != texts.len() {
                self.counts.unexpected += 1;
                let value = Value::Array(
                    self.columns
                        .iter()
                        .map(|&c| cell_value(chunk.column(c), row))
                        .collect(),
                );
                self.examples.push_value(chunk, row, value);
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        self.counts.report(&self.tolerance, self.examples, result);
    }
}

/// A value to order by: numbers as numbers, other text as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum OrderKey {
    Number(f64),
    Text(String),
}

fn order_key(column: &Column, row: usize) -> OrderKey {
    match column.kind(row) {
        CellKind::Int | CellKind::Float | CellKind::Bool => OrderKey::Number(column.numbers()[row]),
        _ => OrderKey::Text(column.text(row).to_string()),
    }
}

/// Each non-null value is ≥ (or >, `strictly`) the previous non-null value (≤ / < for decreasing).
struct MonotonicCheck {
    column: usize,
    increasing: bool,
    strictly: bool,
    tolerance: Tolerance,
    previous: Option<OrderKey>,
    counts: Counts,
    examples: Examples,
}

impl Check for MonotonicCheck {
    fn update(&mut self, chunk: &Chunk) {
        let column = chunk.column(self.column);
        self.counts.rows += chunk.n_rows as u64;
        for row in 0..chunk.n_rows {
            if column.is_null(row) {
                self.counts.missing += 1;
                continue;
            }
            let key = order_key(column, row);
            if let Some(previous) = &self.previous {
                let ordering = key.partial_cmp(previous);
                let ok = match (ordering, self.increasing, self.strictly) {
                    (None, _, _) => false,
                    (Some(order), true, false) => order.is_ge(),
                    (Some(order), true, true) => order.is_gt(),
                    (Some(order), false, false) => order.is_le(),
                    (Some(order), false, true) => order.is_lt(),
                };
                if !ok {
                    self.counts.unexpected += 1;
                    self.examples.push(chunk, self.column, row);
                }
            }
            self.previous = Some(key);
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        self.counts.report(&self.tolerance, self.examples, result);
    }
}

enum Pair {
    Equal,
    Greater { or_equal: bool },
}

/// Compares column A with column B row by row.
struct PairCheck {
    a: usize,
    b: usize,
    comparison: Pair,
    ignore: Ignore,
    tolerance: Tolerance,
    counts: Counts,
    examples: Examples,
}

impl Check for PairCheck {
    fn update(&mut self, chunk: &Chunk) {
        let (a, b) = (chunk.column(self.a), chunk.column(self.b));
        self.counts.rows += chunk.n_rows as u64;
        for row in 0..chunk.n_rows {
            let nulls = usize::from(a.is_null(row)) + usize::from(b.is_null(row));
            if self.ignore.skips(nulls, 2) {
                self.counts.missing += 1;
                continue;
            }
            let ok = if nulls > 0 {
                false
            } else {
                let ordering = order_key(a, row).partial_cmp(&order_key(b, row));
                match self.comparison {
                    Pair::Equal => ordering.is_some_and(|o| o.is_eq()),
                    Pair::Greater { or_equal: true } => ordering.is_some_and(|o| o.is_ge()),
                    Pair::Greater { or_equal: false } => ordering.is_some_and(|o| o.is_gt()),
                }
            };
            if !ok {
                self.counts.unexpected += 1;
                self.examples.push_value(
                    chunk,
                    row,
                    json!([cell_value(a, row), cell_value(b, row)]),
                );
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        self.counts.report(&self.tolerance, self.examples, result);
    }
}

enum WholeColumnRule {
    /// |z| < threshold (or z < threshold one-sided), z with the sample standard deviation.
    ZScore { threshold: f64, double_sided: bool },
    /// Outside [Q1 − k·IQR, Q3 + k·IQR] (quartiles by linear interpolation).
    Iqr { multiplier: f64 },
    /// Modified z-score 0.6745·|x − median| / MAD above the threshold (Iglewicz and Hoaglin).
    Mad { threshold: f64 },
}

/// Rules that need the whole column first (z-scores, outliers): values are kept (8 bytes a row).
struct WholeColumnCheck {
    column: usize,
    rule: WholeColumnRule,
    tolerance: Tolerance,
    values: Vec<f64>,
    /// Non-numeric cells are unexpected at once.
    counts: Counts,
    examples: Examples,
    /// Rows of non-numeric cells (kept in examples) and where each chunk came from.
    chunks: Vec<(u64, usize)>,
}

impl WholeColumnCheck {
    fn new(column: usize, rule: WholeColumnRule, tolerance: Tolerance) -> WholeColumnCheck {
        WholeColumnCheck {
            column,
            rule,
            tolerance,
            values: Vec::new(),
            counts: Counts::default(),
            examples: Examples::default(),
            chunks: Vec::new(),
        }
    }
}

impl Check for WholeColumnCheck {
    fn update(&mut self, chunk: &Chunk) {
        let column = chunk.column(self.column);
        self.counts.rows += chunk.n_rows as u64;
        self.chunks.push((chunk.first_row, chunk.file_index));
        for (row, kind) in column.kinds().iter().enumerate() {
            match kind {
                CellKind::Null => {
                    self.counts.missing += 1;
                    self.values.push(f64::NAN);
                }
                CellKind::Int | CellKind::Float => self.values.push(column.numbers()[row]),
                _ => {
                    self.counts.unexpected += 1;
                    self.examples.push(chunk, self.column, row);
                    self.values.push(f64::NAN);
                }
            }
        }
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) {
        let WholeColumnCheck {
            rule,
            tolerance,
            values,
            mut counts,
            mut examples,
            chunks,
            ..
        } = *self;
        let numbers: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        let flag: Box<dyn Fn(f64) -> bool> = match rule {
            WholeColumnRule::ZScore {
                threshold,
                double_sided,
            } => {
                let (mean, std) = crate::stats::mean_std(&numbers);
                result.details.insert("mean".into(), json!(mean));
                result.details.insert("std".into(), json!(std));
                Box::new(move |x| {
                    let z = (x - mean) / std;
                    if double_sided {
                        z.abs() >= threshold
                    } else {
                        z >= threshold
                    }
                })
            }
            WholeColumnRule::Iqr { multiplier } => {
                let mut sorted = numbers.clone();
                sorted.sort_by(f64::total_cmp);
                let q1 = crate::stats::quantile_linear(&sorted, 0.25);
                let q3 = crate::stats::quantile_linear(&sorted, 0.75);
                let iqr = q3 - q1;
                let (low, high) = (q1 - multiplier * iqr, q3 + multiplier * iqr);
                result.details.insert("bounds".into(), json!([low, high]));
                Box::new(move |x| x < low || x > high)
            }
            WholeColumnRule::Mad { threshold } => {
                let mut sorted = numbers.clone();
                sorted.sort_by(f64::total_cmp);
                let median = crate::stats::quantile_linear(&sorted, 0.5);
                let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
                deviations.sort_by(f64::total_cmp);
                let mad = crate::stats::quantile_linear(&deviations, 0.5);
                result.details.insert("median".into(), json!(median));
                result.details.insert("mad".into(), json!(mad));
                Box::new(move |x| mad > 0.0 && 0.6745 * (x - median).abs() / mad > threshold)
            }
        };
        let mut flagged: Vec<super::Example> = Vec::new();
        for (row, value) in values.iter().enumerate() {
            if value.is_nan() || !flag(*value) {
                continue;
            }
            counts.unexpected += 1;
            if flagged.len() < super::EXAMPLES {
                let absolute = row as u64;
                let file_index = chunks
                    .iter()
                    .rev()
                    .find(|(first, _)| *first <= absolute)
                    .map_or(0, |(_, file)| *file);
                flagged.push(super::Example {
                    row: absolute,
                    value: json!(value),
                    file_index,
                    line: 0,
                });
            }
        }
        // Keep the first examples in row order across both kinds of failure.
        flagged.append(&mut examples.list);
        flagged.sort_by_key(|example| example.row);
        flagged.truncate(super::EXAMPLES);
        examples.list = flagged;
        counts.report(&tolerance, examples, result);
    }
}
