//! Request fields, read the way MLflow's handlers read them.
//!
//! GET requests carry fields in the query string (repeated keys for lists); the other methods carry
//! protobuf JSON. Both land in one [`Params`] so that each handler reads fields once, with MLflow's type
//! checks and messages (`Invalid value 123 for parameter 'name' supplied: ...`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Method;
use cairn_core::entities::KeyValue;
use cairn_core::Error;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The most a JSON request body may hold (dataset profiles may reach 16 MB).
pub const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Params {
    fields: Map<String, Value>,
    /// Query-string fields are all strings; JSON fields keep their types.
    from_query: bool,
    /// Size of the JSON body, for log-batch's limit.
    pub body_len: usize,
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn type_error(name: &str, value: &Value) -> Error {
    let shown = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Error::invalid(format!(
        "Invalid value {shown} for parameter '{name}' supplied:  Hint: Value was of type '{}'. See the API docs for more information about request parameters.",
        python_type(value)
    ))
}

impl Params {
    pub fn from_object(fields: Map<String, Value>) -> Self {
        Self {
            fields,
            from_query: false,
            body_len: 0,
        }
    }

    fn from_query(query: &str) -> Self {
        let mut fields = Map::new();
        for (key, value) in form_urlencoded_pairs(query) {
            match fields.get_mut(&key) {
                Some(Value::Array(values)) => values.push(Value::String(value)),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(value)]);
                }
                None => {
                    fields.insert(key, Value::String(value));
                }
            }
        }
        Self {
            fields,
            from_query: true,
            body_len: 0,
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        match self.fields.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// The field as sent, for fields with more than one accepted shape (enums by name or number).
    pub fn get_raw(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }

    /// A protobuf enum field: by name, or by number as protobuf JSON also allows.
    pub fn enumeration<T>(&self, name: &str, numbers: &[(i64, T)]) -> Result<Option<T>, Error>
    where
        T: std::str::FromStr<Err = Error> + Copy,
    {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .and_then(|wanted| {
                    numbers
                        .iter()
                        .find(|(n, _)| *n == wanted)
                        .map(|(_, value)| *value)
                })
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "Invalid value {number} for parameter '{name}' supplied"
                    ))
                }),
            Some(_) => self.string(name)?.map(|text| text.parse()).transpose(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            // A repeated query key where one is expected: take the last, as Flask does.
            Some(Value::Array(values)) if self.from_query => {
                Ok(values.last().and_then(Value::as_str).map(str::to_owned))
            }
            Some(other) => Err(type_error(name, other)),
        }
    }

    /// A string MLflow marks as required: absent and empty are both refused.
    pub fn required_string(&self, name: &str) -> Result<String, Error> {
        match self.string(name)? {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(Error::missing(name)),
        }
    }

    /// A required string that may be empty (tag values).
    pub fn required_string_allow_empty(&self, name: &str) -> Result<String, Error> {
        self.string(name)?.ok_or_else(|| Error::missing(name))
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, Error> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(number) => number.as_i64().or_else(|| {
                number
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e18)
                    .map(|float| float as i64)
            }),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| type_error(name, value))
    }

    pub fn required_i64(&self, name: &str) -> Result<i64, Error> {
        self.i64(name)?.ok_or_else(|| Error::missing(name))
    }

    /// A double in protobuf JSON: a number, or "NaN" / "Infinity" / "-Infinity" (or a numeric string).
    pub fn f64(&self, name: &str) -> Result<Option<f64>, Error> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => match text.trim() {
                "NaN" | "nan" => Some(f64::NAN),
                "Infinity" | "inf" | "+Infinity" => Some(f64::INFINITY),
                "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
                other => other.parse::<f64>().ok(),
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| type_error(name, value))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value {
            Value::Bool(flag) => Ok(Some(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
            other => Err(type_error(name, other)),
        }
    }

    /// A repeated string field; a single query value counts as a list of one.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, Error> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(values)) => values
                .iter()
                .map(|value| match value {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(type_error(name, other)),
                })
                .collect(),
            Some(Value::String(text)) if self.from_query => Ok(vec![text.clone()]),
            Some(other) => Err(type_error(name, other)),
        }
    }

    /// A repeated message field (tags, metrics, datasets).
    pub fn objects(&self, name: &str) -> Result<Vec<Params>, Error> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(values)) => values
                .iter()
                .map(|value| match value {
                    Value::Object(fields) => Ok(Params::from_object(fields.clone())),
                    other => Err(type_error(name, other)),
                })
                .collect(),
            Some(other) => Err(type_error(name, other)),
        }
    }

    /// A singular message field.
    pub fn object(&self, name: &str) -> Result<Option<Params>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Params::from_object(fields.clone()))),
            Some(other) => Err(type_error(name, other)),
        }
    }

    /// `run_id`, or the deprecated `run_uuid` the client still sends.
    pub fn run_id(&self) -> Result<String, Error> {
        if let Some(run_id) = self.string("run_id")?.filter(|id| !id.is_empty()) {
            return Ok(run_id);
        }
        self.string("run_uuid")?
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::missing("run_id"))
    }

    /// A list of `{key, value}` messages; `value` may be absent (empty).
    pub fn key_values(&self, name: &str) -> Result<Vec<KeyValue>, Error> {
        self.objects(name)?
            .iter()
            .map(|item| {
                let key = item.required_string("key")?;
                let value = item.string("value")?.unwrap_or_default();
                Ok(KeyValue { key, value })
            })
            .collect()
    }
}

impl Params {
    /// Reads a JSON body; its fields win over query fields (both are allowed on DELETE).
    pub fn add_json_body(&mut self, body: &[u8]) -> Result<(), ApiError> {
        self.body_len = body.len();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let parsed: Value = serde_json::from_slice(body).map_err(|error| {
            ApiError::invalid(format!("Malformed JSON in request body: {error}"))
        })?;
        let Value::Object(fields) = parsed else {
            return Err(ApiError::invalid("The request body must be a JSON object"));
        };
        self.from_query = false;
        self.fields.extend(fields);
        Ok(())
    }

    pub fn from_json_body(body: &[u8]) -> Result<Self, ApiError> {
        let mut params = Params::default();
        params.add_json_body(body)?;
        Ok(params)
    }
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let is_get = request.method() == Method::GET;
        let mut params = Params::from_query(&query);
        if is_get {
            return Ok(params);
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid(format!("Could not read the request body: {rejection}"))
            })?;
        params.add_json_body(&body)?;
        Ok(params)
    }
}
