//! The prediction log: a sampled record of predictions, one Parquet row per predicted row with the
//! request id, the time, every input feature and every output, written as rotating files per model
//! and version to a local folder or object storage (any [`ArtifactStore`]).
//!
//! Files land at `<model>/<version>/predictions-<first ms>-<n>.parquet`, so one model version's
//! log is a folder that `cairn data drift --current '<dir>/<model>/<version>/*.parquet'` reads as
//! it is. A file is closed when it holds `rotate_rows` rows, when its first row is `rotate_after`
//! old, when the model's columns change, and when the server stops (SIGTERM drains the queue).
//!
//! Logging never slows or fails a request: records go through a bounded queue, and a full queue
//! drops the record and counts it (`cairn_serve_prediction_log_dropped_total`). A file that cannot
//! be written is logged and counted, and the server keeps serving.
//!
//! Columns: `request_id`, `timestamp` (ms, UTC), `row` (the row's index in its request), then the
//! inputs (a one-wide input by its name; a wider one by the MLmodel signature's column names when it
//! is the only input and the widths agree, else `<input>_<j>`), then the outputs (`<output>`, or
//! `<output>_<j>`; class probabilities as `<output>_<class>`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_artifacts::ArtifactStore;
use cairn_core::artifact_path::ArtifactPath;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::model::{Element, Feed, Output};

/// How the log samples and rotates.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The share of requests logged, in [0, 1].
    pub sample: f64,
    /// A file is closed once it holds this many rows.
    pub rotate_rows: usize,
    /// ... or once its first row is this old.
    pub rotate_after: Duration,
    /// Records waiting to be written beyond this are dropped (and counted).
    pub queue: usize,
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            sample: 1.0,
            rotate_rows: 100_000,
            rotate_after: Duration::from_secs(300),
            queue: 4096,
        }
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub request_id: String,
    pub timestamp_ms: i64,
    pub model: String,
    pub version: String,
    /// The signature's column names, used for a single wide input (see the module docs).
    pub column_names: Option<Vec<String>>,
    pub rows: usize,
    pub inputs: Vec<(String, Feed)>,
    pub outputs: Vec<(String, Output)>,
}

enum Message {
    Entry(Box<Entry>),
    Flush(oneshot::Sender<()>),
}

/// Counters shown on `/metrics`.
#[derive(Debug, Default)]
pub struct LogCounters {
    pub rows_written: AtomicU64,
    pub files_written: AtomicU64,
    pub dropped: AtomicU64,
    pub write_errors: AtomicU64,
}

/// The handle the server holds: decides sampling, queues records, and flushes on stop.
pub struct PredictionLog {
    sender: mpsc::Sender<Message>,
    sample: f64,
    seen: AtomicU64,
    pub counters: Arc<LogCounters>,
    root: String,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PredictionLog")
            .field("root", &self.root)
            .field("sample", &self.sample)
            .finish()
    }
}

impl PredictionLog {
    /// Starts the writer task (call inside a tokio runtime).
    pub fn start(store: Arc<dyn ArtifactStore>, settings: LogSettings) -> PredictionLog {
        let (sender, receiver) = mpsc::channel(settings.queue.max(1));
        let counters = Arc::new(LogCounters::default());
        let root = store.root_uri().to_owned();
        let writer = Writer {
            store,
            settings: settings.clone(),
            counters: Arc::clone(&counters),
            streams: HashMap::new(),
            files: 0,
        };
        tokio::spawn(writer.run(receiver));
        PredictionLog {
            sender,
            sample: settings.sample.clamp(0.0, 1.0),
            seen: AtomicU64::new(0),
            counters,
            root,
        }
    }

    /// Where the files go.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Whether to log the next request: exactly `sample` of them, spread evenly (request `n` is
    /// logged when `floor((n + 1) * sample)` passes an integer).
    pub fn sample_next(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        takes(n, self.sample)
    }

