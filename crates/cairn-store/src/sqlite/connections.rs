//! The store's own small connection pool and transactions.
//!
//! sqlx's pool pings every connection it takes back (`return_to_pool` runs `ping()` in a spawned
//! task), and `begin_with` reads the connection's state afterwards: each is a round trip to the
//! connection's worker thread. On a small VM a thread wake-up costs tens to hundreds of
//! microseconds, so a one-statement read paid three of them. A local SQLite file has no connection
//! to lose, so here a connection goes back to the idle list as it is, and a transaction is a plain
//! `BEGIN ...` / `COMMIT` pair: a read is one trip to the worker, a write transaction two plus its
//! statements.
//!
//! A transaction dropped before `commit` (an error, or a cancelled request) marks its connection;
//! the next user rolls it back first. Statements on one connection run in order on its worker
//! thread, so nothing else can run on it in between.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long `acquire` waits for a free connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Up to `size` connections, opened on first need and kept open.
#[derive(Clone)]
pub(super) struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    size: u32,
    /// Bumped by [`Connections::renew`]; connections opened before are replaced.
    generation: AtomicU64,
}

struct Idle {
    connection: SqliteConnection,
    needs_rollback: bool,
    generation: u64,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("available", &self.inner.permits.available_permits())
            .finish()
    }
}

impl Connections {
    /// A pool of at most `size` connections; one is opened now, so that bad options fail here.
    pub async fn open(options: SqliteConnectOptions, size: u32) -> Result<Self, sqlx::Error> {
        let first = options.connect().await?;
        let size = size.max(1);
        Ok(Connections {
            inner: Arc::new(Inner {
                options,
                idle: Mutex::new(vec![Idle {
                    connection: first,
                    needs_rollback: false,
                    generation: 0,
                }]),
                permits: Arc::new(Semaphore::new(usize::try_from(size).unwrap_or(1))),
                size,
                generation: AtomicU64::new(0),
            }),
        })
    }

    /// A connection for the caller alone until the guard drops.
    pub async fn acquire(&self) -> Result<Pooled, sqlx::Error> {
        let permit = tokio::time::timeout(
            ACQUIRE_TIMEOUT,
            Arc::clone(&self.inner.permits).acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let current = self.inner.generation.load(Ordering::Relaxed);
        let connection = match idle {
            Some(Idle {
                connection,
                generation,
                ..
            }) if generation != current => {
                let _ = connection.close().await;
                self.inner.options.connect().await?
            }
            Some(Idle {
                mut connection,
                needs_rollback,
                ..
            }) => {
                if needs_rollback {
                    // "No transaction is active" is fine: the COMMIT may have run after all.
                    let _ = sqlx::query("ROLLBACK").execute(&mut connection).await;
                }
                connection
            }
            None => self.inner.options.connect().await?,
        };
        Ok(Pooled {
            connection: Some(connection),
            inner: Arc::clone(&self.inner),
            needs_rollback: false,
            generation: current,
            _permit: permit,
        })
    }

    /// A transaction opened with `begin` (`BEGIN`, `BEGIN IMMEDIATE`).
    pub async fn begin(&self, begin: &'static str) -> Result<Tx, sqlx::Error> {
        let mut connection = self.acquire().await?;
        sqlx::query(begin).execute(&mut *connection).await?;
        Ok(Tx {
            connection,
            open: true,
        })
    }

    /// Has the connections now idle (and those in use, once back) replaced as they are next taken:
    /// SQLite reads planner statistics with the schema, so only new connections see a new
    /// `ANALYZE`.
    pub fn renew(&self) {
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether [`Connections::close`] has run.
    pub fn is_closed(&self) -> bool {
        self.inner.permits.is_closed()
    }

    /// Refuses new work, waits for the connections in use, and closes them all (the last close
    /// checkpoints the WAL).
    pub async fn close(&self) {
        // Wait (bounded) for the connections in use to come back, then refuse new users.
        let held = tokio::time::timeout(
            ACQUIRE_TIMEOUT,
            Arc::clone(&self.inner.permits).acquire_many_owned(self.inner.size),
        )
        .await;
        self.inner.permits.close();
        drop(held);
        let idle = std::mem::take(
            &mut *self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for Idle { connection, .. } in idle {
            let _ = connection.close().await;
        }
    }
}

/// A connection taken from [`Connections`]; derefs to the connection.
pub(super) struct Pooled {
    connection: Option<SqliteConnection>,
    inner: Arc<Inner>,
    needs_rollback: bool,
    generation: u64,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Pooled {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        // Present until drop.
        self.connection.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.connection.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if self.inner.permits.is_closed() {
                return; // closing: dropping the connection closes it
            }
            self.inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Idle {
                    connection,
                    needs_rollback: self.needs_rollback,
                    generation: self.generation,
                });
        }
    }
}

/// A transaction on a [`Pooled`] connection: `commit` ends it; dropping it uncommitted has the
/// next user of the connection roll it back. Derefs to the connection.
pub(super) struct Tx {
    connection: Pooled,
    open: bool,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let result = sqlx::query("COMMIT").execute(&mut *self.connection).await;
        // On error SQLite may or may not have ended the transaction: leave the rollback to Drop.
        if result.is_ok() {
            self.open = false;
        }
        result.map(|_| ())
    }
}

impl Deref for Tx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.connection.needs_rollback = true;
        }
    }
}
