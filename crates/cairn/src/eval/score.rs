//! `cairn eval --model`: scoring an ONNX model on a dataset and feeding its predictions into the
//! same accumulators a predictions file feeds.
//!
//! Chunks come from cairn-data's readers; each is cut into batches whose feature columns become
//! cairn-serve cells, bound to the model's inputs by `Interface::bind_columns` (the binding
//! `cairn serve` uses for a data frame) and run on the model's sessions, one batch per core at a
//! time. Batches are accumulated in row order, so the result does not depend on the threads.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use cairn_data::source::ChunkSource;
use cairn_data::table::{CellKind, Chunk, Needs};
use cairn_eval::classification::{ClassificationAccumulator, ClassificationOptions, Probabilities};
use cairn_eval::keys::{is_one, sorted_order};
use cairn_eval::regression::RegressionAccumulator;
use cairn_eval::result::Task;
use cairn_serve::model::{Element, Interface, LoadedModel, Output};
use cairn_serve::request::Cell;
use serde_json::Value;

use super::read::{self, chunk_cells, find, number, place, trimmed, Accumulator, Outcome};

pub struct ModelPlan {
    pub label: String,
    /// `--feature-cols`; empty: the signature's columns, else every column but label and slices.
    pub features: Vec<String>,
    pub slices: Vec<String>,
    /// `None`: from the model's outputs (probabilities or integer/text labels: classification).
    pub task: Option<Task>,
    /// Everything but the probabilities, which the model's outputs decide.
    pub classification: ClassificationOptions,
    /// Rows per model call.
    pub batch_rows: usize,
    /// Model calls in flight at once (one per session).
    pub threads: usize,
    /// `--predictions-out`: a CSV of label, slice values, prediction and probabilities per row.
    pub predictions_out: Option<PathBuf>,
}

/// What the model's outputs are, decided from its first batch.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Labels from output `label`; per-class probabilities (ZipMap) from output `probabilities`
    /// with these classes, in the model's order.
    Classes {
        label: usize,
        probabilities: Option<(usize, Vec<String>)>,
    },
    /// One number per row from output `output`.
    Values { output: usize },
}

/// The feature columns to feed: `--feature-cols`, else the model's expected columns (its
/// signature's, or one per input), else every column but the label and slice columns.
fn feature_columns(
    interface: &Interface,
    requested: &[String],
    columns: &[String],
    label: &str,
    slices: &[String],
) -> anyhow::Result<Vec<String>> {
    if !requested.is_empty() {
        for name in requested {
            find(columns, name, "--feature-cols")?;
        }
        return fits_width(interface, requested.to_vec(), true);
    }
    if let Some(expected) = interface.expected_columns() {
        let mut names = Vec::with_capacity(expected.len());
        for (name, required) in &expected {
            if columns.contains(name) {
                names.push(name.clone());
            } else if *required {
                bail!(
                    "the model takes column {name:?}, which the data lacks (the model takes: {}; the data has: {})",
                    expected
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    columns.join(", ")
                );
            }
        }
        return Ok(names);
    }
    let names: Vec<String> = columns
        .iter()
        .filter(|name| *name != label && !slices.contains(name))
        .cloned()
        .collect();
    if names.is_empty() {
        bail!("the data has no column besides the label and slice columns to feed the model");
    }
    fits_width(interface, names, false)
}

/// Checks the columns against a single `[N, F]` input's fixed width before any row is read.
fn fits_width(
    interface: &Interface,
    names: Vec<String>,
    requested: bool,
) -> anyhow::Result<Vec<String>> {
    if interface.expected_columns().is_some() {
        return Ok(names);
    }
    if let [input] = interface.inputs.as_slice() {
        if let [_, width] = input.shape.as_slice() {
            if *width >= 0 && *width as usize != names.len() {
                bail!(
                    "the model's input {:?} takes {width} features per row, {} {} columns ({}){}",
                    input.name,
                    if requested {
                        "--feature-cols names"
                    } else {
                        "the data has"
                    },
                    names.len(),
                    names.join(", "),
                    if requested {
                        ""
                    } else {
                        " besides the label and slice columns: name the features with --feature-cols"
                    }
                );
            }
        }
    }
    Ok(names)
}

