//! PostgreSQL input: a suite validated where the data lives.
//!
//! [`validate`] connects (sqlx, on a tokio runtime of its own), learns the relation's columns and
//! types, runs the queries [`crate::sql`] compiles, and hands the expectations SQL cannot decide to
//! the streaming engine over a [`PostgresSource`] that streams only the columns they name.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use sqlx::{Column as _, Connection, Executor, PgConnection, Row, TypeInfo};

use super::{ChunkSource, Progress};
use crate::error::{DataError, Result};
use crate::expect::{Plan, TableFacts};
use crate::spill::MemoryBudget;
use crate::sql::{self, AggregateRow, DbColumn, Query, Relation, Rows, TypeClass};
use crate::suite::Suite;
use crate::table::{Chunk, Column, Needs};
use crate::validate::Validation;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows per chunk handed to the engine.
const CHUNK_ROWS: usize = 32 * 1024;

/// What to validate on the server.
#[derive(Debug, Clone, Default)]
pub struct PostgresInput {
    /// `postgresql://user:password@host:port/database`.
    pub url: String,
    /// `--table` (`name` or `schema.name`).
    pub table: Option<String>,
    /// `--query` (a SELECT).
    pub query: Option<String>,
    /// `--order-by`: the column that orders the rows (monotonic checks need it).
    pub order_by: Option<String>,
}

