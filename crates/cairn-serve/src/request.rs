//! Request bodies of both protocols, parsed into [`Payload`]: no model involved yet.
//!
//! MLflow's scoring protocol (`/invocations`): JSON with exactly one of `dataframe_split`,
//! `dataframe_records`, `instances`, `inputs`, or `text/csv` with a header row. The Open Inference
//! Protocol v2 (`.../infer`): `{"inputs": [{"name", "shape", "datatype", "data"}]}`.

use serde_json::{Map, Value};

use crate::ServeError;

/// One cell of a table or element of a tensor, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
}

/// Row-oriented data with optional column names.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Cell>>,
}

/// A tensor as sent: its shape and its elements in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorData {
    pub shape: Vec<usize>,
    pub values: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A data frame (`dataframe_split`, `dataframe_records`, CSV, `instances` of objects).
    Frame(Frame),
    /// One tensor without a name (`instances`/`inputs` as a list).
    Tensor(TensorData),
    /// Named tensors (`inputs` as an object, v2 `inputs`).
    Named(Vec<(String, TensorData)>),
}

impl Payload {
    /// True when the answer should be one record per row (MLflow's data-frame answers).
    pub fn is_frame(&self) -> bool {
        matches!(self, Payload::Frame(_))
    }
}

fn bad(message: impl Into<String>) -> ServeError {
    ServeError::BadRequest(message.into())
}

/// Parses an `/invocations` body by its content type.
pub fn parse_invocations(content_type: &str, body: &[u8]) -> Result<Payload, ServeError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/csv" => parse_csv(body),
        "application/json" | "" => parse_mlflow_json(body),
        other => Err(ServeError::UnsupportedMediaType(format!(
            "content type '{other}' is not supported; use application/json or text/csv"
        ))),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ServeError> {
    serde_json::from_slice(body).map_err(|error| bad(format!("malformed JSON: {error}")))
}

/// MLflow's JSON formats.
pub fn parse_mlflow_json(body: &[u8]) -> Result<Payload, ServeError> {
    let value = parse_json(body)?;
    let Value::Object(object) = value else {
        return Err(bad(
            "the body must be a JSON object with one of the keys dataframe_split, dataframe_records, instances, inputs",
        ));
    };
    const KEYS: [&str; 4] = [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
    ];
    let present: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|key| object.contains_key(*key))
        .collect();
    let [key] = present.as_slice() else {
        return Err(bad(format!(
            "the body must have exactly one of the keys dataframe_split, dataframe_records, instances, inputs (found {})",
            if present.is_empty() {
                "none".to_owned()
            } else {
                present.join(", ")
            }
        )));
    };
    let value = &object[*key];
    match *key {
        "dataframe_split" => parse_dataframe_split(value),
        "dataframe_records" => parse_records(value, "dataframe_records"),
        _ => parse_tensor_input(value, key),
    }
}

