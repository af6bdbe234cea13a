//! The artifact store: where run and model files live.
//!
//! [`ArtifactStore`] is the interface the artifact proxy uses; [`ObjectArtifactStore`] implements it over
//! any `object_store` backend. The local folder is the embedded default; S3, GCS and Azure are the same
//! code with another `ObjectStore`. Paths arrive as [`ArtifactPath`]s (already validated by the core), and
//! the local backend additionally refuses to follow a symlink out of its root.
//!
//! Cloud destinations sit behind cargo features: `s3` (`s3://bucket/prefix`, AWS and S3-compatible
//! servers), `gcs` (`gs://`), `azure` (`az://`, `abfs[s]://`). See [`ObjectArtifactStore::open`].

mod local_guard;
mod remote;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_core::artifact_path::ArtifactPath;
use cairn_core::entities::FileInfo;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

pub use local_guard::LocalGuard;

/// A bucket opened for long reads (no overall request timeout: callers bound each wait), configured
/// from the same variables as the artifact store: `AWS_*`, and the endpoint from
/// `MLFLOW_S3_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (path-style requests).
/// `cairn data` reads its `s3://` inputs through it.
#[cfg(feature = "s3")]
pub struct S3Reader {
    pub store: Arc<dyn ObjectStore>,
    /// Where requests go, for messages (`http://127.0.0.1:9000`, `AWS S3 (eu-west-1)`).
    pub place: String,
}

/// Opens `bucket` for reading (see [`S3Reader`]).
#[cfg(feature = "s3")]
pub fn s3_reader(
    bucket: &str,
    env: &HashMap<String, String>,
) -> std::result::Result<S3Reader, String> {
    let settings = remote::S3Settings::from_env(bucket, env);
    let stores = remote::s3_stores(&settings, env)?;
    Ok(S3Reader {
        store: stores.reads,
        place: remote::s3_place(&settings),
    })
}

/// Whether an `object_store` error means the store could not be reached (refused, reset, timed out).
pub fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    remote::is_unreachable(error)
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("no such artifact: '{0}'")]
    NotFound(String),
    #[error("invalid path")]
    InvalidPath,
    #[error("artifact storage failed: {0}")]
    Storage(String),
    /// The object store could not be reached (refused, reset, timed out): a server-side outage.
    #[error("artifact storage unavailable: {0}")]
    Unavailable(String),
    #[error("invalid artifact destination '{uri}': {reason}")]
    Config { uri: String, reason: String },
}

impl From<object_store::Error> for ArtifactError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { path, .. } => ArtifactError::NotFound(path),
            other if remote::is_unreachable(&other) => {
                ArtifactError::Unavailable(other.to_string())
            }
            other => ArtifactError::Storage(other.to_string()),
        }
    }
}

/// Bodies up to this size are buffered and written in one put; larger ones stream as a multipart upload.
const SINGLE_PUT_MAX_BYTES: u64 = 8 * 1024 * 1024;

pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// A download: its size and its bytes, streamed.
pub struct Download {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes>>,
}

#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Writes `path` from a stream of chunks without holding the whole body in memory.
    async fn put_stream(
        &self,
        path: &ArtifactPath,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<u64>;
    async fn get(&self, path: &ArtifactPath) -> Result<Download>;
    /// The direct children of a directory; `None` when `path` is a file or does not exist.
    async fn list(&self, path: &ArtifactPath) -> Result<Option<Vec<FileInfo>>>;
    /// Deletes a file, or a directory and everything under it.
    async fn delete(&self, path: &ArtifactPath) -> Result<()>;
    /// A URI naming the root, for logs and `root_uri` fields.
    fn root_uri(&self) -> &str;
}

/// An [`ArtifactStore`] over an `object_store` backend.
pub struct ObjectArtifactStore {
    /// Every call but downloads; each request bounded by a timeout.
    store: Arc<dyn ObjectStore>,
    /// Downloads: no overall request timeout (a large file may take long); `get` bounds the wait for
    /// the first response and for each chunk instead. The same store as `store` for the local folder.
    reads: Arc<dyn ObjectStore>,
    root_uri: String,
    local_guard: Option<LocalGuard>,
}