    /// Queues a record; a full queue drops it.
    pub fn record(&self, entry: Entry) {
        if self
            .sender
            .try_send(Message::Entry(Box::new(entry)))
            .is_err()
        {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes every open file and waits until they are written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The counters in Prometheus' text format.
    pub fn render_metrics(&self) -> String {
        let counters = &self.counters;
        let mut text = String::new();
        for (name, help, value) in [
            (
                "cairn_serve_prediction_log_rows_total",
                "Predicted rows written to the prediction log.",
                &counters.rows_written,
            ),
            (
                "cairn_serve_prediction_log_files_total",
                "Prediction log files written.",
                &counters.files_written,
            ),
            (
                "cairn_serve_prediction_log_dropped_total",
                "Sampled requests not logged because the log's queue was full.",
                &counters.dropped,
            ),
            (
                "cairn_serve_prediction_log_write_errors_total",
                "Prediction log files that could not be written.",
                &counters.write_errors,
            ),
        ] {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        text
    }
}

fn takes(n: u64, sample: f64) -> bool {
    if sample >= 1.0 {
        return true;
    }
    if sample <= 0.0 {
        return false;
    }
    ((n + 1) as f64 * sample).floor() > (n as f64 * sample).floor()
}

/// A column's values, one per predicted row.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Double(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Double,
    Int,
    Bool,
    Text,
}

impl Values {
    fn kind(&self) -> Kind {
        match self {
            Values::Double(_) => Kind::Double,
            Values::Int(_) => Kind::Int,
            Values::Bool(_) => Kind::Bool,
            Values::Text(_) => Kind::Text,
        }
    }

    fn empty(kind: Kind) -> Values {
        match kind {
            Kind::Double => Values::Double(Vec::new()),
            Kind::Int => Values::Int(Vec::new()),
            Kind::Bool => Values::Bool(Vec::new()),
            Kind::Text => Values::Text(Vec::new()),
        }
    }

    /// Appends `other` (of the same kind).
    fn extend(&mut self, other: Values) {
        match (self, other) {
            (Values::Double(into), Values::Double(from)) => into.extend(from),
            (Values::Int(into), Values::Int(from)) => into.extend(from),
            (Values::Bool(into), Values::Bool(from)) => into.extend(from),
            (Values::Text(into), Values::Text(from)) => into.extend(from),
            _ => {}
        }
    }
}

/// Column `column` of a row-major `rows x width` block.
fn strided<T: Clone>(data: &[T], rows: usize, width: usize, column: usize) -> Vec<Option<T>> {
    (0..rows)
        .map(|row| data.get(row * width + column).cloned())
        .collect()
}

fn widen<T: Copy + Into<f64>>(values: Vec<Option<T>>) -> Vec<Option<f64>> {
    values
        .into_iter()
        .map(|value| value.map(Into::into))
        .collect()
}

/// An input's columns (name, values).
fn feed_columns(
    name: &str,
    feed: &Feed,
    rows: usize,
    names: Option<&[String]>,
) -> Vec<(String, Values)> {
    let length = match feed {
        Feed::F32(_, data) => data.len(),
        Feed::F64(_, data) => data.len(),
        Feed::I64(_, data) => data.len(),
        Feed::I32(_, data) => data.len(),
        Feed::Bool(_, data) => data.len(),
        Feed::Text(_, data) => data.len(),
    };
    if rows == 0 || length % rows != 0 {
        return Vec::new();
    }
    let width = length / rows;
    (0..width)
        .map(|column| {
            let label = match names {
                _ if width == 1 => name.to_owned(),
                Some(names) if names.len() == width => names[column].clone(),
                _ => format!("{name}_{column}"),
            };
            let values = match feed {
                Feed::F32(_, data) => Values::Double(widen(strided(data, rows, width, column))),
                Feed::F64(_, data) => Values::Double(strided(data, rows, width, column)),
                Feed::I64(_, data) => Values::Int(strided(data, rows, width, column)),
                Feed::I32(_, data) => Values::Int(
                    strided(data, rows, width, column)
                        .into_iter()
                        .map(|value| value.map(i64::from))
                        .collect(),
                ),
                Feed::Bool(_, data) => Values::Bool(strided(data, rows, width, column)),
                Feed::Text(_, data) => Values::Text(strided(data, rows, width, column)),
            };
            (label, values)
        })
        .collect()
}

/// An output's columns (name, values).
fn output_columns(name: &str, output: &Output, rows: usize) -> Vec<(String, Values)> {
    match output {
        Output::ClassProbabilities(table) => table
            .classes
            .iter()
            .enumerate()
            .map(|(index, class)| {
                let values = (0..rows)
                    .map(|row| table.row(row).and_then(|values| values.get(index).copied()))
                    .collect();
                (format!("{name}_{class}"), Values::Double(values))
            })
            .collect(),
        Output::Tensor {
            element, values, ..
        } => {
            if rows == 0 || values.len() % rows != 0 {
                return Vec::new();
            }
            let width = values.len() / rows;
            (0..width)
                .map(|column| {
                    let label = if width == 1 {
                        name.to_owned()
                    } else {
                        format!("{name}_{column}")
                    };
                    let cells = strided(values, rows, width, column);
                    let values = match element {
                        Element::F32 | Element::F64 => Values::Double(
                            cells
                                .into_iter()
                                .map(|cell| cell.as_ref().and_then(Value::as_f64))
                                .collect(),
                        ),
                        Element::I64 | Element::I32 => Values::Int(
                            cells
                                .into_iter()
                                .map(|cell| cell.as_ref().and_then(Value::as_i64))
                                .collect(),
                        ),
                        Element::Bool => Values::Bool(
                            cells
                                .into_iter()
                                .map(|cell| cell.as_ref().and_then(Value::as_bool))
                                .collect(),
                        ),
                        Element::Text => Values::Text(
                            cells
                                .into_iter()
                                .map(|cell| match cell {
                                    Some(Value::String(text)) => Some(text),
                                    Some(Value::Null) | None => None,
                                    Some(other) => Some(other.to_string()),
                                })
                                .collect(),
                        ),
                    };
                    (label, values)
                })
                .collect()
        }
    }
}

/// Every column of an entry after the fixed three, in order.
fn entry_columns(entry: &Entry) -> Vec<(String, Values)> {
    let names = if entry.inputs.len() == 1 {
        entry.column_names.as_deref()
    } else {
        None
    };
    let mut columns = Vec::new();
    for (name, feed) in &entry.inputs {
        columns.extend(feed_columns(name, feed, entry.rows, names));
    }
    for (name, output) in &entry.outputs {
        columns.extend(output_columns(name, output, entry.rows));
    }
    // A name taken twice (an output named like an input) gets a suffix.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (name, _) in &mut columns {
        let count = seen.entry(name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            *name = format!("{name}_{count}");
        }
    }
    columns
}

/// The open file of one model version.
struct Stream {
    schema: Vec<(String, Kind)>,
    request_ids: Vec<String>,
    timestamps: Vec<i64>,
    row_numbers: Vec<i32>,
    columns: Vec<Values>,
    first_ms: i64,
    opened: Instant,
}

impl Stream {
    fn new(schema: Vec<(String, Kind)>, first_ms: i64) -> Stream {
        let columns = schema
            .iter()
            .map(|(_, kind)| Values::empty(*kind))
            .collect();
        Stream {
            schema,
            request_ids: Vec::new(),
            timestamps: Vec::new(),
            row_numbers: Vec::new(),
            columns,
            first_ms,
            opened: Instant::now(),
        }
    }

