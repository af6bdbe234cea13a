//! A loaded model: its ONNX Runtime sessions, the inputs it takes, and the two steps around a call:
//! binding a parsed request to the model's inputs (every client mistake is a 400 here), and shaping
//! the outputs (ZipMap sequences of maps become per-class probabilities).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::mlmodel::{Schema, TensorSpec};
use crate::request::{Cell, Frame, Payload, TensorData};
use crate::resolve::LocalModel;
use crate::ServeError;

/// Element types cairn feeds to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    F32,
    F64,
    I64,
    I32,
    Bool,
    Text,
}

impl Element {
    fn from_ort(ty: TensorElementType) -> Option<Element> {
        Some(match ty {
            TensorElementType::Float32 => Element::F32,
            TensorElementType::Float64 => Element::F64,
            TensorElementType::Int64 => Element::I64,
            TensorElementType::Int32 => Element::I32,
            TensorElementType::Bool => Element::Bool,
            TensorElementType::String => Element::Text,
            _ => return None,
        })
    }

    /// The Open Inference Protocol's name for it.
    pub fn v2_name(self) -> &'static str {
        match self {
            Element::F32 => "FP32",
            Element::F64 => "FP64",
            Element::I64 => "INT64",
            Element::I32 => "INT32",
            Element::Bool => "BOOL",
            Element::Text => "BYTES",
        }
    }
}

/// One input of the ONNX graph.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub element: Element,
    /// `-1` for a dynamic dimension.
    pub shape: Vec<i64>,
}

/// The model's interface, independent of ONNX Runtime (so binding is testable without it).
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub inputs: Vec<InputSpec>,
    pub output_names: Vec<String>,
    /// Column names in order, from the MLmodel signature when it has column inputs.
    pub columns: Option<Vec<(String, String, bool)>>,
}

/// A tensor ready to feed: shape and typed data.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    F32(Vec<i64>, Vec<f32>),
    F64(Vec<i64>, Vec<f64>),
    I64(Vec<i64>, Vec<i64>),
    I32(Vec<i64>, Vec<i32>),
    Bool(Vec<i64>, Vec<bool>),
    Text(Vec<i64>, Vec<String>),
}

fn bad(message: impl Into<String>) -> ServeError {
    ServeError::BadRequest(message.into())
}

impl Interface {
    /// Binds a request to the model's inputs, or says exactly what is wrong with it.
    pub fn bind(&self, payload: &Payload) -> Result<(Vec<(String, Feed)>, usize), ServeError> {
        match payload {
            Payload::Frame(frame) => self.bind_frame(frame),
            Payload::Tensor(tensor) => {
                let [input] = self.inputs.as_slice() else {
                    return Err(bad(format!(
                        "the model takes {} inputs ({}); send them by name",
                        self.inputs.len(),
                        self.input_names()
                    )));
                };
                let rows = tensor.shape.first().copied().unwrap_or(1);
                Ok((
                    vec![(input.name.clone(), feed_tensor(input, tensor)?)],
                    rows,
                ))
            }
            Payload::Named(tensors) => {
                for (name, _) in tensors {
                    if !self.inputs.iter().any(|spec| spec.name == *name) {
                        return Err(bad(format!(
                            "unknown input '{name}'; the model takes: {}",
                            self.input_names()
                        )));
                    }
                }
                let mut feeds = Vec::with_capacity(self.inputs.len());
                let mut rows = 0;
                for spec in &self.inputs {
                    let Some((_, tensor)) = tensors.iter().find(|(name, _)| *name == spec.name)
                    else {
                        return Err(bad(format!("missing input '{}'", spec.name)));
                    };
                    rows = rows.max(tensor.shape.first().copied().unwrap_or(1));
                    feeds.push((spec.name.clone(), feed_tensor(spec, tensor)?));
                }
                Ok((feeds, rows))
            }
        }
    }