impl ObjectArtifactStore {
    /// Opens an artifact destination: a local folder path, a `file://` URI, or (with the matching
    /// cargo feature) `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`.
    ///
    /// S3 is configured from the usual environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, and for S3-compatible servers an endpoint
    /// in `MLFLOW_S3_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (path-style requests;
    /// `http://` allowed when the endpoint is `http://`). GCS reads `GOOGLE_*`, Azure `AZURE_*`.
    pub fn open(destination: &str) -> Result<Self> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::open_with_env(destination, &env)
    }

    /// [`Self::open`] with the environment given explicitly.
    pub fn open_with_env(destination: &str, env: &HashMap<String, String>) -> Result<Self> {
        let config_error = |reason: String| ArtifactError::Config {
            uri: destination.to_owned(),
            reason,
        };
        let parsed = remote::Destination::parse(destination).map_err(config_error)?;
        let folder = match parsed {
            remote::Destination::Local(folder) => folder,
            remote::Destination::S3 { bucket, prefix } => {
                return Self::open_s3(destination, &bucket, &prefix, env);
            }
            remote::Destination::Gcs { bucket, prefix } => {
                return Self::open_gcs(destination, &bucket, &prefix, env);
            }
            remote::Destination::Azure { url } => return Self::open_azure(destination, &url, env),
        };
        let folder = folder.as_str();
        std::fs::create_dir_all(folder).map_err(|error| config_error(error.to_string()))?;
        let root =
            std::fs::canonicalize(folder).map_err(|error| config_error(error.to_string()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|error| config_error(error.to_string()))?
            .with_automatic_cleanup(true);
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        Ok(Self {
            reads: Arc::clone(&store),
            store,
            root_uri: format!("file://{}", root.display()),
            local_guard: Some(LocalGuard::new(root)),
        })
    }

    /// A remote store, its keys under `prefix`. No symlinks in object storage: no guard.
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    fn remote(stores: remote::RemoteStores, prefix: &str, root_uri: String) -> Self {
        let with_prefix = |store: Arc<dyn ObjectStore>| -> Arc<dyn ObjectStore> {
            if prefix.is_empty() {
                store
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    store,
                    ObjectPath::from(prefix),
                ))
            }
        };
        Self {
            store: with_prefix(stores.store),
            reads: with_prefix(stores.reads),
            root_uri,
            local_guard: None,
        }
    }

    #[cfg(feature = "s3")]
    fn open_s3(
        destination: &str,
        bucket: &str,
        prefix: &str,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        let settings = remote::S3Settings::from_env(bucket, env);
        let stores = remote::s3_stores(&settings, env).map_err(|reason| ArtifactError::Config {
            uri: destination.to_owned(),
            reason,
        })?;
        Ok(Self::remote(stores, prefix, root_uri("s3", bucket, prefix)))
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(destination: &str, _: &str, _: &str, _: &HashMap<String, String>) -> Result<Self> {
        Err(feature_off(destination, "s3"))
    }

    #[cfg(feature = "gcs")]
    fn open_gcs(
        destination: &str,
        bucket: &str,
        prefix: &str,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        let stores = remote::gcs_stores(bucket, env).map_err(|reason| ArtifactError::Config {
            uri: destination.to_owned(),
            reason,
        })?;
        Ok(Self::remote(stores, prefix, root_uri("gs", bucket, prefix)))
    }

    #[cfg(not(feature = "gcs"))]
    fn open_gcs(destination: &str, _: &str, _: &str, _: &HashMap<String, String>) -> Result<Self> {
        Err(feature_off(destination, "gcs"))
    }

    #[cfg(feature = "azure")]
    fn open_azure(destination: &str, url: &str, env: &HashMap<String, String>) -> Result<Self> {
        let config_error = |reason: String| ArtifactError::Config {
            uri: destination.to_owned(),
            reason,
        };
        let prefix = remote::azure_prefix(url).map_err(config_error)?;
        let stores = remote::azure_stores(url, env).map_err(config_error)?;
        Ok(Self::remote(stores, &prefix, url.to_owned()))
    }

    #[cfg(not(feature = "azure"))]
    fn open_azure(destination: &str, _: &str, _: &HashMap<String, String>) -> Result<Self> {
        Err(feature_off(destination, "azure"))
    }

    async fn guard(&self, path: &ArtifactPath) -> Result<()> {
        match &self.local_guard {
            Some(guard) => guard.check(path).await,
            None => Ok(()),
        }
    }
}

#[cfg(any(feature = "s3", feature = "gcs"))]
fn root_uri(scheme: &str, bucket: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{scheme}://{bucket}")
    } else {
        format!("{scheme}://{bucket}/{prefix}")
    }
}

#[cfg(not(all(feature = "s3", feature = "gcs", feature = "azure")))]
fn feature_off(destination: &str, feature: &str) -> ArtifactError {
    ArtifactError::Config {
        uri: destination.to_owned(),
        reason: format!("this cairn was built without the '{feature}' feature"),
    }
}

