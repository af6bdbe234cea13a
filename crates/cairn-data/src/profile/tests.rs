use serde_json::json;

use super::*;
use crate::table::CellReading;

fn column_of(cells: &[&str]) -> Column {
    let reading = CellReading::default();
    let mut column = Column::with_capacity(cells.len(), 64, true);
    for cell in cells {
        column.push_text(cell, &reading, true, true);
    }
    column
}

/// Profiles `cells`, split into chunks of `chunk` cells, with `options`.
fn profile_with(cells: &[&str], chunk: usize, options: ProfileOptions) -> ColumnSummary {
    let mut profile = ColumnProfile::new("c", &options);
    for part in cells.chunks(chunk.max(1)) {
        profile.update(&column_of(part)).unwrap();
    }
    profile.finish().unwrap()
}

fn profile(cells: &[&str]) -> ColumnSummary {
    profile_with(cells, 3, ProfileOptions::default())
}

#[test]
fn types_follow_pandas_dtypes() {
    let check = |cells: &[&str], inferred: InferredType, dtype: &str| {
        let summary = profile(cells);
        assert_eq!(
            (summary.inferred_type, summary.pandas_dtype.as_str()),
            (inferred, dtype),
            "{cells:?}"
        );
    };
    check(&["1", "2", "-3"], InferredType::Int, "int64");
    check(&["1", "", "3"], InferredType::Int, "float64");
    check(&["1", "2.5"], InferredType::Float, "float64");
    check(&["True", "False", "true"], InferredType::Bool, "bool");
    check(&["True", "NA"], InferredType::Bool, "object");
    check(&["2024-01-02", "2023-12-31"], InferredType::Date, "object");
    check(
        &["2024-01-02T10:00:00Z", "2024-01-02"],
        InferredType::Datetime,
        "object",
    );
    check(&["a", "1"], InferredType::String, "object");
    check(&["True", "1"], InferredType::String, "object");
    check(&["", "NA"], InferredType::Null, "float64");
}

#[test]
fn numeric_statistics_match_pandas() {
    // pandas: s = pd.Series([1, 2, 3, 4, 10, None]); s.describe(), s.quantile([.05, .95])
    let summary = profile(&["1", "2", "3", "4", "10", ""]);
    assert_eq!(summary.rows, 6);
    assert_eq!(summary.count, 5);
    assert_eq!(summary.nulls, 1);
    assert_eq!(summary.distinct, 5);
    assert!(summary.unique);
    assert_eq!(summary.min, Some(json!(1)));
    assert_eq!(summary.max, Some(json!(10)));
    assert_eq!(summary.mean, Some(4.0));
    let std = summary.std.unwrap();
    assert!((std - 3.535_533_905_932_737_6).abs() < 1e-12, "{std}");
    let quantiles: Vec<f64> = summary.quantiles.iter().map(|q| q.value).collect();
    let expected = [1.2, 2.0, 3.0, 4.0, 8.8];
    for (got, want) in quantiles.iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{quantiles:?}");
    }
    assert!(!summary.quantiles_approximate);
    let histogram = summary.histogram.unwrap();
    assert_eq!(histogram.counts.iter().sum::<u64>(), 5);
    assert_eq!(histogram.counts[0], 1);
    assert_eq!(histogram.counts[19], 1);
    assert_eq!((histogram.low, histogram.high), (1.0, 10.0));
}

#[test]
fn one_and_one_point_zero_are_one_value_in_a_numeric_column() {
    let summary = profile(&["1", "1.0", "2", "-0.0", "0"]);
    assert_eq!(summary.distinct, 3);
    assert!(!summary.unique);
}

#[test]
fn strings_have_counts_lengths_patterns_and_text_extremes() {
    let summary = profile(&["ab", "Cd-1", "ab", "", "ab", "xyz"]);
    assert_eq!(summary.inferred_type, InferredType::String);
    assert_eq!(summary.count, 5);
    assert_eq!(summary.distinct, 3);
    assert_eq!(
        summary.top_values[0],
        ValueCount {
            value: "ab".into(),
            count: 3
        }
    );
    assert_eq!(summary.top_values_error, 0);
    assert_eq!(summary.min, Some(json!("Cd-1")));
    assert_eq!(summary.max, Some(json!("xyz")));
    assert_eq!(
        summary.lengths,
        Some(Lengths {
            min: 2,
            mean: 13.0 / 5.0,
            max: 4
        })
    );
    assert_eq!(
        summary.patterns,
        [
            ValueCount {
                value: "aa".into(),
                count: 3
            },
            ValueCount {
                value: "Aa-9".into(),
                count: 1
            },
            ValueCount {
                value: "aaa".into(),
                count: 1
            },
        ]
    );
    assert_eq!(
        summary.value_set,
        Some(vec!["Cd-1".to_string(), "ab".into(), "xyz".into()])
    );
    assert!(summary.mean.is_none() && summary.quantiles.is_empty());
}

