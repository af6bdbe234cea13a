//! Model URIs to local files: `models:/name/3`, `models:/name@alias`, `models:/m-<id>`,
//! `runs:/<run_id>/<path>` through a tracking server's REST API and artifact proxy; a local folder
//! with an `MLmodel` file, or a local `.onnx` file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::mlmodel::{parse_mlmodel, MlModel};
use crate::ServeError;

/// How long an alias lookup may take (a hot reload poll: short, it is retried on the next one).
const ALIAS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A model on local disk, with what the URI said about it.
#[derive(Debug)]
pub struct LocalModel {
    pub onnx_path: PathBuf,
    pub mlmodel: MlModel,
    /// The registry version (`"1"` for a local file or a run's artifact).
    pub version: String,
    /// What the tracking server said about the model (empty for local paths).
    pub provenance: Provenance,
    /// The downloaded copy, deleted when dropped.
    pub download: Option<tempfile::TempDir>,
}

/// Where a model came from, as the tracking server tells it (for `models:/` and `runs:/` URIs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The registered model and its version (`models:/name/3`, `models:/name@alias`).
    pub registered_model: Option<String>,
    pub version: Option<String>,
    /// The run that logged the model.
    pub run_id: Option<String>,
    /// The logged model (MLflow 3's `m-...` id), when there is one.
    pub model_id: Option<String>,
}

impl Provenance {
    /// From a `model_version` object of the registry API.
    pub fn of_model_version(version: &Value) -> Provenance {
        Provenance {
            registered_model: text(version, "name"),
            version: text(version, "version"),
            run_id: text(version, "run_id"),
            model_id: text(version, "model_id"),
        }
    }
}

/// A non-empty string field.
fn text(object: &Value, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn resolve_error(message: impl Into<String>) -> ServeError {
    ServeError::Resolve(message.into())
}

/// The registered model's name and the alias in `models:/name@alias`; `None` for other URIs.
pub fn registry_alias(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("models:/")?.trim_end_matches('/');
    let (name, alias) = rest.rsplit_once('@')?;
    if name.is_empty() || alias.is_empty() || alias.contains('/') {
        return None;
    }
    Some((name, alias))
}

/// Resolves `uri` to a local model, downloading through `tracking_uri` where needed.
pub async fn resolve(uri: &str, tracking_uri: Option<&str>) -> Result<LocalModel, ServeError> {
    if uri.starts_with("models:/") || uri.starts_with("runs:/") {
        let Some(tracking_uri) = tracking_uri else {
            return Err(resolve_error(format!(
                "{uri} needs a tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI"
            )));
        };
        let client = Tracking::new(tracking_uri)?;
        let (artifact_uri, provenance) = client.artifact_uri(uri).await?;
        return client.fetch(&artifact_uri, provenance).await;
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    from_path(Path::new(path))
}

/// A local `.onnx` file, or a folder with an `MLmodel` file (or a single `.onnx` file).
pub fn from_path(path: &Path) -> Result<LocalModel, ServeError> {
    if path.is_file() {
        return Ok(LocalModel {
            onnx_path: path.to_path_buf(),
            mlmodel: MlModel::default(),
            version: "1".into(),
            provenance: Provenance::default(),
            download: None,
        });
    }
    if !path.is_dir() {
        return Err(resolve_error(format!(
            "{} is neither a model URI (models:/, runs:/), a folder nor an .onnx file",
            path.display()
        )));
    }
    let mlmodel_path = path.join("MLmodel");
    if mlmodel_path.is_file() {
        let text = std::fs::read_to_string(&mlmodel_path).map_err(ServeError::io(format!(
            "reading {}",
            mlmodel_path.display()
        )))?;
        let mlmodel = parse_mlmodel(&text)?;
        let Some(onnx_file) = mlmodel.onnx_file.clone() else {
            return Err(ServeError::Model(format!(
                "{} has no `onnx` flavor; cairn serves and evaluates ONNX models only (convert scikit-learn models with skl2onnx and log them with mlflow.onnx.log_model)",
                mlmodel_path.display()
            )));
        };
        if onnx_file.contains("..") || Path::new(&onnx_file).is_absolute() {
            return Err(ServeError::Model(format!(
                "MLmodel names an unsafe ONNX path {onnx_file:?}"
            )));
        }
        return Ok(LocalModel {
            onnx_path: path.join(onnx_file),
            mlmodel,
            version: "1".into(),
            provenance: Provenance::default(),
            download: None,
        });
    }
    let onnx_files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(ServeError::io(format!("reading {}", path.display())))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "onnx")
        })
        .collect();
    match onnx_files.as_slice() {
        [single] => from_path(single),
        [] => Err(resolve_error(format!(
            "{} has no MLmodel file and no .onnx file",
            path.display()
        ))),
        _ => Err(resolve_error(format!(
            "{} has several .onnx files and no MLmodel file to say which to serve",
            path.display()
        ))),
    }
}

