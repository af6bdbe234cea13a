//! The process' CPU time, memory, start time and file descriptors, for the standard Prometheus
//! `process_*` series. Linux reads `/proc/self`; other systems report nothing (the series are left
//! out). The parsers are pure so they are tested on fixed text.
//!
//! Why not a crate: `procfs` parses all of `/proc` (and brings its own dependencies) for five
//! numbers; `sysinfo` is larger still. The two numbers the text does not carry (clock ticks per
//! second, page size) come from `rustix::param`, already in the build.

/// One sample of the process' resources.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time.
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// Unix time the process started.
    pub start_time_seconds: f64,
    pub open_fds: Option<u64>,
    /// The soft limit on open files (`None` when unlimited or unknown).
    pub max_fds: Option<u64>,
}

/// The fields of `/proc/self/stat` the metrics use, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    pub user_ticks: u64,
    pub system_ticks: u64,
    /// Clock ticks after boot when the process started.
    pub start_ticks: u64,
    pub virtual_bytes: u64,
    pub resident_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold spaces
/// and parentheses itself, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<StatFields> {
    let (_, after_name) = text.rsplit_once(')')?;
    // Field 3 (state) is index 0 here: field N is index N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    Some(StatFields {
        user_ticks: field(14)?,
        system_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (Unix seconds) from `/proc/stat`'s `btime` line.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The soft limit from `/proc/<pid>/limits`' "Max open files" line.
pub fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl ProcessStats {
    /// Combines the parsed parts with the process' clock tick rate and page size.
    pub fn from_parts(
        stat: StatFields,
        boot_time_seconds: u64,
        ticks_per_second: u64,
        page_size: u64,
        open_fds: Option<u64>,
        max_fds: Option<u64>,
    ) -> ProcessStats {
        let ticks = ticks_per_second.max(1) as f64;
        ProcessStats {
            cpu_seconds: (stat.user_ticks + stat.system_ticks) as f64 / ticks,
            resident_bytes: stat.resident_pages.saturating_mul(page_size),
            virtual_bytes: stat.virtual_bytes,
            start_time_seconds: boot_time_seconds as f64 + stat.start_ticks as f64 / ticks,
            open_fds,
            max_fds,
        }
    }
}

/// Samples this process (blocking file reads: call it from `spawn_blocking`). `None` where
/// `/proc` is not there or not readable.
#[cfg(target_os = "linux")]
pub fn sample() -> Option<ProcessStats> {
    let stat = parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let boot_time = boot_time()?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as u64);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| parse_max_open_files(&text));
    Some(ProcessStats::from_parts(
        stat,
        boot_time,
        rustix::param::clock_ticks_per_second(),
        rustix::param::page_size() as u64,
        open_fds,
        max_fds,
    ))
}

/// Other systems: no `/proc`, no process series.
#[cfg(not(target_os = "linux"))]
pub fn sample() -> Option<ProcessStats> {
    None
}

/// The boot time, read once (it does not change while the process runs).
#[cfg(target_os = "linux")]
fn boot_time() -> Option<u64> {
    static BOOT_TIME: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *BOOT_TIME.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse_boot_time(&text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_name_holding_spaces_and_parentheses() {
        // A real line (cairn serve, 4 threads) with its name changed to something awkward.
        let text = "4242 (cairn (x) y) S 1 4242 4242 0 -1 4194560 5830 0 3 0 250 75 0 0 20 0 4 0 \
                    123456 1053229056 3361 18446744073709551615 1 1 0 0 0 0 0 4096 17990 0 0 0 17 \
                    1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(text),
            Some(StatFields {
                user_ticks: 250,
                system_ticks: 75,
                start_ticks: 123456,
                virtual_bytes: 1053229056,
                resident_pages: 3361,
            })
        );
        assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
        assert_eq!(parse_stat("no parentheses"), None);
    }

    #[test]
    fn parses_boot_time_and_open_file_limit() {
        let stat = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nctxt 9\nbtime 1763900000\nprocesses 7\n";
        assert_eq!(parse_boot_time(stat), Some(1763900000));
        assert_eq!(parse_boot_time("cpu 1 2 3\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_max_open_files(unlimited), None);
    }

    #[test]
    fn converts_ticks_and_pages() {
        let stat = StatFields {
            user_ticks: 250,
            system_ticks: 75,
            start_ticks: 1050,
            virtual_bytes: 8192,
            resident_pages: 3,
        };
        let stats = ProcessStats::from_parts(stat, 1_000, 100, 4096, Some(12), Some(1024));
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.25,
                resident_bytes: 12288,
                virtual_bytes: 8192,
                start_time_seconds: 1010.5,
                open_fds: Some(12),
                max_fds: Some(1024),
            }
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process() {
        let Some(stats) = sample() else {
            panic!("/proc/self should be readable on Linux");
        };
        assert!(stats.resident_bytes > 0 && stats.virtual_bytes >= stats.resident_bytes);
        assert!(stats.open_fds.is_some_and(|count| count >= 3));
        assert!(stats.start_time_seconds > 1_500_000_000.0);
    }
}
