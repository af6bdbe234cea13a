//! Client-supplied artifact paths, made safe before any store sees them.
//!
//! MLflow has shipped several path-traversal CVEs in its artifact proxy. Here every path from a client
//! becomes an [`ArtifactPath`]: relative, `/`-separated, with no `..`, no `.`, no empty segment, no
//! backslash, no NUL, no drive letter and no percent-encoded traversal. Symlinks are the store's concern.

use std::fmt;

use crate::error::{Error, Result};

/// A validated relative artifact path. The empty path is the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Validates a path as sent by a client (already URL-decoded once by the HTTP layer).
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = || Error::invalid("Invalid path");
        if raw.contains('\0') || raw.contains('\\') {
            return Err(invalid());
        }
        let lowered = raw.to_ascii_lowercase();
        // Anything still percent-encoded after one decode is an attempt to smuggle a separator or a dot.
        if ["%2e", "%2f", "%5c", "%00", "%25"]
            .iter()
            .any(|encoded| lowered.contains(encoded))
        {
            return Err(invalid());
        }
        if raw.starts_with('/') || raw.starts_with('~') {
            return Err(invalid());
        }
        let mut segments = Vec::new();
        for segment in raw.split('/') {
            match segment {
                // Tolerate a trailing slash or a doubled one ("dir/" lists "dir").
                "" => continue,
                "." | ".." => return Err(invalid()),
                _ if segment.len() >= 2 && segment.as_bytes()[1] == b':' && segments.is_empty() => {
                    // A Windows drive letter such as `C:`.
                    return Err(invalid());
                }
                _ => segments.push(segment),
            }
        }
        Ok(Self(segments.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `self/child`, where `child` is already safe.
    pub fn join(&self, child: &ArtifactPath) -> ArtifactPath {
        match (self.is_root(), child.is_root()) {
            (true, _) => child.clone(),
            (false, true) => self.clone(),
            (false, false) => ArtifactPath(format!("{}/{}", self.0, child.0)),
        }
    }

    /// The path relative to `prefix`, if it lies under it.
    pub fn strip_prefix(&self, prefix: &ArtifactPath) -> Option<&str> {
        if prefix.is_root() {
            return Some(&self.0);
        }
        let rest = self.0.strip_prefix(prefix.as_str())?;
        if rest.is_empty() {
            Some(rest)
        } else {
            rest.strip_prefix('/')
        }
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PROXY_SCHEME: &str = "mlflow-artifacts:";

/// The proxy path behind an `mlflow-artifacts:/<path>` URI (as stored on runs and logged models).
pub fn proxied_path(artifact_uri: &str) -> Result<ArtifactPath> {
    let Some(rest) = artifact_uri.strip_prefix(PROXY_SCHEME) else {
        return Err(Error::invalid(format!(
            "The artifact URI '{artifact_uri}' is not served by this server's artifact proxy"
        )));
    };
    // `mlflow-artifacts:/path`, or `mlflow-artifacts://host:port/path`.
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host
            .split_once('/')
            .map(|(_, path)| path)
            .unwrap_or_default(),
        None => rest.trim_start_matches('/'),
    };
    ArtifactPath::parse(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Option<&str>) {
        let parsed = ArtifactPath::parse(raw).ok();
        assert_eq!(
            parsed.as_ref().map(ArtifactPath::as_str),
            expected,
            "path {raw:?}"
        );
    }

    #[test]
    fn safe_paths() {
        check("", Some(""));
        check(
            "1/abc/artifacts/model/MLmodel",
            Some("1/abc/artifacts/model/MLmodel"),
        );
        check("dir/", Some("dir"));
        check("a//b", Some("a/b"));
        check("file..name.txt", Some("file..name.txt"));
        check("100% sure.txt", Some("100% sure.txt"));
    }

    #[test]
    fn traversal_is_refused() {
        for raw in [
            "..",
            "../etc/passwd",
            "a/../../etc",
            "a/./b",
            "/etc/passwd",
            "a\\..\\b",
            "..\\x",
            "%2e%2e/x",
            "%2E%2E%2Fx",
            "a%2fb",
            "a%5c..",
            "%252e%252e",
            "a\0b",
            "C:/Windows",
            "c:x",
            "~/x",
        ] {
            check(raw, None);
        }
    }

    #[test]
    fn join_and_strip() {
        let base = ArtifactPath::parse("1/run/artifacts").unwrap();
        let child = ArtifactPath::parse("model/MLmodel").unwrap();
        let joined = base.join(&child);
        assert_eq!(joined.as_str(), "1/run/artifacts/model/MLmodel");
        assert_eq!(joined.strip_prefix(&base), Some("model/MLmodel"));
        assert_eq!(base.strip_prefix(&base), Some(""));
        assert_eq!(
            ArtifactPath::parse("1/runx")
                .unwrap()
                .strip_prefix(&ArtifactPath::parse("1/run").unwrap()),
            None
        );
    }
}
