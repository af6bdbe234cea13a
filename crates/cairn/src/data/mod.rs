//! `cairn data`: validate, profile, suggest, drift, import-ge. Flags, progress bars and exit codes;
//! the work is in `cairn-data`.
//!
//! Exit codes: 0 when everything holds, 1 when a check fails (validation, drift), 2 on a usage or
//! input error (a missing file, a malformed row, a bad suite).

mod drift;
mod import_ge;
mod profile;
mod pushdown;
pub(crate) mod tracking;
mod validate;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_data::source::{Format, Progress, ReadOptions};
use cairn_data::spill::MemoryBudget;
use cairn_data::table::{CellReading, PANDAS_NULLS};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Check DATA against a suite of expectations (exit 0: all hold, 1: some fail, 2: error).
    Validate(Box<validate::ValidateArgs>),
    /// Describe every column of DATA: type, nulls, distinct values, range, quantiles, histogram...
    Profile(profile::ProfileArgs),
    /// Write a starting suite generated from a reference dataset, for a person to edit.
    Suggest(profile::SuggestArgs),
    /// Compare a current dataset with a reference one, column by column (exit 1 when drift is found).
    Drift(drift::DriftArgs),
    /// Convert a Great Expectations suite (JSON) to cairn's suite format.
    #[command(name = "import-ge")]
    ImportGe(import_ge::ImportGeArgs),
}

/// How `cairn data` commands end.
pub enum Outcome {
    Passed,
    Failed,
}

pub fn run(command: DataCommand) -> ExitCode {
    let result = match command {
        DataCommand::Validate(args) => validate::run(*args),
        DataCommand::Profile(args) => profile::profile(args),
        DataCommand::Suggest(args) => profile::suggest(args),
        DataCommand::Drift(args) => drift::run(args),
        DataCommand::ImportGe(args) => import_ge::run(args),
    };
    match result {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(error) => {
            if crate::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// How to read a dataset: shared by every `cairn data` command.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Input format (default: from the file extension: .csv, .tsv, .jsonl/.ndjson, .parquet).
    #[arg(long, value_name = "csv|tsv|jsonl|parquet")]
    pub format: Option<String>,
    /// CSV field delimiter (one character; `\t` for tab).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// The CSV files have no header row (columns are named column_1, column_2...).
    #[arg(long)]
    pub no_header: bool,
    /// CSV quote character.
    #[arg(long, value_name = "CHAR", default_value = "\"")]
    pub quote: String,
    /// CSV escape character inside quoted fields (default: none; a quote is escaped by doubling it).
    #[arg(long, value_name = "CHAR")]
    pub escape: Option<String>,
    /// Strings read as null (repeatable; replaces pandas' default list: "", NA, NaN, null, None, N/A...).
    #[arg(long = "null-value", value_name = "TEXT")]
    pub null_values: Vec<String>,
    /// Worker threads for parsing (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl ReadArgs {
    pub fn options(&self) -> anyhow::Result<ReadOptions> {
        let mut options = ReadOptions {
            format: self.format.as_deref().map(Format::parse).transpose()?,
            delimiter: self
                .delimiter
                .as_deref()
                .map(|text| one_byte("--delimiter", text))
                .transpose()?,
            has_header: !self.no_header,
            quote: one_byte("--quote", &self.quote)?,
            escape: self
                .escape
                .as_deref()
                .map(|text| one_byte("--escape", text))
                .transpose()?,
            threads: self.threads,
            ..ReadOptions::default()
        };
        options.cells = if self.null_values.is_empty() {
            CellReading::with_nulls(PANDAS_NULLS.iter().map(|token| token.to_string()))
        } else {
            CellReading::with_nulls(self.null_values.iter().cloned())
        };
        Ok(options)
    }
}

fn one_byte(flag: &str, text: &str) -> anyhow::Result<u8> {
    match text {
        "\\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1 => Ok(text.as_bytes()[0]),
        _ => anyhow::bail!("{flag} takes one ASCII character, not {text:?}"),
    }
}

/// How much memory what keeps every value may hold, and where it spills past it.
#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// Memory shared by what keeps every value: in validate, the checks that do (uniqueness,
    /// unique counts, medians, quantiles, z-scores, outliers, distinct values and their counts);
    /// in profile and suggest, the columns' numbers and distinct hashes. Past it they write sorted
    /// runs to temporary files and merge them at the end: results stay exact. A size in bytes, or
    /// with K, M, G or T (powers of 1024).
    #[arg(long, env = "CAIRN_DATA_MEMORY_BUDGET", value_name = "SIZE", default_value = "64M",
          value_parser = parse_size)]
    pub memory_budget: u64,
    /// Where spill files go (default: the system's temporary directory, $TMPDIR). They are deleted
    /// as soon as they are created, so nothing is left behind.
    #[arg(long, env = "CAIRN_DATA_TEMP_DIR", value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
}

impl MemoryArgs {
    pub fn budget(&self) -> MemoryBudget {
        MemoryBudget {
            bytes: usize::try_from(self.memory_budget).unwrap_or(usize::MAX),
            temp_dir: self.temp_dir.clone(),
        }
    }
}

/// Reads a size: bytes, or a number with K, M, G or T (powers of 1024; `KB`, `KiB`... too).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 64M, 2G, 500000)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?} is not a size (e.g. 64M, 2G, 500000)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Report files a command writes on request (`-` = standard output).
#[derive(Debug, Clone, Default, Args)]
pub struct ReportArgs {
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report with plots.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML (one test case per check), for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (e.g. to $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// Writes `text` to `path`, or to standard output for `-`.
pub fn write_output(path: &Path, text: &str) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        return Ok(stdout.flush()?);
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A progress bar over bytes read, on stderr, drawn until dropped (hidden when stderr is not a
/// terminal).
pub struct ProgressDisplay {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    pub fn start(label: &str, progress: Arc<Progress>) -> ProgressDisplay {
        let (_, total) = progress.read();
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(label.to_owned());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let bar = bar.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (read, _) = progress.read();
                    bar.set_position(read);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        ProgressDisplay {
            bar,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }
}

/// A digest of a dataset for its tracking record: xxh3 over its files' names, sizes and modification
/// times and its columns (it changes when the files change; the data is not read again).
pub fn dataset_digest(files: &[String], columns: &[String]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for file in files {
        hasher.update(file.as_bytes());
        if let Ok(metadata) = std::fs::metadata(file) {
            hasher.update(&metadata.len().to_le_bytes());
            if let Ok(modified) = metadata.modified() {
                let since = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                hasher.update(&since.as_nanos().to_le_bytes());
            }
        }
    }
    for column in columns {
        hasher.update(column.as_bytes());
        hasher.update(&[0]);
    }
    format!("{:016x}", hasher.digest())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_with_binary_units() {
        let check = |text: &str, expected: Option<u64>| {
            assert_eq!(parse_size(text).ok(), expected, "{text:?}");
        };
        check("0", Some(0));
        check("500000", Some(500_000));
        check("64M", Some(64 << 20));
        check("64MB", Some(64 << 20));
        check("1g", Some(1 << 30));
        check("2GiB", Some(2 << 30));
        check("16k", Some(16 << 10));
        check(" 3T ", Some(3 << 40));
        check("1.5G", None);
        check("M", None);
        check("12X", None);
        check("99999999999T", None);
    }
}
