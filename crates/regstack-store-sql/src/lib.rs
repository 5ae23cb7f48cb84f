#![doc = include_str!("../README.md")]

use std::fmt;
use std::future::Future;
use std::ops::DerefMut;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regstack_core::store::{
    BatchedSessions, RevocationStore, StoreError, StoreResult, Stores, UserStore,
};
use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments, Pool, SqlSafeStr, Transaction};

mod repos;
pub mod schema;

pub use crate::repos::{
    LoginAttempts, MfaCodes, OAuthIdentities, OAuthStates, Pending, Revocations, Users,
    user_from_row,
};

/// The argument list of a dialect's statements.
pub type Args<D> = <<D as Dialect>::Db as Database>::Arguments;

/// A result row of a dialect's driver.
pub type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// A connection of a dialect's driver.
pub type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// What differs between the SQL databases in the statements and their values. Every statement
/// of this crate uses `$1`-style placeholders, which PostgreSQL and sqlx's SQLite driver both
/// read.
pub trait Dialect: Sized + Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database<Arguments: IntoArguments<Self::Db>, Connection: Exec<Db = Self::Db>>;

    /// Whether `SELECT … FOR UPDATE` locks the rows it reads. Where it does not exist (SQLite),
    /// the write transaction ([`Connections::begin`]) already keeps every other writer out.
    const ROW_LOCKS: bool;

    /// Whether `INSERT … ON CONFLICT … DO UPDATE SET id = EXCLUDED.id` gives the replaced row the
    /// fresh id a plain insert would have (PostgreSQL: `EXCLUDED.id` is the serial's
    /// `nextval`). Where it does not, a row is replaced by delete + insert in one write
    /// transaction.
    const UPSERT_RENEWS_ID: bool;

    /// A statement answering whether the `alembic_version` table exists where unqualified table
    /// names are looked up: one boolean column, `present`.
    const ALEMBIC_VERSION_EXISTS: &'static str;

    /// Bind `value` as the next argument of `query`.
    fn bind<'q>(
        query: Query<'q, Self::Db, Args<Self>>,
        value: Value<'_>,
    ) -> Query<'q, Self::Db, Args<Self>>;

    /// How many rows a statement inserted, changed or deleted.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// A text column (`None` for SQL NULL).
    fn text(row: &Row<Self>, col: &str) -> StoreResult<Option<String>>;

    /// A boolean column.
    fn flag(row: &Row<Self>, col: &str) -> StoreResult<bool>;

    /// A 32-bit integer column.
    fn int(row: &Row<Self>, col: &str) -> StoreResult<i32>;

    /// A 64-bit integer column.
    fn bigint(row: &Row<Self>, col: &str) -> StoreResult<i64>;

    /// A datetime column (`None` for SQL NULL).
    fn time(row: &Row<Self>, col: &str) -> StoreResult<Option<DateTime<Utc>>>;
}

/// Where a backend's statements run. The repositories of this crate hold one of these.
pub trait Connections: Dialect + Clone + fmt::Debug {
    /// A connection for one plain read.
    type Reader: DerefMut<Target = Conn<Self>> + Send;

    /// A connection for one plain read (a single autocommit statement).
    fn reader(&self) -> impl Future<Output = Result<Self::Reader, sqlx::Error>> + Send;

    /// The result of a read that ran on `reader`; a backend may discard a connection its driver
    /// failed on.
    fn checked<T>(
        reader: &mut Self::Reader,
        result: Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let _ = reader;
        result
    }

    /// The pool single-statement writes go through.
    fn writer(&self) -> &Pool<Self::Db>;