/// A tracking server's registry and artifact proxy, over its REST API.
#[derive(Debug, Clone)]
pub struct Tracking {
    base: String,
    http: reqwest::Client,
}

impl Tracking {
    /// A client for `tracking_uri` (`http://` or `https://`).
    pub fn new(tracking_uri: &str) -> Result<Tracking, ServeError> {
        let base = tracking_uri.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(resolve_error(format!(
                "tracking URI {tracking_uri} must be an http(s):// server"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|error| resolve_error(format!("HTTP client: {error}")))?;
        Ok(Tracking { base, http })
    }

    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ServeError> {
        self.get_json_within(path, query, None).await
    }

    async fn get_json_within(
        &self,
        path: &str,
        query: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Value, ServeError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url).query(query);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request
            .send()
            .await
            .map_err(|error| resolve_error(format!("GET {url}: {error}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|error| resolve_error(format!("GET {url}: {status}, not JSON: {error}")))?;
        if !status.is_success() {
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(resolve_error(format!("GET {url}: {status}: {message}")));
        }
        Ok(body)
    }

    /// The artifact URI behind a `models:/` or `runs:/` URI, and where the model came from.
    async fn artifact_uri(&self, uri: &str) -> Result<(String, Provenance), ServeError> {
        if let Some(rest) = uri.strip_prefix("runs:/") {
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            let run = self
                .get_json("/api/2.0/mlflow/runs/get", &[("run_id", run_id)])
                .await?;
            let root = run
                .pointer("/run/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| resolve_error(format!("run {run_id} has no artifact_uri")))?;
            let path = path.trim_matches('/');
            let artifact_uri = if path.is_empty() {
                root.to_owned()
            } else {
                format!("{}/{path}", root.trim_end_matches('/'))
            };
            let provenance = Provenance {
                run_id: Some(run_id.to_owned()),
                ..Provenance::default()
            };
            return Ok((artifact_uri, provenance));
        }
        let rest = uri.trim_start_matches("models:/").trim_end_matches('/');
        if rest.starts_with("m-") && !rest.contains('/') && !rest.contains('@') {
            let model = self
                .get_json(&format!("/api/2.0/mlflow/logged-models/{rest}"), &[])
                .await?;
            let artifact_uri = model
                .pointer("/model/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| resolve_error(format!("logged model {rest} has no artifact_uri")))?;
            let provenance = Provenance {
                run_id: model
                    .pointer("/model/info")
                    .and_then(|info| text(info, "source_run_id")),
                model_id: Some(rest.to_owned()),
                ..Provenance::default()
            };
            return Ok((artifact_uri.to_owned(), provenance));
        }
        let found = if let Some((name, alias)) = rest.rsplit_once('@') {
            self.alias_model_version(name, alias).await?
        } else if let Some((name, version)) = rest.rsplit_once('/') {
            if version.parse::<u64>().is_err() {
                return Err(resolve_error(format!(
                    "{uri}: expected models:/<name>/<version> or models:/<name>@<alias>"
                )));
            }
            // Checks that the version exists (and gives the server's message when not).
            self.get_json(
                "/api/2.0/mlflow/model-versions/get",
                &[("name", name), ("version", version)],
            )
            .await?
        } else {
            return Err(resolve_error(format!(
                "{uri}: expected models:/<name>/<version>, models:/<name>@<alias> or models:/m-<id>"
            )));
        };
        let provenance = found
            .get("model_version")
            .map(Provenance::of_model_version)
            .unwrap_or_default();
        let (Some(name), Some(version)) = (&provenance.registered_model, &provenance.version)
        else {
            return Err(resolve_error(format!(
                "{uri}: the server's model version has no name or version"
            )));
        };
        let artifact_uri = self.download_uri(name, version).await?;
        Ok((artifact_uri, provenance))
    }

    /// The registry's answer for alias `alias` of registered model `name` (`{"model_version": ...}`).
    async fn alias_model_version(&self, name: &str, alias: &str) -> Result<Value, ServeError> {
        self.get_json_within(
            "/api/2.0/mlflow/registered-models/alias",
            &[("name", name), ("alias", alias)],
            Some(ALIAS_LOOKUP_TIMEOUT),
        )
        .await
    }

    /// The version `alias` of registered model `name` names now.
    pub async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ServeError> {
        let found = self.alias_model_version(name, alias).await?;
        let version = found
            .pointer("/model_version/version")
            .and_then(Value::as_str)
            .ok_or_else(|| resolve_error(format!("alias {alias} of {name} has no version")))?;
        Ok(version.to_owned())
    }

    /// Downloads version `version` of registered model `name` into a temporary folder.
    pub async fn fetch_version(&self, name: &str, version: &str) -> Result<LocalModel, ServeError> {
        let artifact_uri = self.download_uri(name, version).await?;
        let provenance = Provenance {
            registered_model: Some(name.to_owned()),
            version: Some(version.to_owned()),
            ..Provenance::default()
        };
        self.fetch(&artifact_uri, provenance).await
    }

    async fn download_uri(&self, name: &str, version: &str) -> Result<String, ServeError> {
        let download = self
            .get_json(
                "/api/2.0/mlflow/model-versions/get-download-uri",
                &[("name", name), ("version", version)],
            )
            .await?;
        let artifact_uri = download
            .get("artifact_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                resolve_error(format!(
                    "models:/{name}/{version}: the server gave no artifact_uri"
                ))
            })?;
        Ok(artifact_uri.to_owned())
    }

    /// Downloads `artifact_uri` into a temporary folder that the returned model keeps alive.
    async fn fetch(
        &self,
        artifact_uri: &str,
        provenance: Provenance,
    ) -> Result<LocalModel, ServeError> {
        let download =
            tempfile::tempdir().map_err(ServeError::io("creating a temporary folder"))?;
        self.download(artifact_uri, download.path()).await?;
        let mut local = from_path(download.path())?;
        local.version = provenance.version.clone().unwrap_or_else(|| "1".into());
        local.provenance = provenance;
        local.download = Some(download);
        Ok(local)
    }

    /// Copies the artifacts under `artifact_uri` into `into`.
    async fn download(&self, artifact_uri: &str, into: &Path) -> Result<(), ServeError> {
        if let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") {
            // `mlflow-artifacts:/path` or `mlflow-artifacts://host:port/path`.
            let path = match rest.strip_prefix("//") {
                Some(with_host) => with_host.split_once('/').map_or("", |(_, path)| path),
                None => rest.trim_start_matches('/'),
            };
            return self
                .download_proxied(path.trim_end_matches('/'), into)
                .await;
        }
        let local = artifact_uri.strip_prefix("file://").unwrap_or(artifact_uri);
        if Path::new(local).is_absolute() && Path::new(local).exists() {
            return copy_folder(Path::new(local), into);
        }
        Err(resolve_error(format!(
            "cannot download {artifact_uri}: cairn serve downloads through the server's artifact proxy (mlflow-artifacts:/) or reads local paths"
        )))
    }

    async fn download_proxied(&self, root: &str, into: &Path) -> Result<(), ServeError> {
        let mut pending = vec![root.to_owned()];
        let mut n_files = 0usize;
        while let Some(folder) = pending.pop() {
            let listing = self
                .get_json("/api/2.0/mlflow-artifacts/artifacts", &[("path", &folder)])
                .await?;
            let files = listing
                .get("files")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for file in files {
                let Some(name) = file.get("path").and_then(Value::as_str) else {
                    continue;
                };
                if name.contains("..") || name.starts_with('/') {
                    return Err(resolve_error(format!(
                        "the server listed an unsafe path {name:?}"
                    )));
                }
                let full = if folder.is_empty() {
                    name.to_owned()
                } else {
                    format!("{folder}/{name}")
                };
                if file.get("is_dir").and_then(Value::as_bool).unwrap_or(false) {
                    pending.push(full);
                    continue;
                }
                let relative = full
                    .strip_prefix(root)
                    .unwrap_or(&full)
                    .trim_start_matches('/');
                let target = into.join(relative);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(ServeError::io(format!("creating {}", parent.display())))?;
                }
                let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{full}", self.base);
                let response = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|error| resolve_error(format!("GET {url}: {error}")))?;
                if !response.status().is_success() {
                    return Err(resolve_error(format!("GET {url}: {}", response.status())));
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|error| resolve_error(format!("GET {url}: {error}")))?;
                std::fs::write(&target, &bytes)
                    .map_err(ServeError::io(format!("writing {}", target.display())))?;
                n_files += 1;
            }
        }
        if n_files == 0 {
            return Err(resolve_error(format!(
                "no artifacts under mlflow-artifacts:/{root}"
            )));
        }
        Ok(())
    }
}

