//! Prometheus metrics in the text exposition format, written by hand: three metric families need
//! no client library (the `prometheus` crate would add protobuf and a registry for what is a map
//! of counters here).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds (a prediction takes microseconds to milliseconds).
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    requests: BTreeMap<(String, u16), u64>,
    bucket_counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Counters per (model, version).
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
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
        let Ok(mut series) = self.series.lock() else {
            return;
        };
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

    /// The text exposition format.
    pub fn render(&self, in_flight: usize) -> String {
        let mut text = String::new();
        let Ok(series) = self.series.lock() else {
            return text;
        };
        text.push_str("# HELP cairn_serve_requests_total Prediction requests by model, version, protocol and status code.\n");
        text.push_str("# TYPE cairn_serve_requests_total counter\n");
        for ((model, version), entry) in series.iter() {
            for ((protocol, status), count) in &entry.requests {
                let _ = writeln!(
                    text,
                    "cairn_serve_requests_total{{model=\"{}\",version=\"{}\",protocol=\"{protocol}\",code=\"{status}\"}} {count}",
                    escape(model),
                    escape(version)
                );
            }
        }
        text.push_str("# HELP cairn_serve_request_errors_total Prediction requests answered with a 4xx or 5xx status.\n");
        text.push_str("# TYPE cairn_serve_request_errors_total counter\n");
        for ((model, version), entry) in series.iter() {
            let errors: u64 = entry
                .requests
                .iter()
                .filter(|((_, status), _)| *status >= 400)
                .map(|(_, count)| count)
                .sum();
            let _ = writeln!(
                text,
                "cairn_serve_request_errors_total{{model=\"{}\",version=\"{}\"}} {errors}",
                escape(model),
                escape(version)
            );
        }
        text.push_str("# HELP cairn_serve_request_duration_seconds Time from request to answer.\n");
        text.push_str("# TYPE cairn_serve_request_duration_seconds histogram\n");
        for ((model, version), entry) in series.iter() {
            let labels = format!(
                "model=\"{}\",version=\"{}\"",
                escape(model),
                escape(version)
            );
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
        text.push_str("# HELP cairn_serve_in_flight Prediction requests being served now.\n");
        text.push_str("# TYPE cairn_serve_in_flight gauge\n");
        let _ = writeln!(text, "cairn_serve_in_flight {in_flight}");
        text
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

    #[test]
    fn renders_counters_and_histogram() {
        let metrics = Metrics::default();
        metrics.observe("iris", "3", "mlflow", 200, Duration::from_micros(300));
        metrics.observe("iris", "3", "v2", 400, Duration::from_millis(2));
        let text = metrics.render(1);
        for line in [
            "cairn_serve_requests_total{model=\"iris\",version=\"3\",protocol=\"mlflow\",code=\"200\"} 1",
            "cairn_serve_requests_total{model=\"iris\",version=\"3\",protocol=\"v2\",code=\"400\"} 1",
            "cairn_serve_request_errors_total{model=\"iris\",version=\"3\"} 1",
            "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"0.00025\"} 0",
            "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"0.0005\"} 1",
            "cairn_serve_request_duration_seconds_bucket{model=\"iris\",version=\"3\",le=\"+Inf\"} 2",
            "cairn_serve_request_duration_seconds_count{model=\"iris\",version=\"3\"} 2",
            "cairn_serve_in_flight 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
