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
