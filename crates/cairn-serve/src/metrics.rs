//! Prometheus metrics in the text exposition format, written by hand: a few counters, gauges and
//! histograms need no client library (the `prometheus` crate would add protobuf and a registry for
//! what is a map of counters here).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::process::ProcessStats;

/// Latency buckets in seconds (a prediction takes microseconds to milliseconds).
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Rows per model call.
const ROW_BUCKETS: [u64; 14] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000,
];

#[derive(Default)]
struct Series {
    requests: BTreeMap<(String, u16), u64>,
    bucket_counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
    row_bucket_counts: [u64; ROW_BUCKETS.len()],
    calls: u64,
    rows: u64,
}

/// Hot reload counters of one served model.
#[derive(Default, Clone, Copy)]
struct Reloads {
    /// Switches to a new version.
    done: u64,
    /// Versions that could not be downloaded or loaded (the old one kept serving).
    failed: u64,
    /// Registry lookups that failed (unreachable, alias gone).
    check_errors: u64,
}

/// Counters per (model, version), and per model for hot reload.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
    reloads: Mutex<BTreeMap<String, Reloads>>,
}

/// The gauges read when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Prediction requests holding a slot now (parsing, waiting for a session, or running).
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// (model, version) serving now.
    pub serving: Vec<(String, String)>,
    pub process: Option<ProcessStats>,
}

impl Metrics {
    /// Records one request to a model: protocol (`mlflow`, `v2`), status code and latency.
    pub fn observe(
        &self,
        model: &str,
        version: &str,
        protocol: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = series
            .entry((model.to_owned(), version.to_owned()))
            .or_default();
        *entry
            .requests
            .entry((protocol.to_owned(), status))
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        for (bucket, count) in BUCKETS.iter().zip(entry.bucket_counts.iter_mut()) {
            if seconds <= *bucket {
                *count += 1;
            }
        }
        entry.count += 1;
        entry.sum_seconds += seconds;
    }

    /// Records one call of a model with `rows` rows.
    pub fn observe_batch(&self, model: &str, version: &str, rows: usize) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = series
            .entry((model.to_owned(), version.to_owned()))
            .or_default();
        let rows = rows as u64;
        for (bucket, count) in ROW_BUCKETS.iter().zip(entry.row_bucket_counts.iter_mut()) {
            if rows <= *bucket {
                *count += 1;
            }
        }
        entry.calls += 1;
        entry.rows += rows;
    }

    fn update_reloads(&self, model: &str, change: impl FnOnce(&mut Reloads)) {
        let mut reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        change(reloads.entry(model.to_owned()).or_default());
    }

    /// A model whose alias is watched: its reload counters start at 0.
    pub fn watching(&self, model: &str) {
        self.update_reloads(model, |_| {});
    }

    /// The model switched to a new version.
    pub fn reloaded(&self, model: &str) {
        self.update_reloads(model, |counts| counts.done += 1);
    }

    /// A new version could not be downloaded or loaded.
    pub fn reload_failed(&self, model: &str) {
        self.update_reloads(model, |counts| counts.failed += 1);
    }

    /// The registry could not say which version the alias names.
    pub fn reload_check_failed(&self, model: &str) {
        self.update_reloads(model, |counts| counts.check_errors += 1);
    }

    /// The text exposition format.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut text = String::new();
        {
            let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
            render_series(&mut text, &series);
        }
        family(
            &mut text,
            "cairn_serve_in_flight",
            "gauge",
            "Prediction requests being served now (the queue: parsing, waiting for a session or running).",
        );
        let _ = writeln!(text, "cairn_serve_in_flight {}", snapshot.in_flight);
        family(
            &mut text,
            "cairn_serve_max_in_flight",
            "gauge",
            "Requests in flight beyond which the server answers 503.",
        );
        let _ = writeln!(text, "cairn_serve_max_in_flight {}", snapshot.max_in_flight);
        family(
            &mut text,
            "cairn_serve_model_version_info",
            "gauge",
            "The version each model serves now (1).",
        );
        for (model, version) in &snapshot.serving {
            let _ = writeln!(
                text,
                "cairn_serve_model_version_info{{model=\"{}\",version=\"{}\"}} 1",
                escape(model),
                escape(version)
            );
        }
        {
            let reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
            render_reloads(&mut text, &reloads);
        }
        if let Some(process) = &snapshot.process {
            render_process(&mut text, process);
        }
        text
    }
}

fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

fn render_series(text: &mut String, series: &BTreeMap<(String, String), Series>) {
    let labels = |model: &str, version: &str| {
        format!(
            "model=\"{}\",version=\"{}\"",
            escape(model),
            escape(version)
        )
    };
    family(
        text,
        "cairn_serve_requests_total",
        "counter",
        "Prediction requests by model, version, protocol and status code.",
    );
    for ((model, version), entry) in series {
        let labels = labels(model, version);
        for ((protocol, status), count) in &entry.requests {
            let _ = writeln!(
                text,
                "cairn_serve_requests_total{{{labels},protocol=\"{protocol}\",code=\"{status}\"}} {count}"
            );
        }
    }
    family(
        text,
        "cairn_serve_request_errors_total",
        "counter",
        "Prediction requests answered with a 4xx or 5xx status.",
    );
    for ((model, version), entry) in series {
        let errors: u64 = entry
            .requests
            .iter()
            .filter(|((_, status), _)| *status >= 400)
            .map(|(_, count)| count)
            .sum();
        let _ = writeln!(
            text,
            "cairn_serve_request_errors_total{{{}}} {errors}",
            labels(model, version)
        );
    }
    family(
        text,
        "cairn_serve_request_duration_seconds",
        "histogram",
        "Time from request to answer.",
    );
    for ((model, version), entry) in series {
        let labels = labels(model, version);
        for (bucket, count) in BUCKETS.iter().zip(entry.bucket_counts.iter()) {
            let _ = writeln!(
                text,
                "cairn_serve_request_duration_seconds_bucket{{{labels},le=\"{bucket}\"}} {count}"
            );
        }
        let _ = writeln!(
            text,
            "cairn_serve_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            entry.count
        );
        let _ = writeln!(
            text,
            "cairn_serve_request_duration_seconds_sum{{{labels}}} {}",
            entry.sum_seconds
        );
        let _ = writeln!(
            text,
            "cairn_serve_request_duration_seconds_count{{{labels}}} {}",
            entry.count
        );
    }
    family(
        text,
        "cairn_serve_batch_rows",
        "histogram",
        "Rows per model call (one request's rows, or a micro-batch of several requests').",
    );
    for ((model, version), entry) in series {
        if entry.calls == 0 {
            continue;
        }
        let labels = labels(model, version);
        for (bucket, count) in ROW_BUCKETS.iter().zip(entry.row_bucket_counts.iter()) {
            let _ = writeln!(
                text,
                "cairn_serve_batch_rows_bucket{{{labels},le=\"{bucket}\"}} {count}"
            );
        }
        let _ = writeln!(
            text,
            "cairn_serve_batch_rows_bucket{{{labels},le=\"+Inf\"}} {}",
            entry.calls
        );
        let _ = writeln!(
            text,
            "cairn_serve_batch_rows_sum{{{labels}}} {}",
            entry.rows
        );
        let _ = writeln!(
            text,
            "cairn_serve_batch_rows_count{{{labels}}} {}",
            entry.calls
        );
    }
}

fn render_reloads(text: &mut String, reloads: &BTreeMap<String, Reloads>) {
    let families = [
        (
            "cairn_serve_reloads_total",
            "Switches to a new version after the model's alias moved.",
        ),
        (
            "cairn_serve_reload_failures_total",
            "New versions that could not be downloaded or loaded (the old version kept serving).",
        ),
        (
            "cairn_serve_reload_check_errors_total",
            "Registry lookups of the model's alias that failed (unreachable registry, alias gone).",
        ),
    ];
    for (index, (name, help)) in families.into_iter().enumerate() {
        family(text, name, "counter", help);
        for (model, counts) in reloads {
            let value = [counts.done, counts.failed, counts.check_errors][index];
            let _ = writeln!(text, "{name}{{model=\"{}\"}} {value}", escape(model));
        }
    }
}