    fn input_names(&self) -> String {
        self.inputs
            .iter()
            .map(|spec| format!("'{}' {:?}", spec.name, spec.shape))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn bind_frame(&self, frame: &Frame) -> Result<(Vec<(String, Feed)>, usize), ServeError> {
        let Some(first) = frame.rows.first() else {
            return Err(bad("no rows to predict"));
        };
        let columns = transpose(frame, first.len())?;
        self.bind_column_major(frame.columns.as_deref(), columns, frame.rows.len())
    }

    /// Binds a table given column by column (`names[i]` names `columns[i]`, every column the same
    /// length) as [`Interface::bind`] binds a data frame with those columns: a caller holding
    /// columns (e.g. `cairn eval` reading a file) skips building rows only to have them transposed.
    pub fn bind_columns(
        &self,
        names: &[String],
        columns: Vec<Vec<Cell>>,
    ) -> Result<(Vec<(String, Feed)>, usize), ServeError> {
        if names.len() != columns.len() {
            return Err(bad(format!(
                "{} column names for {} columns",
                names.len(),
                columns.len()
            )));
        }
        let n_rows = columns.first().map_or(0, Vec::len);
        if let Some((index, column)) = columns
            .iter()
            .enumerate()
            .find(|(_, column)| column.len() != n_rows)
        {
            return Err(bad(format!(
                "column '{}' has {} values, column '{}' has {n_rows}",
                names[index],
                column.len(),
                names[0]
            )));
        }
        self.bind_column_major(Some(names), columns, n_rows)
    }

    /// The element type the model takes column `name` as, when a frame column maps to one input:
    /// the per-column input of that name, else the single input's type.
    pub fn column_element(&self, name: &str) -> Option<Element> {
        match self.inputs.as_slice() {
            [single] => Some(single.element),
            several => several
                .iter()
                .find(|spec| spec.name == name)
                .map(|spec| spec.element),
        }
    }

    /// The columns the model expects, in order: the signature's, else the ONNX inputs' names (one
    /// column per input) when there are several inputs; `None`: any columns, in the order sent.
    pub fn expected_columns(&self) -> Option<Vec<(String, bool)>> {
        match &self.columns {
            Some(columns) => Some(
                columns
                    .iter()
                    .map(|(name, _, required)| (name.clone(), *required))
                    .collect(),
            ),
            None if self.inputs.len() > 1 => Some(
                self.inputs
                    .iter()
                    .map(|spec| (spec.name.clone(), true))
                    .collect(),
            ),
            None => None,
        }
    }

    /// The shared part of binding a frame: `columns` are column-major, `sent` their names if any.
    fn bind_column_major(
        &self,
        sent: Option<&[String]>,
        columns: Vec<Vec<Cell>>,
        n_rows: usize,
    ) -> Result<(Vec<(String, Feed)>, usize), ServeError> {
        if n_rows == 0 {
            return Err(bad("no rows to predict"));
        }
        let expected = self.expected_columns();
        let listed = |expected: &[(String, bool)]| {
            expected
                .iter()
                .map(|(name, _)| format!("'{name}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Column-major cells in the expected order.
        let (names, picked): (Vec<String>, Vec<Vec<Cell>>) = match (&expected, sent) {
            (Some(expected), Some(sent)) => {
                let mut names = Vec::with_capacity(expected.len());
                let mut picked = Vec::with_capacity(expected.len());
                for (name, required) in expected {
                    match sent.iter().position(|column| column == name) {
                        Some(index) => {
                            names.push(name.clone());
                            picked.push(columns[index].clone());
                        }
                        None if *required => {
                            return Err(bad(format!(
                                "missing column '{name}'; the model expects columns: {}",
                                listed(expected)
                            )))
                        }
                        None => {
                            names.push(name.clone());
                            picked.push(vec![Cell::Null; n_rows]);
                        }
                    }
                }
                (names, picked)
            }
            (Some(expected), None) => {
                let width = columns.len();
                if width != expected.len() {
                    return Err(bad(format!(
                        "rows have {width} values but the model expects {} columns: {}",
                        expected.len(),
                        listed(expected)
                    )));
                }
                let names = expected.iter().map(|(name, _)| name.clone()).collect();
                (names, columns)
            }
            (None, sent) => {
                let names = match sent {
                    Some(sent) => sent.to_vec(),
                    None => (0..columns.len()).map(|index| index.to_string()).collect(),
                };
                (names, columns)
            }
        };
        if self.inputs.len() > 1 {
            // One input per column, matched by name.
            let mut feeds = Vec::with_capacity(self.inputs.len());
            for spec in &self.inputs {
                let Some(index) = names.iter().position(|name| *name == spec.name) else {
                    return Err(bad(format!(
                        "missing column '{}' (a model input)",
                        spec.name
                    )));
                };
                let shape = if spec.shape.len() == 2 {
                    vec![n_rows as i64, 1]
                } else {
                    vec![n_rows as i64]
                };
                feeds.push((
                    spec.name.clone(),
                    convert(spec.element, &picked[index], shape, |row| {
                        format!("column '{}' (row {row})", spec.name)
                    })?,
                ));
            }
            return Ok((feeds, n_rows));
        }
        let Some(spec) = self.inputs.first() else {
            return Err(ServeError::Model("the model has no inputs".into()));
        };
        let width = names.len();
        if spec.shape.len() == 2 && spec.shape[1] >= 0 && spec.shape[1] as usize != width {
            return Err(bad(format!(
                "the model's input '{}' takes {} features per row, got {width} columns",
                spec.name, spec.shape[1]
            )));
        }
        // Row-major cells for the single [N, F] input.
        let mut cells = Vec::with_capacity(n_rows * width);
        for row in 0..n_rows {
            for column in &picked {
                cells.push(column[row].clone());
            }
        }
        let shape = vec![n_rows as i64, width as i64];
        let feed = convert(spec.element, &cells, shape, |flat| {
            format!("column '{}' (row {})", names[flat % width], flat / width)
        })?;
        Ok((vec![(spec.name.clone(), feed)], n_rows))
    }
}

fn transpose(frame: &Frame, width: usize) -> Result<Vec<Vec<Cell>>, ServeError> {
    let mut columns = vec![Vec::with_capacity(frame.rows.len()); width];
    for (index, row) in frame.rows.iter().enumerate() {
        if row.len() != width {
            return Err(bad(format!(
                "row {index} has {} values, row 0 has {width}",
                row.len()
            )));
        }
        for (column, cell) in columns.iter_mut().zip(row) {
            column.push(cell.clone());
        }
    }
    Ok(columns)
}

fn feed_tensor(spec: &InputSpec, tensor: &TensorData) -> Result<Feed, ServeError> {
    let fits = tensor.shape.len() == spec.shape.len()
        && tensor
            .shape
            .iter()
            .zip(&spec.shape)
            .all(|(sent, expected)| *expected < 0 || *sent as i64 == *expected);
    if !fits {
        return Err(bad(format!(
            "input '{}' expects shape {:?} (-1: any size), got {:?}",
            spec.name, spec.shape, tensor.shape
        )));
    }
    let shape = tensor.shape.iter().map(|dim| *dim as i64).collect();
    convert(spec.element, &tensor.values, shape, |index| {
        format!("input '{}' (element {index})", spec.name)
    })
}

/// Converts cells to the element type; `place(i)` names the i-th cell in an error.
fn convert(
    element: Element,
    cells: &[Cell],
    shape: Vec<i64>,
    place: impl Fn(usize) -> String,
) -> Result<Feed, ServeError> {
    let number = |index: usize, cell: &Cell| -> Result<f64, ServeError> {
        match cell {
            Cell::Number(value) => Ok(*value),
            Cell::Bool(flag) => Ok(f64::from(u8::from(*flag))),
            Cell::Null => Err(bad(format!("{}: missing value", place(index)))),
            Cell::Text(text) => Err(bad(format!(
                "{}: expected a number, got the string {text:?}",
                place(index)
            ))),
        }
    };
    let integer = |index: usize, cell: &Cell| -> Result<i64, ServeError> {
        let value = number(index, cell)?;
        if value.fract() != 0.0 || !value.is_finite() || value.abs() > 9.0e15 {
            return Err(bad(format!(
                "{}: expected an integer, got {value}",
                place(index)
            )));
        }
        Ok(value as i64)
    };
    Ok(match element {
        Element::F32 => Feed::F32(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| number(index, cell).map(|value| value as f32))
                .collect::<Result<_, _>>()?,
        ),
        Element::F64 => Feed::F64(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| number(index, cell))
                .collect::<Result<_, _>>()?,
        ),
        Element::I64 => Feed::I64(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| integer(index, cell))
                .collect::<Result<_, _>>()?,
        ),
        Element::I32 => Feed::I32(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| {
                    let value = integer(index, cell)?;
                    i32::try_from(value).map_err(|_| {
                        bad(format!("{}: {value} does not fit in int32", place(index)))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Element::Bool => Feed::Bool(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| match cell {
                    Cell::Bool(flag) => Ok(*flag),
                    other => number(index, other).map(|value| value != 0.0),
                })
                .collect::<Result<_, _>>()?,
        ),
        Element::Text => Feed::Text(
            shape,
            cells
                .iter()
                .enumerate()
                .map(|(index, cell)| match cell {
                    Cell::Text(text) => Ok(text.clone()),
                    Cell::Number(value) => Ok(value.to_string()),
                    Cell::Bool(flag) => Ok(flag.to_string()),
                    Cell::Null => Err(bad(format!("{}: missing value", place(index)))),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// One output of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Tensor {
        element: Element,
        shape: Vec<i64>,
        /// Elements as JSON values, row-major.
        values: Vec<Value>,
    },
    /// A ZipMap: per-class probabilities.
    ClassProbabilities(ClassProbabilities),
}

/// Per-class probabilities of each row (what a ZipMap returns), classes sorted: integer labels
/// numerically, then text labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassProbabilities {
    pub classes: Arc<[String]>,
    /// Row-major: `classes.len()` probabilities per row.
    pub values: Vec<f64>,
}

impl ClassProbabilities {
    /// From one `(class, probability)` list per row; `None` when rows name different classes.
    pub fn from_pairs(rows: Vec<Vec<(String, f64)>>) -> Option<ClassProbabilities> {
        let classes: Arc<[String]> = rows
            .first()
            .map(|pairs| pairs.iter().map(|(class, _)| class.clone()).collect())
            .unwrap_or_default();
        let mut values = Vec::with_capacity(rows.len() * classes.len());
        for pairs in rows {
            if pairs.len() != classes.len()
                || pairs
                    .iter()
                    .zip(classes.iter())
                    .any(|((class, _), want)| class != want)
            {
                return None;
            }
            values.extend(pairs.into_iter().map(|(_, probability)| probability));
        }
        Some(ClassProbabilities { classes, values })
    }

    pub fn rows(&self) -> usize {
        self.values
            .len()
            .checked_div(self.classes.len())
            .unwrap_or(0)
    }

    /// The probabilities of row `row`, in class order.
    pub fn row(&self, row: usize) -> Option<&[f64]> {
        let width = self.classes.len();
        self.values.get(row * width..(row + 1) * width)
    }

    /// Rows `start..start + count`.
    pub fn slice(&self, start: usize, count: usize) -> Option<ClassProbabilities> {
        let width = self.classes.len();
        Some(ClassProbabilities {
            classes: Arc::clone(&self.classes),
            values: self
                .values
                .get(start * width..(start + count) * width)?
                .to_vec(),
        })
    }
}

impl Output {
    /// `[{name, datatype, shape, data}]` entry of a v2 response.
    pub fn to_v2(&self, name: &str) -> Value {
        match self {
            Output::Tensor {
                element,
                shape,
                values,
            } => {
                json!({"name": name, "datatype": element.v2_name(), "shape": shape, "data": values})
            }
            Output::ClassProbabilities(table) => {
                json!({
                    "name": name,
                    "datatype": "FP32",
                    "shape": [table.rows(), table.classes.len()],
                    "data": table.values,
                    "parameters": {"classes": table.classes.join(",")},
                })
            }
        }
    }
}

/// MLflow's `predictions`: one record per row for data-frame input, else one list per output.
///
/// Serialized straight from the outputs, without building a JSON tree first (that tree cost more
/// than the model call for a 64-row request). Object keys come out sorted, as serde_json's `Map`
/// orders them.
pub fn mlflow_predictions(
    outputs: &[(String, Output)],
    rows: usize,
    frame: bool,
) -> MlflowPredictions<'_> {
    let mut sorted: Vec<(&str, &Output, Vec<usize>)> = outputs
        .iter()
        .map(|(name, output)| {
            let mut order = Vec::new();
            if let Output::ClassProbabilities(table) = output {
                order = (0..table.classes.len()).collect();
                order.sort_by(|a, b| table.classes[*a].cmp(&table.classes[*b]));
            }
            (name.as_str(), output, order)
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    MlflowPredictions {
        outputs: sorted,
        rows,
        frame,
    }
}

/// See [`mlflow_predictions`].
pub struct MlflowPredictions<'a> {
    /// (name, output, class order for probabilities), by name.
    outputs: Vec<(&'a str, &'a Output, Vec<usize>)>,
    rows: usize,
    frame: bool,
}

impl Serialize for MlflowPredictions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cell = |index: usize, row: usize| {
            let (_, output, order) = &self.outputs[index];
            OutputCell {
                output,
                order,
                row,
                rows: self.rows,
            }
        };
        if self.frame {
            let mut records = serializer.serialize_seq(Some(self.rows))?;
            for row in 0..self.rows {
                records.serialize_element(&Fields(
                    (0..self.outputs.len()).map(|index| (self.outputs[index].0, cell(index, row))),
                ))?;
            }
            return records.end();
        }
        let mut columns = serializer.serialize_map(Some(self.outputs.len()))?;
        for (index, (name, _, _)) in self.outputs.iter().enumerate() {
            columns.serialize_entry(name, &Items((0..self.rows).map(|row| cell(index, row))))?;
        }
        columns.end()
    }
}

/// An object from (key, value) pairs, written in the order given.
struct Fields<I>(I);

impl<K: Serialize, V: Serialize, I: Iterator<Item = (K, V)> + Clone> Serialize for Fields<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.clone())
    }
}

/// An array from an iterator.
struct Items<I>(I);

impl<T: Serialize, I: Iterator<Item = T> + Clone> Serialize for Items<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// One output's value for one row of a batch of `rows`.
struct OutputCell<'a> {
    output: &'a Output,
    /// Class order for probabilities.
    order: &'a [usize],
    row: usize,
    rows: usize,
}

impl Serialize for OutputCell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.output {
            Output::ClassProbabilities(table) => match table.row(self.row) {
                Some(values) => serializer.collect_map(
                    self.order
                        .iter()
                        .map(|index| (&table.classes[*index], values[*index])),
                ),
                None => serializer.serialize_unit(),
            },
            Output::Tensor { values, .. } => {
                if self.rows == 0 || values.len() % self.rows != 0 {
                    return serializer.serialize_unit();
                }
                let width = values.len() / self.rows;
                if width == 1 {
                    values[self.row].serialize(serializer)
                } else {
                    values[self.row * width..(self.row + 1) * width].serialize(serializer)
                }
            }
        }
    }
}

