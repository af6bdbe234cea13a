//! Copying MLflow artifact folders into a cairn [`ArtifactStore`].

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn_artifacts::ArtifactStore;
use cairn_core::artifact_path::ArtifactPath;
use futures::stream::{self, StreamExt};
use tokio::io::AsyncReadExt;

use crate::ImportError;

/// Bytes per chunk of a streamed upload.
const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub bytes: u64,
}

/// The local folder behind an MLflow artifact location, if it is one: `mlflow-artifacts:/<path>`
/// (the proxy's URIs, under `artifacts_root`), `file://` URIs and plain paths. Remote stores
/// (`s3://`, ...) are not read.
pub fn local_source(uri: &str, artifacts_root: Option<&Path>) -> Option<PathBuf> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts:/path` or `mlflow-artifacts://host:port/path`.
        let path = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, path)| path),
            None => rest,
        };
        return artifacts_root.map(|root| root.join(path.trim_start_matches('/')));
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        // `file:///abs` (empty host) or `file://localhost/abs`.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        return Some(PathBuf::from(path));
    }
    if let Some(rest) = uri.strip_prefix("file:") {
        return Some(PathBuf::from(rest));
    }
    if uri.contains("://") {
        return None;
    }
    Some(PathBuf::from(uri))
}

/// Every regular file under `folder` (symlinks are not followed), with its path relative to `folder`
/// in `/` form. A missing folder has no files.
fn list_files(folder: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    let mut pending = vec![(folder.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let file_type = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if file_type.is_dir() {
                pending.push((entry.path(), relative));
            } else if file_type.is_file() {
                files.push((entry.path(), relative));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Copies every file under `folder` to `destination/<relative path>` in `artifacts`.
pub async fn copy_folder(
    folder: &Path,
    artifacts: &dyn ArtifactStore,
    destination: &str,
) -> Result<CopyStats, ImportError> {
    let failed = |reason: String| ImportError::Artifacts {
        what: folder.display().to_string(),
        reason,
    };
    let owned = folder.to_path_buf();
    let files = tokio::task::spawn_blocking(move || list_files(&owned))
        .await
        .map_err(|error| failed(error.to_string()))?
        .map_err(|error| failed(error.to_string()))?;
    let mut stats = CopyStats::default();
    for (path, relative) in files {
        let key = ArtifactPath::parse(&format!("{destination}/{relative}"))
            .map_err(|error| failed(format!("{relative}: {}", error.message)))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|error| failed(format!("{}: {error}", path.display())))?;
        let body = stream::unfold(Some(file), |state| async move {
            let mut file = state?;
            let mut buffer = vec![0u8; CHUNK_BYTES];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(read) => {
                    buffer.truncate(read);
                    Some((Ok(Bytes::from(buffer)), Some(file)))
                }
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed();
        let written = artifacts
            .put_stream(&key, body)
            .await
            .map_err(|error| failed(format!("{relative}: {error}")))?;
        stats.files += 1;
        stats.bytes += written;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let root = Path::new("/data/mlartifacts");
        let check = |uri: &str, root: Option<&Path>, expected: Option<&str>| {
            assert_eq!(
                local_source(uri, root),
                expected.map(PathBuf::from),
                "{uri}"
            );
        };
        check(
            "mlflow-artifacts:/1/abc/artifacts",
            Some(root),
            Some("/data/mlartifacts/1/abc/artifacts"),
        );
        check(
            "mlflow-artifacts://host:5000/1/abc/artifacts",
            Some(root),
            Some("/data/mlartifacts/1/abc/artifacts"),
        );
        check("mlflow-artifacts:/1/abc/artifacts", None, None);
        check("file:///tmp/mlruns/1", None, Some("/tmp/mlruns/1"));
        check("/tmp/mlruns/1", Some(root), Some("/tmp/mlruns/1"));
        check("s3://bucket/1", Some(root), None);
    }

    #[tokio::test]
    async fn copies_a_tree() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("model/sub")).unwrap();
        std::fs::write(source.path().join("a.txt"), b"hello").unwrap();
        std::fs::write(source.path().join("model/sub/b.bin"), vec![7u8; 3 << 20]).unwrap();
        let destination = tempfile::tempdir().unwrap();
        let store =
            cairn_artifacts::ObjectArtifactStore::open(&destination.path().to_string_lossy())
                .unwrap();
        let stats = copy_folder(source.path(), &store, "1/run/artifacts")
            .await
            .unwrap();
        assert_eq!(
            stats,
            CopyStats {
                files: 2,
                bytes: 5 + (3 << 20)
            }
        );
        let copied =
            std::fs::read(destination.path().join("1/run/artifacts/model/sub/b.bin")).unwrap();
        assert_eq!(copied.len(), 3 << 20);
        let missing = copy_folder(&source.path().join("nope"), &store, "x")
            .await
            .unwrap();
        assert_eq!(missing, CopyStats::default());
    }
}
