//! The readers on real files: bad input is reported with file and line, never fewer rows than the
//! file holds; parallel and sequential CSV readers agree.

use std::io::Write;

use super::*;
use crate::table::Needs;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(bytes).unwrap();
    path.display().to_string()
}

/// Columns, rows as texts, and each row's line.
type Table = (Vec<String>, Vec<Vec<String>>, Vec<u64>);

/// Reads everything.
fn read_all(spec: &str, options: &ReadOptions) -> Result<Table> {
    let mut source = open(spec, options)?;
    let columns = source.columns().to_vec();
    source.set_needs(vec![
        Needs {
            kinds: true,
            numbers: true
        };
        columns.len()
    ]);
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut expected_first = 0;
    while let Some(chunk) = source.next_chunk()? {
        assert_eq!(chunk.first_row, expected_first);
        expected_first += chunk.n_rows as u64;
        for row in 0..chunk.n_rows {
            rows.push(
                chunk
                    .columns
                    .iter()
                    .map(|c| c.text(row).to_string())
                    .collect(),
            );
            lines.push(chunk.line(row));
        }
    }
    Ok((columns, rows, lines))
}

fn sequential() -> ReadOptions {
    // An escape character makes the CSV reader sequential.
    ReadOptions {
        escape: Some(b'\\'),
        chunk_rows: 2,
        ..ReadOptions::default()
    }
}

#[test]
fn csv_readers_agree_on_quotes_newlines_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "a.csv",
        b"id,text\r\n1,\"two\nlines\"\r\n2,\"a \"\"quote\"\"\"\r\n\r\n3,plain\r\n",
    );
    let parallel = read_all(&path, &ReadOptions::default()).unwrap();
    assert_eq!(parallel.0, ["id", "text"]);
    assert_eq!(
        parallel.1,
        [["1", "two\nlines"], ["2", "a \"quote\""], ["3", "plain"]]
    );
    assert_eq!(parallel.2, [2, 4, 6]);
    // With an escape character, quotes are escaped by it rather than doubled: row 2 reads otherwise.
    let sequential_rows = read_all(&path, &sequential()).unwrap().1;
    assert_eq!(
        (&sequential_rows[0], &sequential_rows[2]),
        (&parallel.1[0], &parallel.1[2])
    );
}

#[test]
fn bad_csv_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "ragged.csv",
            b"a,b\n1,2\n3\n",
            ":3: expected 2 fields, found 1",
        ),
        (
            "quote.csv",
            b"a,b\n1,2\n3,\"open\n4,5\n",
            ":3: a quoted field is never closed",
        ),
        (
            "bytes.csv",
            b"a,b\n1,2\n3,\xff\xfe\n",
            ":3: column \"b\" is not valid UTF-8",
        ),
        ("empty.csv", b"", ":1: the file is empty"),
    ];
    for (name, bytes, needle) in cases {
        let path = write(&dir, name, bytes);
        // The sequential reader (used only with an escape character) reads an unclosed quote to the end.
        let readers = if *name == "quote.csv" {
            vec![ReadOptions::default()]
        } else {
            vec![ReadOptions::default(), sequential()]
        };
        for options in readers {
            let error = read_all(&path, &options)
                .err()
                .unwrap_or_else(|| panic!("{name} read"));
            let message = error.to_string();
            assert!(
                message.contains(name) && message.contains(needle),
                "{name}: {message}"
            );
        }
    }
}

#[test]
fn header_only_is_zero_rows_and_files_continue_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let only = write(&dir, "only.csv", b"a,b\n");
    assert!(read_all(&only, &ReadOptions::default())
        .unwrap()
        .1
        .is_empty());
    let folder = tempfile::tempdir().unwrap();
    write(&folder, "1.csv", b"a,b\n1,2\n3,4\n");
    write(&folder, "2.csv", b"a,b\n5,6\n");
    write(&folder, ".hidden.csv", b"x\n");
    let spec = folder.path().display().to_string();
    let (_, rows, lines) = read_all(&spec, &ReadOptions::default()).unwrap();
    assert_eq!(rows, [["1", "2"], ["3", "4"], ["5", "6"]]);
    assert_eq!(lines, [2, 3, 2]);
    let glob = format!("{}/*.csv", spec);
    assert_eq!(read_all(&glob, &ReadOptions::default()).unwrap().1.len(), 3);
    write(&folder, "3.csv", b"a,c\n7,8\n");
    let error = read_all(&spec, &ReadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("3.csv") && error.contains("differ"),
        "{error}"
    );
    assert!(read_all("/no/such/file.csv", &ReadOptions::default())
        .err()
        .unwrap()
        .to_string()
        .contains("no such file"));
}

