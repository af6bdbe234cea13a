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

fn find(columns: &[String], name: &str, flag: &str) -> anyhow::Result<usize> {
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

/// Where row `row` of `chunk` is, for messages: `file:line` (or `file: row N` without lines).
fn place(source: &dyn ChunkSource, chunk: &Chunk, row: usize) -> String {
    let file = source
        .files()
        .get(chunk.file_index)
        .cloned()
        .unwrap_or_default();
    match chunk.line(row) {
        0 => format!("{file}: row {}", chunk.first_row + row as u64 + 1),
        line => format!("{file}:{line}"),
    }
}

/// A label without surrounding spaces (checked at the ends first: labels rarely have any).
#[inline]
fn trimmed(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_whitespace() || last.is_ascii_whitespace() => {
            text.trim()
        }
        _ => text,
    }
}

enum Accumulator {
    Classification(ClassificationAccumulator),
    Regression(RegressionAccumulator),
}

/// A cell's number, or why it is not one.
fn number(column: &Column, row: usize) -> Result<f64, String> {
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
        let slice_columns: Vec<&Column> = slices.iter().map(|index| chunk.column(*index)).collect();
        let mut slice_values: Vec<&str> = Vec::with_capacity(slices.len());
        for row in 0..chunk.n_rows {
            slice_values.clear();
            for column in &slice_columns {
                slice_values.push(if column.is_null(row) {
                    "null"
                } else {
                    column.text(row)
                });
            }
            let fail = |column: &str, message: String| -> anyhow::Error {
                anyhow::anyhow!(
                    "{}: column {column:?}: {message}",
                    place(source.as_ref(), &chunk, row)
                )
            };
            match accumulator {
                Accumulator::Classification(classification) => {
                    if label_column.is_null(row) {
                        return Err(fail(&plan.label, "empty label".into()));
                    }
                    if prediction_column.is_null(row) {
                        return Err(fail(&plan.prediction, "empty prediction".into()));
                    }
                    values.clear();
                    for index in &probability_columns {
                        let value = number(chunk.column(*index), row)
                            .map_err(|message| fail(&columns[*index], message))?;
                        values.push(value);
                    }
                    let cell = classification.cell(&slice_values);
                    classification
                        .push(
                            cell,
                            trimmed(label_column.text(row)),
                            trimmed(prediction_column.text(row)),
                            &values,
                        )
                        .map_err(|error| {
                            anyhow::anyhow!("{}: {error}", place(source.as_ref(), &chunk, row))
                        })?;
                }
                Accumulator::Regression(regression) => {
                    let target =
                        number(label_column, row).map_err(|message| fail(&plan.label, message))?;
                    let predicted = number(prediction_column, row)
                        .map_err(|message| fail(&plan.prediction, message))?;
                    let cell = regression.cell(&slice_values);
                    regression.push(cell, target, predicted).map_err(|error| {
                        anyhow::anyhow!("{}: {error}", place(source.as_ref(), &chunk, row))
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
