//! What this backend tells the shared SQL layer (`regstack-store-sql`): `timestamptz` values,
//! row locks, an upsert that renews a serial id, and where statements run. Every statement
//! runs on the pool; a write transaction whose subject is an email first takes a
//! transaction-level advisory lock on it.

use chrono::{DateTime, Utc};
use regstack_core::store::StoreResult;
use regstack_store_sql::{Args, Connections, Dialect, Subject, Value, corrupt};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgQueryResult, PgRow};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row as _, Transaction};

use crate::PgBackend;

/// First key of the advisory locks (`pg_advisory_xact_lock(int, int)`) that serialise
/// pending-registration upserts of one email; the second key is `hashtext(email)`. The
/// two-key form lives in a lock space of its own, apart from the one-`bigint` schema lock.
pub const PENDING_LOCK_CLASS: i32 = i32::from_be_bytes(*b"rgpr");

/// First key of the advisory locks that serialise the lockout's count-and-record of one email
/// (`LoginAttemptStore::admit`); the second key is `hashtext(email)`.
pub(crate) const LOCKOUT_LOCK_CLASS: i32 = i32::from_be_bytes(*b"rglo");

pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(|e| corrupt(col, e))
}

impl Dialect for PgBackend {
    type Db = Postgres;

    const ROW_LOCKS: bool = true;
    const UPSERT_RENEWS_ID: bool = true;
    /// Whether the table exists is read from `pg_class` with the statement's snapshot, not
    /// with `to_regclass`, which answers from the server process's catalog caches; nothing in
    /// a wait for an advisory lock refreshes those (a relation lock would). CI once saw an
    /// installer that had waited for the schema lock apply `0001` after another had committed
    /// it (`relation "users" already exists`); not reproduced on demand, but a query on
    /// `pg_class` sees every commit before it started either way.
    const ALEMBIC_VERSION_EXISTS: &'static str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = 'alembic_version' AND n.nspname = ANY (current_schemas(false))) \
         AS present";

    fn bind<'q>(
        q: Query<'q, Postgres, Args<Self>>,
        value: Value<'_>,
    ) -> Query<'q, Postgres, Args<Self>> {
        match value {
            Value::Text(v) => q.bind(v),
            Value::Flag(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::BigInt(v) => q.bind(v),
            Value::Time(v) => q.bind(v),
        }
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn text(row: &PgRow, col: &str) -> StoreResult<Option<String>> {
        get(row, col)
    }

    fn flag(row: &PgRow, col: &str) -> StoreResult<bool> {
        get(row, col)
    }

    fn int(row: &PgRow, col: &str) -> StoreResult<i32> {
        get(row, col)
    }

    fn bigint(row: &PgRow, col: &str) -> StoreResult<i64> {
        get(row, col)
    }

    fn time(row: &PgRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        get(row, col)
    }
}

impl Connections for PgBackend {
    type Reader = PoolConnection<Postgres>;

    async fn reader(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.pool.acquire().await
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction on the pool. For a pending-registration upsert or a lockout admission it
    /// first takes `pg_advisory_xact_lock(PENDING_LOCK_CLASS | LOCKOUT_LOCK_CLASS,
    /// hashtext(email))`, so those of one email queue up across connections and processes; a
    /// user row is locked by the statement that reads it (`FOR UPDATE`).
    async fn begin(
        &self,
        subject: Subject<'_>,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let lock = match subject {
            Subject::Pending(email) => Some((PENDING_LOCK_CLASS, email)),
            Subject::Lockout(email) => Some((LOCKOUT_LOCK_CLASS, email)),
            Subject::User | Subject::MfaCode => None,
        };
        if let Some((class, email)) = lock {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(class)
                .bind(email)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}