#[test]
fn a_large_csv_crosses_many_blocks_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("n,s\n");
    for i in 0..60_000 {
        text.push_str(&format!("{i},\"row {i}\nsecond line, with comma\"\n"));
    }
    let path = write(&dir, "big.csv", text.as_bytes());
    let (_, rows, lines) = read_all(
        &path,
        &ReadOptions {
            threads: 3,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(rows.len(), 60_000);
    for (i, (row, line)) in rows.iter().zip(&lines).enumerate().step_by(997) {
        assert_eq!(row[0], i.to_string());
        assert_eq!(*line, 2 + 2 * i as u64);
    }
}

#[test]
fn json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "a.jsonl",
        b"{\"a\": 1, \"b\": \"x\"}\n\n{\"a\": null}\n{\"a\": 2.5, \"b\": true}\n",
    );
    let (columns, rows, lines) = read_all(&path, &ReadOptions::default()).unwrap();
    assert_eq!(columns, ["a", "b"]);
    assert_eq!(rows, [["1", "x"], ["", ""], ["2.5", "True"]]);
    assert_eq!(lines, [1, 3, 4]);
    let bad = write(&dir, "bad.jsonl", b"{\"a\": 1}\n{\"a\": \n");
    assert!(read_all(&bad, &ReadOptions::default())
        .err()
        .unwrap()
        .to_string()
        .contains("bad.jsonl:2"));
}

#[test]
fn quote_free_blocks_split_as_csv_core_reads_them() {
    // Quote-free blocks are split on delimiters and newlines without csv_core. The same file with
    // one field quoted (`1` as `"1"`: the same text) goes through csv_core: rows and lines agree; the
    // sequential reader (the csv crate) reads the same rows.
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[u8]] = &[
        b"a,b,c\n1,x,\n\n2,,z\r\n3,y y,  \r\n\r\n4,NA,5",
        b"a,b\n1,2\n",
        b"a,b\n1,\n,x\n",
        b"a,b\n1,2\r3,4\n", // a lone carriage return ends a record for csv_core: the slow path
    ];
    for (index, bytes) in cases.iter().enumerate() {
        let path = write(&dir, &format!("case{index}.csv"), bytes);
        let parallel = read_all(&path, &ReadOptions::default()).unwrap();
        let quoted: Vec<u8> = String::from_utf8_lossy(bytes)
            .replacen("\n1,", "\n\"1\",", 1)
            .into_bytes();
        assert_ne!(&quoted, bytes);
        let quoted_path = write(&dir, &format!("quoted{index}.csv"), &quoted);
        let through_csv_core = read_all(&quoted_path, &ReadOptions::default()).unwrap();
        if index == 3 {
            // Lines after a lone carriage return differ between the two line trackers of the
            // csv_core path (one counts `\r` as a line end, one does not); rows agree.
            assert_eq!(parallel.1, through_csv_core.1, "case {index}");
        } else {
            assert_eq!(parallel, through_csv_core, "case {index}");
        }
        let sequential_rows = read_all(&path, &sequential()).unwrap().1;
        assert_eq!(parallel.1, sequential_rows, "case {index}");
    }
    let first = read_all(
        &dir.path().join("case0.csv").display().to_string(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        first.1,
        [
            ["1", "x", ""],
            ["2", "", "z"],
            ["3", "y y", "  "],
            ["4", "NA", "5"]
        ]
    );
    assert_eq!(first.2, [2, 4, 5, 7]);
    for (name, bytes, needle) in [
        (
            "few.csv",
            &b"a,b,c\n1,2,3\n4,5\n"[..],
            ":3: expected 3 fields, found 2",
        ),
        (
            "many.csv",
            &b"a,b\n1,2\r\n3,4,5\r\n"[..],
            ":3: expected 2 fields, found 3",
        ),
    ] {
        let path = write(&dir, name, bytes);
        let message = read_all(&path, &ReadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{name} read"))
            .to_string();
        assert!(message.contains(needle), "{name}: {message}");
    }
}
