//! Feeding a predictions table into the accumulators: find the columns, ask the reader for numbers
//! only where needed, and turn bad cells into `file:line` errors.

use anyhow::{bail, Context};
use cairn_data::source::ChunkSource;
use cairn_data::table::{CellKind, Chunk, Column, Needs};
use cairn_eval::classification::{ClassificationAccumulator, ClassificationOptions, Probabilities};
use cairn_eval::regression::RegressionAccumulator;
use cairn_eval::result::{Evaluation, Task};

pub enum ProbabilityColumns {
    None,
    Binary(String),
    Prefix(String),
}

pub struct Plan {
    pub label: String,
    pub prediction: String,
    pub slices: Vec<String>,
    /// `None`: decided from the label column's first chunk.
    pub task: Option<Task>,
    pub probabilities: ProbabilityColumns,
    /// Everything but the probabilities, which the columns decide.
    pub classification: ClassificationOptions,
}

/// What was evaluated, for the report and the tracking record.
pub struct Outcome {
    pub evaluation: Evaluation,
    pub files: Vec<String>,
    pub columns: Vec<String>,
    pub rows: u64,
}

pub(super) fn find(columns: &[String], name: &str, flag: &str) -> anyhow::Result<usize> {
    columns
        .iter()
        .position(|column| column == name)
        .with_context(|| {
            format!(
                "{flag} {name:?}: no such column (columns: {})",
                columns.join(", ")
            )
        })
}

/// Where row `row` of `chunk` is, for messages: `file:line` (or `file: row N` without lines);
/// `files` are the source's.
pub(super) fn place(files: &[String], chunk: &Chunk, row: usize) -> String {
    let file = files.get(chunk.file_index).cloned().unwrap_or_default();
    match chunk.line(row) {
        0 => format!("{file}: row {}", chunk.first_row + row as u64 + 1),
        line => format!("{file}:{line}"),
    }
}

/// A label without surrounding spaces (checked at the ends first: labels rarely have any).
#[inline]
pub(super) fn trimmed(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_whitespace() || last.is_ascii_whitespace() => {
            text.trim()
        }
        _ => text,
    }
}

/// The slice cell of every row of `chunk` (null slice values read as `null`).
pub(super) fn chunk_cells(
    chunk: &Chunk,
    slices: &[usize],
    mut cell: impl FnMut(&[&str]) -> u32,
) -> Vec<u32> {
    match slices {
        [] => vec![cell(&[]); chunk.n_rows],
        [one] => {
            let column = chunk.column(*one);
            column
                .texts()
                .zip(column.kinds())
                .map(|(text, kind)| {
                    cell(&[if *kind == CellKind::Null {
                        "null"
                    } else {
                        text
                    }])
                })
                .collect()
        }
        several => {
            let columns: Vec<&Column> = several.iter().map(|index| chunk.column(*index)).collect();
            let mut values: Vec<&str> = Vec::with_capacity(columns.len());
            (0..chunk.n_rows)
                .map(|row| {
                    values.clear();
                    for column in &columns {
                        values.push(if column.is_null(row) {
                            "null"
                        } else {
                            column.text(row)
                        });
                    }
                    cell(&values)
                })
                .collect()
        }
    }
}

pub(super) enum Accumulator {
    Classification(ClassificationAccumulator),
    Regression(RegressionAccumulator),
}

/// A cell's number, or why it is not one.
pub(super) fn number(column: &Column, row: usize) -> Result<f64, String> {
    match column.kind(row) {
        CellKind::Null => Err("empty".to_owned()),
        CellKind::Int | CellKind::Float | CellKind::Bool => Ok(column.numbers()[row]),
        CellKind::Text => Err(format!("not a number: {:?}", column.text(row))),
    }
}