/// The series every Prometheus client library exports, with their standard names.
fn render_process(text: &mut String, process: &ProcessStats) {
    family(
        text,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    let _ = writeln!(text, "process_cpu_seconds_total {}", process.cpu_seconds);
    family(
        text,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    let _ = writeln!(
        text,
        "process_resident_memory_bytes {}",
        process.resident_bytes
    );
    family(
        text,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    );
    let _ = writeln!(
        text,
        "process_virtual_memory_bytes {}",
        process.virtual_bytes
    );
    family(
        text,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(
        text,
        "process_start_time_seconds {}",
        process.start_time_seconds
    );
    if let Some(open_fds) = process.open_fds {
        family(
            text,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        let _ = writeln!(text, "process_open_fds {open_fds}");
    }
    if let Some(max_fds) = process.max_fds {
        family(
            text,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        let _ = writeln!(text, "process_max_fds {max_fds}");
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(
                text.lines().any(|present| present == *line),
                "{line} missing from\n{text}"
            );
        }
    }

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::default();
        metrics.observe("iris", "3", "mlflow", 200, Duration::from_micros(300));
        metrics.observe("iris", "3", "v2", 400, Duration::from_millis(2));
        metrics.observe_batch("iris", "3", 1);
        metrics.observe_batch("iris", "3", 150);
        let text = metrics.render(&Snapshot {
            in_flight: 1,
            max_in_flight: 256,
            serving: vec![("iris".into(), "3".into())],
            process: None,
        });
        check(
            &text,
            &[
                "cairn_serve_requests_total{model=\"iris\",version=\"3\",protocol=\"mlflow\",code=\"200\"} 1",
                "cairn_serve_requests_total{model=\"iris\",version=\"3\",protocol=\"v2\",code=\"400\"} 1",
                "cairn_serve_request_errors_total{model=\"iris\",version=\"3\"} 1",
                "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"0.00025\"} 0",
                "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"0.0005\"} 1",
                "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"+Inf\"} 2",
                "cairn_serve_request_duration_seconds_count{model=\"iris\",version=\"3\"} 2",
                "cairn_serve_batch_rows_bucket{model=\"iris\",version=\"3\",le=\"1\"} 1",
                "cairn_serve_batch_rows_bucket{model=\"iris\",version=\"3\",le=\"100\"} 1",
                "cairn_serve_batch_rows_bucket{model=\"iris\",version=\"3\",le=\"200\"} 2",
                "cairn_serve_batch_rows_bucket{model=\"iris\",version=\"3\",le=\"+Inf\"} 2",
                "cairn_serve_batch_rows_sum{model=\"iris\",version=\"3\"} 151",
                "cairn_serve_batch_rows_count{model=\"iris\",version=\"3\"} 2",
                "cairn_serve_in_flight 1",
                "cairn_serve_max_in_flight 256",
                "cairn_serve_model_version_info{model=\"iris\",version=\"3\"} 1",
            ],
        );
        assert!(!text.contains("process_"), "{text}");
    }

    #[test]
    fn renders_reloads_per_model_and_process_series() {
        let metrics = Metrics::default();
        metrics.watching("iris");
        metrics.watching("rf");
        metrics.reloaded("iris");
        metrics.reload_failed("rf");
        metrics.reload_failed("rf");
        metrics.reload_check_failed("rf");
        let text = metrics.render(&Snapshot {
            in_flight: 0,
            max_in_flight: 8,
            serving: vec![("iris".into(), "4".into()), ("rf".into(), "1".into())],
            process: Some(ProcessStats {
                cpu_seconds: 1.5,
                resident_bytes: 4096,
                virtual_bytes: 8192,
                start_time_seconds: 1763900000.25,
                open_fds: Some(9),
                max_fds: None,
            }),
        });
        check(
            &text,
            &[
                "cairn_serve_model_version_info{model=\"iris\",version=\"4\"} 1",
                "cairn_serve_model_version_info{model=\"rf\",version=\"1\"} 1",
                "# TYPE cairn_serve_reloads_total counter",
                "cairn_serve_reloads_total{model=\"iris\"} 1",
                "cairn_serve_reloads_total{model=\"rf\"} 0",
                "cairn_serve_reload_failures_total{model=\"iris\"} 0",
                "cairn_serve_reload_failures_total{model=\"rf\"} 2",
                "cairn_serve_reload_check_errors_total{model=\"rf\"} 1",
                "# TYPE process_cpu_seconds_total counter",
                "process_cpu_seconds_total 1.5",
                "process_resident_memory_bytes 4096",
                "process_virtual_memory_bytes 8192",
                "process_start_time_seconds 1763900000.25",
                "process_open_fds 9",
            ],
        );
        assert!(!text.contains("process_max_fds"), "{text}");
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
