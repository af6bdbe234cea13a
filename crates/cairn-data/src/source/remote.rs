//! Input in S3: `s3://bucket/key`, a folder `s3://bucket/prefix/`, or a glob `s3://bucket/prefix/*.csv`,
//! through `object_store` (cargo feature `s3`).
//!
//! The sources are synchronous and run on plain threads, so each object is read through a blocking
//! [`std::io::Read`] fed by the object's async byte stream (a task on a small runtime of this module
//! sends the chunks over a bounded channel): CSV and JSON lines stream with flat memory. Parquet needs
//! random access: each object is downloaded to a temporary file first (deleted when read).
//!
//! S3 is configured the way `cairn-artifacts` configures artifact destinations: the `AWS_*`
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
//! `AWS_DEFAULT_REGION`...), and for S3-compatible servers an endpoint in `MLFLOW_S3_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (path-style requests, `http://` allowed).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{Format, ReadOptions, ResolvedInput};
use crate::error::{DataError, Result};

/// Whether DATA names an object store rather than a local path.
pub(crate) fn is_remote(spec: &str) -> bool {
    spec.starts_with("s3://") || spec.starts_with("s3a://")
}

/// Whether a resolved file is an object (`s3://bucket/key`).
pub(crate) fn is_remote_path(path: &Path) -> bool {
    path.to_str().is_some_and(is_remote)
}

/// `s3://bucket/key` split into bucket and key (the key may be empty, end with `/`, or hold a glob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectUrl {
    pub bucket: String,
    pub key: String,
}