    fn rows(&self) -> usize {
        self.request_ids.len()
    }
}

struct Writer {
    store: Arc<dyn ArtifactStore>,
    settings: LogSettings,
    counters: Arc<LogCounters>,
    /// By (model, version).
    streams: HashMap<(String, String), Stream>,
    files: u64,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        let mut tick = tokio::time::interval(
            self.settings
                .rotate_after
                .clamp(Duration::from_millis(50), Duration::from_secs(1)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = receiver.recv() => match message {
                    Some(Message::Entry(entry)) => self.append(*entry).await,
                    Some(Message::Flush(done)) => {
                        self.flush_where(|_| true).await;
                        let _ = done.send(());
                    }
                    None => {
                        self.flush_where(|_| true).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    let age = self.settings.rotate_after;
                    self.flush_where(|stream| stream.opened.elapsed() >= age).await;
                }
            }
        }
    }

    async fn append(&mut self, entry: Entry) {
        let columns = entry_columns(&entry);
        let schema: Vec<(String, Kind)> = columns
            .iter()
            .map(|(name, values)| (name.clone(), values.kind()))
            .collect();
        let key = (entry.model.clone(), entry.version.clone());
        if self
            .streams
            .get(&key)
            .is_some_and(|stream| stream.schema != schema)
        {
            if let Some(stream) = self.streams.remove(&key) {
                self.write(&key, stream).await;
            }
        }
        let stream = self
            .streams
            .entry(key.clone())
            .or_insert_with(|| Stream::new(schema, entry.timestamp_ms));
        for row in 0..entry.rows {
            stream.request_ids.push(entry.request_id.clone());
            stream.timestamps.push(entry.timestamp_ms);
            stream
                .row_numbers
                .push(i32::try_from(row).unwrap_or(i32::MAX));
        }
        for (into, (_, values)) in stream.columns.iter_mut().zip(columns) {
            into.extend(values);
        }
        if stream.rows() >= self.settings.rotate_rows.max(1) {
            if let Some(stream) = self.streams.remove(&key) {
                self.write(&key, stream).await;
            }
        }
    }

