//! The artifact store: where run and model files live.
//!
//! [`ArtifactStore`] is the interface the artifact proxy uses; [`ObjectArtifactStore`] implements it over
//! any `object_store` backend. The local folder is the embedded default; S3, GCS and Azure are the same
//! code with another `ObjectStore`. Paths arrive as [`ArtifactPath`]s (already validated by the core), and
//! the local backend additionally refuses to follow a symlink out of its root.

mod local_guard;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_core::artifact_path::ArtifactPath;
use cairn_core::entities::FileInfo;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

pub use local_guard::LocalGuard;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("no such artifact: '{0}'")]
    NotFound(String),
    #[error("invalid path")]
    InvalidPath,
    #[error("artifact storage failed: {0}")]
    Storage(String),
    #[error("invalid artifact destination '{uri}': {reason}")]
    Config { uri: String, reason: String },
}

impl From<object_store::Error> for ArtifactError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { path, .. } => ArtifactError::NotFound(path),
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
    store: Arc<dyn ObjectStore>,
    root_uri: String,
    local_guard: Option<LocalGuard>,
}

impl ObjectArtifactStore {
    /// Opens an artifact destination: a local folder path or a `file://` URI.
    pub fn open(destination: &str) -> Result<Self> {
        let config_error = |reason: String| ArtifactError::Config {
            uri: destination.to_owned(),
            reason,
        };
        if let Some((scheme, _)) = destination.split_once("://") {
            if scheme != "file" {
                return Err(config_error(format!(
                    "the '{scheme}' scheme is not supported yet; use a local folder"
                )));
            }
        }
        let folder = destination.strip_prefix("file://").unwrap_or(destination);
        std::fs::create_dir_all(folder).map_err(|error| config_error(error.to_string()))?;
        let root =
            std::fs::canonicalize(folder).map_err(|error| config_error(error.to_string()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|error| config_error(error.to_string()))?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            root_uri: format!("file://{}", root.display()),
            local_guard: Some(LocalGuard::new(root)),
        })
    }

    async fn guard(&self, path: &ArtifactPath) -> Result<()> {
        match &self.local_guard {
            Some(guard) => guard.check(path).await,
            None => Ok(()),
        }
    }
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
                    writer.wait_for_capacity(4).await?;
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
        let result = self
            .store
            .get(&object_path(path))
            .await
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => ArtifactError::NotFound(path.to_string()),
                other => ArtifactError::from(other),
            })?;
        let size = result.meta.size;
        let stream = result.into_stream().map_err(ArtifactError::from).boxed();
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
        let mut found = false;
        let mut under = self.store.list(Some(&location));
        let mut to_delete = Vec::new();
        while let Some(meta) = under.next().await {
            to_delete.push(meta?.location);
        }
        for child in to_delete {
            found = true;
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
