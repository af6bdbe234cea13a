//! Adaptive micro-batching: concurrent requests for one model version share one model call.
//!
//! A request that finds nothing queued and no call running for its model runs at once, alone, so a
//! lone client waits for nothing. When calls are running, a request joins the queue; the first to
//! join leads: it waits (on a blocking thread, so microseconds are microseconds) until the queue
//! holds `max_rows` rows or `wait` has passed, takes the requests whose feeds can be stacked along
//! the first dimension, runs them as one call and hands each its own rows of the outputs. Requests
//! left in the queue (other shapes, or beyond `max_rows`) get a leader of their own. A batched call
//! that fails is run again request by request, so one bad request cannot fail its neighbours.
//!
//! [`merge_feeds`] and [`split_outputs`] are pure; [`Batcher::submit`] is the queue around them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::model::{Element, Feed, Interface, LoadedModel, Output};
use crate::ServeError;

/// How requests are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// A batch closes when it holds this many rows...
    pub max_rows: usize,
    /// ... or this long after its first request joined the queue; zero turns batching off.
    pub wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_rows: 64,
            wait: Duration::from_micros(200),
        }
    }
}

impl BatchConfig {
    pub fn enabled(&self) -> bool {
        !self.wait.is_zero() && self.max_rows > 1
    }
}

type Outputs = Vec<(String, Output)>;
type Reply = oneshot::Sender<Result<Outputs, ServeError>>;

/// One request waiting in the queue. `keep` (the request's in-flight permit) is dropped when its
/// answer is sent, so the limit counts requests until their call is really over.
struct Job {
    feeds: Vec<(String, Feed)>,
    rows: usize,
    reply: Reply,
    keep: Box<dyn Send>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Job>,
    pending_rows: usize,
    /// Model calls running now (alone or batched).
    running: usize,
}

/// The queue of one model version (it lives in its [`LoadedModel`]).
#[derive(Default)]
pub struct Batcher {
    queue: Mutex<Queue>,
    filled: Condvar,
    /// How long the last model call took, in nanoseconds (0: no call yet).
    last_call_ns: AtomicU64,
}

/// The only request in flight, on an idle model, runs its call on the async worker that holds it
/// when the model's calls take at most this long: handing a 20 µs call to the blocking pool and back costs
/// more than the call (two thread wake-ups).
const INLINE_CALL: Duration = Duration::from_micros(100);

impl std::fmt::Debug for Batcher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Batcher")
    }
}

/// What a request does on arrival.
enum Arrival {
    Alone(Job),
    Lead,
    Follow,
}

impl Batcher {
    /// Runs `feeds` (`rows` rows) on `model`, batched with other requests when `config` allows and
    /// the model takes batches. `on_call(rows)` is told the rows of each model call made. The
    /// returned receiver answers with this request's own outputs. `only_request` says no other
    /// request is in flight on the server: a quick call may then run on the caller's thread.
    pub fn submit(
        model: &Arc<LoadedModel>,
        config: BatchConfig,
        feeds: Vec<(String, Feed)>,
        rows: usize,
        keep: Box<dyn Send>,
        on_call: Arc<dyn Fn(usize) + Send + Sync>,
        only_request: bool,
    ) -> oneshot::Receiver<Result<Outputs, ServeError>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            feeds,
            rows,
            reply,
            keep,
        };
        let batchable = config.enabled()
            && takes_batches(&model.interface)
            && batch_key(&job.feeds, rows).is_some();
        let arrival = if batchable {
            let batcher = &model.batcher;
            let mut queue = batcher.lock();
            if queue.pending.is_empty() && queue.running == 0 {
                queue.running += 1;
                Arrival::Alone(job)
            } else {
                queue.pending_rows += job.rows;
                queue.pending.push(job);
                if queue.pending_rows >= config.max_rows {
                    batcher.filled.notify_all();
                }
                if queue.pending.len() == 1 {
                    Arrival::Lead
                } else {
                    Arrival::Follow
                }
            }
        } else {
            Arrival::Alone(job)
        };
        match arrival {
            // The only request, on an idle model (so a session is free) whose calls are quick:
            // run here. Under load the blocking pool keeps the async workers free for I/O.
            Arrival::Alone(job) if only_request && batchable && model.batcher.calls_are_quick() => {
                run_alone(model, job, batchable, &*on_call);
            }
            Arrival::Alone(job) => {
                let model = Arc::clone(model);
                tokio::task::spawn_blocking(move || run_alone(&model, job, batchable, &*on_call));
            }
            Arrival::Lead => spawn_leader(Arc::clone(model), config, on_call),
            Arrival::Follow => {}
        }
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note_call(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.last_call_ns.store(nanos, Ordering::Relaxed);
    }

    fn calls_are_quick(&self) -> bool {
        let nanos = self.last_call_ns.load(Ordering::Relaxed);
        nanos != 0 && u128::from(nanos) <= INLINE_CALL.as_nanos()
    }
}

