//! Artifact destinations in object storage: parsing `s3://`, `gs://`, `az://` URIs and building their
//! `object_store` clients from the usual environment variables.
//!
//! Each cloud backend sits behind a cargo feature (`s3`, `gcs`, `azure`); a destination whose feature
//! is off is refused with a message naming the feature. Settings are computed from an explicit list of
//! environment variables so that the parsing is testable without touching the process environment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

/// A parsed artifact destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A local folder (a plain path or a `file://` URI, the prefix removed).
    Local(String),
    /// `s3://bucket/prefix` (also `s3a://`).
    S3 { bucket: String, prefix: String },
    /// `gs://bucket/prefix`.
    Gcs { bucket: String, prefix: String },
    /// `az://container/prefix`, `abfs[s]://container@account.dfs.core.windows.net/prefix`; kept whole
    /// for `object_store`'s own URL parser.
    Azure { url: String },
}

impl Destination {
    pub(crate) fn parse(uri: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(Destination::Local(uri.to_owned()));
        };
        match scheme {
            "file" => Ok(Destination::Local(rest.to_owned())),
            "s3" | "s3a" => {
                let (bucket, prefix) = bucket_and_prefix(rest)?;
                Ok(Destination::S3 { bucket, prefix })
            }
            "gs" => {
                let (bucket, prefix) = bucket_and_prefix(rest)?;
                Ok(Destination::Gcs { bucket, prefix })
            }
            "az" | "adl" | "azure" | "abfs" | "abfss" => {
                bucket_and_prefix(rest)?;
                Ok(Destination::Azure {
                    url: uri.to_owned(),
                })
            }
            other => Err(format!(
                "the '{other}' scheme is not supported; use a local folder, s3://, gs:// or az://"
            )),
        }
    }
}

/// `bucket/some/prefix/` → (`bucket`, `some/prefix`).
fn bucket_and_prefix(rest: &str) -> Result<(String, String), String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("the URI names no bucket".to_owned());
    }
    if bucket.contains(['?', '#']) || prefix.contains(['?', '#']) {
        return Err("query strings and fragments are not supported in the URI".to_owned());
    }
    let segments: Vec<&str> = prefix
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    if segments
        .iter()
        .any(|segment| *segment == "." || *segment == "..")
    {
        return Err("the prefix may not contain '.' or '..' segments".to_owned());
    }
    Ok((bucket.to_owned(), segments.join("/")))
}

/// The S3 settings cairn derives itself; everything else `AWS_*` is passed to `object_store` as is
/// (credentials, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, `AWS_TIMEOUT`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`...).
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (an S3-compatible server): requests are path-style, `http://` is allowed.
    pub endpoint: Option<String>,
    pub allow_http: bool,
}

#[cfg_attr(not(feature = "s3"), allow(dead_code))]
impl S3Settings {
    /// Endpoint: `MLFLOW_S3_ENDPOINT_URL` (MLflow's name), else `AWS_ENDPOINT_URL_S3`, else
    /// `AWS_ENDPOINT_URL`. Region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub(crate) fn from_env(bucket: &str, env: &HashMap<String, String>) -> Self {
        let non_empty = |key: &str| {
            env.get(key)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let endpoint = non_empty("MLFLOW_S3_ENDPOINT_URL")
            .or_else(|| non_empty("AWS_ENDPOINT_URL_S3"))
            .or_else(|| non_empty("AWS_ENDPOINT_URL"))
            .map(|endpoint| endpoint.trim_end_matches('/').to_owned());
        let region = non_empty("AWS_REGION")
            .or_else(|| non_empty("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let allow_http = endpoint
            .as_deref()
            .is_some_and(|endpoint| endpoint.starts_with("http://"))
            || non_empty("AWS_ALLOW_HTTP").is_some_and(|value| value.eq_ignore_ascii_case("true"));
        Self {
            bucket: bucket.to_owned(),
            region,
            endpoint,
            allow_http,
        }
    }
}

/// The stores for one remote destination: `store` bounds every request by a timeout; `reads` has
/// none (a large download may take long), and the caller bounds its first response and each chunk.
#[cfg_attr(
    not(any(feature = "s3", feature = "gcs", feature = "azure")),
    allow(dead_code)
)]
pub(crate) struct RemoteStores {
    pub store: Arc<dyn ObjectStore>,
    pub reads: Arc<dyn ObjectStore>,
}

/// Retries: a refused connection fails within about a second instead of object_store's ten retries.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn retry_config() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(180),
    }
}

/// The timeout of one request (the whole body included) on the bounded store.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
const REQUEST_TIMEOUT: &str = "30s";
/// The per-request limit of the reads store: effectively none; `lib.rs` bounds the waits instead.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
const READS_REQUEST_TIMEOUT: &str = "24h";
/// Connecting to the object store.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
const CONNECT_TIMEOUT: &str = "5s";