    /// A write transaction whose statements no concurrent write of the same `subject` comes
    /// between.
    fn begin(
        &self,
        subject: Subject<'_>,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

/// What a write transaction reads and then writes ([`Connections::begin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// One `users` row: read (with `FOR UPDATE` where [`Dialect::ROW_LOCKS`]), compared, written.
    User,
    /// The pending registration of an email: deleted, then inserted anew.
    Pending(&'a str),
    /// The lockout count of an email: counted, then a login attempt inserted.
    Lockout(&'a str),
    /// A user's MFA code of one kind: deleted, then inserted anew (only where
    /// [`Dialect::UPSERT_RENEWS_ID`] is false).
    MfaCode,
}

/// A connection sqlx runs statements on: every driver's connection. The trait spares generic
/// code sqlx's higher-ranked `Executor` bound.
pub trait Exec: Send {
    /// The driver.
    type Db: Database;

    /// This connection as an executor.
    fn ex(&mut self) -> impl Executor<'_, Database = Self::Db>;
}

impl<C> Exec for C
where
    C: sqlx::Connection,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
{
    type Db = C::Database;

    fn ex(&mut self) -> impl Executor<'_, Database = C::Database> {
        self
    }
}

/// A value bound to a statement; the [`Dialect`] decides how it is encoded.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    /// A boolean.
    Flag(bool),
    /// A 32-bit integer.
    Int(i32),
    /// A 64-bit integer.
    BigInt(i64),
    /// A datetime, or NULL.
    Time(Option<DateTime<Utc>>),
}

/// The variant only: a value may be a password hash or a token digest.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Value::Text(_) => "Text(..)",
            Value::Flag(_) => "Flag(..)",
            Value::Int(_) => "Int(..)",
            Value::BigInt(_) => "BigInt(..)",
            Value::Time(_) => "Time(..)",
        })
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Flag(v)
    }
}

impl From<i32> for Value<'_> {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::BigInt(v)
    }
}

impl From<DateTime<Utc>> for Value<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Value<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Value::Time(v)
    }
}

/// Every repository of `backend`, and the batched session look-up that `sessions` builds for
/// its `users` and `revocations` repositories.
pub fn stores<B: Connections>(
    backend: &B,
    sessions: impl FnOnce(Arc<dyn UserStore>, Arc<dyn RevocationStore>) -> BatchedSessions,
) -> Stores {
    let users: Arc<dyn UserStore> = Arc::new(Users::new(backend.clone()));
    let revocations: Arc<dyn RevocationStore> = Arc::new(Revocations::new(backend.clone()));
    Stores {
        sessions: Some(Arc::new(sessions(users.clone(), revocations.clone()))),
        users,
        pending: Arc::new(Pending::new(backend.clone())),
        revocations,
        login_attempts: Arc::new(LoginAttempts::new(backend.clone())),
        mfa_codes: Arc::new(MfaCodes::new(backend.clone())),
        oauth_identities: Arc::new(OAuthIdentities::new(backend.clone())),
        oauth_states: Arc::new(OAuthStates::new(backend.clone())),
    }
}

/// Map a driver error: a unique-constraint violation becomes [`StoreError::Conflict`] naming
/// `what`, a value that cannot be decoded becomes [`StoreError::Corrupt`], anything else
/// [`StoreError::Backend`]. Every statement of the SQL backends goes through here.
pub fn store_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return StoreError::Conflict(what);
        }
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(format!("{what}: {e}"))
            }
            e => StoreError::backend(e),
        }
    }
}

/// A column that did not decode, as [`StoreError::Corrupt`] naming it.
pub fn corrupt(col: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {e}"))
}

/// Whether `e` leaves the connection unusable (as opposed to an error the server reported for
/// the statement, or a value that did not decode).
pub fn is_connection_failure(e: &sqlx::Error) -> bool {
    !matches!(
        e,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
    )
}