/// A model ready to serve.
pub struct LoadedModel {
    pub name: String,
    pub version: String,
    pub interface: Interface,
    sessions: Vec<Mutex<Session>>,
    /// Outputs that were ZipMaps, now float tensors.
    unzipped: Vec<UnzippedOutput>,
    next: AtomicUsize,
    /// This version's micro-batching queue (see [`crate::batch`]).
    pub(crate) batcher: crate::batch::Batcher,
    /// The downloaded files, deleted when the last request holding this model is done with it.
    download: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoadedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("interface", &self.interface)
            .finish()
    }
}

impl LoadedModel {
    /// Loads `onnx_path` into `n_sessions` sessions (one call runs on one session, one thread).
    pub fn load(
        environment: &ort::environment::Environment,
        name: &str,
        version: &str,
        onnx_path: &Path,
        signature_inputs: Option<&Schema>,
        n_sessions: usize,
    ) -> Result<LoadedModel, ServeError> {
        let model_error =
            |error: String| ServeError::Model(format!("loading {}: {error}", onnx_path.display()));
        let bytes = std::fs::read(onnx_path)
            .map_err(ServeError::io(format!("reading {}", onnx_path.display())))?;
        let session = |bytes: &[u8]| -> Result<Session, ort::Error> {
            Session::builder(environment)?
                .with_intra_threads(1)?
                .with_inter_threads(1)?
                .commit_from_memory(bytes)
        };
        // ZipMaps unzipped (see zipmap.rs); the model as written when ONNX Runtime refuses the
        // rewrite.
        let (bytes, unzipped) = match crate::zipmap::unzip(&bytes) {
            Some((rewritten, unzipped)) => match session(&rewritten) {
                Ok(_) => (rewritten, unzipped),
                Err(error) => {
                    tracing::warn!(%error, "serving the ZipMap output as maps: the unzipped model did not load");
                    (bytes, Vec::new())
                }
            },
            None => (bytes, Vec::new()),
        };
        let mut sessions = Vec::with_capacity(n_sessions.max(1));
        for _ in 0..n_sessions.max(1) {
            let session = session(&bytes).map_err(|error| model_error(error.to_string()))?;
            sessions.push(Mutex::new(session));
        }
        let unzipped = unzipped.into_iter().map(UnzippedOutput::new).collect();
        let interface = {
            let first = sessions[0]
                .lock()
                .map_err(|_| ServeError::Model("session lock poisoned".into()))?;
            let mut inputs = Vec::new();
            for outlet in first.inputs() {
                let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
                    return Err(model_error(format!(
                        "input '{}' is not a tensor",
                        outlet.name()
                    )));
                };
                let element = Element::from_ort(*ty).ok_or_else(|| {
                    model_error(format!(
                        "input '{}' has an unsupported type {ty:?}",
                        outlet.name()
                    ))
                })?;
                inputs.push(InputSpec {
                    name: outlet.name().to_owned(),
                    element,
                    shape: shape.to_vec(),
                });
            }
            let output_names = first
                .outputs()
                .iter()
                .map(|outlet| outlet.name().to_owned())
                .collect();
            let columns = match signature_inputs {
                Some(Schema::Columns(columns)) => Some(
                    columns
                        .iter()
                        .enumerate()
                        .map(|(index, column)| {
                            (
                                column.name.clone().unwrap_or_else(|| index.to_string()),
                                column.kind.clone(),
                                column.required,
                            )
                        })
                        .collect(),
                ),
                Some(Schema::Tensors(specs)) => {
                    check_tensor_signature(specs, &inputs)?;
                    None
                }
                None => None,
            };
            Interface {
                inputs,
                output_names,
                columns,
            }
        };
        Ok(LoadedModel {
            name: name.to_owned(),
            version: version.to_owned(),
            interface,
            sessions,
            unzipped,
            next: AtomicUsize::new(0),
            batcher: crate::batch::Batcher::default(),
            download: None,
        })
    }

    /// Loads a resolved model off the async runtime; the model keeps `local`'s download alive.
    pub async fn load_local(
        environment: &ort::environment::Environment,
        name: &str,
        local: LocalModel,
        n_sessions: usize,
    ) -> Result<LoadedModel, ServeError> {
        let environment = environment.clone();
        let name = name.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let model = LoadedModel::load(
                &environment,
                &name,
                &local.version,
                &local.onnx_path,
                local.mlmodel.inputs.as_ref(),
                n_sessions,
            )?;
            Ok(LoadedModel {
                download: local.download,
                ..model
            })
        });
        task.await
            .map_err(|error| ServeError::Model(format!("loading task failed: {error}")))?
    }

    /// Where the downloaded files are (`None` for a model read from a local path).
    pub fn download_path(&self) -> Option<&Path> {
        self.download.as_ref().map(tempfile::TempDir::path)
    }

    /// Runs one call (blocking: call it from `spawn_blocking`).
    pub fn predict(&self, feeds: Vec<(String, Feed)>) -> Result<Vec<(String, Output)>, ServeError> {
        let runtime = |error: ort::Error| ServeError::Runtime(format!("inference failed: {error}"));
        let mut inputs: Vec<(String, DynValue)> = Vec::with_capacity(feeds.len());
        for (name, feed) in feeds {
            let value = match feed {
                Feed::F32(shape, data) => {
                    Tensor::from_array((shape, data)).map(|tensor| tensor.into_dyn())
                }
                Feed::F64(shape, data) => {
                    Tensor::from_array((shape, data)).map(|tensor| tensor.into_dyn())
                }
                Feed::I64(shape, data) => {
                    Tensor::from_array((shape, data)).map(|tensor| tensor.into_dyn())
                }
                Feed::I32(shape, data) => {
                    Tensor::from_array((shape, data)).map(|tensor| tensor.into_dyn())
                }
                Feed::Bool(shape, data) => {
                    Tensor::from_array((shape, data)).map(|tensor| tensor.into_dyn())
                }
                Feed::Text(shape, data) => Tensor::from_string_array((shape, data.as_slice()))
                    .map(|tensor| tensor.into_dyn()),
            }
            .map_err(|error| bad(format!("input '{name}': {error}")))?;
            inputs.push((name, value));
        }
        // Take a free session, else wait for the next one in turn.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.sessions.len();
        let mut guard = None;
        for offset in 0..count {
            if let Ok(session) = self.sessions[(start + offset) % count].try_lock() {
                guard = Some(session);
                break;
            }
        }
        let mut session = match guard {
            Some(session) => session,
            None => self.sessions[start % count]
                .lock()
                .map_err(|_| ServeError::Runtime("session lock poisoned".into()))?,
        };
        let outputs = session.run(inputs).map_err(runtime)?;
        let mut shaped = Vec::with_capacity(self.interface.output_names.len());
        for name in &self.interface.output_names {
            let Some(value) = outputs.get(name.as_str()) else {
                continue;
            };
            let output = match self.unzipped.iter().find(|done| done.output == *name) {
                Some(unzipped) => unzipped.shape(value).map_err(runtime)?,
                None => shape_output(value).map_err(runtime)?,
            };
            shaped.push((name.clone(), output));
        }
        Ok(shaped)
    }
}