impl ObjectUrl {
    pub(crate) fn parse(spec: &str) -> Result<ObjectUrl> {
        let rest = spec
            .strip_prefix("s3://")
            .or_else(|| spec.strip_prefix("s3a://"))
            .ok_or_else(|| DataError::usage(format!("{spec}: not an s3:// address")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(DataError::usage(format!(
                "{spec}: the address names no bucket"
            )));
        }
        if key
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(DataError::usage(format!(
                "{spec}: '.' and '..' are not allowed in an object key"
            )));
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The `s3://bucket/key` of another key of the same bucket.
    fn with_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// How an `s3://` argument selects objects.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    /// One object, or else the folder of that name.
    Object(String),
    /// The objects directly under a prefix (`""` for the bucket's top).
    Folder(String),
    /// The objects under `prefix` whose keys match `pattern`.
    Glob { prefix: String, pattern: String },
}

fn selection(key: &str) -> Selection {
    match key.find(['*', '?', '[']) {
        Some(first) => {
            let prefix = key[..first]
                .rfind('/')
                .map_or(String::new(), |slash| key[..slash].to_string());
            Selection::Glob {
                prefix,
                pattern: key.to_string(),
            }
        }
        None if key.is_empty() || key.ends_with('/') => {
            Selection::Folder(key.trim_end_matches('/').to_string())
        }
        None => Selection::Object(key.to_string()),
    }
}

/// Whether a key found in a folder is data: not hidden (`.`/`_`, e.g. Spark's `_SUCCESS`), and of a
/// known format unless the format is forced.
fn is_data_key(key: &str, options: &ReadOptions) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    !name.is_empty()
        && !name.starts_with(['.', '_'])
        && (options.format.is_some() || Format::from_path(Path::new(name)).is_some())
}

/// Resolves an `s3://` DATA argument to its objects (as `s3://bucket/key` paths), sorted by key.
pub(crate) fn resolve(spec: &str, options: &ReadOptions) -> Result<ResolvedInput> {
    let url = ObjectUrl::parse(spec)?;
    let found: Vec<(String, u64)> = match selection(&url.key) {
        Selection::Object(key) => match backend::head(spec, &url.bucket, &key)? {
            Some(size) => vec![(key, size)],
            None => {
                let listed = backend::list(spec, &url.bucket, &key, false)?;
                let found: Vec<(String, u64)> = listed
                    .into_iter()
                    .filter(|(key, _)| is_data_key(key, options))
                    .collect();
                if found.is_empty() {
                    return Err(DataError::input(format!(
                        "{spec}: no such object or folder"
                    )));
                }
                found
            }
        },
        Selection::Folder(prefix) => {
            let found: Vec<(String, u64)> = backend::list(spec, &url.bucket, &prefix, false)?
                .into_iter()
                .filter(|(key, _)| is_data_key(key, options))
                .collect();
            if found.is_empty() {
                return Err(DataError::input(format!(
                    "{spec}: the folder holds no csv, tsv, jsonl or parquet file"
                )));
            }
            found
        }
        Selection::Glob { prefix, pattern } => {
            let glob = glob::Pattern::new(&pattern)
                .map_err(|error| DataError::usage(format!("{spec}: bad glob: {error}")))?;
            let match_options = glob::MatchOptions {
                require_literal_separator: true,
                ..glob::MatchOptions::new()
            };
            let found: Vec<(String, u64)> = backend::list(spec, &url.bucket, &prefix, true)?
                .into_iter()
                .filter(|(key, _)| glob.matches_with(key, match_options))
                .collect();
            if found.is_empty() {
                return Err(DataError::input(format!(
                    "{spec}: the glob matches no object"
                )));
            }
            found
        }
    };
    let mut found = found;
    found.sort();
    let total_bytes = found.iter().map(|(_, size)| size).sum();
    let files: Vec<PathBuf> = found
        .iter()
        .map(|(key, _)| PathBuf::from(url.with_key(key)))
        .collect();
    let format = super::format_of(spec, &files, options)?;
    Ok(ResolvedInput {
        spec: spec.to_string(),
        files,
        format,
        total_bytes,
    })
}

/// Opens an object for streaming reads.
pub(crate) fn open_read(path: &Path, name: &str) -> Result<Box<dyn std::io::Read + Send>> {
    let url = ObjectUrl::parse(&path.to_string_lossy())?;
    backend::open_read(name, &url.bucket, &url.key)
}

/// Downloads an object to a temporary file (counted in `progress`), deleted when the path drops.
pub(crate) fn download(
    path: &Path,
    name: &str,
    progress: &super::Progress,
) -> Result<tempfile::TempPath> {
    let mut reader = open_read(path, name)?;
    let mut temp = tempfile::Builder::new()
        .prefix("cairn-data-")
        .suffix(".parquet")
        .tempfile()
        .map_err(|error| DataError::io("cannot create a temporary file", error))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|error| DataError::io(name, error))?;
        if read == 0 {
            break;
        }
        std::io::Write::write_all(temp.as_file_mut(), &buffer[..read])
            .map_err(|error| DataError::io("cannot write a temporary file", error))?;
        progress.add(read as u64);
    }
    Ok(temp.into_temp_path())
}

#[cfg(not(feature = "s3"))]
mod backend {
    use crate::error::{DataError, Result};

    fn off(spec: &str) -> DataError {
        DataError::usage(format!(
            "{spec}: this cairn was built without the 's3' feature"
        ))
    }

    pub(super) fn head(spec: &str, _: &str, _: &str) -> Result<Option<u64>> {
        Err(off(spec))
    }

    pub(super) fn list(spec: &str, _: &str, _: &str, _: bool) -> Result<Vec<(String, u64)>> {
        Err(off(spec))
    }

    pub(super) fn open_read(name: &str, _: &str, _: &str) -> Result<Box<dyn std::io::Read + Send>> {
        Err(off(name))
    }
}

#[cfg(feature = "s3")]
mod backend {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use bytes::Bytes;
    use futures::StreamExt;
    use object_store::path::Path as ObjectPath;
    use object_store::ObjectStore;

    use crate::error::{DataError, Result};

    /// How long to wait for the store's first answer, and then for each piece of a download.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Pieces of an object buffered between the download and the reader.
    const PIECES_AHEAD: usize = 16;

    struct Store {
        store: Arc<dyn ObjectStore>,
        /// Where requests go, for messages.
        place: String,
    }