/// A statement with its arguments, bound through the dialect.
pub(crate) struct Stmt<D: Dialect>(Query<'static, D::Db, Args<D>>);

impl<D: Dialect> Stmt<D> {
    pub(crate) fn new(sql: impl SqlSafeStr) -> Self {
        Self(sqlx::query(sql))
    }

    pub(crate) fn bind<'v>(self, value: impl Into<Value<'v>>) -> Self {
        Self(D::bind(self.0, value.into()))
    }

    /// Run on `conn`; the number of rows affected.
    pub(crate) async fn execute(self, conn: &mut Conn<D>) -> Result<u64, sqlx::Error> {
        let done = self.0.execute(conn.ex()).await?;
        Ok(D::rows_affected(&done))
    }

    pub(crate) async fn fetch_optional(
        self,
        conn: &mut Conn<D>,
    ) -> Result<Option<Row<D>>, sqlx::Error> {
        self.0.fetch_optional(conn.ex()).await
    }

    pub(crate) async fn fetch_one(self, conn: &mut Conn<D>) -> Result<Row<D>, sqlx::Error> {
        self.0.fetch_one(conn.ex()).await
    }

    pub(crate) async fn fetch_all(self, conn: &mut Conn<D>) -> Result<Vec<Row<D>>, sqlx::Error> {
        self.0.fetch_all(conn.ex()).await
    }
}

impl<B: Connections> Stmt<B> {
    /// A plain read on a reader connection.
    pub(crate) async fn read_optional(self, b: &B) -> Result<Option<Row<B>>, sqlx::Error> {
        let mut conn = b.reader().await?;
        let result = self.fetch_optional(&mut conn).await;
        B::checked(&mut conn, result)
    }

    pub(crate) async fn read_all(self, b: &B) -> Result<Vec<Row<B>>, sqlx::Error> {
        let mut conn = b.reader().await?;
        let result = self.fetch_all(&mut conn).await;
        B::checked(&mut conn, result)
    }

    pub(crate) async fn read_one(self, b: &B) -> Result<Row<B>, sqlx::Error> {
        let mut conn = b.reader().await?;
        let result = self.fetch_one(&mut conn).await;
        B::checked(&mut conn, result)
    }

    /// One write on the writer pool; the number of rows affected.
    pub(crate) async fn write(self, b: &B) -> Result<u64, sqlx::Error> {
        let mut conn = b.writer().acquire().await?;
        self.execute(&mut conn).await
    }

    /// One write with `RETURNING` on the writer pool.
    pub(crate) async fn write_optional(self, b: &B) -> Result<Option<Row<B>>, sqlx::Error> {
        let mut conn = b.writer().acquire().await?;
        self.fetch_optional(&mut conn).await
    }
}

/// A column value as the repositories read it, through the [`Dialect`].
pub(crate) trait FromColumn<D: Dialect>: Sized {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self>;
}

fn not_null<T>(v: Option<T>, col: &str) -> StoreResult<T> {
    v.ok_or_else(|| corrupt(col, "null"))
}

impl<D: Dialect> FromColumn<D> for Option<String> {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        D::text(row, col)
    }
}

impl<D: Dialect> FromColumn<D> for String {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        not_null(D::text(row, col)?, col)
    }
}

impl<D: Dialect> FromColumn<D> for bool {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        D::flag(row, col)
    }
}

impl<D: Dialect> FromColumn<D> for i32 {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        D::int(row, col)
    }
}

impl<D: Dialect> FromColumn<D> for i64 {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        D::bigint(row, col)
    }
}

impl<D: Dialect> FromColumn<D> for Option<DateTime<Utc>> {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        D::time(row, col)
    }
}

impl<D: Dialect> FromColumn<D> for DateTime<Utc> {
    fn read(row: &Row<D>, col: &str) -> StoreResult<Self> {
        not_null(D::time(row, col)?, col)
    }
}

/// A row, read column by column through the dialect.
pub(crate) struct Cols<'r, D: Dialect>(pub(crate) &'r Row<D>);

impl<D: Dialect> Cols<'_, D> {
    pub(crate) fn get<T: FromColumn<D>>(&self, col: &str) -> StoreResult<T> {
        T::read(self.0, col)
    }
}
