#![doc = include_str!("../README.md")]

use std::time::Duration;

use async_trait::async_trait;
use regstack_core::store::{Backend, SchemaStatus, StoreResult, Stores};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub use sqlx;

mod dialect;
mod error;
mod schema;
mod sessions;
mod url;

pub use crate::dialect::PENDING_LOCK_CLASS;
pub use crate::error::Error;
pub use crate::schema::{HEAD_REVISION, REVISIONS, Revision, SCHEMA_LOCK_KEY};
pub use crate::url::{SCHEMES, connect_options};

/// The `users` table.
pub type PgUsers = regstack_store_sql::Users<PgBackend>;
/// The `pending_registrations` table.
pub type PgPending = regstack_store_sql::Pending<PgBackend>;
/// The `token_blacklist` table.
pub type PgRevocations = regstack_store_sql::Revocations<PgBackend>;
/// The `login_attempts` table.
pub type PgLoginAttempts = regstack_store_sql::LoginAttempts<PgBackend>;
/// The `mfa_codes` table.
pub type PgMfaCodes = regstack_store_sql::MfaCodes<PgBackend>;
/// The `oauth_identities` table.
pub type PgOAuthIdentities = regstack_store_sql::OAuthIdentities<PgBackend>;
/// The `oauth_states` table.
pub type PgOAuthStates = regstack_store_sql::OAuthStates<PgBackend>;

/// Pool size of [`PgBackend::connect`]: at most this many connections per backend (so per
/// server process). regstack 0.9.3 ran on SQLAlchemy's default pool, 5 connections plus 10
/// overflow; 10 keeps a single process well under PostgreSQL's default `max_connections`
/// (100) even with a few processes. Choose another size with [`PgBackend::connect_with`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a caller waits for a pooled connection (including establishing a new one) before
/// the operation fails: SQLAlchemy's default `pool_timeout`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL backend: every regstack repository on one database, schema-compatible with
/// regstack 0.9.3 (same tables, constraints and `alembic_version` revisions).
///
/// Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgBackend {
    pool: PgPool,
}

impl PgBackend {
    /// Connect to the database named by a regstack 0.9.3 URL (see [`connect_options`]) with
    /// a pool of at most [`DEFAULT_MAX_CONNECTIONS`]. One connection is opened right away, so
    /// a wrong password or database name fails here at once; a server that refuses or drops
    /// connections is retried (with backoff) for up to [`ACQUIRE_TIMEOUT`] before failing,
    /// which lets a host start while its database is still coming up.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PgBackend::connect`] with a pool of at most `max_connections` (at least 1).
    pub async fn connect_with(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = connect_options(url)?;
        let pool = Self::pool_options()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(error::store_err("database"))?;
        Ok(Self::from_pool(pool))
    }

    /// The pool options [`PgBackend::connect`] uses ([`DEFAULT_MAX_CONNECTIONS`],
    /// [`ACQUIRE_TIMEOUT`]), as a starting point for a host that builds its own pool.
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
    }

    /// Use a pool the host built (and may share with its own queries). The tables are looked
    /// up through the connections' `search_path`, like regstack 0.9.3 did.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool every query goes through.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The `users` repository.
    pub fn users(&self) -> PgUsers {
        PgUsers::new(self.clone())
    }

    /// The `pending_registrations` repository.
    pub fn pending(&self) -> PgPending {
        PgPending::new(self.clone())
    }

    /// The `token_blacklist` repository.
    pub fn revocations(&self) -> PgRevocations {
        PgRevocations::new(self.clone())
    }

    /// The `login_attempts` repository.
    pub fn login_attempts(&self) -> PgLoginAttempts {
        PgLoginAttempts::new(self.clone())
    }

    /// The `mfa_codes` repository.
    pub fn mfa_codes(&self) -> PgMfaCodes {
        PgMfaCodes::new(self.clone())
    }

    /// The `oauth_identities` repository.
    pub fn oauth_identities(&self) -> PgOAuthIdentities {
        PgOAuthIdentities::new(self.clone())
    }

    /// The `oauth_states` repository.
    pub fn oauth_states(&self) -> PgOAuthStates {
        PgOAuthStates::new(self.clone())
    }
}

#[async_trait]
impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn stores(&self) -> Stores {
        regstack_store_sql::stores(self, |users, revocations| {
            sessions::sessions(self.pool.clone(), users, revocations)
        })
    }

    async fn install_schema(&self) -> StoreResult<()> {
        schema::install(&self.pool).await
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(error::store_err("database"))?;
        schema::status(&mut conn).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(error::store_err("database"))?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
