#![doc = include_str!("../README.md")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use regstack_core::store::{Backend, SchemaStatus, StoreResult, Stores};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use sqlx;

mod error;
mod repos;
mod schema;
mod time;
mod url;

pub use crate::error::Error;
pub use crate::repos::{
    SqliteLoginAttempts, SqliteMfaCodes, SqliteOAuthIdentities, SqliteOAuthStates, SqlitePending,
    SqliteRevocations, SqliteUsers,
};
pub use crate::schema::{HEAD_REVISION, REVISIONS, Revision};
pub use crate::url::{Location, parse_url};

/// How long a connection waits for a lock held by another process before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Size of the reader pool of a file database.
pub const READER_CONNECTIONS: u32 = 4;

/// How long a caller waits for the (single) writer connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// The writer and reader pools. For `:memory:` both are the same one-connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

/// The SQLite backend: every regstack repository on one database, schema-compatible with
/// regstack 0.9.3.
///
/// Writes are serialised through a writer pool of exactly one connection (read-modify-write
/// transactions use `BEGIN IMMEDIATE`), plain reads use a separate reader pool; the database
/// runs in WAL mode with a busy timeout, so concurrent use never fails with
/// `database is locked`.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pools: Pools,
}

impl SqliteBackend {
    /// Open the database named by a regstack 0.9.3 URL (see [`parse_url`]): a file (created
    /// when missing) or a private in-memory database.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        match parse_url(url)? {
            Location::Memory => Self::in_memory().await,
            Location::File(path) => Self::open(path).await,
        }
    }

    /// Open (or create) the database file at `path` with a one-connection writer pool and a
    /// reader pool of [`READER_CONNECTIONS`].
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref();
        let err = error::store_err("database");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(Self::writer_options(path))
            .await
            .map_err(&err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(Self::reader_options(path))
            .await
            .map_err(&err)?;
        Ok(Self::from_pools(writer, reader))
    }

    /// A fresh private in-memory database on a single connection that is never closed while
    /// the backend lives (so the data does not vanish).
    pub async fn in_memory() -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                SqliteConnectOptions::new()
                    .in_memory(true)
                    .busy_timeout(BUSY_TIMEOUT),
            )
            .await
            .map_err(error::store_err("database"))?;
        Ok(Self::from_pool(pool))
    }

    /// The connect options of the writer connection of a file database: created when missing,
    /// WAL journal, `synchronous = FULL` (a committed revocation or consumed one-time token
    /// survives a power cut), [`BUSY_TIMEOUT`].
    pub fn writer_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
    }

    /// The connect options of reader connections (the WAL mode set by the writer persists in
    /// the file, so readers do not touch it).
    pub fn reader_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
    }

    /// Use pools the host built. `writer` must allow at most **one** connection (it is what
    /// serialises writes); `reader` may be larger and is only used for plain reads. For an
    /// in-memory database use [`SqliteBackend::from_pool`].
    pub fn from_pools(writer: SqlitePool, reader: SqlitePool) -> Self {
        Self {
            pools: Pools { writer, reader },
        }
    }

    /// Use one host-built pool for reads and writes (it should have `max_connections(1)`).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::from_pools(pool.clone(), pool)
    }

    /// The pool every write goes through.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.pools.writer
    }

    /// The pool plain reads go through.
    pub fn reader_pool(&self) -> &SqlitePool {
        &self.pools.reader
    }

    /// The `users` repository.
    pub fn users(&self) -> SqliteUsers {
        SqliteUsers {
            pools: self.pools.clone(),
        }
    }

    /// The `pending_registrations` repository.
    pub fn pending(&self) -> SqlitePending {
        SqlitePending {
            pools: self.pools.clone(),
        }
    }

    /// The `token_blacklist` repository.
    pub fn revocations(&self) -> SqliteRevocations {
        SqliteRevocations {
            pools: self.pools.clone(),
        }
    }

    /// The `login_attempts` repository.
    pub fn login_attempts(&self) -> SqliteLoginAttempts {
        SqliteLoginAttempts {
            pools: self.pools.clone(),
        }
    }

    /// The `mfa_codes` repository.
    pub fn mfa_codes(&self) -> SqliteMfaCodes {
        SqliteMfaCodes {
            pools: self.pools.clone(),
        }
    }

    /// The `oauth_identities` repository.
    pub fn oauth_identities(&self) -> SqliteOAuthIdentities {
        SqliteOAuthIdentities {
            pools: self.pools.clone(),
        }
    }

    /// The `oauth_states` repository.
    pub fn oauth_states(&self) -> SqliteOAuthStates {
        SqliteOAuthStates {
            pools: self.pools.clone(),
        }
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn stores(&self) -> Stores {
        Stores {
            users: Arc::new(self.users()),
            pending: Arc::new(self.pending()),
            revocations: Arc::new(self.revocations()),
            login_attempts: Arc::new(self.login_attempts()),
            mfa_codes: Arc::new(self.mfa_codes()),
            oauth_identities: Arc::new(self.oauth_identities()),
            oauth_states: Arc::new(self.oauth_states()),
        }
    }

    async fn install_schema(&self) -> StoreResult<()> {
        schema::install(&self.pools.writer).await
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let mut conn = self
            .pools
            .reader
            .acquire()
            .await
            .map_err(error::store_err("database"))?;
        schema::status(&mut conn).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pools.reader)
            .await
            .map_err(error::store_err("database"))?;
        Ok(())
    }

    async fn close(&self) {
        self.pools.writer.close().await;
        self.pools.reader.close().await;
    }
}