/// An output that was a ZipMap: its float tensor, read back as per-class probabilities.
struct UnzippedOutput {
    output: String,
    /// Sorted as [`ClassProbabilities`] wants them.
    classes: Arc<[String]>,
    /// The tensor column of each class in `classes`.
    columns: Vec<usize>,
}

impl UnzippedOutput {
    fn new(unzipped: crate::zipmap::Unzipped) -> UnzippedOutput {
        let mut columns: Vec<usize> = (0..unzipped.classes.len()).collect();
        let key = |column: &usize| {
            let class = &unzipped.classes[*column];
            match class.parse::<i64>() {
                Ok(number) if unzipped.numeric => SortKey::Int(number),
                _ => SortKey::Text(class.clone()),
            }
        };
        columns.sort_by_cached_key(key);
        UnzippedOutput {
            classes: columns
                .iter()
                .map(|column| unzipped.classes[*column].clone())
                .collect(),
            output: unzipped.output,
            columns,
        }
    }

    fn shape(&self, value: &DynValue) -> Result<Output, ort::Error> {
        let (shape, data) = value.try_extract_tensor::<f32>()?;
        let width = self.classes.len();
        if shape.len() != 2 || usize::try_from(shape[1]).ok() != Some(width) {
            return Err(ort::Error::new(format!(
                "output '{}' has shape {:?}, expected [rows, {width}]",
                self.output,
                &shape[..]
            )));
        }
        let mut values = Vec::with_capacity(data.len());
        for row in data.chunks_exact(width) {
            values.extend(self.columns.iter().map(|column| f64::from(row[*column])));
        }
        Ok(Output::ClassProbabilities(ClassProbabilities {
            classes: Arc::clone(&self.classes),
            values,
        }))
    }
}