/// Ends `stream` with an `Unavailable` error when the store sends nothing for `idle`.
fn with_idle_timeout(
    stream: BoxStream<'static, Result<Bytes>>,
    idle: std::time::Duration,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(stream))),
            Ok(Some(Err(error))) => Some((Err(error), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(ArtifactError::Unavailable(format!(
                    "the object store sent nothing for {} s",
                    idle.as_secs()
                ))),
                None,
            )),
        }
    })
    .boxed()
}

fn object_path(path: &ArtifactPath) -> ObjectPath {
    ObjectPath::from(path.as_str())
}

#[async_trait]
impl ArtifactStore for ObjectArtifactStore {
    async fn put_stream(
        &self,
        path: &ArtifactPath,
        mut body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<u64> {
        if path.is_root() {
            return Err(ArtifactError::InvalidPath);
        }
        self.guard(path).await?;
        let location = object_path(path);
        // Small bodies go in one request; larger ones are streamed as a multipart upload.
        let mut first = Vec::new();
        let mut total: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| ArtifactError::Storage(error.to_string()))?;
            total += chunk.len() as u64;
            first.push(chunk);
            if total > SINGLE_PUT_MAX_BYTES {
                break;
            }
        }
        if total <= SINGLE_PUT_MAX_BYTES {
            self.store
                .put(&location, PutPayload::from_iter(first))
                .await?;
            return Ok(total);
        }
        let upload = self.store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new(upload);
        for chunk in first {
            writer.put(chunk);
        }
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    if let Err(error) = writer.wait_for_capacity(4).await {
                        let _ = writer.abort().await;
                        return Err(error.into());
                    }
                    writer.put(chunk);
                }
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(ArtifactError::Storage(error.to_string()));
                }
            }
        }
        writer.finish().await?;
        Ok(total)
    }

    async fn get(&self, path: &ArtifactPath) -> Result<Download> {
        if path.is_root() {
            return Err(ArtifactError::NotFound(String::new()));
        }
        self.guard(path).await?;
        let location = object_path(path);
        let result = tokio::time::timeout(remote::READ_IDLE_TIMEOUT, self.reads.get(&location))
            .await
            .map_err(|_| {
                ArtifactError::Unavailable(format!(
                    "the object store did not answer within {} s",
                    remote::READ_IDLE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => ArtifactError::NotFound(path.to_string()),
                other => ArtifactError::from(other),
            })?;
        let size = result.meta.size;
        let stream = result.into_stream().map_err(ArtifactError::from).boxed();
        let stream = with_idle_timeout(stream, remote::READ_IDLE_TIMEOUT);
        Ok(Download { size, stream })
    }

    async fn list(&self, path: &ArtifactPath) -> Result<Option<Vec<FileInfo>>> {
        self.guard(path).await?;
        let prefix = object_path(path);
        let listing = match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let mut files = Vec::new();
        for directory in listing.common_prefixes {
            let Some(name) = directory.filename() else {
                continue;
            };
            files.push(FileInfo {
                path: name.to_owned(),
                is_dir: true,
                file_size: None,
            });
        }
        for object in listing.objects {
            if object.location == prefix {
                // `path` names a file: MLflow answers an empty listing.
                return Ok(None);
            }
            let Some(name) = object.location.filename() else {
                continue;
            };
            files.push(FileInfo {
                path: name.to_owned(),
                is_dir: false,
                file_size: Some(object.size),
            });
        }
        if let Some(guard) = &self.local_guard {
            files = guard.filter_escaping(path, files).await;
        }
        if files.is_empty() {
            return Ok(None);
        }
        files.sort_by(|left, right| left.path.cmp(&right.path));
        Ok(Some(files))
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<()> {
        if path.is_root() {
            return Err(ArtifactError::InvalidPath);
        }
        self.guard(path).await?;
        let location = object_path(path);
        let mut under = self.store.list(Some(&location));
        let mut to_delete = Vec::new();
        while let Some(meta) = under.next().await {
            to_delete.push(meta?.location);
        }
        let found = !to_delete.is_empty();
        if !found {
            // Object stores answer a delete of a missing key with success: look first.
            self.store
                .head(&location)
                .await
                .map_err(|error| match error {
                    object_store::Error::NotFound { .. } => {
                        ArtifactError::NotFound(path.to_string())
                    }
                    other => ArtifactError::from(other),
                })?;
        }
        for child in to_delete {
            self.store.delete(&child).await?;
        }
        match self.store.delete(&location).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) if found => Ok(()),
            Err(object_store::Error::NotFound { .. }) => {
                Err(ArtifactError::NotFound(path.to_string()))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn root_uri(&self) -> &str {
        &self.root_uri
    }
}

#[cfg(test)]
mod tests;