/// How long a download may wait for the store's first response, and then for each chunk.
pub(crate) const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(feature = "s3")]
pub(crate) fn s3_stores(
    settings: &S3Settings,
    env: &HashMap<String, String>,
) -> Result<RemoteStores, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::ClientConfigKey;

    let build = |timeout: &str| -> Result<Arc<dyn ObjectStore>, String> {
        let mut builder = AmazonS3Builder::new()
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), timeout)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                CONNECT_TIMEOUT,
            );
        // The rest of the AWS_* variables, as object_store's `from_env` reads them.
        for (key, value) in env {
            if !key.starts_with("AWS_") {
                continue;
            }
            if let Ok(config_key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(config_key, value);
            }
        }
        builder = builder
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http)
            .with_retry(retry_config());
        if let Some(endpoint) = &settings.endpoint {
            // S3-compatible servers (MinIO, moto, Ceph...) answer path-style requests.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|error| error.to_string())?;
        Ok(Arc::new(store))
    };
    Ok(RemoteStores {
        store: build(REQUEST_TIMEOUT)?,
        reads: build(READS_REQUEST_TIMEOUT)?,
    })
}

/// Where an S3 store's requests go, for messages: the custom endpoint, else AWS's region.
#[cfg(feature = "s3")]
pub(crate) fn s3_place(settings: &S3Settings) -> String {
    match &settings.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => format!("AWS S3 ({})", settings.region),
    }
}

#[cfg(feature = "gcs")]
pub(crate) fn gcs_stores(
    bucket: &str,
    env: &HashMap<String, String>,
) -> Result<RemoteStores, String> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    use object_store::ClientConfigKey;

    let build = |timeout: &str| -> Result<Arc<dyn ObjectStore>, String> {
        let mut builder = GoogleCloudStorageBuilder::new()
            .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), timeout)
            .with_config(
                GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout),
                CONNECT_TIMEOUT,
            );
        for (key, value) in env {
            if !key.starts_with("GOOGLE_") {
                continue;
            }
            if let Ok(config_key) = key.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                builder = builder.with_config(config_key, value);
            }
        }
        let store = builder
            .with_bucket_name(bucket)
            .with_retry(retry_config())
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Arc::new(store))
    };
    Ok(RemoteStores {
        store: build(REQUEST_TIMEOUT)?,
        reads: build(READS_REQUEST_TIMEOUT)?,
    })
}

#[cfg(feature = "azure")]
pub(crate) fn azure_stores(
    url: &str,
    env: &HashMap<String, String>,
) -> Result<RemoteStores, String> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    use object_store::ClientConfigKey;

    let build = |timeout: &str| -> Result<Arc<dyn ObjectStore>, String> {
        let mut builder = MicrosoftAzureBuilder::new()
            .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), timeout)
            .with_config(
                AzureConfigKey::Client(ClientConfigKey::ConnectTimeout),
                CONNECT_TIMEOUT,
            );
        for (key, value) in env {
            if !key.starts_with("AZURE_") {
                continue;
            }
            if let Ok(config_key) = key.to_ascii_lowercase().parse::<AzureConfigKey>() {
                builder = builder.with_config(config_key, value);
            }
        }
        let parsed = url::Url::parse(url).map_err(|error| error.to_string())?;
        let store = builder
            .with_url(parsed.as_str())
            .with_retry(retry_config())
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Arc::new(store))
    };
    Ok(RemoteStores {
        store: build(REQUEST_TIMEOUT)?,
        reads: build(READS_REQUEST_TIMEOUT)?,
    })
}

/// The object prefix of an Azure URL (the path after the container).
#[cfg(feature = "azure")]
pub(crate) fn azure_prefix(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|error| error.to_string())?;
    let path = parsed.path().trim_start_matches('/');
    // `az://container/prefix` puts the container in the host; `abfs://container@account...` too.
    Ok(path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect::<Vec<_>>()
        .join("/"))
}

/// Whether an `object_store` error means the store could not be reached (connection refused or
/// reset, a timeout), as opposed to a refusal or a bug.
pub(crate) fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
        {
            if let Some(http) = error.downcast_ref::<object_store::client::HttpError>() {
                use object_store::client::HttpErrorKind;
                if matches!(
                    http.kind(),
                    HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
                ) {
                    return true;
                }
            }
            if let Some(request) = error.downcast_ref::<reqwest::Error>() {
                if request.is_connect() || request.is_timeout() {
                    return true;
                }
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::TimedOut
            ) {
                return true;
            }
        }
        current = error.source();
    }
    false
}