/// One request's own call.
fn run_alone(
    model: &LoadedModel,
    job: Job,
    batchable: bool,
    on_call: &(dyn Fn(usize) + Send + Sync),
) {
    on_call(job.rows);
    let started = Instant::now();
    let result = model.predict(job.feeds);
    model.batcher.note_call(started.elapsed());
    if batchable {
        model.batcher.lock().running -= 1;
    }
    let _ = job.reply.send(result);
    drop(job.keep);
}

fn spawn_leader(
    model: Arc<LoadedModel>,
    config: BatchConfig,
    on_call: Arc<dyn Fn(usize) + Send + Sync>,
) {
    tokio::task::spawn_blocking(move || lead(&model, config, on_call));
}

/// The leader's work, on a blocking thread: wait for the batch to fill or its time to pass, take
/// it, run it, answer every request in it.
fn lead(model: &Arc<LoadedModel>, config: BatchConfig, on_call: Arc<dyn Fn(usize) + Send + Sync>) {
    let batcher = &model.batcher;
    let deadline = Instant::now() + config.wait;
    let mut queue = batcher.lock();
    loop {
        let now = Instant::now();
        if queue.pending_rows >= config.max_rows || now >= deadline {
            break;
        }
        queue = batcher
            .filled
            .wait_timeout(queue, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    let batch = take_batch(&mut queue, config.max_rows);
    queue.running += 1;
    let leftovers = !queue.pending.is_empty();
    drop(queue);
    if leftovers {
        // The rest (other shapes, or beyond max_rows) needs a leader of its own.
        spawn_leader(Arc::clone(model), config, Arc::clone(&on_call));
    }
    run_batch(model, batch, &*on_call);
    batcher.lock().running -= 1;
}

/// Takes the first pending job and every later one that stacks with it, up to `max_rows` rows
/// (the first job is always taken, however many rows it has).
fn take_batch(queue: &mut Queue, max_rows: usize) -> Vec<Job> {
    let pending = std::mem::take(&mut queue.pending);
    let mut batch: Vec<Job> = Vec::new();
    let mut rows = 0;
    let mut key = None;
    for job in pending {
        let fits = match &key {
            None => true,
            Some(key) => {
                rows + job.rows <= max_rows && batch_key(&job.feeds, job.rows).as_ref() == Some(key)
            }
        };
        if fits {
            if key.is_none() {
                key = batch_key(&job.feeds, job.rows);
            }
            rows += job.rows;
            batch.push(job);
        } else {
            queue.pending.push(job);
        }
    }
    queue.pending_rows = queue.pending.iter().map(|job| job.rows).sum();
    batch
}

/// Runs the jobs as one call, or one by one when they cannot share one or the shared one fails.
fn run_batch(model: &LoadedModel, batch: Vec<Job>, on_call: &(dyn Fn(usize) + Send + Sync)) {
    if batch.len() > 1 {
        let rows: Vec<usize> = batch.iter().map(|job| job.rows).collect();
        let merged = merge_feeds(batch.iter().map(|job| job.feeds.as_slice()));
        if let Some(merged) = merged {
            on_call(rows.iter().sum());
            let started = Instant::now();
            let outputs = model.predict(merged);
            model.batcher.note_call(started.elapsed());
            let split = outputs
                .ok()
                .and_then(|outputs| split_outputs(outputs, &rows));
            if let Some(parts) = split {
                for (job, outputs) in batch.into_iter().zip(parts) {
                    let _ = job.reply.send(Ok(outputs));
                    drop(job.keep);
                }
                return;
            }
        }
    }
    for job in batch {
        on_call(job.rows);
        let started = Instant::now();
        let result = model.predict(job.feeds);
        model.batcher.note_call(started.elapsed());
        let _ = job.reply.send(result);
        drop(job.keep);
    }
}

/// Whether every input of the model has a dynamic first (batch) dimension.
pub fn takes_batches(interface: &Interface) -> bool {
    !interface.inputs.is_empty()
        && interface
            .inputs
            .iter()
            .all(|spec| spec.shape.first().is_some_and(|dim| *dim < 0))
}

/// What must agree for feeds to stack: names, element types and the dimensions after the first.
/// `None` when a feed's first dimension is not the request's row count.
fn batch_key(feeds: &[(String, Feed)], rows: usize) -> Option<Vec<(String, Element, Vec<i64>)>> {
    feeds
        .iter()
        .map(|(name, feed)| {
            let (element, shape) = feed_parts(feed);
            let (first, rest) = shape.split_first()?;
            (usize::try_from(*first).ok()? == rows).then(|| (name.clone(), element, rest.to_vec()))
        })
        .collect()
}

fn feed_parts(feed: &Feed) -> (Element, &[i64]) {
    match feed {
        Feed::F32(shape, _) => (Element::F32, shape),
        Feed::F64(shape, _) => (Element::F64, shape),
        Feed::I64(shape, _) => (Element::I64, shape),
        Feed::I32(shape, _) => (Element::I32, shape),
        Feed::Bool(shape, _) => (Element::Bool, shape),
        Feed::Text(shape, _) => (Element::Text, shape),
    }
}

/// Stacks requests' feeds along the first dimension, input by input; `None` when they differ in
/// inputs, element types or the dimensions after the first.
pub fn merge_feeds<'a>(
    requests: impl IntoIterator<Item = &'a [(String, Feed)]>,
) -> Option<Vec<(String, Feed)>> {
    let mut merged: Option<Vec<(String, Feed)>> = None;
    for feeds in requests {
        let Some(so_far) = merged.as_mut() else {
            merged = Some(feeds.to_vec());
            continue;
        };
        if so_far.len() != feeds.len() {
            return None;
        }
        for ((name, into), (other_name, from)) in so_far.iter_mut().zip(feeds) {
            if name != other_name {
                return None;
            }
            append(into, from)?;
        }
    }
    merged
}

fn append(into: &mut Feed, from: &Feed) -> Option<()> {
    fn stack<T: Clone>(
        shape: &mut [i64],
        data: &mut Vec<T>,
        other_shape: &[i64],
        other: &[T],
    ) -> Option<()> {
        if shape.is_empty() || shape.len() != other_shape.len() || shape[1..] != other_shape[1..] {
            return None;
        }
        shape[0] += other_shape[0];
        data.extend_from_slice(other);
        Some(())
    }
    match (into, from) {
        (Feed::F32(shape, data), Feed::F32(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        (Feed::F64(shape, data), Feed::F64(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        (Feed::I64(shape, data), Feed::I64(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        (Feed::I32(shape, data), Feed::I32(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        (Feed::Bool(shape, data), Feed::Bool(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        (Feed::Text(shape, data), Feed::Text(other_shape, other)) => {
            stack(shape, data, other_shape, other)
        }
        _ => None,
    }
}

/// Cuts a batched call's outputs back into each request's rows (`rows[i]` rows for request `i`, in
/// order); `None` when an output does not have one entry per row along its first dimension.
pub fn split_outputs(outputs: Outputs, rows: &[usize]) -> Option<Vec<Outputs>> {
    let total: usize = rows.iter().sum();
    let mut parts: Vec<Outputs> = rows
        .iter()
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for (name, output) in outputs {
        match output {
            Output::Tensor {
                element,
                shape,
                values,
            } => {
                let (first, rest) = shape.split_first()?;
                if usize::try_from(*first).ok()? != total || total == 0 {
                    return None;
                }
                let width = values.len() / total;
                if width * total != values.len() {
                    return None;
                }
                let mut values = values.into_iter();
                for (part, count) in parts.iter_mut().zip(rows) {
                    let mut part_shape = Vec::with_capacity(shape.len());
                    part_shape.push(i64::try_from(*count).ok()?);
                    part_shape.extend_from_slice(rest);
                    part.push((
                        name.clone(),
                        Output::Tensor {
                            element,
                            shape: part_shape,
                            values: values.by_ref().take(count * width).collect(),
                        },
                    ));
                }
            }
            Output::ClassProbabilities(table) => {
                if table.rows() != total {
                    return None;
                }
                let mut start = 0;
                for (part, count) in parts.iter_mut().zip(rows) {
                    part.push((
                        name.clone(),
                        Output::ClassProbabilities(table.slice(start, *count)?),
                    ));
                    start += count;
                }
            }
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{ClassProbabilities, InputSpec};
    use crate::request::{parse_invocations, Cell};

    fn iris() -> Interface {
        Interface {
            inputs: vec![InputSpec {
                name: "float_input".into(),
                element: Element::F32,
                shape: vec![-1, 4],
            }],
            output_names: vec!["output_label".into(), "output_probability".into()],
            columns: None,
        }
    }

    fn bound(interface: &Interface, body: &str) -> (Vec<(String, Feed)>, usize) {
        let payload = parse_invocations("application/json", body.as_bytes()).expect(body);
        interface.bind(&payload).expect(body)
    }

    /// Requests bound one by one and stacked give what the same rows bound as one request give.
    #[test]
    fn only_quick_models_run_on_the_callers_thread() {
        let batcher = Batcher::default();
        assert!(!batcher.calls_are_quick(), "no call measured yet");
        batcher.note_call(Duration::from_micros(20));
        assert!(batcher.calls_are_quick());
        batcher.note_call(Duration::from_millis(3));
        assert!(!batcher.calls_are_quick());
        batcher.note_call(Duration::ZERO);
        assert!(
            batcher.calls_are_quick(),
            "a zero-length call still counts as measured"
        );
    }

    #[test]
    fn merged_feeds_equal_one_request_with_all_rows() {
        let interface = iris();
        let (first, one) = bound(&interface, r#"{"instances": [[1, 2, 3, 4]]}"#);
        let (second, two) = bound(
            &interface,
            r#"{"instances": [[5, 6, 7, 8], [9, 10, 11, 12]]}"#,
        );
        let (together, three) = bound(
            &interface,
            r#"{"instances": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]}"#,
        );
        assert_eq!((one, two, three), (1, 2, 3));
        assert_eq!(
            merge_feeds([first.as_slice(), second.as_slice()]),
            Some(together)
        );

        let per_column = Interface {
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
        let names = ["age".to_string(), "city".to_string()];
        let row = |age: f64, city: &str| {
            per_column
                .bind_columns(
                    &names,
                    vec![vec![Cell::Number(age)], vec![Cell::Text(city.into())]],
                )
                .expect("row")
                .0
        };
        let (both, _) = per_column
            .bind_columns(
                &names,
                vec![
                    vec![Cell::Number(3.0), Cell::Number(4.0)],
                    vec![Cell::Text("x".into()), Cell::Text("y".into())],
                ],
            )
            .expect("rows");
        assert_eq!(
            merge_feeds([row(3.0, "x").as_slice(), row(4.0, "y").as_slice()]),
            Some(both)
        );
    }

    #[test]
    fn feeds_that_differ_do_not_merge() {
        let f32_feed = |width: i64| {
            vec![(
                "x".to_string(),
                Feed::F32(vec![1, width], vec![0.0; width as usize]),
            )]
        };
        let cases: Vec<(&str, Vec<(String, Feed)>)> = vec![
            ("width", f32_feed(3)),
            (
                "element type",
                vec![("x".to_string(), Feed::F64(vec![1, 4], vec![0.0; 4]))],
            ),
            (
                "name",
                vec![("y".to_string(), Feed::F32(vec![1, 4], vec![0.0; 4]))],
            ),
            (
                "rank",
                vec![("x".to_string(), Feed::F32(vec![4], vec![0.0; 4]))],
            ),
            ("inputs", Vec::new()),
        ];
        for (what, other) in cases {
            assert_eq!(
                merge_feeds([f32_feed(4).as_slice(), other.as_slice()]),
                None,
                "{what}"
            );
        }
        // Only feeds whose first dimension is the request's rows are batched at all.
        assert!(batch_key(&f32_feed(4), 1).is_some());
        assert!(batch_key(&f32_feed(4), 2).is_none());
        assert!(takes_batches(&iris()));
        let mut fixed = iris();
        fixed.inputs[0].shape = vec![1, 4];
        assert!(!takes_batches(&fixed));
    }

    fn label(values: &[i64]) -> Output {
        Output::Tensor {
            element: Element::I64,
            shape: vec![values.len() as i64],
            values: values.iter().map(|value| json!(value)).collect(),
        }
    }

    fn probabilities(rows: &[[f64; 2]]) -> (Output, Output) {
        let tensor = Output::Tensor {
            element: Element::F32,
            shape: vec![rows.len() as i64, 2],
            values: rows.iter().flatten().map(|value| json!(value)).collect(),
        };
        let zipmap = Output::ClassProbabilities(
            ClassProbabilities::from_pairs(
                rows.iter()
                    .map(|row| vec![("0".to_string(), row[0]), ("1".to_string(), row[1])])
                    .collect(),
            )
            .expect("same classes"),
        );
        (tensor, zipmap)
    }

    fn outputs(labels: &[i64], rows: &[[f64; 2]]) -> Outputs {
        let (tensor, zipmap) = probabilities(rows);
        vec![
            ("label".to_string(), label(labels)),
            ("probabilities".to_string(), tensor),
            ("zipmap".to_string(), zipmap),
        ]
    }

    /// A batch's outputs cut by rows equal each request's outputs when it runs alone.
    #[test]
    fn split_outputs_equal_separate_calls() {
        let batched = outputs(&[1, 0, 1], &[[0.25, 0.75], [0.5, 0.5], [0.1, 0.9]]);
        let alone = vec![
            outputs(&[1], &[[0.25, 0.75]]),
            outputs(&[0, 1], &[[0.5, 0.5], [0.1, 0.9]]),
        ];
        assert_eq!(split_outputs(batched.clone(), &[1, 2]), Some(alone));
        assert_eq!(
            split_outputs(batched.clone(), &[3]),
            Some(vec![batched.clone()])
        );
        // Outputs that are not one entry per row cannot be split.
        assert_eq!(split_outputs(batched.clone(), &[1, 1]), None);
        let scalar = vec![(
            "total".to_string(),
            Output::Tensor {
                element: Element::F32,
                shape: vec![],
                values: vec![json!(1.0)],
            },
        )];
        assert_eq!(split_outputs(scalar, &[1]), None);
    }
}
