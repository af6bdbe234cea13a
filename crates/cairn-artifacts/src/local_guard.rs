//! Symlink containment for the local folder backend.
//!
//! `object_store`'s local backend follows symlinks, including ones that point out of its root. A client
//! cannot create a symlink through the API, but one planted in the folder (by a bad model package, an
//! extracted archive, a careless admin) must not become a way to read or write outside the root.

use std::path::{Path, PathBuf};

use cairn_core::artifact_path::ArtifactPath;
use cairn_core::entities::FileInfo;

use crate::{ArtifactError, Result};

#[derive(Debug, Clone)]
pub struct LocalGuard {
    /// The canonical root folder.
    root: PathBuf,
}

impl LocalGuard {
    pub fn new(canonical_root: PathBuf) -> Self {
        Self {
            root: canonical_root,
        }
    }

    /// Refuses `path` when the deepest part of it that exists resolves outside the root.
    pub async fn check(&self, path: &ArtifactPath) -> Result<()> {
        let root = self.root.clone();
        let relative = path.as_str().to_owned();
        tokio::task::spawn_blocking(move || contained(&root, &relative))
            .await
            .map_err(|error| ArtifactError::Storage(error.to_string()))?
    }

    /// Drops listing entries that are symlinks resolving outside the root.
    pub async fn filter_escaping(
        &self,
        directory: &ArtifactPath,
        files: Vec<FileInfo>,
    ) -> Vec<FileInfo> {
        let root = self.root.clone();
        let directory = directory.as_str().to_owned();
        let filtered = tokio::task::spawn_blocking(move || {
            files
                .into_iter()
                .filter(|file| {
                    let relative = if directory.is_empty() {
                        file.path.clone()
                    } else {
                        format!("{directory}/{}", file.path)
                    };
                    contained(&root, &relative).is_ok()
                })
                .collect::<Vec<_>>()
        })
        .await;
        filtered.unwrap_or_default()
    }
}

fn contained(root: &Path, relative: &str) -> Result<()> {
    let mut current = root.to_path_buf();
    for segment in relative.split('/').filter(|segment| !segment.is_empty()) {
        current.push(segment);
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let resolved =
                    std::fs::canonicalize(&current).map_err(|_| ArtifactError::InvalidPath)?;
                if !resolved.starts_with(root) {
                    return Err(ArtifactError::InvalidPath);
                }
            }
            Ok(_) => {}
            // Nothing further exists: what is created below here is inside the root.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}