fn check_tensor_signature(specs: &[TensorSpec], inputs: &[InputSpec]) -> Result<(), ServeError> {
    for spec in specs {
        if let Some(name) = &spec.name {
            if !inputs.iter().any(|input| input.name == *name) {
                tracing::warn!(input = %name, "the MLmodel signature names an input the ONNX graph lacks");
            }
        }
    }
    Ok(())
}

fn shape_output(value: &DynValue) -> Result<Output, ort::Error> {
    match value.dtype() {
        ValueType::Tensor { ty, .. } => {
            let ty = *ty;
            let (shape, values): (Vec<i64>, Vec<Value>) = match ty {
                TensorElementType::Float32 => {
                    let (shape, data) = value.try_extract_tensor::<f32>()?;
                    (
                        shape.to_vec(),
                        data.iter().map(|x| json!(f64::from(*x))).collect(),
                    )
                }
                TensorElementType::Float64 => {
                    let (shape, data) = value.try_extract_tensor::<f64>()?;
                    (shape.to_vec(), data.iter().map(|x| json!(x)).collect())
                }
                TensorElementType::Int64 => {
                    let (shape, data) = value.try_extract_tensor::<i64>()?;
                    (shape.to_vec(), data.iter().map(|x| json!(x)).collect())
                }
                TensorElementType::Int32 => {
                    let (shape, data) = value.try_extract_tensor::<i32>()?;
                    (shape.to_vec(), data.iter().map(|x| json!(x)).collect())
                }
                TensorElementType::Bool => {
                    let (shape, data) = value.try_extract_tensor::<bool>()?;
                    (shape.to_vec(), data.iter().map(|x| json!(x)).collect())
                }
                TensorElementType::String => {
                    let (shape, data) = value.try_extract_strings()?;
                    (
                        shape.to_vec(),
                        data.into_iter().map(Value::String).collect(),
                    )
                }
                other => {
                    return Err(ort::Error::new(format!(
                        "unsupported output type {other:?}"
                    )));
                }
            };
            let element = Element::from_ort(ty).unwrap_or(Element::F32);
            Ok(Output::Tensor {
                element,
                shape,
                values,
            })
        }
        ValueType::Sequence(_) => {
            let maps = value.try_extract_sequence::<ort::value::DynValueTypeMarker>()?;
            let mut rows = Vec::with_capacity(maps.len());
            for map in &maps {
                let mut pairs: BTreeMap<SortKey, f64> = BTreeMap::new();
                if let Ok(entries) = map.try_extract_key_values::<i64, f32>() {
                    for (class, probability) in entries {
                        pairs.insert(SortKey::Int(class), f64::from(probability));
                    }
                } else {
                    for (class, probability) in map.try_extract_key_values::<String, f32>()? {
                        pairs.insert(SortKey::Text(class), f64::from(probability));
                    }
                }
                rows.push(
                    pairs
                        .into_iter()
                        .map(|(class, probability)| (class.to_string(), probability))
                        .collect(),
                );
            }
            ClassProbabilities::from_pairs(rows)
                .map(Output::ClassProbabilities)
                .ok_or_else(|| ort::Error::new("the ZipMap's rows name different classes"))
        }
        other => Err(ort::Error::new(format!(
            "unsupported output type {other:?}"
        ))),
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for SortKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SortKey::Int(value) => write!(formatter, "{value}"),
            SortKey::Text(value) => formatter.write_str(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse_invocations, parse_v2};

    fn interface(columns: Option<&[&str]>) -> Interface {
        Interface {
            inputs: vec![InputSpec {
                name: "float_input".into(),
                element: Element::F32,
                shape: vec![-1, 2],
            }],
            output_names: vec!["output_label".into()],
            columns: columns.map(|names| {
                names
                    .iter()
                    .map(|name| (name.to_string(), "double".to_string(), true))
                    .collect()
            }),
        }
    }

    fn bind(interface: &Interface, body: &str) -> Result<(Vec<(String, Feed)>, usize), String> {
        let payload = if body.starts_with("{\"inputs\": [{") {
            parse_v2(body.as_bytes())
        } else {
            parse_invocations("application/json", body.as_bytes())
        }
        .map_err(|error| error.to_string())?;
        interface.bind(&payload).map_err(|error| error.to_string())
    }

    #[test]
    fn frames_bind_in_signature_order() {
        let model = interface(Some(&["a", "b"]));
        let expected = Ok((
            vec![(
                "float_input".to_string(),
                Feed::F32(vec![1, 2], vec![1.0, 2.0]),
            )],
            1,
        ));
        for body in [
            r#"{"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1]]}}"#,
            r#"{"dataframe_split": {"columns": ["b", "extra", "a"], "data": [[2, "x", 1]]}}"#,
            r#"{"dataframe_split": {"data": [[1, 2]]}}"#,
            r#"{"dataframe_records": [{"b": 2, "a": 1}]}"#,
            r#"{"instances": [[1, 2]]}"#,
            r#"{"inputs": {"float_input": [[1, 2]]}}"#,
            r#"{"inputs": [{"name": "float_input", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}"#,
        ] {
            assert_eq!(bind(&model, body), expected, "{body}");
        }
    }

    #[test]
    fn binding_errors_name_the_problem() {
        let model = interface(Some(&["a", "b"]));
        for (body, fragment) in [
            (
                r#"{"dataframe_split": {"columns": ["a"], "data": [[1]]}}"#,
                "missing column 'b'",
            ),
            (
                r#"{"dataframe_records": [{"a": 1, "b": "x"}]}"#,
                "column 'b' (row 0): expected a number, got the string \"x\"",
            ),
            (
                r#"{"dataframe_records": [{"a": 1, "b": 2}, {"a": 1}]}"#,
                "column 'b' (row 1): missing value",
            ),
            (
                r#"{"dataframe_split": {"data": [[1, 2, 3]]}}"#,
                "rows have 3 values but the model expects 2 columns",
            ),
            (
                r#"{"dataframe_split": {"columns": ["a", "b"], "data": []}}"#,
                "no rows",
            ),
            (
                r#"{"instances": [[1, 2, 3]]}"#,
                "expects shape [-1, 2] (-1: any size), got [1, 3]",
            ),
            (r#"{"instances": [1, 2]}"#, "got [2]"),
            (r#"{"inputs": {"x": [[1, 2]]}}"#, "unknown input 'x'"),
            (
                r#"{"inputs": [{"name": "float_input", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}"#,
                "expects shape",
            ),
        ] {
            let message = bind(&model, body).expect_err(body);
            assert!(message.contains(fragment), "{body}: {message}");
        }
        let no_signature = interface(None);
        let message = bind(
            &no_signature,
            r#"{"dataframe_split": {"columns": ["a"], "data": [[1]]}}"#,
        )
        .expect_err("one column");
        assert!(
            message.contains("takes 2 features per row, got 1 columns"),
            "{message}"
        );
    }

    /// `bind_columns` gives what `bind` gives for the same table sent as a data frame.
    #[test]
    fn columns_bind_as_the_same_frame() {
        let per_column = Interface {
            inputs: vec![
                InputSpec {
                    name: "a".into(),
                    element: Element::I64,
                    shape: vec![-1, 1],
                },
                InputSpec {
                    name: "b".into(),
                    element: Element::Text,
                    shape: vec![-1],
                },
            ],
            output_names: vec![],
            columns: None,
        };
        let as_frame = |names: &[String], columns: &[Vec<Cell>]| {
            let rows = (0..columns[0].len())
                .map(|row| columns.iter().map(|column| column[row].clone()).collect())
                .collect();
            Payload::Frame(Frame {
                columns: Some(names.to_vec()),
                rows,
            })
        };
        let names: Vec<String> = ["b", "extra", "a"].map(String::from).to_vec();
        let signature = interface(Some(&["a", "b"]));
        let no_signature = interface(None);
        let numbers = |values: &[f64]| values.iter().map(|v| Cell::Number(*v)).collect();
        let texts = |values: &[&str]| values.iter().map(|v| Cell::Text(v.to_string())).collect();
        type Case<'a> = (&'a Interface, Vec<String>, Vec<Vec<Cell>>);
        let cases: Vec<Case> = vec![
            (
                &signature,
                names.clone(),
                vec![
                    numbers(&[2.0, 4.0]),
                    texts(&["x", "y"]),
                    numbers(&[1.0, 3.0]),
                ],
            ),
            (
                &no_signature,
                vec!["a".into(), "b".into()],
                vec![numbers(&[1.0, 3.0]), numbers(&[2.0, 4.0])],
            ),
            (
                &per_column,
                names.clone(),
                vec![
                    texts(&["x", "y"]),
                    numbers(&[0.0, 1.0]),
                    numbers(&[7.0, 8.0]),
                ],
            ),
            // Errors read the same too.
            (&signature, vec!["a".into()], vec![numbers(&[1.0])]),
            (
                &no_signature,
                vec!["a".into(), "b".into(), "c".into()],
                vec![numbers(&[1.0]), numbers(&[2.0]), numbers(&[3.0])],
            ),
            (
                &signature,
                vec!["a".into(), "b".into()],
                vec![numbers(&[1.0]), vec![Cell::Null]],
            ),
            (
                &per_column,
                vec!["a".into(), "b".into()],
                vec![numbers(&[1.5]), texts(&["x"])],
            ),
        ];
        for (model, names, columns) in cases {
            let frame = as_frame(&names, &columns);
            let expected = model.bind(&frame).map_err(|error| error.to_string());
            let actual = model
                .bind_columns(&names, columns)
                .map_err(|error| error.to_string());
            assert_eq!(actual, expected, "{names:?}");
        }
        let model = signature;
        let message = model
            .bind_columns(
                &["a".into(), "b".into()],
                vec![numbers(&[1.0, 2.0]), numbers(&[1.0])],
            )
            .expect_err("ragged");
        assert_eq!(
            message.to_string(),
            "column 'b' has 1 values, column 'a' has 2"
        );
        let message = model
            .bind_columns(&["a".into(), "b".into()], vec![Vec::new(), Vec::new()])
            .expect_err("empty");
        assert_eq!(message.to_string(), "no rows to predict");
        assert_eq!(model.column_element("anything"), Some(Element::F32));
        assert_eq!(per_column.column_element("b"), Some(Element::Text));
        assert_eq!(per_column.column_element("c"), None);
        assert_eq!(
            model.expected_columns(),
            Some(vec![("a".into(), true), ("b".into(), true)])
        );
        assert_eq!(no_signature.expected_columns(), None);
        assert_eq!(
            per_column.expected_columns(),
            Some(vec![("a".into(), true), ("b".into(), true)])
        );
    }

    #[test]
    fn per_column_inputs() {
        let model = Interface {
            inputs: vec![
                InputSpec {
                    name: "age".into(),
                    element: Element::I64,
                    shape: vec![-1, 1],
                },
                InputSpec {
                    name: "city".into(),
                    element: Element::Text,
                    shape: vec![-1, 1],
                },
            ],
            output_names: vec![],
            columns: None,
        };
        assert_eq!(
            bind(
                &model,
                r#"{"dataframe_records": [{"city": "x", "age": 3}]}"#
            ),
            Ok((
                vec![
                    ("age".to_string(), Feed::I64(vec![1, 1], vec![3])),
                    ("city".to_string(), Feed::Text(vec![1, 1], vec!["x".into()])),
                ],
                1
            ))
        );
        let message = bind(
            &model,
            r#"{"dataframe_records": [{"city": "x", "age": 3.5}]}"#,
        )
        .expect_err("fraction");
        assert!(
            message.contains("column 'age' (row 0): expected an integer, got 3.5"),
            "{message}"
        );
        let message = bind(&model, r#"{"dataframe_records": [{"age": 3}]}"#).expect_err("missing");
        assert!(message.contains("missing column 'city'"), "{message}");
    }

    #[test]
    fn predictions_shapes() {
        let outputs = vec![
            (
                "output_label".to_string(),
                Output::Tensor {
                    element: Element::I64,
                    shape: vec![2],
                    values: vec![json!(1), json!(0)],
                },
            ),
            (
                "output_probability".to_string(),
                Output::ClassProbabilities(
                    ClassProbabilities::from_pairs(vec![
                        vec![("0".into(), 0.25), ("1".into(), 0.75)],
                        vec![("0".into(), 0.5), ("1".into(), 0.5)],
                    ])
                    .expect("same classes"),
                ),
            ),
        ];
        let predictions = |frame| {
            serde_json::to_value(mlflow_predictions(&outputs, 2, frame)).expect("serializes")
        };
        assert_eq!(
            predictions(true),
            json!([
                {"output_label": 1, "output_probability": {"0": 0.25, "1": 0.75}},
                {"output_label": 0, "output_probability": {"0": 0.5, "1": 0.5}},
            ])
        );
        assert_eq!(
            predictions(false),
            json!({"output_label": [1, 0], "output_probability": [{"0": 0.25, "1": 0.75}, {"0": 0.5, "1": 0.5}]})
        );
        assert_eq!(
            outputs[1].1.to_v2("output_probability"),
            json!({"name": "output_probability", "datatype": "FP32", "shape": [2, 2],
                   "data": [0.25, 0.75, 0.5, 0.5], "parameters": {"classes": "0,1"}})
        );
    }
}
