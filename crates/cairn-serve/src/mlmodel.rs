//! Reading an MLflow `MLmodel` file: the ONNX file of its `onnx` flavor and its signature.

use serde::Deserialize;
use serde_json::Value;

use crate::ServeError;

/// What serving needs from an `MLmodel` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MlModel {
    /// The ONNX file, relative to the model folder (`flavors.onnx.data`).
    pub onnx_file: Option<String>,
    pub inputs: Option<Schema>,
    pub outputs: Option<Schema>,
}

/// A signature's inputs or outputs: named columns, or tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    Columns(Vec<ColumnSpec>),
    Tensors(Vec<TensorSpec>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: Option<String>,
    /// MLflow's type name: `double`, `float`, `long`, `integer`, `boolean`, `string`...
    pub kind: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: Option<String>,
    /// NumPy dtype name (`float32`, `int64`...).
    pub dtype: String,
    pub shape: Vec<i64>,
}

#[derive(Deserialize)]
struct RawMlModel {
    #[serde(default)]
    flavors: serde_yaml_ng::Mapping,
    #[serde(default)]
    signature: Option<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    inputs: Option<String>,
    #[serde(default)]
    outputs: Option<String>,
}

/// Parses the text of an `MLmodel` file.
pub fn parse_mlmodel(text: &str) -> Result<MlModel, ServeError> {
    let raw: RawMlModel = serde_yaml_ng::from_str(text)
        .map_err(|error| ServeError::Model(format!("MLmodel is not valid YAML: {error}")))?;
    let onnx_file = raw
        .flavors
        .get("onnx")
        .and_then(|flavor| flavor.get("data"))
        .and_then(|data| data.as_str())
        .map(str::to_owned);
    let (inputs, outputs) = match raw.signature {
        Some(signature) => (
            signature.inputs.as_deref().map(parse_schema).transpose()?,
            signature.outputs.as_deref().map(parse_schema).transpose()?,
        ),
        None => (None, None),
    };
    Ok(MlModel {
        onnx_file,
        inputs,
        outputs,
    })
}

/// Parses one schema of a signature (MLflow stores it as a JSON string inside the YAML).
pub fn parse_schema(json: &str) -> Result<Schema, ServeError> {
    let invalid = |why: String| ServeError::Model(format!("MLmodel signature: {why}"));
    let items: Vec<Value> =
        serde_json::from_str(json).map_err(|error| invalid(format!("not a JSON list: {error}")))?;
    let is_tensor = items
        .iter()
        .any(|item| item.get("type").and_then(Value::as_str) == Some("tensor"));
    if is_tensor {
        let mut tensors = Vec::with_capacity(items.len());
        for item in &items {
            let spec = item
                .get("tensor-spec")
                .ok_or_else(|| invalid("a tensor without `tensor-spec`".into()))?;
            let dtype = spec
                .get("dtype")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("a tensor without `dtype`".into()))?
                .to_owned();
            let shape = spec
                .get("shape")
                .and_then(Value::as_array)
                .map(|dims| dims.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            tensors.push(TensorSpec {
                name: item.get("name").and_then(Value::as_str).map(str::to_owned),
                dtype,
                shape,
            });
        }
        return Ok(Schema::Tensors(tensors));
    }
    let mut columns = Vec::with_capacity(items.len());
    for item in &items {
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a column without `type`".into()))?
            .to_owned();
        columns.push(ColumnSpec {
            name: item.get("name").and_then(Value::as_str).map(str::to_owned),
            kind,
            required: item
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        });
    }
    Ok(Schema::Columns(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MLMODEL: &str = r#"
artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.17.0
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.2
mlflow_version: 3.1.0
model_uuid: 1234
signature:
  inputs: '[{"type": "double", "name": "sepal length", "required": true}, {"type": "long", "name": "n", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "output_label"}]'
  params: null
"#;

    #[test]
    fn reads_onnx_flavor_and_signature() {
        let model = parse_mlmodel(MLMODEL).expect("valid");
        assert_eq!(model.onnx_file.as_deref(), Some("model.onnx"));
        assert_eq!(
            model.inputs,
            Some(Schema::Columns(vec![
                ColumnSpec {
                    name: Some("sepal length".into()),
                    kind: "double".into(),
                    required: true
                },
                ColumnSpec {
                    name: Some("n".into()),
                    kind: "long".into(),
                    required: false
                },
            ]))
        );
        assert_eq!(
            model.outputs,
            Some(Schema::Tensors(vec![TensorSpec {
                name: Some("output_label".into()),
                dtype: "int64".into(),
                shape: vec![-1]
            }]))
        );
    }

    #[test]
    fn without_signature_or_onnx_flavor() {
        let model =
            parse_mlmodel("flavors:\n  sklearn: {pickled_model: model.pkl}\n").expect("valid");
        assert_eq!(model, MlModel::default());
    }

    #[test]
    fn bad_files_are_errors() {
        for text in [
            "flavors: [",
            "signature:\n  inputs: 'not json'\n",
            "signature:\n  inputs: '[{\"name\": \"x\"}]'\n",
        ] {
            assert!(parse_mlmodel(text).is_err(), "{text}");
        }
    }
}