/// The cells of rows `rows` of one feature column, as the model's input type wants them: numbers
/// for numeric inputs (a null is NaN for float inputs, as pandas reads it), the text as written for
/// text inputs. A cell no input type takes is an error at its `file:line`.
fn feature_cells(
    chunk: &Chunk,
    index: usize,
    name: &str,
    element: Option<Element>,
    rows: Range<usize>,
    files: &[String],
) -> anyhow::Result<Vec<Cell>> {
    let column = chunk.column(index);
    let fail = |row: usize, message: String| {
        anyhow!("{}: column {name:?}: {message}", place(files, chunk, row))
    };
    let mut cells = Vec::with_capacity(rows.len());
    for row in rows {
        let kind = column.kind(row);
        let cell = match (element, kind) {
            (Some(Element::Text), CellKind::Null) | (None, CellKind::Null) => Cell::Null,
            (Some(Element::Text), _) => Cell::Text(column.text(row).to_owned()),
            (Some(Element::F32 | Element::F64), CellKind::Null) => Cell::Number(f64::NAN),
            (Some(_), CellKind::Null) => {
                return Err(fail(
                    row,
                    "empty (the model's input takes no missing value)".into(),
                ))
            }
            (Some(_), CellKind::Text) => {
                return Err(fail(row, format!("not a number: {:?}", column.text(row))))
            }
            (None, CellKind::Text) => Cell::Text(column.text(row).to_owned()),
            (None, CellKind::Bool) => Cell::Bool(column.numbers()[row] != 0.0),
            (_, CellKind::Int | CellKind::Float | CellKind::Bool) => {
                Cell::Number(column.numbers()[row])
            }
        };
        cells.push(cell);
    }
    Ok(cells)
}

/// A label as text: strings as they are, integers in decimal, integral floats without `.0`
/// (`1.0` -> `1`, as a CSV holds integer labels), booleans as pandas writes them.
fn label_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(integer), _) => Some(integer.to_string()),
            (None, Some(float)) => Some(float.to_string()),
            (None, None) => Some(number.to_string()),
        },
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        _ => None,
    }
}

