use super::*;

fn path(raw: &str) -> ArtifactPath {
    ArtifactPath::parse(raw).unwrap()
}

fn body(parts: &[&'static [u8]]) -> BoxStream<'static, std::io::Result<Bytes>> {
    let chunks: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|part| Ok(Bytes::from_static(part)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

async fn read_all(store: &ObjectArtifactStore, raw: &str) -> Result<Vec<u8>> {
    let download = store.get(&path(raw)).await?;
    let chunks: Vec<Bytes> = download.stream.try_collect().await?;
    Ok(chunks.concat())
}

#[tokio::test]
async fn put_get_list_delete() {
    let folder = tempfile::tempdir().unwrap();
    let store = ObjectArtifactStore::open(folder.path().to_str().unwrap()).unwrap();
    store
        .put_stream(&path("1/run/artifacts/a.txt"), body(&[b"hello ", b"world"]))
        .await
        .unwrap();
    store
        .put_stream(&path("1/run/artifacts/dir/b.json"), body(&[b"{}"]))
        .await
        .unwrap();
    assert_eq!(
        read_all(&store, "1/run/artifacts/a.txt").await.unwrap(),
        b"hello world"
    );

    let listing = store.list(&path("1/run/artifacts")).await.unwrap().unwrap();
    assert_eq!(
        listing,
        vec![
            FileInfo {
                path: "a.txt".into(),
                is_dir: false,
                file_size: Some(11)
            },
            FileInfo {
                path: "dir".into(),
                is_dir: true,
                file_size: None
            },
        ]
    );
    assert_eq!(
        store.list(&path("1/run/artifacts/a.txt")).await.unwrap(),
        None
    );
    assert_eq!(store.list(&path("1/nothing")).await.unwrap(), None);

    store.delete(&path("1/run/artifacts/dir")).await.unwrap();
    assert_eq!(
        store.list(&path("1/run/artifacts/dir")).await.unwrap(),
        None
    );
    assert!(matches!(
        store.get(&path("1/run/artifacts/dir/b.json")).await,
        Err(ArtifactError::NotFound(_))
    ));
    assert!(matches!(
        store.delete(&path("1/run/artifacts/zzz")).await,
        Err(ArtifactError::NotFound(_))
    ));
}

#[tokio::test]
async fn large_bodies_stream_through_multipart() {
    let folder = tempfile::tempdir().unwrap();
    let store = ObjectArtifactStore::open(folder.path().to_str().unwrap()).unwrap();
    static CHUNK: [u8; 1 << 20] = [7u8; 1 << 20];
    let chunks: Vec<std::io::Result<Bytes>> =
        (0..20).map(|_| Ok(Bytes::from_static(&CHUNK))).collect();
    let written = store
        .put_stream(&path("big.bin"), futures::stream::iter(chunks).boxed())
        .await
        .unwrap();
    assert_eq!(written, 20 << 20);
    let download = store.get(&path("big.bin")).await.unwrap();
    assert_eq!(download.size, 20 << 20);
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_root_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    let store = ObjectArtifactStore::open(folder.path().to_str().unwrap()).unwrap();
    store
        .put_stream(&path("exp/keep.txt"), body(&[b"x"]))
        .await
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), folder.path().join("exp/escape")).unwrap();

    assert!(matches!(
        store.get(&path("exp/escape/secret.txt")).await,
        Err(ArtifactError::InvalidPath)
    ));
    assert!(matches!(
        store.list(&path("exp/escape")).await,
        Err(ArtifactError::InvalidPath)
    ));
    assert!(matches!(
        store
            .put_stream(&path("exp/escape/new.txt"), body(&[b"pwned"]))
            .await,
        Err(ArtifactError::InvalidPath)
    ));
    assert!(matches!(
        store.delete(&path("exp/escape/secret.txt")).await,
        Err(ArtifactError::InvalidPath)
    ));
    let listing = store.list(&path("exp")).await.unwrap().unwrap();
    assert_eq!(
        listing
            .iter()
            .map(|file| file.path.as_str())
            .collect::<Vec<_>>(),
        vec!["keep.txt"]
    );
    assert!(!outside.path().join("new.txt").exists());
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).unwrap(),
        b"secret"
    );
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn destinations_parse() {
    use remote::Destination;
    fn check(uri: &str, expected: Result<Destination, &str>) {
        let actual = Destination::parse(uri);
        match expected {
            Ok(destination) => assert_eq!(actual, Ok(destination), "{uri}"),
            Err(fragment) => {
                let message = actual.expect_err(uri);
                assert!(message.contains(fragment), "{uri}: {message}");
            }
        }
    }
    let s3 = |bucket: &str, prefix: &str| {
        Ok(Destination::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    };
    check(
        "/srv/artifacts",
        Ok(Destination::Local("/srv/artifacts".into())),
    );
    check(
        "relative/dir",
        Ok(Destination::Local("relative/dir".into())),
    );
    check("file:///srv/a", Ok(Destination::Local("/srv/a".into())));
    check("s3://bucket", s3("bucket", ""));
    check("s3://bucket/", s3("bucket", ""));
    check(
        "s3://bucket/mlflow/artifacts",
        s3("bucket", "mlflow/artifacts"),
    );
    check("s3://bucket//a//b/", s3("bucket", "a/b"));
    check("s3a://bucket/p", s3("bucket", "p"));
    check(
        "gs://bucket/p",
        Ok(Destination::Gcs {
            bucket: "bucket".into(),
            prefix: "p".into(),
        }),
    );
    check(
        "az://container/p",
        Ok(Destination::Azure {
            url: "az://container/p".into(),
        }),
    );
    check("s3://", Err("no bucket"));
    check("s3:///prefix", Err("no bucket"));
    check("s3://bucket/a/../b", Err("'..'"));
    check("s3://bucket/a?versionId=1", Err("query"));
    check("ftp://host/x", Err("'ftp' scheme is not supported"));
    check("http://host/x", Err("'http' scheme is not supported"));
}

#[test]
fn s3_settings_from_env() {
    use remote::S3Settings;
    fn check(pairs: &[(&str, &str)], region: &str, endpoint: Option<&str>, allow_http: bool) {
        let settings = S3Settings::from_env("bucket", &env(pairs));
        assert_eq!(
            settings,
            S3Settings {
                bucket: "bucket".into(),
                region: region.into(),
                endpoint: endpoint.map(str::to_owned),
                allow_http,
            },
            "{pairs:?}"
        );
    }
    check(&[], "us-east-1", None, false);
    check(
        &[("AWS_DEFAULT_REGION", "eu-west-1")],
        "eu-west-1",
        None,
        false,
    );
    check(
        &[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ],
        "eu-central-1",
        None,
        false,
    );
    check(&[("AWS_REGION", "  ")], "us-east-1", None, false);
    check(
        &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")],
        "us-east-1",
        Some("http://127.0.0.1:9000"),
        true,
    );
    check(
        &[("AWS_ENDPOINT_URL", "https://minio.internal")],
        "us-east-1",
        Some("https://minio.internal"),
        false,
    );
    // MLflow's variable wins over the AWS ones, then the S3-specific AWS one.
    check(
        &[
            ("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-s3:9000"),
            ("AWS_ENDPOINT_URL_S3", "http://s3-only:9000"),
            ("AWS_ENDPOINT_URL", "http://general:9000"),
        ],
        "us-east-1",
        Some("http://mlflow-s3:9000"),
        true,
    );
    check(
        &[
            ("AWS_ENDPOINT_URL_S3", "http://s3-only:9000"),
            ("AWS_ENDPOINT_URL", "http://general:9000"),
        ],
        "us-east-1",
        Some("http://s3-only:9000"),
        true,
    );
    check(&[("AWS_ALLOW_HTTP", "TRUE")], "us-east-1", None, true);
}

#[cfg(not(feature = "s3"))]
#[test]
fn s3_without_the_feature_is_a_config_error() {
    let error = ObjectArtifactStore::open_with_env("s3://bucket/p", &env(&[]))
        .err()
        .unwrap();
    assert!(error.to_string().contains("'s3' feature"), "{error}");
}

#[test]
fn unknown_schemes_are_config_errors() {
    let error = ObjectArtifactStore::open_with_env("ftp://host/x", &env(&[]))
        .err()
        .unwrap();
    assert!(
        matches!(&error, ArtifactError::Config { uri, .. } if uri == "ftp://host/x"),
        "{error}"
    );
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;

    fn unreachable_store() -> ObjectArtifactStore {
        // A port nobody listens on: connections are refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        ObjectArtifactStore::open_with_env(
            "s3://bucket/some/prefix",
            &env(&[
                ("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}")),
                ("AWS_ACCESS_KEY_ID", "key"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
            ]),
        )
        .unwrap()
    }

    #[test]
    fn opens_without_network_and_names_its_root() {
        let store = unreachable_store();
        assert_eq!(store.root_uri(), "s3://bucket/some/prefix");
        assert!(store.local_guard.is_none());
        let bare = ObjectArtifactStore::open_with_env(
            "s3://bucket",
            &env(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]),
        )
        .unwrap();
        assert_eq!(bare.root_uri(), "s3://bucket");
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_unavailable_quickly() {
        let store = unreachable_store();
        let started = std::time::Instant::now();
        let listing = store.list(&path("1/run/artifacts")).await;
        assert!(
            matches!(listing, Err(ArtifactError::Unavailable(_))),
            "{:?}",
            listing.err()
        );
        let download = store.get(&path("1/run/artifacts/a.txt")).await;
        assert!(
            matches!(download, Err(ArtifactError::Unavailable(_))),
            "{:?}",
            download.err()
        );
        let upload = store
            .put_stream(&path("1/run/artifacts/a.txt"), body(&[b"x"]))
            .await;
        assert!(
            matches!(upload, Err(ArtifactError::Unavailable(_))),
            "{:?}",
            upload.err()
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