    async fn flush_where(&mut self, due: impl Fn(&Stream) -> bool) {
        let keys: Vec<(String, String)> = self
            .streams
            .iter()
            .filter(|(_, stream)| due(stream))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some(stream) = self.streams.remove(&key) {
                self.write(&key, stream).await;
            }
        }
    }

    async fn write(&mut self, (model, version): &(String, String), stream: Stream) {
        if stream.rows() == 0 {
            return;
        }
        self.files += 1;
        let name = format!(
            "{}/{}/predictions-{}-{:06}.parquet",
            path_segment(model),
            path_segment(version),
            stream.first_ms,
            self.files
        );
        let rows = stream.rows() as u64;
        let encoded = tokio::task::spawn_blocking(move || encode(&stream)).await;
        let result = match encoded {
            Ok(Ok(bytes)) => match ArtifactPath::parse(&name) {
                Ok(path) => {
                    let body = futures::stream::once(async move {
                        Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))
                    });
                    self.store
                        .put_stream(&path, Box::pin(body))
                        .await
                        .map(|_| ())
                        .map_err(|error| error.to_string())
                }
                Err(error) => Err(error.to_string()),
            },
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match result {
            Ok(()) => {
                self.counters.files_written.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .rows_written
                    .fetch_add(rows, Ordering::Relaxed);
                tracing::debug!(file = %name, rows, "prediction log file written");
            }
            Err(error) => {
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(file = %name, %error, "cannot write the prediction log");
            }
        }
    }
}