fn parse_dataframe_split(value: &Value) -> Result<Payload, ServeError> {
    let Value::Object(split) = value else {
        return Err(bad(
            "dataframe_split must be an object with `columns` and `data`",
        ));
    };
    let columns = match split.get("columns") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|name| match name {
                    Value::String(text) => Ok(text.clone()),
                    Value::Number(number) => Ok(number.to_string()),
                    other => Err(bad(format!(
                        "dataframe_split.columns: a column name must be a string, got {other}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(bad("dataframe_split.columns must be a list of names")),
    };
    let Some(Value::Array(data)) = split.get("data") else {
        return Err(bad("dataframe_split.data must be a list of rows"));
    };
    let mut rows = Vec::with_capacity(data.len());
    for (index, row) in data.iter().enumerate() {
        let Value::Array(cells) = row else {
            return Err(bad(format!("dataframe_split.data[{index}] must be a list")));
        };
        if let Some(columns) = &columns {
            if cells.len() != columns.len() {
                return Err(bad(format!(
                    "dataframe_split.data[{index}] has {} values for {} columns",
                    cells.len(),
                    columns.len()
                )));
            }
        }
        rows.push(cells.iter().map(cell).collect::<Result<Vec<_>, _>>()?);
    }
    Ok(Payload::Frame(Frame { columns, rows }))
}

fn parse_records(value: &Value, key: &str) -> Result<Payload, ServeError> {
    let Value::Array(records) = value else {
        return Err(bad(format!("{key} must be a list of objects")));
    };
    let mut columns: Vec<String> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let Value::Object(fields) = record else {
            return Err(bad(format!("{key}[{index}] must be an object")));
        };
        for name in fields.keys() {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let fields = record.as_object().map_or_else(Map::new, Clone::clone);
        rows.push(
            columns
                .iter()
                .map(|name| fields.get(name).map_or(Ok(Cell::Null), cell))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(Payload::Frame(Frame {
        columns: Some(columns),
        rows,
    }))
}

fn parse_tensor_input(value: &Value, key: &str) -> Result<Payload, ServeError> {
    match value {
        Value::Array(items) if items.iter().any(Value::is_object) => parse_records(value, key),
        Value::Array(_) => Ok(Payload::Tensor(tensor_from_nested(value, key)?)),
        Value::Object(named) => {
            let mut tensors = Vec::with_capacity(named.len());
            for (name, nested) in named {
                tensors.push((
                    name.clone(),
                    tensor_from_nested(nested, &format!("{key}.{name}"))?,
                ));
            }
            Ok(Payload::Named(tensors))
        }
        _ => Err(bad(format!("{key} must be a list or an object of lists"))),
    }
}

/// A nested JSON list as a tensor; ragged lists are refused.
pub fn tensor_from_nested(value: &Value, what: &str) -> Result<TensorData, ServeError> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut values = Vec::new();
    flatten(value, &shape, 0, &mut values, what)?;
    Ok(TensorData { shape, values })
}

fn flatten(
    value: &Value,
    shape: &[usize],
    depth: usize,
    out: &mut Vec<Cell>,
    what: &str,
) -> Result<(), ServeError> {
    match (value, shape.get(depth)) {
        (Value::Array(items), Some(&expected)) => {
            if items.len() != expected {
                return Err(bad(format!(
                    "{what}: ragged nested list (a list of {} where {expected} were expected at depth {depth})",
                    items.len()
                )));
            }
            for item in items {
                flatten(item, shape, depth + 1, out, what)?;
            }
            Ok(())
        }
        (Value::Array(_), None) => Err(bad(format!(
            "{what}: ragged nested list (too deep at depth {depth})"
        ))),
        (_, Some(_)) => Err(bad(format!(
            "{what}: ragged nested list (a value where a list was expected at depth {depth})"
        ))),
        (scalar, None) => {
            out.push(cell(scalar)?);
            Ok(())
        }
    }
}

fn cell(value: &Value) -> Result<Cell, ServeError> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .map(Cell::Number)
            .ok_or_else(|| bad(format!("number out of range: {number}"))),
        Value::String(text) => Ok(Cell::Text(text.clone())),
        Value::Bool(flag) => Ok(Cell::Bool(*flag)),
        Value::Null => Ok(Cell::Null),
        other => Err(bad(format!("expected a scalar value, got {other}"))),
    }
}

/// CSV with a header row (pandas' `read_csv` defaults: `,`, quotes, empty = missing).
pub fn parse_csv(body: &[u8]) -> Result<Payload, ServeError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the CSV body is not UTF-8"))?;
    let mut lines = split_csv_records(text)?.into_iter();
    let Some(header) = lines.next() else {
        return Err(bad("the CSV body is empty; it needs a header row"));
    };
    let mut rows = Vec::new();
    for (index, fields) in lines.enumerate() {
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(bad(format!(
                "CSV line {}: {} fields for {} columns",
                index + 2,
                fields.len(),
                header.len()
            )));
        }
        rows.push(
            fields
                .into_iter()
                .map(|field| {
                    if field.is_empty() {
                        Cell::Null
                    } else if let Ok(number) = field.trim().parse::<f64>() {
                        Cell::Number(number)
                    } else {
                        Cell::Text(field)
                    }
                })
                .collect(),
        );
    }
    Ok(Payload::Frame(Frame {
        columns: Some(header),
        rows,
    }))
}