#[test]
fn patterns_map_classes_and_cut_long_values() {
    let check = |text: &str, expected: &str| {
        let mut out = String::new();
        pattern_of(text, &mut out);
        assert_eq!(out, expected, "{text:?}");
    };
    check("AB-12 x", "AA-99 a");
    check("é Ü 5", "a A 9");
    check("user@example.com", "aaaa@aaaaaaa.aaa");
    check(&"x".repeat(40), &format!("{}…", "a".repeat(32)));
}

#[test]
fn dates_and_datetimes_are_recognised() {
    let check = |text: &str, date: bool, datetime: bool| {
        assert_eq!(
            (looks_like_date(text), looks_like_datetime(text)),
            (date, datetime),
            "{text:?}"
        );
    };
    check("2024-01-31", true, false);
    check("2024-13-01", false, false);
    check("2024-1-31", false, false);
    check("2024-01-31T12:30", false, true);
    check("2024-01-31 12:30:05", false, true);
    check("2024-01-31 12:30:05.123456", false, true);
    check("2024-01-31T12:30:05Z", false, true);
    check("2024-01-31T12:30:05+02:00", false, true);
    check("2024-01-31T12:30:05+0200", false, true);
    check("2024-01-31T12", false, false);
    check("2024-01-31T12:30:05+2", false, false);
}

