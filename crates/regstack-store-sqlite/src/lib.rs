#![doc = include_str!("../README.md")]

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use regstack_core::store::{Backend, SchemaStatus, StoreResult, Stores};
use sqlx::SqlitePool;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use crate::readers::Readers;

pub use sqlx;

mod dialect;
mod error;
mod readers;
mod schema;
mod sessions;
mod time;
mod url;

pub use crate::error::Error;
pub use crate::schema::{HEAD_REVISION, REVISIONS, Revision};
pub use crate::url::{Location, parse_url};

/// The `users` table.
pub type SqliteUsers = regstack_store_sql::Users<SqliteBackend>;
/// The `pending_registrations` table.
pub type SqlitePending = regstack_store_sql::Pending<SqliteBackend>;
/// The `token_blacklist` table.
pub type SqliteRevocations = regstack_store_sql::Revocations<SqliteBackend>;
/// The `login_attempts` table.
pub type SqliteLoginAttempts = regstack_store_sql::LoginAttempts<SqliteBackend>;
/// The `mfa_codes` table.
pub type SqliteMfaCodes = regstack_store_sql::MfaCodes<SqliteBackend>;
/// The `oauth_identities` table.
pub type SqliteOAuthIdentities = regstack_store_sql::OAuthIdentities<SqliteBackend>;
/// The `oauth_states` table.
pub type SqliteOAuthStates = regstack_store_sql::OAuthStates<SqliteBackend>;

/// How long a connection waits for a lock held by another process before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many reader connections a file database opened by this crate uses at most.
pub const READER_CONNECTIONS: u32 = 4;

/// How long a caller waits for the (single) writer connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// The writer and reader pools. For `:memory:` both are the same one-connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Where plain reads run: `reader` itself, or (for a file opened by this crate) reader
    /// connections kept outside sqlx's pool (see `readers.rs`).
    read: Readers,
}

impl Pools {
    /// Run one plain read on a reader connection.
    pub(crate) async fn read<T>(
        &self,
        query: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut conn = self.read.acquire().await?;
        let result = query(&mut conn).await;
        conn.checked(result)
    }
}

/// The SQLite backend: every regstack repository on one database, schema-compatible with
/// regstack 0.9.3.
///
/// Writes are serialised through a writer pool of exactly one connection (read-modify-write
/// transactions use `BEGIN IMMEDIATE`), plain reads use separate reader connections; the database
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

    /// Open (or create) the database file at `path` with a one-connection writer pool and up
    /// to [`READER_CONNECTIONS`] reader connections. The reads of the backend do not go
    /// through a sqlx pool (which pings every connection handed back to it, a round trip to
    /// its worker thread as costly as the query); [`Self::reader_pool`] is still there for a
    /// host's own reads.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref();
        let err = error::store_err("database");
        let writer = Self::pool_options()
            .max_connections(1)
            .min_connections(1)
            .connect_with(Self::writer_options(path))
            .await
            .map_err(&err)?;
        // Reads run on connections of their own (`readers.rs`); the sqlx reader pool stays
        // for `reader_pool()` and opens connections only when a host uses it.
        let reader = Self::pool_options()
            .max_connections(READER_CONNECTIONS)
            .connect_lazy_with(Self::reader_options(path));
        let read = Readers::own(
            Self::reader_options(path),
            READER_CONNECTIONS,
            ACQUIRE_TIMEOUT,
        );
        // Open the first reader now, so a database that cannot be read fails at start-up.
        drop(read.acquire().await.map_err(&err)?);
        Ok(Self {
            pools: Pools {
                writer,
                reader,
                read,
            },
        })
    }

    /// A fresh private in-memory database on a single connection that is never closed while
    /// the backend lives (so the data does not vanish).
    pub async fn in_memory() -> StoreResult<Self> {
        let pool = Self::pool_options()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                SqliteConnectOptions::new()
                    .in_memory(true)
                    .busy_timeout(BUSY_TIMEOUT),
            )
            .await
            .map_err(error::store_err("database"))?;
        Ok(Self::from_pool(pool))
    }

    /// The pool options every pool of this backend starts from: a 60 s acquire timeout, and no
    /// `ping` before handing out an idle connection. A SQLite connection is a file handle in
    /// this process, it cannot have been hung up on; sqlx's default test costs a round trip
    /// to the connection's worker thread on every acquire (half of the thread hand-offs of a
    /// `GET /me`, `docs/benchmarks.md`), and it is an `.await` between taking a connection
    /// and returning it, where a cancelled caller makes sqlx drop the connection — for
    /// `:memory:`, the database with it.
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
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
            pools: Pools {
                writer,
                read: Readers::Pool(reader.clone()),
                reader,
            },
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

    /// The reader pool: the pool plain reads go through when the backend was made with
    /// [`Self::from_pools`] or [`Self::from_pool`]; for a database [`Self::open`]ed here, a
    /// pool for the host's own reads that opens its connections on first use.
    pub fn reader_pool(&self) -> &SqlitePool {
        &self.pools.reader
    }

    /// The `users` repository.
    pub fn users(&self) -> SqliteUsers {
        SqliteUsers::new(self.clone())
    }

    /// The `pending_registrations` repository.
    pub fn pending(&self) -> SqlitePending {
        SqlitePending::new(self.clone())
    }

    /// The `token_blacklist` repository.
    pub fn revocations(&self) -> SqliteRevocations {
        SqliteRevocations::new(self.clone())
    }

    /// The `login_attempts` repository.
    pub fn login_attempts(&self) -> SqliteLoginAttempts {
        SqliteLoginAttempts::new(self.clone())
    }

    /// The `mfa_codes` repository.
    pub fn mfa_codes(&self) -> SqliteMfaCodes {
        SqliteMfaCodes::new(self.clone())
    }

    /// The `oauth_identities` repository.
    pub fn oauth_identities(&self) -> SqliteOAuthIdentities {
        SqliteOAuthIdentities::new(self.clone())
    }

    /// The `oauth_states` repository.
    pub fn oauth_states(&self) -> SqliteOAuthStates {
        SqliteOAuthStates::new(self.clone())
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn stores(&self) -> Stores {
        regstack_store_sql::stores(self, |users, revocations| {
            sessions::sessions(self.pools.clone(), users, revocations)
        })
    }

    async fn install_schema(&self) -> StoreResult<()> {
        schema::install(&self.pools.writer).await
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let mut conn = self
            .pools
            .read
            .acquire()
            .await
            .map_err(error::store_err("database"))?;
        schema::status(&mut conn).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pools
            .read(async |c| sqlx::query("SELECT 1").execute(c).await)
            .await
            .map_err(error::store_err("database"))?;
        Ok(())
    }

    async fn close(&self) {
        self.pools.writer.close().await;
        self.pools.read.close().await;
        self.pools.reader.close().await;
    }
}
