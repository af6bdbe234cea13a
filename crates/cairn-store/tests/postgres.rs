//! The shared store suite against a real PostgreSQL, plus what is PostgreSQL's own: several
//! processes (pools) on one database, and the database restarting under a client.
//!
//! Needs `CAIRN_TEST_POSTGRES_URL`: a URL whose user may create databases (`scripts/test` starts a
//! PostgreSQL cluster and sets it). Each test gets a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod suite;

use std::sync::Arc;

use cairn_store::postgres::PgStore;
use cairn_store::MetadataStore;

/// The admin URL from the environment; a clear failure (not a skip) when it is missing, so a run
/// without PostgreSQL cannot pass by testing nothing.
fn admin_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "CAIRN_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server. \
             Run ./scripts/test, which starts one, or set it to e.g. \
             postgresql://cairn:cairn@127.0.0.1:5432/postgres"
        )
    })
}

/// Replaces the database part of `url`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let root = match base[scheme_end..].find('/') {
        Some(index) => &base[..scheme_end + index],
        None => base,
    };
    format!("{root}/{database}{query}")
}

/// A new, empty database; returns its URL.
pub async fn fresh_database() -> String {
    use sqlx::Connection;
    let admin = admin_url();
    let name = format!("cairn_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {admin}: {error}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    with_database(&admin, &name)
}

async fn fresh_store() -> (suite::Store, ()) {
    let url = fresh_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    (Arc::new(store), ())
}

store_test_suite!(fresh_store);

#[tokio::test]
async fn search_sees_writes_of_another_replica() {
    let url = fresh_database().await;
    let reader = PgStore::connect(&url).await.unwrap();
    let writer = PgStore::connect(&url).await.unwrap();
    suite::search_sees_writes(Arc::new(reader), Arc::new(writer)).await;
}

#[tokio::test]
async fn two_pools_share_one_database() {
    let url = fresh_database().await;
    let (first, second) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url));
    let (first, second) = (first.unwrap(), second.unwrap());
    let id = first
        .create_experiment(cairn_store::CreateExperiment {
            name: "shared".into(),
            artifact_location: None,
            tags: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(second.get_experiment(&id).await.unwrap().name, "shared");
}

#[tokio::test]
async fn schema_status_and_newer_schema_is_refused() {
    use cairn_store::postgres::schema::schema_status;
    let url = fresh_database().await;
    let before = schema_status(&url).await.unwrap();
    assert_eq!(before.pending().len(), before.known.len());
    let store = PgStore::connect(&url).await.unwrap();
    store.close().await;
    let after = schema_status(&url).await.unwrap();
    assert!(after.pending().is_empty());
    assert_eq!(after.current_version(), after.latest_known());
    assert!(
        !after.database.contains("cairn:cairn@"),
        "the password is redacted: {}",
        after.database
    );

    // A newer cairn applied a migration this build does not know: refuse to open, say why.
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, '\\x00'::bytea, 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let error = PgStore::connect(&url).await.unwrap_err();
    assert!(error.message.contains("9999 (from the future)"), "{error}");
}

#[tokio::test]
async fn unreachable_database_is_unavailable_not_internal() {
    // Nothing listens on port 1: connecting fails as Unavailable (HTTP 503), quickly.
    let error = PgStore::connect_with(
        "postgresql://cairn:cairn@127.0.0.1:1/cairn",
        cairn_store::postgres::PgOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(2),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind, cairn_core::ErrorKind::Unavailable, "{error}");
    assert!(!error.message.contains(":cairn@"), "{error}");
}
