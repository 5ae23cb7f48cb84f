//! The reader connections of a file database, kept outside sqlx's pool.
//!
//! sqlx's pool `ping`s every connection handed back to it before anyone can reuse it (it
//! cannot be switched off). For SQLite a ping is a round trip to the connection's worker
//! thread, as expensive as the query itself, so it doubles the thread hand-offs of every read:
//! `GET /me` (a revocation look-up and a user look-up) paid four instead of two
//! (`docs/benchmarks.md`). The connections here only ever run single autocommit `SELECT`s, so
//! nothing can be left pending on them: a guard puts its connection back when dropped, with no
//! round trip. A connection whose query failed in the driver (not with a SQL error) is closed
//! instead of being put back; a new one is opened on demand.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Where plain reads get a connection.
#[derive(Debug, Clone)]
pub(crate) enum Readers {
    /// A host-built or in-memory pool: use it as it is.
    Pool(SqlitePool),
    /// Connections opened by this backend.
    Own(Arc<OwnReaders>),
}

#[derive(Debug)]
pub struct OwnReaders {
    idle: Mutex<Vec<SqliteConnection>>,
    slots: Arc<Semaphore>,
    options: SqliteConnectOptions,
    acquire_timeout: Duration,
}

/// A connection for one read; derefs to the connection. (Public only as the reader type of
/// the backend's `regstack_store_sql::Connections`; nothing outside this crate can name it.)
#[derive(Debug)]
pub enum ReadConn {
    Pooled(PoolConnection<Sqlite>),
    Own {
        conn: Option<SqliteConnection>,
        readers: Arc<OwnReaders>,
        _slot: OwnedSemaphorePermit,
    },
}

impl Readers {
    /// At most `max` connections opened with `options`, on demand.
    pub(crate) fn own(options: SqliteConnectOptions, max: u32, acquire_timeout: Duration) -> Self {
        Readers::Own(Arc::new(OwnReaders {
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max.max(1) as usize)),
            options,
            acquire_timeout,
        }))
    }

    /// A connection: an idle one, or a new one while fewer than the maximum exist.
    pub(crate) async fn acquire(&self) -> Result<ReadConn, sqlx::Error> {
        let readers = match self {
            Readers::Pool(pool) => return pool.acquire().await.map(ReadConn::Pooled),
            Readers::Own(r) => r.clone(),
        };
        let slot = tokio::time::timeout(
            readers.acquire_timeout,
            readers.slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = readers.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => readers.options.connect().await?,
        };
        Ok(ReadConn::Own {
            conn: Some(conn),
            readers,
            _slot: slot,
        })
    }

    /// Close every idle connection; later reads fail with `PoolClosed`.
    pub(crate) async fn close(&self) {
        match self {
            Readers::Pool(pool) => pool.close().await,
            Readers::Own(r) => {
                r.slots.close();
                let idle = r
                    .idle
                    .lock()
                    .map(|mut v| std::mem::take(&mut *v))
                    .unwrap_or_default();
                for c in idle {
                    let _ = sqlx::Connection::close(c).await;
                }
            }
        }
    }
}

impl ReadConn {
    /// Pass a query's result through; a driver failure (I/O, a crashed worker, a protocol
    /// error) closes this connection instead of putting it back.
    pub(crate) fn checked<T>(&mut self, r: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let (Err(e), ReadConn::Own { conn, .. }) = (&r, &mut *self)
            && regstack_store_sql::is_connection_failure(e)
        {
            // Dropped without being put back: sqlx shuts its worker down.
            conn.take();
        }
        r
    }
}

impl Deref for ReadConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Own { conn, .. } => conn
                .as_ref()
                .unwrap_or_else(|| unreachable!("a discarded connection is not used again")),
        }
    }
}

impl DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Own { conn, .. } => conn
                .as_mut()
                .unwrap_or_else(|| unreachable!("a discarded connection is not used again")),
        }
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        if let ReadConn::Own { conn, readers, .. } = self
            && let Some(c) = conn.take()
            && !readers.slots.is_closed()
            && let Ok(mut idle) = readers.idle.lock()
        {
            idle.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(dir: &tempfile::TempDir, max: u32, timeout: Duration) -> Readers {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("r.db"))
            .create_if_missing(true);
        Readers::own(options, max, timeout)
    }

    async fn one(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("SELECT 1")
            .fetch_one(conn)
            .await
            .expect("select 1")
    }

    #[tokio::test]
    async fn connections_are_bounded_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir, 2, Duration::from_millis(100));
        let mut a = r.acquire().await.unwrap();
        let b = r.acquire().await.unwrap();
        assert!(matches!(r.acquire().await, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(one(&mut a).await, 1);
        drop(a);
        let mut c = r.acquire().await.unwrap();
        assert_eq!(one(&mut c).await, 1);
        drop((b, c));
        let Readers::Own(own) = &r else { panic!() };
        assert_eq!(own.idle.lock().unwrap().len(), 2);
        r.close().await;
        assert!(matches!(r.acquire().await, Err(sqlx::Error::PoolClosed)));
    }

    #[tokio::test]
    async fn a_cancelled_read_leaves_a_usable_connection() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir, 1, Duration::from_secs(5));
        let slow = async {
            let mut c = r.acquire().await.unwrap();
            sqlx::query_scalar::<_, i64>(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                 WHERE i < 2000000) SELECT COUNT(*) FROM n",
            )
            .fetch_one(&mut *c)
            .await
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slow)
                .await
                .is_err()
        );
        let mut c = r.acquire().await.unwrap();
        assert_eq!(one(&mut c).await, 1);
    }
}