pub fn evaluate(mut source: Box<dyn ChunkSource>, plan: Plan) -> anyhow::Result<Outcome> {
    let columns = source.columns().to_vec();
    let label = find(&columns, &plan.label, "--label-col")?;
    let prediction = find(&columns, &plan.prediction, "--prediction-col")?;
    let slices: Vec<usize> = plan
        .slices
        .iter()
        .map(|name| find(&columns, name, "--slice-by"))
        .collect::<anyhow::Result<_>>()?;
    let (probability_columns, probabilities) = match &plan.probabilities {
        ProbabilityColumns::None => (Vec::new(), Probabilities::None),
        ProbabilityColumns::Binary(name) => (
            vec![find(&columns, name, "--proba-col")?],
            Probabilities::Binary,
        ),
        ProbabilityColumns::Prefix(prefix) => {
            let found: Vec<(usize, String)> = columns
                .iter()
                .enumerate()
                .filter_map(|(index, name)| {
                    let class = name.strip_prefix(prefix.as_str())?;
                    (!class.is_empty()).then(|| (index, class.to_owned()))
                })
                .collect();
            if found.len() < 2 {
                bail!(
                    "--proba-prefix {prefix:?}: {} columns start with it, need one per class (at least two; columns: {})",
                    found.len(),
                    columns.join(", ")
                );
            }
            let (indices, classes) = found.into_iter().unzip();
            (indices, Probabilities::PerClass(classes))
        }
    };
    let mut needs = vec![Needs::default(); columns.len()];
    for index in &probability_columns {
        needs[*index] = Needs {
            kinds: true,
            numbers: true,
        };
    }
    if plan.task != Some(Task::Classification) {
        for index in [label, prediction] {
            needs[index] = Needs {
                kinds: true,
                numbers: true,
            };
        }
    }
    source.set_needs(needs);
    let mut accumulator: Option<Accumulator> = None;
    let mut rows = 0u64;
    let mut values: Vec<f64> = Vec::with_capacity(probability_columns.len());
    while let Some(chunk) = source.next_chunk()? {
        let label_column = chunk.column(label);
        let prediction_column = chunk.column(prediction);
        let accumulator = match &mut accumulator {
            Some(accumulator) => accumulator,
            None => {
                let task = plan.task.unwrap_or_else(|| {
                    if label_column.kinds().contains(&CellKind::Float) {
                        Task::Regression
                    } else {
                        Task::Classification
                    }
                });
                accumulator.insert(match task {
                    Task::Regression => {
                        Accumulator::Regression(RegressionAccumulator::new(plan.slices.clone()))
                    }
                    Task::Classification => Accumulator::Classification(
                        ClassificationAccumulator::new(ClassificationOptions {
                            probabilities: probabilities.clone(),
                            ..plan.classification.clone()
                        })?,
                    ),
                })
            }
        };
        let cells = match accumulator {
            Accumulator::Classification(classification) => {
                chunk_cells(&chunk, &slices, |values| classification.cell(values))
            }
            Accumulator::Regression(regression) => {
                chunk_cells(&chunk, &slices, |values| regression.cell(values))
            }
        };
        let fail = |row: usize, column: &str, message: &str| -> anyhow::Error {
            anyhow::anyhow!(
                "{}: column {column:?}: {message}",
                place(source.files(), &chunk, row)
            )
        };
        let rows_of = label_column
            .texts()
            .zip(prediction_column.texts())
            .zip(&cells)
            .enumerate();
        match accumulator {
            Accumulator::Classification(classification) => {
                let probability_columns: Vec<(&Column, &str)> = probability_columns
                    .iter()
                    .map(|index| (chunk.column(*index), columns[*index].as_str()))
                    .collect();
                for (row, ((label, prediction), cell)) in rows_of {
                    if label_column.is_null(row) {
                        return Err(fail(row, &plan.label, "empty label"));
                    }
                    if prediction_column.is_null(row) {
                        return Err(fail(row, &plan.prediction, "empty prediction"));
                    }
                    values.clear();
                    for (column, name) in &probability_columns {
                        let value =
                            number(column, row).map_err(|message| fail(row, name, &message))?;
                        values.push(value);
                    }
                    classification
                        .push(*cell, trimmed(label), trimmed(prediction), &values)
                        .map_err(|error| {
                            anyhow::anyhow!("{}: {error}", place(source.files(), &chunk, row))
                        })?;
                }
            }
            Accumulator::Regression(regression) => {
                for (row, (_, cell)) in rows_of {
                    let target = number(label_column, row)
                        .map_err(|message| fail(row, &plan.label, &message))?;
                    let predicted = number(prediction_column, row)
                        .map_err(|message| fail(row, &plan.prediction, &message))?;
                    regression.push(*cell, target, predicted).map_err(|error| {
                        anyhow::anyhow!("{}: {error}", place(source.files(), &chunk, row))
                    })?;
                }
            }
        }
        rows += chunk.n_rows as u64;
    }
    let evaluation = match accumulator {
        None => bail!("the predictions hold no row"),
        Some(Accumulator::Classification(classification)) => classification.finish()?,
        Some(Accumulator::Regression(regression)) => regression.finish()?,
    };
    Ok(Outcome {
        evaluation,
        files: source.files().to_vec(),
        columns,
        rows,
    })
}