/// Splits CSV text into records of fields (RFC 4180 quoting).
fn split_csv_records(text: &str) -> Result<Vec<Vec<String>>, ServeError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if in_quotes {
            match character {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = false,
                other => field.push(other),
            }
            continue;
        }
        match character {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            other => field.push(other),
        }
    }
    if in_quotes {
        return Err(bad("the CSV body has an unclosed quote"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// An Open Inference Protocol v2 request body.
pub fn parse_v2(body: &[u8]) -> Result<Payload, ServeError> {
    v2_payload(&parse_json(body)?)
}

/// A v2 request body as JSON, and its optional `id` (the protocol's request id).
pub fn parse_v2_body(body: &[u8]) -> Result<(Value, Option<Value>), ServeError> {
    let value = parse_json(body)?;
    let id = value.get("id").cloned();
    Ok((value, id))
}

/// The tensors of a v2 request body already parsed as JSON.
pub fn v2_payload(value: &Value) -> Result<Payload, ServeError> {
    let Some(Value::Array(inputs)) = value.get("inputs") else {
        return Err(bad("the body must be an object with an `inputs` list"));
    };
    if inputs.is_empty() {
        return Err(bad("`inputs` is empty"));
    }
    let mut tensors = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("inputs[{index}] has no `name`")))?;
        let shape: Vec<usize> = match input.get("shape") {
            Some(Value::Array(dims)) => dims
                .iter()
                .map(|dim| {
                    dim.as_u64()
                        .and_then(|dim| usize::try_from(dim).ok())
                        .ok_or_else(|| {
                            bad(format!(
                                "input '{name}': shape must be a list of non-negative integers"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad(format!("input '{name}' has no `shape` list"))),
        };
        let datatype = input
            .get("datatype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("input '{name}' has no `datatype`")))?;
        const DATATYPES: [&str; 13] = [
            "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
            "FP16", "FP32", "FP64", "BYTES",
        ];
        if !DATATYPES.contains(&datatype) {
            return Err(bad(format!(
                "input '{name}': unknown datatype '{datatype}'"
            )));
        }
        let data = input
            .get("data")
            .ok_or_else(|| bad(format!("input '{name}' has no `data`")))?;
        let flat = tensor_from_nested(data, &format!("input '{name}'"))?;
        let expected: usize = shape.iter().product();
        if flat.values.len() != expected {
            return Err(bad(format!(
                "input '{name}': shape {shape:?} needs {expected} values, got {}",
                flat.values.len()
            )));
        }
        tensors.push((
            name.to_owned(),
            TensorData {
                shape,
                values: flat.values,
            },
        ));
    }
    Ok(Payload::Named(tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Cell::{Null, Number as N, Text};

    fn frame(columns: Option<&[&str]>, rows: Vec<Vec<Cell>>) -> Payload {
        Payload::Frame(Frame {
            columns: columns.map(|names| names.iter().map(|name| name.to_string()).collect()),
            rows,
        })
    }

    fn check(content_type: &str, body: &str, expected: Result<Payload, &str>) {
        let actual = parse_invocations(content_type, body.as_bytes());
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected, "{body}"),
            (Err(error), Err(fragment)) => {
                let message = error.to_string();
                assert!(
                    message.contains(fragment),
                    "{body}: {message:?} lacks {fragment:?}"
                );
            }
            (actual, expected) => panic!("{body}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn mlflow_formats() {
        let json = "application/json";
        check(
            json,
            r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, "x"]]}}"#,
            Ok(frame(
                Some(&["a", "b"]),
                vec![vec![N(1.0), N(2.5)], vec![N(3.0), Text("x".into())]],
            )),
        );
        check(
            json,
            r#"{"dataframe_split": {"data": [[1, 2]]}}"#,
            Ok(frame(None, vec![vec![N(1.0), N(2.0)]])),
        );
        check(
            json,
            r#"{"dataframe_records": [{"a": 1, "b": 2}, {"b": 4}]}"#,
            Ok(frame(
                Some(&["a", "b"]),
                vec![vec![N(1.0), N(2.0)], vec![Null, N(4.0)]],
            )),
        );
        check(
            "application/json; charset=utf-8",
            r#"{"instances": [[1, 2], [3, 4]]}"#,
            Ok(Payload::Tensor(TensorData {
                shape: vec![2, 2],
                values: vec![N(1.0), N(2.0), N(3.0), N(4.0)],
            })),
        );
        check(
            json,
            r#"{"instances": [{"a": 1}]}"#,
            Ok(frame(Some(&["a"]), vec![vec![N(1.0)]])),
        );
        check(
            json,
            r#"{"inputs": {"x": [[1], [2]]}}"#,
            Ok(Payload::Named(vec![(
                "x".into(),
                TensorData {
                    shape: vec![2, 1],
                    values: vec![N(1.0), N(2.0)],
                },
            )])),
        );
        check(
            "text/csv",
            "a,b\n1,2.5\n\"x,y\",\n",
            Ok(frame(
                Some(&["a", "b"]),
                vec![vec![N(1.0), N(2.5)], vec![Text("x,y".into()), Null]],
            )),
        );
    }

    #[test]
    fn mlflow_errors() {
        let json = "application/json";
        check(json, "{", Err("malformed JSON"));
        check(json, "[1, 2]", Err("must be a JSON object"));
        check(json, "{}", Err("found none"));
        check(
            json,
            r#"{"inputs": [1], "instances": [1]}"#,
            Err("found instances, inputs"),
        );
        check(
            json,
            r#"{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}"#,
            Err("has 2 values for 1 columns"),
        );
        check(
            json,
            r#"{"dataframe_split": {"columns": ["a"]}}"#,
            Err("data must be a list"),
        );
        check(
            json,
            r#"{"dataframe_records": [1]}"#,
            Err("dataframe_records[0] must be an object"),
        );
        check(json, r#"{"instances": [[1, 2], [3]]}"#, Err("ragged"));
        check(json, r#"{"instances": [[1, [2]]]}"#, Err("ragged"));
        check(json, r#"{"inputs": 3}"#, Err("must be a list or an object"));
        check(
            json,
            r#"{"instances": [[{"a": 1}]]}"#,
            Err("expected a scalar"),
        );
        check(
            "text/csv",
            "a,b\n1\n",
            Err("CSV line 2: 1 fields for 2 columns"),
        );
        check("text/csv", "", Err("needs a header row"));
        check("text/csv", "a\n\"1\n", Err("unclosed quote"));
        check("text/plain", "a", Err("not supported"));
    }

    #[test]
    fn v2_requests() {
        let payload = parse_v2(
            br#"{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#,
        )
        .expect("valid");
        assert_eq!(
            payload,
            Payload::Named(vec![(
                "x".into(),
                TensorData {
                    shape: vec![2, 2],
                    values: vec![N(1.0), N(2.0), N(3.0), N(4.0)],
                }
            )])
        );
        // Nested data is accepted as well.
        assert!(parse_v2(br#"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [[1, 2]]}]}"#).is_ok());
        for (body, fragment) in [
            ("nope", "malformed JSON"),
            ("{}", "`inputs` list"),
            (r#"{"inputs": []}"#, "empty"),
            (
                r#"{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}"#,
                "no `name`",
            ),
            (
                r#"{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}"#,
                "no `shape`",
            ),
            (
                r#"{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}"#,
                "non-negative",
            ),
            (
                r#"{"inputs": [{"name": "x", "shape": [1], "datatype": "FLOAT", "data": [1]}]}"#,
                "unknown datatype",
            ),
            (
                r#"{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}"#,
                "needs 3 values, got 2",
            ),
        ] {
            let message = parse_v2(body.as_bytes()).expect_err(body).to_string();
            assert!(message.contains(fragment), "{body}: {message}");
        }
    }
}