#[test]
fn chunking_does_not_change_the_result() {
    let cells: Vec<String> = (0..500).map(|i| ((i * 37) % 101).to_string()).collect();
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    let whole = profile_with(&cells, 500, ProfileOptions::default());
    for chunk in [1, 7, 64] {
        assert_eq!(
            profile_with(&cells, chunk, ProfileOptions::default()),
            whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn budgets_switch_to_approximations_and_say_so() {
    let cells: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    let options = ProfileOptions {
        distinct_limit: 100,
        sample_budget: 1000,
        top_capacity: 50,
        ..ProfileOptions::default()
    };
    let summary = profile_with(&cells, 512, options);
    assert!(summary.distinct_approximate);
    assert!(!summary.unique);
    assert!(
        (summary.distinct as f64 - 5000.0).abs() < 150.0,
        "{}",
        summary.distinct
    );
    assert!(summary.quantiles_approximate);
    let median = summary.quantiles[2].value;
    assert!((median - 2500.0).abs() < 300.0, "{median}");
    // Exact moments whatever the budget.
    assert_eq!(summary.mean, Some(2499.5));
    assert_eq!(summary.min, Some(json!(0)));
    assert_eq!(summary.max, Some(json!(4999)));
    let histogram = summary.histogram.unwrap();
    assert!(histogram.approximate);
    let total: u64 = histogram.counts.iter().sum();
    assert!((total as i64 - 5000).abs() <= 20, "{total}");
    assert!(summary.top_values_error > 0);
    assert_eq!(summary.value_set, None);
}

#[test]
fn text_after_numbers_makes_a_string_column_without_numeric_statistics() {
    let summary = profile(&["1", "2", "x"]);
    assert_eq!(summary.inferred_type, InferredType::String);
    assert!(summary.mean.is_none() && summary.histogram.is_none());
    assert_eq!(summary.min, Some(json!("x")));
}

#[test]
fn renderings_name_every_column_and_mark_approximations() {
    // Distinct values are exact while the frequent-values counter holds them all (20 here), then
    // counted on until 10, then estimated.
    let options = ProfileOptions {
        distinct_limit: 10,
        top_capacity: 20,
        ..ProfileOptions::default()
    };
    let mut profiler = TableProfiler::new(&["n".to_string(), "s<x>".to_string()], options, None);
    let cells: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    let chunk = crate::table::Chunk {
        n_rows: 100,
        columns: vec![column_of(&cells), column_of(&["a"; 100])],
        ..Default::default()
    };
    profiler.update(&chunk, 2).unwrap();
    let table = profiler
        .finish("data.csv", &["data.csv".to_string()])
        .unwrap();
    assert_eq!(table.rows, 100);
    let text = render::text(&table);
    assert!(text.contains("data.csv: 100 rows, 2 columns"), "{text}");
    assert!(text.contains("~"), "{text}");
    assert!(text.contains("approximate"), "{text}");
    let markdown = render::markdown(&table);
    assert!(markdown.contains("| n | int | int64 | 100 |"), "{markdown}");
    let html = render::html(&table);
    assert!(html.contains("s&lt;x&gt;") && !html.contains("s<x>"));
    assert_eq!(html.matches("<svg").count(), 2);
    let json = serde_json::to_string(&table).unwrap();
    let back: TableProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, table);
}

#[test]
fn distinct_values_past_the_frequent_values_counter_are_still_exact() {
    // 3,000 values, each twice: more than the frequent-values counter holds (100), fewer than
    // the distinct limit, so the count is exact though the top counts are not.
    let cells: Vec<String> = (0..6_000)
        .map(|i| format!("v{}", (i * 7) % 3_000))
        .collect();
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    let options = ProfileOptions {
        distinct_limit: 1_000_000,
        sample_budget: 1_000,
        top_capacity: 100,
        ..ProfileOptions::default()
    };
    for chunk in [6_000, 999] {
        let summary = profile_with(&cells, chunk, options);
        assert_eq!(summary.distinct, 3_000);
        assert!(!summary.distinct_approximate);
        assert!(summary.top_values_error > 0);
        assert!(!summary.unique);
    }
}

#[test]
fn a_pattern_has_one_hash_whichever_way_it_is_computed() {
    // ASCII text is classified word by word, other text character by character; equal patterns
    // must count as one.
    let texts = [
        "",
        "a",
        "Ab1",
        "abcdefgh",
        "abcdefghi",
        "x-9_Y",
        "é",
        "Ünïcode 12",
        "ab\u{e9}cd",
        "12345678901234567890123456789012",
        "123456789012345678901234567890123",
        "a long value, longer than the thirty-two characters kept",
        "ééééééééééééééééééééééééééééééééééé",
    ];
    for text in texts {
        let mut bytes = Vec::new();
        let hash = pattern_bytes(text, &mut bytes);
        // The character-by-character classification is the reference for every text.
        let mut expected = Vec::new();
        pattern_chars(text, &mut expected);
        assert_eq!(bytes, expected, "{text:?}");
        assert_eq!(hash, pattern_hash(&bytes), "{text:?}");
    }
    let hash = |text: &str| pattern_bytes(text, &mut Vec::new());
    assert_eq!(hash("abc"), hash("xyz"));
    assert_eq!(hash("abc"), hash("\u{e9}bc"));
    assert_ne!(hash("abc"), hash("abcd"));
    assert_ne!(hash("a"), hash("a\0"));
}

#[test]
fn eight_ascii_bytes_are_classified_at_once_as_one_by_one() {
    // Every ASCII byte in every lane, next to the range edges of its neighbours.
    for byte in 0u8..128 {
        for lane in 0..8 {
            let mut bytes = *b"/09:@AZ[";
            bytes[lane] = byte;
            let expected: Vec<u8> = bytes.iter().map(|&b| ASCII_CLASS[usize::from(b)]).collect();
            let got = classify_word(u64::from_le_bytes(bytes)).to_le_bytes();
            assert_eq!(
                got.as_slice(),
                expected.as_slice(),
                "byte {byte} in lane {lane}"
            );
        }
    }
}

/// Profiles a table of columns (name, cells) in chunks of `chunk_rows` rows within `memory_budget`.
fn profile_table(
    columns: &[(&str, Vec<String>)],
    chunk_rows: usize,
    options: ProfileOptions,
) -> TableProfile {
    let names: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    let mut profiler = TableProfiler::new(&names, options, None);
    let rows = columns[0].1.len();
    for start in (0..rows).step_by(chunk_rows) {
        let end = (start + chunk_rows).min(rows);
        let chunk = crate::table::Chunk {
            n_rows: end - start,
            columns: columns
                .iter()
                .map(|(_, cells)| {
                    let part: Vec<&str> = cells[start..end].iter().map(String::as_str).collect();
                    column_of(&part)
                })
                .collect(),
            ..Default::default()
        };
        profiler.update(&chunk, 2).unwrap();
    }
    profiler.finish("data.csv", &[]).unwrap()
}

#[test]
fn spilled_numbers_and_hashes_give_the_in_memory_profile() {
    // Numbers with ties, negatives, a null now and then; ids far past the frequent-values
    // counter (so distinct hashes are counted, and spilled); a column that turns to text late.
    let n = 30_000u64;
    let columns = vec![
        (
            "x",
            (0..n)
                .map(|i| match i % 41 {
                    0 => String::new(),
                    1 => "-0.0".to_string(),
                    _ => format!("{:.2}", ((i * 7_919) % 2_003) as f64 / 7.0 - 100.0),
                })
                .collect::<Vec<_>>(),
        ),
        ("id", (0..n).map(|i| (i * 7 % n).to_string()).collect()),
        (
            "mixed",
            (0..n)
                .map(|i| {
                    if i == n - 10 {
                        "text".to_string()
                    } else {
                        i.to_string()
                    }
                })
                .collect(),
        ),
        (
            "repeats",
            (0..n).map(|i| format!("r{}", (i * 13) % 9_000)).collect(),
        ),
    ];
    let options = ProfileOptions {
        top_capacity: 1_000,
        ..ProfileOptions::default()
    };
    let unlimited = ProfileOptions {
        memory_budget: usize::MAX,
        ..options
    };
    let in_memory = profile_table(&columns, 4_096, unlimited);
    assert!(!in_memory.columns[0].quantiles_approximate);
    assert_eq!(in_memory.columns[1].distinct, n);
    assert!(!in_memory.columns[1].distinct_approximate);
    assert_eq!(in_memory.columns[3].distinct, 9_000);
    for (budget, chunk_rows) in [(0usize, 4_096usize), (0, 999), (200_000, 1_000)] {
        let spilled = profile_table(
            &columns,
            chunk_rows,
            ProfileOptions {
                memory_budget: budget,
                ..options
            },
        );
        // Only the recorded budget differs.
        assert_eq!(spilled.budgets.memory_budget, budget);
        assert_eq!(
            spilled.columns, in_memory.columns,
            "{budget} bytes, chunks of {chunk_rows}"
        );
    }
    // They did write to disk: pointed at a missing directory, the profile fails naming it.
    let names: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    let mut profiler = TableProfiler::new(
        &names,
        ProfileOptions {
            memory_budget: 0,
            ..options
        },
        Some("/nonexistent/cairn-spill-test".into()),
    );
    let chunk = crate::table::Chunk {
        n_rows: n as usize,
        columns: columns
            .iter()
            .map(|(_, cells)| column_of(&cells.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect(),
        ..Default::default()
    };
    let outcome = profiler
        .update(&chunk, 1)
        .and_then(|()| profiler.finish("data.csv", &[]).map(|_| ()));
    let message = outcome.expect_err("should spill").to_string();
    assert!(
        message.contains("/nonexistent/cairn-spill-test"),
        "{message}"
    );
    // Past the distinct limit: an estimate, said so, whatever was spilled.
    let limited = ProfileOptions {
        distinct_limit: 5_000,
        memory_budget: 0,
        ..options
    };
    let table = profile_table(&columns, 4_096, limited);
    assert!(table.columns[1].distinct_approximate);
    assert!((table.columns[1].distinct as f64 - n as f64).abs() < n as f64 * 0.03);
    assert!(table.columns[3].distinct_approximate);
    // Past the exact numbers: a uniform sample (as many as the share holds, at least 1,024), said
    // approximate, close to the exact quantiles.
    let sampled = profile_table(
        &columns,
        4_096,
        ProfileOptions {
            sample_budget: 10_000,
            memory_budget: 0,
            ..options
        },
    );
    let x = &sampled.columns[0];
    assert!(x.quantiles_approximate);
    assert!(x.histogram.as_ref().unwrap().approximate);
    for (estimate, exact) in x.quantiles.iter().zip(&in_memory.columns[0].quantiles) {
        assert!(
            (estimate.value - exact.value).abs() < 20.0,
            "{estimate:?} against {exact:?}"
        );
    }
}