/// Decides what the outputs are (from the first batch) and the task when not given.
fn shape_of(
    outputs: &[(String, Output)],
    task: Option<Task>,
) -> anyhow::Result<(Shape, Task, Option<String>)> {
    let names = || {
        outputs
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let zipmap = outputs
        .iter()
        .position(|(_, output)| matches!(output, Output::ClassProbabilities(_)));
    let Some(first_tensor) = outputs
        .iter()
        .position(|(_, output)| matches!(output, Output::Tensor { .. }))
    else {
        bail!(
            "the model has no tensor output to read predictions from (outputs: {})",
            names()
        );
    };
    let element = match &outputs[first_tensor].1 {
        Output::Tensor { element, .. } => *element,
        Output::ClassProbabilities(_) => Element::F32,
    };
    let task = task.unwrap_or(match (zipmap, element) {
        (Some(_), _) => Task::Classification,
        (None, Element::F32 | Element::F64) => Task::Regression,
        (None, _) => Task::Classification,
    });
    if task == Task::Regression {
        return Ok((
            Shape::Values {
                output: first_tensor,
            },
            task,
            None,
        ));
    }
    let mut warning = None;
    let probabilities = match zipmap {
        Some(index) => {
            let Output::ClassProbabilities(table) = &outputs[index].1 else {
                bail!("output {index} changed kind");
            };
            let classes: Vec<String> = table.classes.to_vec();
            if classes.len() < 2 {
                bail!(
                    "the model's probabilities ({}) name {} classes, need at least two",
                    outputs[index].0,
                    classes.len()
                );
            }
            Some((index, classes))
        }
        None => {
            let unnamed = outputs.iter().enumerate().find(|(index, (_, output))| {
                *index != first_tensor
                    && matches!(output, Output::Tensor { element: Element::F32 | Element::F64, shape, .. } if shape.len() == 2 && shape[1] >= 2)
            });
            if let Some((_, (name, _))) = unnamed {
                warning = Some(format!(
                    "the model's output {name:?} looks like class probabilities without class names (skl2onnx's zipmap=False); the metrics use the predicted labels only (convert with ZipMap to get the probability metrics)"
                ));
            }
            None
        }
    };
    Ok((
        Shape::Classes {
            label: first_tensor,
            probabilities,
        },
        task,
        warning,
    ))
}

/// The positive class of a binary model: `--pos-label` (one of the classes), else `1`, else the
/// greater class as `np.unique` orders them.
fn positive_class(classes: &[String], pos_label: Option<&str>) -> anyhow::Result<String> {
    if let Some(label) = pos_label {
        if !classes.iter().any(|class| class == label) {
            bail!(
                "--pos-label {label:?} is not a class of the model (classes: {})",
                classes.join(", ")
            );
        }
        return Ok(label.to_owned());
    }
    if let Some(one) = classes.iter().find(|class| is_one(class)) {
        return Ok(one.clone());
    }
    sorted_order(classes)
        .last()
        .map(|id| classes[*id as usize].clone())
        .context("the model has no classes")
}

/// The predictions of one batch, typed.
struct Predictions {
    /// Classification: the label per row; regression: empty.
    labels: Vec<String>,
    /// Regression: the value per row; classification: empty.
    values: Vec<f64>,
    /// Per row, the K class probabilities in the classes' order (row-major), or empty.
    probabilities: Vec<f64>,
}

/// A probability as float32 arithmetic left it, put back in [0, 1] where rounding pushed it a hair
/// outside (a forest's averaged votes can sum to 1.0000001).
fn probability(value: f64) -> f64 {
    if (-1e-6..0.0).contains(&value) {
        0.0
    } else if (1.0..=1.0 + 1e-6).contains(&value) {
        1.0
    } else {
        value
    }
}

fn predictions(
    outputs: &[(String, Output)],
    shape: &Shape,
    rows: usize,
) -> anyhow::Result<Predictions> {
    let tensor_values = |index: usize| -> anyhow::Result<&[Value]> {
        let Some((name, Output::Tensor { values, .. })) = outputs.get(index) else {
            bail!("the model's output {index} is missing or changed kind");
        };
        if values.len() != rows {
            bail!(
                "the model's output {name:?} gives {} values for {rows} rows; cairn eval reads one prediction per row",
                values.len()
            );
        }
        Ok(values)
    };
    match shape {
        Shape::Values { output } => {
            let values = tensor_values(*output)?
                .iter()
                .map(|value| {
                    value
                        .as_f64()
                        .with_context(|| format!("the model predicted {value}, not a number"))
                })
                .collect::<anyhow::Result<Vec<f64>>>()?;
            Ok(Predictions {
                labels: Vec::new(),
                values,
                probabilities: Vec::new(),
            })
        }
        Shape::Classes {
            label,
            probabilities,
        } => {
            let labels = tensor_values(*label)?
                .iter()
                .map(|value| {
                    label_text(value)
                        .with_context(|| format!("the model predicted {value}, not a label"))
                })
                .collect::<anyhow::Result<Vec<String>>>()?;
            let mut flat = Vec::new();
            if let Some((index, classes)) = probabilities {
                let Some((name, Output::ClassProbabilities(table))) = outputs.get(*index) else {
                    bail!("the model's output {index} is missing or changed kind");
                };
                if table.rows() != rows {
                    bail!(
                        "the model's output {name:?} gives {} rows for {rows}",
                        table.rows()
                    );
                }
                if table.classes.iter().ne(classes.iter()) {
                    bail!(
                        "the model's output {name:?} changed classes between batches ({} then {})",
                        classes.join(", "),
                        table.classes.join(", ")
                    );
                }
                flat.extend(table.values.iter().map(|value| probability(*value)));
            }
            Ok(Predictions {
                labels,
                values: Vec::new(),
                probabilities: flat,
            })
        }
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// `--predictions-out`: label, slice values, prediction and probabilities per row.
struct PredictionsWriter {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    line: String,
}

impl PredictionsWriter {
    fn create(path: &Path) -> anyhow::Result<PredictionsWriter> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(PredictionsWriter {
            path: path.to_path_buf(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            line: String::new(),
        })
    }

    fn write_line(&mut self, fields: &[&str]) -> anyhow::Result<()> {
        self.line.clear();
        for (index, field) in fields.iter().enumerate() {
            if index > 0 {
                self.line.push(',');
            }
            self.line.push_str(&csv_field(field));
        }
        self.line.push('\n');
        self.out
            .write_all(self.line.as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The per-class probability column of `--predictions-out` (`--proba-prefix proba_` reads them).
const PROBA_PREFIX: &str = "proba_";
/// The prediction column of `--predictions-out`.
const PREDICTION_COLUMN: &str = "prediction";

/// What the first batch decided.
struct Decided {
    shape: Shape,
    accumulator: Accumulator,
    /// The classes of the probabilities, for `--predictions-out`'s header and the binary pick.
    classes: Vec<String>,
    /// Binary: the positive class' position in `classes`.
    positive: Option<usize>,
}

fn decide(
    outputs: &[(String, Output)],
    plan: &ModelPlan,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Decided> {
    let (shape, task, warning) = shape_of(outputs, plan.task)?;
    warnings.extend(warning);
    let (accumulator, classes, positive) = match (&shape, task) {
        (_, Task::Regression) => (
            Accumulator::Regression(RegressionAccumulator::new(plan.slices.clone())),
            Vec::new(),
            None,
        ),
        (
            Shape::Classes {
                probabilities: Some((_, classes)),
                ..
            },
            Task::Classification,
        ) if classes.len() == 2 => {
            let pos_label = positive_class(classes, plan.classification.pos_label.as_deref())?;
            let positive = classes.iter().position(|class| *class == pos_label);
            let options = ClassificationOptions {
                probabilities: Probabilities::Binary,
                pos_label: Some(pos_label),
                ..plan.classification.clone()
            };
            (
                Accumulator::Classification(ClassificationAccumulator::new(options)?),
                classes.clone(),
                positive,
            )
        }
        (
            Shape::Classes {
                probabilities: Some((_, classes)),
                ..
            },
            Task::Classification,
        ) => {
            let options = ClassificationOptions {
                probabilities: Probabilities::PerClass(classes.clone()),
                ..plan.classification.clone()
            };
            (
                Accumulator::Classification(ClassificationAccumulator::new(options)?),
                classes.clone(),
                None,
            )
        }
        (_, Task::Classification) => {
            let options = ClassificationOptions {
                probabilities: Probabilities::None,
                ..plan.classification.clone()
            };
            (
                Accumulator::Classification(ClassificationAccumulator::new(options)?),
                Vec::new(),
                None,
            )
        }
    };
    // Regression asked of a classifier: its labels are the values.
    let shape = match (shape, task) {
        (Shape::Classes { label, .. }, Task::Regression) => Shape::Values { output: label },
        (shape, _) => shape,
    };
    Ok(Decided {
        shape,
        accumulator,
        classes,
        positive,
    })
}

/// Scores `model` on `source` and evaluates its predictions; the warnings (beyond the metrics')
/// are added to the evaluation's.
pub fn evaluate(
    mut source: Box<dyn ChunkSource>,
    model: &LoadedModel,
    plan: ModelPlan,
) -> anyhow::Result<Outcome> {
    if plan.batch_rows == 0 {
        bail!("--batch-rows must be at least 1");
    }
    let columns = source.columns().to_vec();
    let files = source.files().to_vec();
    let label = find(&columns, &plan.label, "--label-col")?;
    let slices: Vec<usize> = plan
        .slices
        .iter()
        .map(|name| find(&columns, name, "--slice-by"))
        .collect::<anyhow::Result<_>>()?;
    let feature_names = feature_columns(
        &model.interface,
        &plan.features,
        &columns,
        &plan.label,
        &plan.slices,
    )?;
    let features: Vec<(usize, Option<Element>)> = feature_names
        .iter()
        .map(|name| {
            find(&columns, name, "--feature-cols")
                .map(|index| (index, model.interface.column_element(name)))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut needs = vec![Needs::default(); columns.len()];
    for index in features.iter().map(|(index, _)| *index).chain([label]) {
        needs[index] = Needs {
            kinds: true,
            numbers: true,
        };
    }
    source.set_needs(needs);
    let mut writer = plan
        .predictions_out
        .as_deref()
        .map(PredictionsWriter::create)
        .transpose()?;
    let mut decided: Option<Decided> = None;
    let mut warnings = Vec::new();
    let mut rows = 0u64;
    let mut values: Vec<f64> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    while let Some(chunk) = source.next_chunk()? {
        let batches: Vec<Range<usize>> = (0..chunk.n_rows)
            .step_by(plan.batch_rows)
            .map(|start| start..(start + plan.batch_rows).min(chunk.n_rows))
            .collect();
        let scored = cairn_eval::parallel::map(&batches, plan.threads, |range| {
            let first = range.start;
            let last = range.end.saturating_sub(1);
            let mut cells = Vec::with_capacity(features.len());
            for ((index, element), name) in features.iter().zip(&feature_names) {
                cells.push(feature_cells(
                    &chunk,
                    *index,
                    name,
                    *element,
                    range.clone(),
                    &files,
                )?);
            }
            let within = || {
                format!(
                    "{} to {}",
                    place(&files, &chunk, first),
                    place(&files, &chunk, last)
                )
            };
            let (feeds, _) = model
                .interface
                .bind_columns(&feature_names, cells)
                .map_err(|error| {
                    anyhow!(
                        "in the batch {}: {error} (rows counted from the batch's first, 0-based)",
                        within()
                    )
                })?;
            model
                .predict(feeds)
                .map_err(|error| anyhow!("scoring rows {}: {error}", within()))
        });
        let label_column = chunk.column(label);
        // Each row's slice cell, once the first batch has made the accumulator.
        let mut chunk_slice_cells: Option<Vec<u32>> = None;
        for (range, outputs) in batches.iter().zip(scored) {
            let outputs = outputs?;
            let decided = match &mut decided {
                Some(decided) => decided,
                None => {
                    let found = decide(&outputs, &plan, &mut warnings)?;
                    if let Some(writer) = &mut writer {
                        let mut header: Vec<&str> = vec![plan.label.as_str()];
                        header.extend(plan.slices.iter().map(String::as_str));
                        header.push(PREDICTION_COLUMN);
                        let probability_columns: Vec<String> = found
                            .classes
                            .iter()
                            .map(|class| format!("{PROBA_PREFIX}{class}"))
                            .collect();
                        header.extend(probability_columns.iter().map(String::as_str));
                        writer.write_line(&header)?;
                    }
                    decided.insert(found)
                }
            };
            let predicted = predictions(&outputs, &decided.shape, range.len())?;
            let cells = chunk_slice_cells.get_or_insert_with(|| match &mut decided.accumulator {
                Accumulator::Classification(classification) => {
                    chunk_cells(&chunk, &slices, |values| classification.cell(values))
                }
                Accumulator::Regression(regression) => {
                    chunk_cells(&chunk, &slices, |values| regression.cell(values))
                }
            });
            let n_classes = decided.classes.len();
            for (offset, row) in range.clone().enumerate() {
                let fail = |message: String| {
                    anyhow!(
                        "{}: column {:?}: {message}",
                        place(&files, &chunk, row),
                        plan.label
                    )
                };
                // `predictions` gave K per row (checked), so this is never short.
                let row_probabilities = predicted
                    .probabilities
                    .get(offset * n_classes..(offset + 1) * n_classes)
                    .unwrap_or_default();
                match &mut decided.accumulator {
                    Accumulator::Classification(classification) => {
                        if label_column.is_null(row) {
                            return Err(fail("empty label".into()));
                        }
                        values.clear();
                        match decided.positive {
                            Some(positive) => values.extend(row_probabilities.get(positive)),
                            None => values.extend_from_slice(row_probabilities),
                        }
                        classification
                            .push(
                                cells[row],
                                trimmed(label_column.text(row)),
                                &predicted.labels[offset],
                                &values,
                            )
                            .map_err(|error| anyhow!("{}: {error}", place(&files, &chunk, row)))?;
                    }
                    Accumulator::Regression(regression) => {
                        let target = number(label_column, row).map_err(fail)?;
                        regression
                            .push(cells[row], target, predicted.values[offset])
                            .map_err(|error| anyhow!("{}: {error}", place(&files, &chunk, row)))?;
                    }
                }
                if let Some(writer) = &mut writer {
                    fields.clear();
                    fields.push(label_column.text(row).to_owned());
                    for index in &slices {
                        fields.push(chunk.column(*index).text(row).to_owned());
                    }
                    fields.push(match predicted.labels.get(offset) {
                        Some(label) => label.clone(),
                        None => predicted.values[offset].to_string(),
                    });
                    fields.extend(row_probabilities.iter().map(f64::to_string));
                    let borrowed: Vec<&str> = fields.iter().map(String::as_str).collect();
                    writer.write_line(&borrowed)?;
                }
            }
        }
        rows += chunk.n_rows as u64;
    }
    if let Some(writer) = writer {
        writer.finish()?;
    }
    let mut evaluation = match decided.map(|decided| decided.accumulator) {
        None => bail!("the data holds no row"),
        Some(Accumulator::Classification(classification)) => classification.finish()?,
        Some(Accumulator::Regression(regression)) => regression.finish()?,
    };
    evaluation.warnings.extend(warnings);
    Ok(read::Outcome {
        evaluation,
        files,
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_serve::model::{ClassProbabilities, InputSpec};
    use serde_json::json;

    fn tensor(element: Element, shape: Vec<i64>, values: Vec<Value>) -> Output {
        Output::Tensor {
            element,
            shape,
            values,
        }
    }

    fn zipmap(rows: &[&[(&str, f64)]]) -> Output {
        Output::ClassProbabilities(
            ClassProbabilities::from_pairs(
                rows.iter()
                    .map(|pairs| {
                        pairs
                            .iter()
                            .map(|(class, p)| (class.to_string(), *p))
                            .collect()
                    })
                    .collect(),
            )
            .expect("same classes"),
        )
    }

    #[test]
    fn outputs_decide_the_task() {
        let classifier = vec![
            (
                "output_label".to_string(),
                tensor(Element::I64, vec![2], vec![json!(1), json!(0)]),
            ),
            (
                "output_probability".to_string(),
                zipmap(&[&[("0", 0.25), ("1", 0.75)], &[("0", 0.5), ("1", 0.5)]]),
            ),
        ];
        let (shape, task, warning) = shape_of(&classifier, None).expect("classifier");
        assert_eq!(task, Task::Classification);
        assert_eq!(warning, None);
        assert_eq!(
            shape,
            Shape::Classes {
                label: 0,
                probabilities: Some((1, vec!["0".into(), "1".into()]))
            }
        );
        let predicted = predictions(&classifier, &shape, 2).expect("predictions");
        assert_eq!(predicted.labels, ["1", "0"]);
        assert_eq!(predicted.probabilities, [0.25, 0.75, 0.5, 0.5]);

        let regressor = vec![(
            "variable".to_string(),
            tensor(Element::F32, vec![2, 1], vec![json!(1.5), json!(-2.0)]),
        )];
        let (shape, task, _) = shape_of(&regressor, None).expect("regressor");
        assert_eq!(
            (shape.clone(), task),
            (Shape::Values { output: 0 }, Task::Regression)
        );
        assert_eq!(
            predictions(&regressor, &shape, 2).expect("values").values,
            [1.5, -2.0]
        );
        // Asked for classification, a float output's values are labels ("1", not "1.0").
        let (shape, task, _) = shape_of(&regressor, Some(Task::Classification)).expect("forced");
        assert_eq!(task, Task::Classification);
        assert_eq!(
            predictions(&regressor, &shape, 2).expect("labels").labels,
            ["1.5", "-2"]
        );

        // zipmap=False: labels only, and a warning that says why.
        let unnamed = vec![
            (
                "label".to_string(),
                tensor(Element::Text, vec![1], vec![json!("cat")]),
            ),
            (
                "probabilities".to_string(),
                tensor(Element::F32, vec![1, 2], vec![json!(0.5), json!(0.5)]),
            ),
        ];
        let (shape, task, warning) = shape_of(&unnamed, None).expect("unnamed");
        assert_eq!(task, Task::Classification);
        assert_eq!(
            shape,
            Shape::Classes {
                label: 0,
                probabilities: None
            }
        );
        assert!(warning.is_some_and(|text| text.contains("zipmap=False")));

        // Several values per row are refused with the output named.
        let wide = vec![(
            "variable".to_string(),
            tensor(Element::F32, vec![1, 2], vec![json!(1.0), json!(2.0)]),
        )];
        let (shape, _, _) = shape_of(&wide, None).expect("wide");
        let message = predictions(&wide, &shape, 1)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("\"variable\" gives 2 values for 1 rows"),
            "{message}"
        );
    }

    #[test]
    fn the_positive_class_is_chosen_as_scikit_learn_does() {
        let check = |classes: &[&str], given: Option<&str>, expected: Result<&str, &str>| {
            let classes: Vec<String> = classes.iter().map(|class| class.to_string()).collect();
            let actual = positive_class(&classes, given).map_err(|error| error.to_string());
            match expected {
                Ok(class) => assert_eq!(actual.as_deref(), Ok(class), "{classes:?}"),
                Err(fragment) => assert!(
                    actual
                        .as_ref()
                        .is_err_and(|message| message.contains(fragment)),
                    "{classes:?}: {actual:?}"
                ),
            }
        };
        check(&["0", "1"], None, Ok("1"));
        check(&["1", "2"], None, Ok("1"));
        check(&["no", "yes"], None, Ok("yes"));
        check(&["10", "9"], None, Ok("10"));
        check(&["no", "yes"], Some("no"), Ok("no"));
        check(
            &["no", "yes"],
            Some("maybe"),
            Err("not a class of the model"),
        );
    }

    #[test]
    fn features_default_to_the_signature_else_every_other_column() {
        let interface = |columns: Option<&[&str]>| Interface {
            inputs: vec![InputSpec {
                name: "float_input".into(),
                element: Element::F32,
                shape: vec![-1, 2],
            }],
            output_names: vec![],
            columns: columns.map(|names| {
                names
                    .iter()
                    .map(|name| (name.to_string(), "double".to_string(), true))
                    .collect()
            }),
        };
        let columns: Vec<String> = ["id", "b", "y", "a", "region"].map(String::from).to_vec();
        let slices = vec!["region".to_string()];
        let pick = |interface: &Interface, requested: &[&str]| {
            let requested: Vec<String> = requested.iter().map(|name| name.to_string()).collect();
            feature_columns(interface, &requested, &columns, "y", &slices)
                .map_err(|error| error.to_string())
        };
        assert_eq!(
            pick(&interface(Some(&["a", "b"])), &[]),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        let three = Interface {
            inputs: vec![InputSpec {
                name: "float_input".into(),
                element: Element::F32,
                shape: vec![-1, 3],
            }],
            ..interface(None)
        };
        assert_eq!(
            pick(&three, &[]),
            Ok(vec!["id".to_string(), "b".to_string(), "a".to_string()])
        );
        assert_eq!(
            pick(&interface(None), &["b", "a"]),
            Ok(vec!["b".to_string(), "a".to_string()])
        );
        let missing = pick(&interface(Some(&["a", "c"])), &[]).expect_err("c is missing");
        assert!(
            missing.contains("the model takes column \"c\", which the data lacks"),
            "{missing}"
        );
        let unknown = pick(&interface(None), &["a", "zz"]).expect_err("zz is missing");
        assert!(
            unknown.contains("--feature-cols \"zz\": no such column"),
            "{unknown}"
        );
        let wide = pick(&interface(None), &[]).expect_err("three columns for two features");
        assert!(
            wide.contains("takes 2 features per row, the data has 3 columns (id, b, a) besides the label and slice columns: name the features with --feature-cols"),
            "{wide}"
        );
        let wide = pick(&interface(None), &["a"]).expect_err("one column for two features");
        assert!(
            wide.contains("takes 2 features per row, --feature-cols names 1 columns (a)"),
            "{wide}"
        );
    }

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
    }
}