    fn runtime() -> Result<&'static tokio::runtime::Runtime> {
        static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
            OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("cairn-data-s3")
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())
            })
            .as_ref()
            .map_err(|error| DataError::input(format!("cannot start the s3 client: {error}")))
    }

    /// Runs a future on the module's runtime and waits for it (from any thread, in a runtime or not).
    fn block<F>(future: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::channel();
        runtime()?.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver
            .recv()
            .map_err(|_| DataError::input("the s3 client stopped unexpectedly"))
    }

    /// The store of a bucket, built once from the environment.
    fn store(bucket: &str) -> Result<Arc<Store>> {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<Store>>>> = OnceLock::new();
        let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
        let mut stores = stores
            .lock()
            .map_err(|_| DataError::input("the s3 client stopped unexpectedly"))?;
        if let Some(store) = stores.get(bucket) {
            return Ok(Arc::clone(store));
        }
        let env: HashMap<String, String> = std::env::vars().collect();
        let store = Arc::new(build(bucket, &env)?);
        stores.insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }

    /// The bucket's store, configured as the artifact store configures S3 (`cairn_artifacts`).
    fn build(bucket: &str, env: &HashMap<String, String>) -> Result<Store> {
        let reader = cairn_artifacts::s3_reader(bucket, env).map_err(|error| {
            DataError::usage(format!("s3://{bucket}: cannot configure s3: {error}"))
        })?;
        Ok(Store {
            store: reader.store,
            place: reader.place,
        })
    }

    /// A store error as a message naming the object and, when the store cannot be reached, where.
    fn store_error(spec: &str, store: &Store, error: &object_store::Error) -> DataError {
        if cairn_artifacts::is_unreachable(error) {
            return DataError::input(format!(
                "{spec}: cannot reach the object store at {}: {}",
                store.place,
                root_cause(error)
            ));
        }
        DataError::input(format!("{spec}: {error}"))
    }

    fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
        let mut current = error;
        while let Some(source) = current.source() {
            current = source;
        }
        current.to_string()
    }

    fn timed_out(spec: &str, store: &Store) -> DataError {
        DataError::input(format!(
            "{spec}: cannot reach the object store at {}: no answer within {} s",
            store.place,
            IDLE_TIMEOUT.as_secs()
        ))
    }

    /// The size of an object, `None` when there is no such object.
    pub(super) fn head(spec: &str, bucket: &str, key: &str) -> Result<Option<u64>> {
        let store = store(bucket)?;
        let location = ObjectPath::from(key);
        let client = Arc::clone(&store.store);
        let answer =
            block(async move { tokio::time::timeout(IDLE_TIMEOUT, client.head(&location)).await })?;
        match answer {
            Err(_) => Err(timed_out(spec, &store)),
            Ok(Ok(meta)) => Ok(Some(meta.size)),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Ok(Err(error)) => Err(store_error(spec, &store, &error)),
        }
    }

    /// The objects (key, size) under `prefix`: directly under it, or at any depth with `recursive`.
    pub(super) fn list(
        spec: &str,
        bucket: &str,
        prefix: &str,
        recursive: bool,
    ) -> Result<Vec<(String, u64)>> {
        let store = store(bucket)?;
        let client = Arc::clone(&store.store);
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let answer = block(async move {
            tokio::time::timeout(IDLE_TIMEOUT * 4, async move {
                if recursive {
                    let mut objects = Vec::new();
                    let mut listing = client.list(prefix.as_ref());
                    while let Some(meta) = listing.next().await {
                        objects.push(meta?);
                    }
                    Ok(objects)
                } else {
                    client
                        .list_with_delimiter(prefix.as_ref())
                        .await
                        .map(|listing| listing.objects)
                }
            })
            .await
        })?;
        match answer {
            Err(_) => Err(timed_out(spec, &store)),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(Vec::new()),
            Ok(Err(error)) => Err(store_error(spec, &store, &error)),
            Ok(Ok(objects)) => Ok(objects
                .into_iter()
                .map(|meta| (meta.location.to_string(), meta.size))
                .collect()),
        }
    }

    /// A blocking reader of an object, fed by a task that downloads it.
    pub(super) fn open_read(
        name: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Box<dyn std::io::Read + Send>> {
        let store = store(bucket)?;
        let client = Arc::clone(&store.store);
        let location = ObjectPath::from(key);
        let (sender, receiver) =
            tokio::sync::mpsc::channel::<std::result::Result<Bytes, DataError>>(PIECES_AHEAD);
        let spec = name.to_string();
        let task_store = Arc::clone(&store);
        runtime()?.spawn(async move {
            let failed = |error: DataError| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(Err(error)).await;
                }
            };
            let result = match tokio::time::timeout(IDLE_TIMEOUT, client.get(&location)).await {
                Err(_) => return failed(timed_out(&spec, &task_store)).await,
                Ok(Err(error)) => return failed(store_error(&spec, &task_store, &error)).await,
                Ok(Ok(result)) => result,
            };
            let mut stream = result.into_stream();
            loop {
                match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
                    Err(_) => return failed(timed_out(&spec, &task_store)).await,
                    Ok(None) => return,
                    Ok(Some(Err(error))) => {
                        return failed(store_error(&spec, &task_store, &error)).await
                    }
                    Ok(Some(Ok(piece))) => {
                        if sender.send(Ok(piece)).await.is_err() {
                            // The reader is gone (e.g. only a header was wanted).
                            return;
                        }
                    }
                }
            }
        });
        Ok(Box::new(ObjectReader {
            receiver,
            current: Bytes::new(),
            failed: None,
        }))
    }

    struct ObjectReader {
        receiver: tokio::sync::mpsc::Receiver<std::result::Result<Bytes, DataError>>,
        current: Bytes,
        /// The download's error, repeated to every later read.
        failed: Option<String>,
    }

    impl std::io::Read for ObjectReader {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if buffer.is_empty() {
                return Ok(0);
            }
            while self.current.is_empty() {
                if let Some(message) = &self.failed {
                    return Err(std::io::Error::other(message.clone()));
                }
                match self.receiver.blocking_recv() {
                    Some(Ok(piece)) => self.current = piece,
                    Some(Err(error)) => self.failed = Some(error.to_string()),
                    None => return Ok(0),
                }
            }
            let n = buffer.len().min(self.current.len());
            buffer[..n].copy_from_slice(&self.current[..n]);
            self.current = self.current.slice(n..);
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_key() {
        let check = |spec: &str, bucket: &str, key: &str| {
            let url = ObjectUrl::parse(spec).unwrap();
            assert_eq!(
                (url.bucket.as_str(), url.key.as_str()),
                (bucket, key),
                "{spec}"
            );
        };
        check("s3://data/train.csv", "data", "train.csv");
        check("s3://data/2024/01/", "data", "2024/01/");
        check("s3://data", "data", "");
        check("s3a://data/x.parquet", "data", "x.parquet");
        assert!(ObjectUrl::parse("s3:///x.csv").is_err());
        assert!(ObjectUrl::parse("s3://b/../x.csv").is_err());
    }

    #[test]
    fn keys_select_an_object_a_folder_or_a_glob() {
        let check = |key: &str, expected: Selection| assert_eq!(selection(key), expected, "{key}");
        check("train.csv", Selection::Object("train.csv".into()));
        check("daily/", Selection::Folder("daily".into()));
        check("", Selection::Folder(String::new()));
        check(
            "daily/*.csv",
            Selection::Glob {
                prefix: "daily".into(),
                pattern: "daily/*.csv".into(),
            },
        );
        check(
            "part-*.parquet",
            Selection::Glob {
                prefix: String::new(),
                pattern: "part-*.parquet".into(),
            },
        );
    }

    #[test]
    fn folder_keys_skip_hidden_and_unknown_files() {
        let options = ReadOptions::default();
        let check = |key: &str, expected: bool| {
            assert_eq!(is_data_key(key, &options), expected, "{key}");
        };
        check("out/part-0.parquet", true);
        check("out/a.csv", true);
        check("out/_SUCCESS", false);
        check("out/.hidden.csv", false);
        check("out/readme.md", false);
    }
}