/// Whether DATA names a PostgreSQL database.
pub fn is_postgres_url(data: &str) -> bool {
    let lower = data.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// The URL with its password (in the user part or a `password=` parameter) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user_info, host) = authority.split_at(at);
            match user_info.find(':') {
                Some(colon) => format!("{}:***{host}", &user_info[..colon]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => param.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// A database error as one line: PostgreSQL's message (and hint) rather than sqlx's wrapping.
fn describe_error(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => database.message().to_string(),
        None => error.to_string(),
    }
}

async fn connect(url: &str) -> Result<PgConnection> {
    let shown = redact(url);
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(DataError::input(format!(
            "cannot connect to {shown}: {}",
            describe_error(&error)
        ))),
        Err(_) => Err(DataError::input(format!(
            "cannot connect to {shown}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Runs `query`; every cell comes back as text.
async fn fetch(connection: &mut PgConnection, query: &Query, what: &str) -> Result<Rows> {
    let rows = sqlx::query(&query.sql)
        .fetch_all(&mut *connection)
        .await
        .map_err(|error| DataError::input(format!("{what}: {}", describe_error(&error))))?;
    rows.iter().map(text_cells).collect()
}

fn text_cells(row: &sqlx::postgres::PgRow) -> Result<Vec<Option<String>>> {
    (0..row.len())
        .map(|index| {
            row.try_get::<Option<String>, _>(index)
                .map_err(|error| DataError::input(format!("reading a result: {error}")))
        })
        .collect()
}

/// Validates the relation `input` names against `suite` (the expectations SQL cannot answer run in
/// the engine over the rows they need, sharing `memory`).
pub fn validate(suite: &Suite, input: &PostgresInput, memory: &MemoryBudget) -> Result<Validation> {
    let started = Instant::now();
    let relation = match (&input.table, &input.query) {
        (Some(table), None) => Relation::parse_table(table)?,
        (None, Some(query)) => Relation::Query(query.clone()),
        _ => {
            return Err(DataError::usage(
                "a PostgreSQL input needs --table SCHEMA.NAME or --query \"SELECT ...\"",
            ))
        }
    };
    let shown = format!("{} ({})", redact(&input.url), relation.describe());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| DataError::io("starting the PostgreSQL client", error))?;
    let (columns, compiled, row_count, mut results) = runtime.block_on(async {
        let mut connection = connect(&input.url).await?;
        let described = connection
            .describe(&relation.select_all())
            .await
            .map_err(|error| DataError::input(format!("{shown}: {}", describe_error(&error))))?;
        let columns: Vec<DbColumn> = described
            .columns()
            .iter()
            .map(|column| DbColumn::new(column.name(), column.type_info().name()))
            .collect();
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        // The engine's compile reports bad arguments exactly as for files.
        Plan::compile(suite, &names, memory)?;
        let mut rejected = Vec::new();
        for config in &suite.expectations {
            for pattern in sql::regexes(config) {
                if rejected.contains(&pattern) {
                    continue;
                }
                let probe = sql::regex_probe(&pattern)?;
                if sqlx::query(&probe.sql)
                    .fetch_all(&mut connection)
                    .await
                    .is_err()
                {
                    rejected.push(pattern);
                }
            }
        }
        let compiled = sql::compile(
            suite,
            &relation,
            &columns,
            input.order_by.as_deref(),
            &rejected,
        )?;
        let aggregate = fetch(&mut connection, &compiled.aggregate_query(), &shown).await?;
        let row = AggregateRow::parse(aggregate.first().map_or(&[][..], Vec::as_slice));
        let mut answers = Vec::new();
        for followup in compiled.followups(&row) {
            let rows = fetch(&mut connection, &followup.query, &shown).await?;
            answers.push((followup, rows));
        }
        let results = compiled.finish(&row, &answers);
        let _ = connection.close().await;
        Ok::<_, DataError>((columns, compiled, row.row_count(), results))
    })?;
    drop(runtime);
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let engine = compiled.engine_indexes();
    if !engine.is_empty() {
        let sub_suite = Suite {
            expectations: engine
                .iter()
                .map(|&i| suite.expectations[i].clone())
                .collect(),
            ..suite.clone()
        };
        let mut needed: Vec<usize> = Vec::new();
        for config in &sub_suite.expectations {
            for name in sql::columns_named(config) {
                if let Some(index) = names.iter().position(|n| *n == name) {
                    if !needed.contains(&index) {
                        needed.push(index);
                    }
                }
            }
        }
        let engine_results = if needed.is_empty() {
            let facts = TableFacts {
                columns: names.clone(),
                row_count,
            };
            Plan::compile(&sub_suite, &names, memory)?.finish(&facts)?
        } else {
            needed.sort_unstable();
            let source = PostgresSource::open(input.url.clone(), &compiled, &needed, &shown);
            crate::validate::validate(&sub_suite, &shown, Box::new(source), false, memory)?.results
        };
        for (index, result) in engine.into_iter().zip(engine_results) {
            results[index] = Some(result);
        }
    }
    Ok(Validation {
        suite_name: suite.name.clone(),
        data: shown,
        files: Vec::new(),
        columns: names,
        row_count,
        results: results.into_iter().flatten().collect(),
        elapsed: started.elapsed(),
        profile: None,
    })
}

/// Rows of some columns of the relation, streamed in order by a thread of its own (own runtime,
/// own connection) and handed out as chunks; columns not asked for stay empty.
pub struct PostgresSource {
    columns: Vec<String>,
    files: Vec<String>,
    receiver: Receiver<Result<Chunk>>,
    progress: Arc<Progress>,
}

impl PostgresSource {
    fn open(
        url: String,
        compiled: &sql::Compiled,
        needed: &[usize],
        shown: &str,
    ) -> PostgresSource {
        let all = compiled.columns();
        let columns: Vec<String> = all.iter().map(|c| c.name.clone()).collect();
        let classes: Vec<(usize, TypeClass)> = needed.iter().map(|&i| (i, all[i].class)).collect();
        let width = all.len();
        let query = sql::stream_query(compiled, needed);
        let progress = Arc::new(Progress::default());
        let (sender, receiver) = sync_channel::<Result<Chunk>>(2);
        let shown = shown.to_string();
        let counter = Arc::clone(&progress);
        std::thread::spawn(move || {
            let produce = async {
                let mut connection = connect(&url).await?;
                let mut stream = sqlx::query(&query.sql).fetch(&mut connection);
                let mut builder = ChunkBuilder::new(width, &classes, 0);
                while let Some(row) = stream.try_next().await.map_err(|error| {
                    DataError::input(format!("{shown}: {}", describe_error(&error)))
                })? {
                    let cells = text_cells(&row)?;
                    builder.push(&cells);
                    if builder.rows == CHUNK_ROWS {
                        let first_row = builder.first_row + builder.rows as u64;
                        let chunk = std::mem::replace(
                            &mut builder,
                            ChunkBuilder::new(width, &classes, first_row),
                        )
                        .finish();
                        counter.add(chunk.n_rows as u64);
                        if sender.send(Ok(chunk)).is_err() {
                            return Ok(());
                        }
                    }
                }
                if builder.rows > 0 {
                    let _ = sender.send(Ok(builder.finish()));
                }
                Ok::<(), DataError>(())
            };
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| DataError::io("starting the PostgreSQL client", error))
                .and_then(|runtime| runtime.block_on(produce));
            if let Err(error) = outcome {
                let _ = sender.send(Err(error));
            }
        });
        progress.bytes_total.store(0, Ordering::Relaxed);
        PostgresSource {
            columns,
            files: Vec::new(),
            receiver,
            progress,
        }
    }
}

/// Cells of the needed columns, typed by their column's class.
struct ChunkBuilder {
    first_row: u64,
    rows: usize,
    columns: Vec<Column>,
    classes: Vec<(usize, TypeClass)>,
}

impl ChunkBuilder {
    fn new(width: usize, classes: &[(usize, TypeClass)], first_row: u64) -> ChunkBuilder {
        let mut columns = vec![Column::default(); width];
        for (index, _) in classes {
            columns[*index] = Column::with_capacity(CHUNK_ROWS, CHUNK_ROWS * 8, true);
        }
        ChunkBuilder {
            first_row,
            rows: 0,
            columns,
            classes: classes.to_vec(),
        }
    }

    fn push(&mut self, cells: &[Option<String>]) {
        for (position, (index, class)) in self.classes.iter().enumerate() {
            let text = cells.get(position).cloned().flatten();
            let (kind, value) = cell_kind(*class, text.as_deref());
            self.columns[*index].push_typed(text.as_deref().unwrap_or(""), kind, value, true);
        }
        self.rows += 1;
    }

    fn finish(self) -> Chunk {
        Chunk {
            first_row: self.first_row,
            file_index: 0,
            lines: Vec::new(),
            columns: self.columns,
            n_rows: self.rows,
            rows_hint: 0,
        }
    }
}

/// A database cell as the engine sees it: typed by the column, NaN as null.
pub(crate) fn cell_kind(class: TypeClass, text: Option<&str>) -> (crate::table::CellKind, f64) {
    use crate::table::CellKind;
    let Some(text) = text else {
        return (CellKind::Null, f64::NAN);
    };
    match class {
        TypeClass::Int => match text.parse::<i64>() {
            Ok(value) => (CellKind::Int, value as f64),
            Err(_) => (CellKind::Text, f64::NAN),
        },
        TypeClass::Float | TypeClass::Numeric => match text.parse::<f64>() {
            Ok(value) if value.is_nan() => (CellKind::Null, f64::NAN),
            Ok(value) => (CellKind::Float, value),
            Err(_) => (CellKind::Text, f64::NAN),
        },
        TypeClass::Bool => (
            CellKind::Bool,
            if matches!(text, "True" | "true" | "t") {
                1.0
            } else {
                0.0
            },
        ),
        TypeClass::Text => (CellKind::Text, f64::NAN),
    }
}

impl ChunkSource for PostgresSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn set_needs(&mut self, _needs: Vec<Needs>) {}

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        match self.receiver.recv() {
            Ok(chunk) => chunk.map(Some),
            Err(_) => Ok(None),
        }
    }

    fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let check = |url: &str, expected: &str| assert_eq!(redact(url), expected, "{url}");
        check(
            "postgresql://cairn:s3cret@127.0.0.1:5432/db",
            "postgresql://cairn:***@127.0.0.1:5432/db",
        );
        check("postgres://cairn@host/db", "postgres://cairn@host/db");
        check(
            "postgresql://u:p@ss:w@rd@host/db?sslmode=disable&password=x",
            "postgresql://u:***@host/db?sslmode=disable&password=***",
        );
        check("postgresql://host", "postgresql://host");
    }

    #[test]
    fn recognises_postgres_urls() {
        assert!(is_postgres_url("postgresql://h/db"));
        assert!(is_postgres_url("POSTGRES://h/db"));
        assert!(!is_postgres_url("data.csv"));
        assert!(!is_postgres_url("/tmp/postgresql://x"));
    }

    #[test]
    fn cells_are_typed_by_their_column() {
        use crate::table::CellKind;
        let check = |class, text: Option<&str>, kind: CellKind| {
            assert_eq!(cell_kind(class, text).0, kind, "{class:?} {text:?}");
        };
        check(TypeClass::Int, Some("12"), CellKind::Int);
        check(TypeClass::Float, Some("NaN"), CellKind::Null);
        check(TypeClass::Float, Some("-Infinity"), CellKind::Float);
        check(TypeClass::Numeric, Some("1.50"), CellKind::Float);
        check(TypeClass::Bool, Some("True"), CellKind::Bool);
        check(TypeClass::Text, Some("12"), CellKind::Text);
        check(TypeClass::Text, None, CellKind::Null);
    }
}