/// A model name or version as one path segment.
fn path_segment(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|character| {
            if character.is_alphanumeric() || matches!(character, '-' | '_' | '.') {
                character
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => cleaned,
    }
}

/// The stream as one Parquet file (one row group, snappy).
fn encode(stream: &Stream) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let optional = |name: &str, physical: PhysicalType, logical: Option<LogicalType>| {
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
            .map(Arc::new)
    };
    let mut fields = vec![
        Arc::new(
            Type::primitive_type_builder("request_id", PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::String))
                .build()?,
        ),
        Arc::new(
            Type::primitive_type_builder("timestamp", PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
                .build()?,
        ),
        Arc::new(
            Type::primitive_type_builder("row", PhysicalType::INT32)
                .with_repetition(Repetition::REQUIRED)
                .build()?,
        ),
    ];
    for (name, kind) in &stream.schema {
        fields.push(match kind {
            Kind::Double => optional(name, PhysicalType::DOUBLE, None)?,
            Kind::Int => optional(name, PhysicalType::INT64, None)?,
            Kind::Bool => optional(name, PhysicalType::BOOLEAN, None)?,
            Kind::Text => optional(name, PhysicalType::BYTE_ARRAY, Some(LogicalType::String))?,
        });
    }
    let schema = Arc::new(
        Type::group_type_builder("prediction")
            .with_fields(fields)
            .build()?,
    );
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("cairn serve {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, properties)?;
    let mut group = writer.next_row_group()?;
    let ids: Vec<ByteArray> = stream
        .request_ids
        .iter()
        .map(|id| ByteArray::from(id.as_str()))
        .collect();
    let mut index = 0_usize;
    while let Some(mut column) = group.next_column()? {
        match index {
            0 => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&ids, None, None)?;
            }
            1 => {
                column
                    .typed::<Int64Type>()
                    .write_batch(&stream.timestamps, None, None)?;
            }
            2 => {
                column
                    .typed::<Int32Type>()
                    .write_batch(&stream.row_numbers, None, None)?;
            }
            _ => match stream.columns.get(index - 3) {
                Some(Values::Double(values)) => {
                    let (present, levels) = split(values);
                    column
                        .typed::<DoubleType>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Some(Values::Int(values)) => {
                    let (present, levels) = split(values);
                    column
                        .typed::<Int64Type>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Some(Values::Bool(values)) => {
                    let (present, levels) = split(values);
                    column
                        .typed::<BoolType>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Some(Values::Text(values)) => {
                    let (present, levels) = split(values);
                    let present: Vec<ByteArray> = present
                        .iter()
                        .map(|text| ByteArray::from(text.as_str()))
                        .collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                None => {}
            },
        }
        column.close()?;
        index += 1;
    }
    group.close()?;
    writer.into_inner()
}

/// The present values and the definition levels (1 present, 0 null) of an optional column.
fn split<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    let present = values.iter().flatten().cloned().collect();
    let levels = values
        .iter()
        .map(|value| i16::from(value.is_some()))
        .collect();
    (present, levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClassProbabilities;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn sampling_takes_the_share_evenly() {
        let taken = |sample: f64| (0..1000).filter(|n| takes(*n, sample)).count();
        assert_eq!(taken(1.0), 1000);
        assert_eq!(taken(0.0), 0);
        assert_eq!(taken(0.25), 250);
        assert_eq!(taken(0.1), 100);
        // Evenly: one in four, not the first 250.
        assert!((0..8).filter(|n| takes(*n, 0.25)).count() == 2);
    }

    fn entry() -> Entry {
        Entry {
            request_id: "r1".into(),
            timestamp_ms: 1_700_000_000_000,
            model: "iris".into(),
            version: "3".into(),
            column_names: Some(vec!["a".into(), "b".into()]),
            rows: 2,
            inputs: vec![("X".into(), Feed::F32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]))],
            outputs: vec![
                (
                    "label".into(),
                    Output::Tensor {
                        element: Element::I64,
                        shape: vec![2],
                        values: vec![serde_json::json!(0), serde_json::json!(1)],
                    },
                ),
                (
                    "probabilities".into(),
                    Output::ClassProbabilities(
                        ClassProbabilities::from_pairs(vec![
                            vec![("0".into(), 0.9), ("1".into(), 0.1)],
                            vec![("0".into(), 0.2), ("1".into(), 0.8)],
                        ])
                        .expect("same classes"),
                    ),
                ),
            ],
        }
    }

    #[test]
    fn columns_use_signature_names_and_classes() {
        let columns = entry_columns(&entry());
        let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "b", "label", "probabilities_0", "probabilities_1"]
        );
        assert_eq!(columns[1].1, Values::Double(vec![Some(2.0), Some(4.0)]));
        assert_eq!(columns[2].1, Values::Int(vec![Some(0), Some(1)]));
        assert_eq!(columns[4].1, Values::Double(vec![Some(0.1), Some(0.8)]));

        let mut unnamed = entry();
        unnamed.column_names = Some(vec!["only_one".into()]);
        let names: Vec<String> = entry_columns(&unnamed)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names[..2], ["X_0".to_owned(), "X_1".to_owned()]);
    }

    #[test]
    fn parquet_round_trip() {
        let entry = entry();
        let columns = entry_columns(&entry);
        let schema = columns
            .iter()
            .map(|(name, values)| (name.clone(), values.kind()))
            .collect();
        let mut stream = Stream::new(schema, entry.timestamp_ms);
        stream.request_ids = vec!["r1".into(), "r1".into()];
        stream.timestamps = vec![entry.timestamp_ms; 2];
        stream.row_numbers = vec![0, 1];
        let mut with_null = columns
            .into_iter()
            .map(|(_, values)| values)
            .collect::<Vec<_>>();
        with_null[0] = Values::Double(vec![None, Some(3.0)]);
        stream.columns = with_null;
        let bytes = encode(&stream).expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("reads");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 2);
        let rows: Vec<String> = reader
            .get_row_iter(None)
            .expect("rows")
            .map(|row| row.expect("row").to_string())
            .collect();
        assert!(rows[0].contains("request_id: \"r1\""), "{}", rows[0]);
        assert!(rows[0].contains("a: null"), "{}", rows[0]);
        assert!(rows[1].contains("a: 3.0"), "{}", rows[1]);
        assert!(rows[1].contains("probabilities_1: 0.8"), "{}", rows[1]);
    }

    #[test]
    fn path_segments_are_safe() {
        assert_eq!(path_segment("my model/v1"), "my_model_v1");
        assert_eq!(path_segment(".."), "_");
        assert_eq!(path_segment("3"), "3");
    }
}
