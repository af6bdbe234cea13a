//! Column-map expectations: every non-null cell is judged on its own (or against its neighbour, or
//! against the whole column for z-scores and outliers).

use std::collections::HashSet;
use std::sync::Arc;

use regex::Regex;
use serde_json::{json, Value};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::table::within;
use super::{
    cell_value, Check, Compiled, Examples, ExpectationResult, Kwargs, TableFacts, Tolerance,
};
use crate::error::Result;
use crate::hashing::{IdMap, TextSet};
use crate::spill::{
    f64_key, table_entries, Allowance, ByteLog, Log, LogReader, MemoryPool, Sorter,
};
use crate::stats::{self, Moments};
use crate::table::{CellKind, Chunk, Column, Needs};
use crate::time::{parse_flexible, TimeFormat};

pub(crate) fn compile(
    name: &str,
    kwargs: &Kwargs<'_>,
    needs: &mut [Needs],
    pool: &Arc<MemoryPool>,
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
                pool.allowance(),
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
                Box::new(UniqueCheck::new(
                    columns,
                    tolerance,
                    ignore,
                    pool.allowance(),
                ))
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
                pool.allowance(),
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
            Box::new(WholeColumnCheck::new(
                column,
                rule,
                tolerance,
                pool.allowance(),
            ))
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
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
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
            return Ok(());
        }
        for row in 0..chunk.n_rows {
            if column.is_null(row) {
                self.counts.missing += 1;
            } else if !self.test.passes(column, row) {
                self.counts.unexpected += 1;
                self.examples.push(chunk, self.column, row);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        self.counts.report(&self.tolerance, self.examples, result);
        result.observed_value = Value::Null;
        Ok(())
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
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
        let column = chunk.column(self.column);
        self.rows += chunk.n_rows as u64;
        for (row, kind) in column.kinds().iter().enumerate() {
            if (*kind == CellKind::Null) != self.want_null {
                self.unexpected += 1;
                self.examples.push(chunk, self.column, row);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        result.element_count = Some(self.rows);
        result.unexpected_count = Some(self.unexpected);
        result.success = self.tolerance.success(self.rows, self.unexpected);
        result.examples = self.examples.list;
        Ok(())
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
/// unexpected, as pandas' `duplicated(keep=False)`. Values are kept as 64-bit xxh3 hashes.
///
/// In memory: the row where each value first appeared and, for repeated values, how many rows hold
/// it (16 bytes per distinct value, 16 more per repeated one). Past the check's memory allowance,
/// what memory holds is written as a sorted run of (hash, first row, rows) records and memory starts
/// over; the runs are merged at the end, where a value seen once in each of several runs turns out
/// repeated after all.
///
/// Such rows are shown with their value and place, which the runs do not keep: from the second run
/// on, the first row of each value in a run is logged with its hash, place and cells while it could
/// still be among the first examples (rows come in order, so that stops once [`super::EXAMPLES`]
/// repeated rows before it are known), and always when its value may have been alone in the first
/// run (a Bloom filter of those values answers), whose rows are not logged: such a value is shown
/// from a later row holding it. A validation that never spills logs nothing. As Great Expectations
/// numbers rows, a value's first row has no line (0); the others have theirs.
struct UniqueCheck {
    columns: Vec<usize>,
    tolerance: Tolerance,
    ignore: Ignore,
    allowance: Allowance,
    /// Entries `seen` and `repeated` may hold before a run is written (0: not sized yet).
    seen_limit: usize,
    repeated_limit: usize,
    /// hash → first row, in the current run.
    seen: IdMap<u64>,
    /// hash → rows holding it, for values repeated within the current run.
    repeated: IdMap<u64>,
    /// Rows of values repeated within runs already written.
    unexpected_in_runs: u64,
    runs: Sorter<(u64, u64, u64)>,
    /// The values alone in the first run (written once it is).
    first_run_singles: Option<BloomFilter>,
    /// The first row of each value in each run after the first (see above).
    firsts: Option<ByteLog>,
    rows: u64,
    missing: u64,
    /// (first row, file index) of each chunk that starts a file, to place first occurrences.
    chunk_files: Vec<(u64, usize)>,
    /// The first rows of repeated values, sorted; at most EXAMPLES.
    examples: Vec<Candidate>,
}

/// A repeated row kept as an example; what is not known when it is found (the value of a row seen
/// in an earlier run, the line of a row that may or may not be its value's first) is settled when
/// the runs are merged, from the log.
#[derive(Debug, Clone)]
struct Candidate {
    row: u64,
    /// The row's hash (to find its value in the log when it has none).
    hash: u64,
    value: Option<Value>,
    place: Option<(usize, u64)>,
}

impl UniqueCheck {
    fn new(
        columns: Vec<usize>,
        tolerance: Tolerance,
        ignore: Ignore,
        allowance: Allowance,
    ) -> UniqueCheck {
        UniqueCheck {
            columns,
            tolerance,
            ignore,
            runs: Sorter::new(allowance.clone(), false),
            allowance,
            seen_limit: 0,
            repeated_limit: 0,
            seen: IdMap::default(),
            repeated: IdMap::default(),
            unexpected_in_runs: 0,
            first_run_singles: None,
            firsts: None,
            rows: 0,
            missing: 0,
            chunk_files: Vec::new(),
            examples: Vec::new(),
        }
    }

    /// Splits the allowance: half for `seen` with the sorted copy a run is written from (17 + 24
    /// bytes per entry), a quarter for `repeated`, the rest for the log's buffer and the filter of
    /// the first run's values (about 1.25 bytes per entry of `seen`).
    fn size(&mut self, rows_hint: u64) {
        let bytes = self.allowance.bytes();
        self.seen_limit = table_entries(bytes / 2, 17, 24);
        self.repeated_limit = table_entries(bytes / 4, 17, 0);
        if rows_hint > 0 {
            // One allocation of the right size rather than doublings (never past the limit).
            let expected = usize::try_from(rows_hint + rows_hint / 16).unwrap_or(usize::MAX);
            self.seen.reserve(expected.min(self.seen_limit));
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

    fn hash(&self, chunk: &Chunk, row: usize) -> u64 {
        if self.columns.len() == 1 {
            return xxh3_64(chunk.column(self.columns[0]).text(row).as_bytes());
        }
        let mut hasher = Xxh3::new();
        for &c in &self.columns {
            let text = chunk.column(c).text(row);
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        hasher.digest()
    }

    fn wants(&self, row: u64) -> bool {
        self.examples.len() < super::EXAMPLES
            || self.examples.last().is_some_and(|last| last.row > row)
    }

    fn keep_example(&mut self, candidate: Candidate) {
        if !self.wants(candidate.row) {
            return;
        }
        let at = self.examples.partition_point(|e| e.row < candidate.row);
        self.examples.insert(at, candidate);
        self.examples.truncate(super::EXAMPLES);
    }

    fn file_of(&self, row: u64) -> usize {
        let at = self.chunk_files.partition_point(|(first, _)| *first <= row);
        self.chunk_files
            .get(at.saturating_sub(1))
            .map_or(0, |(_, file)| *file)
    }

    /// Logs a value's first row in a run after the first: row, hash, file and line, then per column
    /// the kind, the parsed number (floats and booleans only; NaN when none) and the text.
    fn log_first(&mut self, chunk: &Chunk, row: usize, hash: u64) -> Result<()> {
        let Some(log) = self.firsts.as_mut() else {
            return Ok(());
        };
        let columns = &self.columns;
        log.push_with(|out| {
            // The record is assembled on the stack and appended in one copy when it fits: byte-by-
            // byte pushes made the compiler reload the buffer's length after every byte, and a copy
            // per part cost a library call each.
            let mut record = [0u8; 160];
            record[..8].copy_from_slice(&(chunk.first_row + row as u64).to_le_bytes());
            record[8..16].copy_from_slice(&hash.to_le_bytes());
            let mut at = put_varint(&mut record, 16, chunk.file_index as u64);
            at = put_varint(&mut record, at, chunk.line(row));
            for &c in columns {
                let column = chunk.column(c);
                let text = column.text(row);
                let kind = column.kind(row);
                if at + 19 + text.len() > record.len() {
                    out.extend_from_slice(&record[..at]);
                    at = 0;
                }
                record[at] = kind as u8;
                at += 1;
                if matches!(kind, CellKind::Float | CellKind::Bool) {
                    let number = super::cell_number(column, row).unwrap_or(f64::NAN);
                    record[at..at + 8].copy_from_slice(&number.to_bits().to_le_bytes());
                    at += 8;
                }
                at = put_varint(&mut record, at, text.len() as u64);
                if at + text.len() <= record.len() {
                    record[at..at + text.len()].copy_from_slice(text.as_bytes());
                    at += text.len();
                } else {
                    out.extend_from_slice(&record[..at]);
                    out.extend_from_slice(text.as_bytes());
                    at = 0;
                }
            }
            out.extend_from_slice(&record[..at]);
        })
    }

    /// Writes the current run: (hash, first row, rows) sorted by hash. After the first run, values'
    /// first rows are logged from here on.
    fn write_run(&mut self) -> Result<()> {
        let mut records: Vec<(u64, u64, u64)> = self
            .seen
            .iter()
            .map(|(&hash, &first)| (hash, first, self.repeated.get(&hash).copied().unwrap_or(1)))
            .collect();
        records.sort_unstable();
        if self.firsts.is_none() {
            let singles = records.iter().filter(|record| record.2 == 1);
            let mut filter = BloomFilter::new(singles.clone().count());
            for record in singles {
                filter.insert(record.0);
            }
            self.first_run_singles = Some(filter);
            let log_bytes = self.allowance.bytes() / 8;
            self.firsts = Some(ByteLog::new(self.allowance.clone(), log_bytes));
        }
        self.unexpected_in_runs += self.repeated.values().sum::<u64>();
        self.runs.write_sorted_run(records)?;
        self.seen.clear();
        self.repeated.clear();
        Ok(())
    }

    /// Merges the runs: a value in several runs is repeated, so its rows that were alone in their
    /// run are unexpected too (rows repeated within a run were counted when it was written). Places
    /// the examples whose line depended on being their value's first row.
    fn merge_runs(&mut self) -> Result<u64> {
        self.write_run()?;
        let mut unexpected = self.unexpected_in_runs;
        let runs = std::mem::replace(&mut self.runs, Sorter::new(self.allowance.clone(), false));
        let mut group: Vec<(u64, u64)> = Vec::new();
        let mut group_hash = 0;
        let mut records = runs.finish()?;
        loop {
            let record = records.next().transpose()?;
            if record.is_none_or(|r| r.0 != group_hash) && !group.is_empty() {
                self.settle_group(group_hash, &group, &mut unexpected);
                group.clear();
            }
            let Some((hash, first, count)) = record else {
                break;
            };
            group_hash = hash;
            group.push((first, count));
        }
        Ok(unexpected)
    }

    /// One value's records, one per run holding it, in row order.
    fn settle_group(&mut self, hash: u64, group: &[(u64, u64)], unexpected: &mut u64) {
        let first_of_value = group[0].0;
        for &(first, count) in group {
            if group.len() > 1 && count == 1 {
                *unexpected += 1;
                self.keep_example(Candidate {
                    row: first,
                    hash,
                    value: None,
                    place: None,
                });
            }
            if first == first_of_value {
                let file = self.file_of(first);
                if let Ok(at) = self.examples.binary_search_by_key(&first, |e| e.row) {
                    self.examples[at].place.get_or_insert((file, 0));
                }
            }
        }
    }

    /// Fills in what the examples lack from the log: places by row, values by hash.
    fn complete_examples(&mut self) -> Result<()> {
        let Some(log) = self.firsts.take() else {
            return Ok(());
        };
        if self
            .examples
            .iter()
            .all(|e| e.value.is_some() && e.place.is_some())
        {
            return Ok(());
        }
        let several = self.columns.len() > 1;
        let examples = &mut self.examples;
        log.for_each(|record| {
            let (Some(row), Some(hash)) = (read_word(record, 0), read_word(record, 8)) else {
                return;
            };
            // Only the rows wanted are decoded.
            let by_row = examples.binary_search_by_key(&row, |e| e.row).ok();
            let by_value = examples.iter().any(|e| e.value.is_none() && e.hash == hash);
            if by_row.is_none() && !by_value {
                return;
            }
            let Some(logged) = read_logged_row(record, several) else {
                return;
            };
            if let Some(at) = by_row {
                examples[at]
                    .place
                    .get_or_insert((logged.file_index, logged.line));
            }
            for example in examples.iter_mut() {
                if example.value.is_none() && example.hash == hash {
                    example.value = Some(logged.value.clone());
                }
            }
        })
    }
}

/// A Bloom filter over 64-bit hashes (about 10 bits per value, 3 probes: 1-2% false positives,
/// which only make the uniqueness check log a row it did not need).
struct BloomFilter {
    words: Vec<u64>,
    mask: u64,
}

impl BloomFilter {
    fn new(values: usize) -> BloomFilter {
        let bits = (values.max(64) * 10).next_power_of_two();
        BloomFilter {
            words: vec![0; bits / 64],
            mask: bits as u64 - 1,
        }
    }

    fn probes(&self, hash: u64) -> [u64; 3] {
        // Three rotations of a well-mixed hash, each masked to the filter's size.
        [
            hash & self.mask,
            hash.rotate_right(21) & self.mask,
            hash.rotate_right(42) & self.mask,
        ]
    }

    fn insert(&mut self, hash: u64) {
        for bit in self.probes(hash) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    fn may_contain(&self, hash: u64) -> bool {
        self.probes(hash)
            .iter()
            .all(|&bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

fn read_word(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A row read back from a [`UniqueCheck`]'s log.
struct LoggedRow {
    file_index: usize,
    line: u64,
    value: Value,
}

fn read_logged_row(record: &[u8], several: bool) -> Option<LoggedRow> {
    let mut at = 16;
    let file_index = usize::try_from(get_varint(record, &mut at)?).ok()?;
    let line = get_varint(record, &mut at)?;
    let mut values = Vec::new();
    while at < record.len() {
        let kind = match record[at] {
            0 => CellKind::Null,
            1 => CellKind::Int,
            2 => CellKind::Float,
            3 => CellKind::Bool,
            _ => CellKind::Text,
        };
        at += 1;
        let mut number = None;
        if matches!(kind, CellKind::Float | CellKind::Bool) {
            // NaN where the reader parsed no number.
            number = Some(f64::from_bits(read_word(record, at)?)).filter(|value| !value.is_nan());
            at += 8;
        }
        let length = usize::try_from(get_varint(record, &mut at)?).ok()?;
        let text = std::str::from_utf8(record.get(at..at + length)?).ok()?;
        at += length;
        values.push(super::value_of(kind, text, number));
    }
    let value = if several {
        Value::Array(values)
    } else {
        values.pop()?
    };
    Some(LoggedRow {
        file_index,
        line,
        value,
    })
}

/// Writes `value` as a LEB128 varint (7 bits a byte, high bit = more) at `at` in `buffer` (which
/// has room for 10 bytes there); returns where it ends.
fn put_varint(buffer: &mut [u8], mut at: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        buffer[at] = (value as u8) | 0x80;
        value >>= 7;
        at += 1;
    }
    buffer[at] = value as u8;
    at + 1
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl Check for UniqueCheck {
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
        self.rows += chunk.n_rows as u64;
        if self.seen_limit == 0 {
            self.size(chunk.rows_hint);
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
            let hash = self.hash(chunk, row);
            if self.seen.len() >= self.seen_limit && !self.seen.contains_key(&hash) {
                self.write_run()?;
            }
            let absolute = chunk.first_row + row as u64;
            let first_row = *self.seen.entry(hash).or_insert(absolute);
            if first_row == absolute {
                self.first_in_run(chunk, row, hash)?;
                continue;
            }
            if self.repeated.len() >= self.repeated_limit && !self.repeated.contains_key(&hash) {
                self.write_run()?;
                // The value starts the new run here (its earlier rows are in written runs).
                self.seen.insert(hash, absolute);
                self.first_in_run(chunk, row, hash)?;
                continue;
            }
            let count = self.repeated.entry(hash).or_insert(1);
            *count += 1;
            if *count == 2 && self.wants(first_row) {
                // The first row in this run holds the same value (same hash). Its place: in the
                // first run it is the value's first row (no line); later, the merge settles it.
                let place = self.firsts.is_none().then(|| (self.file_of(first_row), 0));
                let candidate = Candidate {
                    row: first_row,
                    hash,
                    value: Some(self.value(chunk, row)),
                    place,
                };
                self.keep_example(candidate);
            }
            if self.wants(absolute) {
                let candidate = Candidate {
                    row: absolute,
                    hash,
                    value: Some(self.value(chunk, row)),
                    place: Some((chunk.file_index, chunk.line(row))),
                };
                self.keep_example(candidate);
            }
        }
        Ok(())
    }

    fn finish(
        mut self: Box<Self>,
        _facts: &TableFacts,
        result: &mut ExpectationResult,
    ) -> Result<()> {
        let unexpected = if self.runs.runs() == 0 {
            self.repeated.values().sum()
        } else {
            self.merge_runs()?
        };
        self.complete_examples()?;
        result.element_count = Some(self.rows);
        result.missing_count = Some(self.missing);
        result.unexpected_count = Some(unexpected);
        result.success = self.tolerance.success(self.rows - self.missing, unexpected);
        result.examples = self
            .examples
            .into_iter()
            .map(|candidate| {
                let (file_index, line) = candidate.place.unwrap_or((0, 0));
                super::Example {
                    row: candidate.row,
                    value: candidate.value.unwrap_or(Value::Null),
                    file_index,
                    line,
                }
            })
            .collect();
        Ok(())
    }
}

impl UniqueCheck {
    /// A value's first row in the current run: logged after the first run while it could be an
    /// example, or when its value may have been alone in the first run.
    fn first_in_run(&mut self, chunk: &Chunk, row: usize, hash: u64) -> Result<()> {
        if self.firsts.is_none() {
            return Ok(());
        }
        let absolute = chunk.first_row + row as u64;
        let needed = self.wants(absolute)
            || self
                .first_run_singles
                .as_ref()
                .is_some_and(|filter| filter.may_contain(hash));
        if needed {
            self.log_first(chunk, row, hash)?;
        }
        Ok(())
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
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
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
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        self.counts.report(&self.tolerance, self.examples, result);
        Ok(())
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
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
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
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        self.counts.report(&self.tolerance, self.examples, result);
        Ok(())
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
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
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
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        self.counts.report(&self.tolerance, self.examples, result);
        Ok(())
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

/// Rules that need the whole column first (z-scores, outliers): every row's value is kept in row
/// order (8 bytes a row; NaN for nulls and text) in a [`Log`], which spills to a temporary file past
/// half the check's allowance; the quartiles, median and MAD are then read from an external sort
/// that uses the other half, and the log is read again to flag each row.
struct WholeColumnCheck {
    column: usize,
    rule: WholeColumnRule,
    tolerance: Tolerance,
    allowance: Allowance,
    /// Each row's value as f64 bits, in row order.
    values: Log<u64>,
    /// The numbers' mean and deviation, pushed in row order (as `stats::mean_std` over them).
    moments: Moments,
    /// Non-numeric cells are unexpected at once.
    counts: Counts,
    examples: Examples,
    /// Rows of non-numeric cells (kept in examples) and where each chunk came from.
    chunks: Vec<(u64, usize)>,
}

impl WholeColumnCheck {
    fn new(
        column: usize,
        rule: WholeColumnRule,
        tolerance: Tolerance,
        allowance: Allowance,
    ) -> WholeColumnCheck {
        WholeColumnCheck {
            column,
            rule,
            tolerance,
            values: Log::new(allowance.divided(2)),
            allowance: allowance.divided(2),
            moments: Moments::default(),
            counts: Counts::default(),
            examples: Examples::default(),
            chunks: Vec::new(),
        }
    }
}

/// The numbers of a row log (NaN rows left out), transformed, in an external sorter: their count
/// and the sorter.
fn sorted_numbers(
    values: &mut LogReader<u64>,
    allowance: &Allowance,
    transform: impl Fn(f64) -> f64,
) -> Result<(usize, Sorter<u64>)> {
    let mut sorter = Sorter::new(allowance.clone(), false);
    let mut count = 0usize;
    for bits in values.iter()? {
        let value = f64::from_bits(bits?);
        if !value.is_nan() {
            sorter.push(f64_key(transform(value)))?;
            count += 1;
        }
    }
    Ok((count, sorter))
}

/// Linear-interpolation quantiles of the `n` values in a sorter (as `stats::quantile_linear`).
fn linear_quantiles(n: usize, sorted: Sorter<u64>, quantiles: &[f64]) -> Result<Vec<f64>> {
    let ranks = quantiles.iter().flat_map(|&q| {
        let (low, high, _) = stats::linear_position(n, q);
        [low, high]
    });
    let found = sorted.values_at_ranks(ranks)?;
    let at = |rank: usize| found.get(&rank).copied().unwrap_or(f64::NAN);
    Ok(quantiles
        .iter()
        .map(|&q| stats::quantile_linear_by(n, q, at))
        .collect())
}

impl Check for WholeColumnCheck {
    fn update(&mut self, chunk: &Chunk) -> Result<()> {
        let column = chunk.column(self.column);
        self.counts.rows += chunk.n_rows as u64;
        self.chunks.push((chunk.first_row, chunk.file_index));
        for (row, kind) in column.kinds().iter().enumerate() {
            let value = match kind {
                CellKind::Null => {
                    self.counts.missing += 1;
                    f64::NAN
                }
                CellKind::Int | CellKind::Float => column.numbers()[row],
                _ => {
                    self.counts.unexpected += 1;
                    self.examples.push(chunk, self.column, row);
                    f64::NAN
                }
            };
            if !value.is_nan() {
                self.moments.push(value);
            }
            self.values.push(value.to_bits())?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _facts: &TableFacts, result: &mut ExpectationResult) -> Result<()> {
        let WholeColumnCheck {
            rule,
            tolerance,
            allowance,
            values,
            moments,
            mut counts,
            mut examples,
            chunks,
            ..
        } = *self;
        let mut values = values.into_reader()?;
        let flag: Box<dyn Fn(f64) -> bool> = match rule {
            WholeColumnRule::ZScore {
                threshold,
                double_sided,
            } => {
                let (mean, std) = (moments.mean(), moments.std());
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
                let (n, sorted) = sorted_numbers(&mut values, &allowance, |x| x)?;
                let quartiles = linear_quantiles(n, sorted, &[0.25, 0.75])?;
                let (q1, q3) = (quartiles[0], quartiles[1]);
                let iqr = q3 - q1;
                let (low, high) = (q1 - multiplier * iqr, q3 + multiplier * iqr);
                result.details.insert("bounds".into(), json!([low, high]));
                Box::new(move |x| x < low || x > high)
            }
            WholeColumnRule::Mad { threshold } => {
                let (n, sorted) = sorted_numbers(&mut values, &allowance, |x| x)?;
                let median = linear_quantiles(n, sorted, &[0.5])?[0];
                let (n, deviations) =
                    sorted_numbers(&mut values, &allowance, |x| (x - median).abs())?;
                let mad = linear_quantiles(n, deviations, &[0.5])?[0];
                result.details.insert("median".into(), json!(median));
                result.details.insert("mad".into(), json!(mad));
                Box::new(move |x| mad > 0.0 && 0.6745 * (x - median).abs() / mad > threshold)
            }
        };
        let mut flagged: Vec<super::Example> = Vec::new();
        for (row, bits) in values.iter()?.enumerate() {
            let value = f64::from_bits(bits?);
            if value.is_nan() || !flag(value) {
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
        Ok(())
    }
}
