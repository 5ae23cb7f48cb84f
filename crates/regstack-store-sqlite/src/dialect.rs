//! What this backend tells the shared SQL layer (`regstack-store-sql`): 0.9.3's datetimes as
//! text, and where statements run. Plain reads go to the reader connections; every statement
//! that writes, and every read-modify-write transaction (`BEGIN IMMEDIATE`), goes to the
//! single-connection writer pool, so writers are serialised inside the process and never see
//! `database is locked`.

use chrono::{DateTime, Utc};
use regstack_core::store::StoreResult;
use regstack_store_sql::{Args, Connections, Dialect, Subject, Value, corrupt};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sqlx::{Row as _, Sqlite, SqlitePool, Transaction};

use crate::SqliteBackend;
use crate::readers::ReadConn;
use crate::time;

/// How every read-modify-write transaction starts: the write lock is taken at once, so no
/// other writer (in this or another process) comes between its read and its write.
pub(crate) const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col).map_err(|e| corrupt(col, e))
}

/// A stored datetime of column `col`.
pub(crate) fn parse_dt(raw: &str, col: &str) -> StoreResult<DateTime<Utc>> {
    time::parse(raw).ok_or_else(|| corrupt(col, format_args!("bad datetime {raw:?}")))
}

impl Dialect for SqliteBackend {
    type Db = Sqlite;

    const ROW_LOCKS: bool = false;
    const UPSERT_RENEWS_ID: bool = false;
    const ALEMBIC_VERSION_EXISTS: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = 'alembic_version') AS present";

    fn bind<'q>(
        q: Query<'q, Sqlite, Args<Self>>,
        value: Value<'_>,
    ) -> Query<'q, Sqlite, Args<Self>> {
        match value {
            Value::Text(v) => q.bind(v),
            Value::Flag(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::BigInt(v) => q.bind(v),
            Value::Time(v) => q.bind(time::format_opt(v)),
        }
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn text(row: &SqliteRow, col: &str) -> StoreResult<Option<String>> {
        get(row, col)
    }

    fn flag(row: &SqliteRow, col: &str) -> StoreResult<bool> {
        get(row, col)
    }

    fn int(row: &SqliteRow, col: &str) -> StoreResult<i32> {
        get(row, col)
    }

    fn bigint(row: &SqliteRow, col: &str) -> StoreResult<i64> {
        get(row, col)
    }

    fn time(row: &SqliteRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        get::<Option<&str>>(row, col)?
            .map(|raw| parse_dt(raw, col))
            .transpose()
    }
}

impl Connections for SqliteBackend {
    type Reader = ReadConn;

    async fn reader(&self) -> Result<ReadConn, sqlx::Error> {
        self.pools.read.acquire().await
    }

    fn checked<T>(reader: &mut ReadConn, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        reader.checked(result)
    }

    fn writer(&self) -> &SqlitePool {
        &self.pools.writer
    }

    /// Every write transaction is `BEGIN IMMEDIATE` on the one writer connection, whatever its
    /// subject: it excludes every other writer of the database.
    async fn begin(&self, _: Subject<'_>) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pools.writer.begin_with(BEGIN_IMMEDIATE).await
    }
}
