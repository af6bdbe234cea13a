//! The spill machinery against plain in-memory computations of the same thing.

use super::*;

/// A seeded generator (splitmix64), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn collect<R: Record>(sorted: Sorted<R>) -> Vec<R> {
    sorted.collect::<Result<Vec<R>>>().unwrap()
}

#[test]
fn float_keys_order_as_total_cmp_and_round_trip() {
    let mut values = vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        1.5,
        -2.25,
    ];
    let mut random = Random(7);
    for _ in 0..2000 {
        values.push(f64::from_bits(random.next()));
    }
    for &value in &values {
        assert_eq!(key_f64(f64_key(value)).to_bits(), value.to_bits());
    }
    for a in values.iter().step_by(7) {
        for b in &values {
            assert_eq!(
                f64_key(*a).cmp(&f64_key(*b)),
                a.total_cmp(b),
                "{a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn a_sort_that_fits_stays_in_memory() {
    let mut sorter = Sorter::new(Allowance::alone(1 << 20), false);
    for value in [5u64, 3, 9, 3, 1] {
        sorter.push(value).unwrap();
    }
    assert_eq!(sorter.runs(), 0);
    assert_eq!(collect(sorter.finish().unwrap()), [1, 3, 3, 5, 9]);
}

#[test]
fn runs_are_merged_by_level_so_open_files_stay_bounded() {
    // A zero budget writes runs of MIN_RECORDS records: 40,000 values make 2,500 runs.
    let mut random = Random(11);
    let values: Vec<u64> = (0..40_000).map(|_| random.next() % 5_000).collect();
    let mut sorter = Sorter::new(Allowance::alone(0), false);
    let mut most = 0;
    for value in &values {
        sorter.push(*value).unwrap();
        most = most.max(sorter.runs());
    }
    // 2,500 = 39 x 64 + 4: levels hold at most 63 runs each, and three levels are enough.
    assert!(most < 3 * FAN_IN, "{most} runs open at once");
    assert!(sorter.runs() >= 2, "the input spilled");
    let mut expected = values.clone();
    expected.sort_unstable();
    assert_eq!(collect(sorter.finish().unwrap()), expected);
}

#[test]
fn spilled_sorts_equal_the_in_memory_sort() {
    // Budgets from "a few records per run" (hundreds of runs: merged in rounds of FAN_IN) to
    // "a handful of runs"; values with many repeats, so equal records sit in different runs.
    for (budget, count, spread) in [
        (0usize, 3_000u64, 50u64),
        (256, 20_000, 1_000),
        (4096, 20_000, u64::MAX),
        (64 << 10, 50_000, 10),
    ] {
        let mut random = Random(budget as u64 + count);
        let values: Vec<u64> = (0..count).map(|_| random.next() % spread.max(1)).collect();
        for dedup in [false, true] {
            let mut sorter = Sorter::new(Allowance::alone(budget), dedup);
            for value in &values {
                sorter.push(*value).unwrap();
            }
            assert!(sorter.runs() > 1, "budget {budget}: expected runs");
            let mut expected = values.clone();
            expected.sort_unstable();
            if dedup {
                // Runs are deduplicated; the merge may repeat a record found in several runs.
                let mut got = collect(sorter.finish().unwrap());
                assert!(got.windows(2).all(|w| w[0] <= w[1]));
                got.dedup();
                expected.dedup();
                assert_eq!(got, expected, "budget {budget}, dedup");
            } else {
                assert_eq!(
                    collect(sorter.finish().unwrap()),
                    expected,
                    "budget {budget}"
                );
            }
        }
    }
}

#[test]
fn more_runs_than_the_fan_in_are_merged_in_rounds() {
    // 64 x 63 + 63 buffers of records: 63 runs of level 1 and 62 of level 0 stay (the last buffer
    // is still in memory), more than one merge takes, so finishing merges them in rounds.
    let mut sorter = Sorter::new(Allowance::alone(0), false);
    let count = ((FAN_IN * (FAN_IN - 1) + FAN_IN - 1) * MIN_RECORDS) as u64;
    for value in (0..count).rev() {
        sorter.push(value * 3 % count).unwrap();
    }
    assert_eq!(sorter.runs(), 2 * (FAN_IN - 1) - 1);
    let got = collect(sorter.finish().unwrap());
    let mut expected: Vec<u64> = (0..count).map(|value| value * 3 % count).collect();
    expected.sort_unstable();
    assert_eq!(got, expected);
}

#[test]
fn runs_written_by_the_caller_merge_with_pushed_records() {
    let mut sorter: Sorter<(u64, u64, u64)> = Sorter::new(Allowance::alone(1 << 20), false);
    sorter
        .write_sorted_run([(1, 0, 1), (4, 2, 2), (9, 1, 1)])
        .unwrap();
    sorter.write_sorted_run([(4, 7, 1), (5, 5, 3)]).unwrap();
    sorter.push((2, 9, 1)).unwrap();
    sorter.push((4, 8, 1)).unwrap();
    assert_eq!(
        collect(sorter.finish().unwrap()),
        [
            (1, 0, 1),
            (2, 9, 1),
            (4, 2, 2),
            (4, 7, 1),
            (4, 8, 1),
            (5, 5, 3),
            (9, 1, 1)
        ]
    );
}

#[test]
fn ranks_are_read_from_a_sorted_stream() {
    let mut sorter = Sorter::new(Allowance::alone(0), false);
    let values = [3.5, -1.0, f64::INFINITY, 0.0, 2.0, -0.0, 7.25, 2.0];
    for value in values {
        sorter.push(f64_key(value)).unwrap();
    }
    let found = values_at_ranks(sorter.finish().unwrap(), [7, 0, 3, 3, 4]).unwrap();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(found.len(), 4);
    for (rank, value) in found {
        assert_eq!(value.to_bits(), sorted[rank].to_bits(), "rank {rank}");
    }
}

#[test]
fn logs_give_records_back_in_order_however_often_they_are_read() {
    for budget in [0usize, 1 << 20] {
        let mut log = Log::new(Allowance::alone(budget));
        let values: Vec<u64> = (0..5_000u64).map(|i| i.wrapping_mul(0x9e37)).collect();
        for value in &values {
            log.push(*value).unwrap();
        }
        assert_eq!(log.spilled(), budget == 0);
        let mut reader = log.into_reader().unwrap();
        for _ in 0..3 {
            let got: Vec<u64> = reader.iter().unwrap().collect::<Result<_>>().unwrap();
            assert_eq!(got, values);
        }
    }
}

#[test]
fn byte_logs_keep_variable_records_across_memory_and_disk() {
    let records: Vec<Vec<u8>> = (0..3_000usize)
        .map(|i| (0..(i * 7) % 41).map(|j| (i + j) as u8).collect())
        .collect();
    for limit in [0usize, 1000, 1 << 30] {
        let mut log = ByteLog::new(Allowance::alone(1 << 20), limit);
        for record in &records {
            log.push_with(|out| out.extend_from_slice(record)).unwrap();
        }
        let mut got = Vec::new();
        log.for_each(|record| got.push(record.to_vec())).unwrap();
        assert_eq!(got, records, "limit {limit}");
    }
}

#[test]
fn a_missing_temporary_directory_is_an_error_naming_it() {
    let pool = MemoryPool::new(MemoryBudget {
        bytes: 0,
        temp_dir: Some("/nonexistent/cairn-spill".into()),
    });
    let mut sorter = Sorter::new(pool.allowance(), false);
    let mut outcome = Ok(());
    for value in 0..1000u64 {
        outcome = sorter.push(value);
        if outcome.is_err() {
            break;
        }
    }
    let message = outcome.unwrap_err().to_string();
    assert!(message.contains("/nonexistent/cairn-spill"), "{message}");
}

#[test]
fn a_pool_splits_its_budget_between_holders() {
    let pool = MemoryPool::new(MemoryBudget {
        bytes: 900,
        temp_dir: None,
    });
    let first = pool.allowance();
    assert_eq!(first.bytes(), 900);
    let _second = pool.allowance();
    let _third = pool.allowance();
    assert_eq!(first.bytes(), 300);
}

#[test]
fn distinct_hashes_count_exactly_across_runs() {
    for (budget, count, spread) in [
        (0usize, 5_000u64, 700u64),
        (2048, 30_000, 25_000),
        (2048, 30_000, 5),
        (1 << 20, 30_000, 20_000),
    ] {
        let mut random = Random(count ^ spread);
        let hashes: Vec<u64> = (0..count)
            .map(|_| (random.next() % spread).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut distinct = DistinctHashes::new(Allowance::alone(budget));
        for hash in &hashes {
            distinct.insert(*hash).unwrap();
        }
        let spilled = distinct.runs.runs() > 0;
        let expected = hashes
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        assert_eq!(distinct.count().unwrap(), expected, "budget {budget}");
        assert_eq!(
            spilled,
            budget < (1 << 20) && spread > 100,
            "budget {budget}"
        );
    }
}

/// Buckets of a hash table (hashbrown: a power of two, 7/8 of them usable) that hold `entries`.
fn buckets_for(entries: usize) -> usize {
    (entries.saturating_mul(8) / 7).next_power_of_two().max(16)
}

#[test]
fn hash_tables_are_sized_within_their_bytes() {
    for bytes in [0usize, 1000, 1 << 16, 64 << 20] {
        for (bucket, extra) in [(9usize, 8usize), (17, 24)] {
            let entries = table_entries(bytes, bucket, extra);
            assert!(entries >= 14);
            let buckets = buckets_for(entries);
            assert_eq!(buckets / 8 * 7, entries, "exactly full tables");
            if bytes >= 1 << 16 {
                assert!(buckets * bucket + entries * extra <= bytes, "{bytes}");
                assert!(
                    buckets * 2 * bucket + entries * 2 * extra > bytes,
                    "{bytes}"
                );
            }
        }
    }
}

#[test]
fn ranks_selected_in_memory_equal_ranks_merged_from_runs() {
    let mut random = Random(99);
    let values: Vec<f64> = (0..20_000)
        .map(|_| match random.next() % 50 {
            0 => f64::NAN,
            1 => -0.0,
            2 => f64::NEG_INFINITY,
            n => (n as f64 * 0.5).floor() - 10.0,
        })
        .collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let ranks = [
        0usize, 1, 999, 1_000, 10_000, 10_000, 19_998, 19_999, 25_000,
    ];
    for budget in [0usize, 1 << 20] {
        let mut sorter = Sorter::new(Allowance::alone(budget), false);
        for value in &values {
            sorter.push(f64_key(*value)).unwrap();
        }
        assert_eq!(sorter.runs() > 0, budget == 0);
        let found = sorter.values_at_ranks(ranks).unwrap();
        assert_eq!(found.len(), 7, "budget {budget}");
        for (rank, value) in found {
            assert_eq!(
                value.to_bits(),
                sorted[rank].to_bits(),
                "rank {rank}, budget {budget}"
            );
        }
    }
}