fn copy_folder(from: &Path, into: &Path) -> Result<(), ServeError> {
    if from.is_file() {
        let target = into.join(from.file_name().unwrap_or_default());
        std::fs::copy(from, &target)
            .map_err(ServeError::io(format!("copying {}", from.display())))?;
        return Ok(());
    }
    for entry in
        std::fs::read_dir(from).map_err(ServeError::io(format!("reading {}", from.display())))?
    {
        let entry = entry.map_err(ServeError::io(format!("reading {}", from.display())))?;
        let target = into.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(ServeError::io(format!("creating {}", target.display())))?;
            copy_folder(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(ServeError::io(format!(
                "copying {}",
                entry.path().display()
            )))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_alias_of_a_registry_uri() {
        let cases: [(&str, Option<(&str, &str)>); 8] = [
            ("models:/iris@champion", Some(("iris", "champion"))),
            ("models:/iris@champion/", Some(("iris", "champion"))),
            ("models:/my@model@prod", Some(("my@model", "prod"))),
            ("models:/iris/3", None),
            ("models:/m-0123abcd", None),
            ("models:/@champion", None),
            ("models:/iris@", None),
            ("runs:/abc@def/model", None),
        ];
        for (uri, expected) in cases {
            assert_eq!(registry_alias(uri), expected, "{uri}");
        }
    }

    #[test]
    fn provenance_of_a_model_version() {
        let check = |version: Value, expected: Provenance| {
            assert_eq!(
                Provenance::of_model_version(&version),
                expected,
                "{version}"
            );
        };
        check(
            serde_json::json!({"name": "churn", "version": "3", "run_id": "abc", "model_id": "m-1",
                               "source": "models:/m-1", "aliases": ["champion"]}),
            Provenance {
                registered_model: Some("churn".into()),
                version: Some("3".into()),
                run_id: Some("abc".into()),
                model_id: Some("m-1".into()),
            },
        );
        // MLflow 2 versions: no model id; an empty run id is no run.
        check(
            serde_json::json!({"name": "churn", "version": "1", "run_id": ""}),
            Provenance {
                registered_model: Some("churn".into()),
                version: Some("1".into()),
                ..Provenance::default()
            },
        );
        check(serde_json::json!({}), Provenance::default());
    }
}
