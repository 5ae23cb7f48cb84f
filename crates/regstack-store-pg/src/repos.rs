//! The seven repositories on PostgreSQL.
//!
//! Every operation the contract calls atomic is a single statement (`DELETE … RETURNING`,
//! `INSERT … ON CONFLICT … DO NOTHING RETURNING`, `UPDATE … RETURNING`, `INSERT … ON CONFLICT
//! … DO UPDATE`), except the pending-registration upsert, a delete + insert transaction
//! serialised per email by a transaction-level advisory lock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regstack_core::batch::InKeyOrder;
use regstack_core::domain::{
    MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthIdentity, OAuthState,
    PendingRegistration, User, UserGuard, UserPatch,
};
use regstack_core::store::{
    Admission, BatchedSessions, LoginAttemptStore, MfaCodeStore, OAuthIdentityStore,
    OAuthStateStore, PendingStore, RevocationStore, SessionLookup, StoreError, StoreResult,
    UserCounts, UserStore,
};
use regstack_core::token::new_uuid_hex;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{PgPool, Postgres, QueryBuilder, Row as _};

use crate::error::store_err;

/// First key of the advisory locks (`pg_advisory_xact_lock(int, int)`) that serialise
/// pending-registration upserts of one email; the second key is `hashtext(email)`. The
/// two-key form lives in a lock space of its own, apart from the one-`bigint` schema lock.
pub const PENDING_LOCK_CLASS: i32 = i32::from_be_bytes(*b"rgpr");

/// First key of the advisory locks that serialise the lockout's count-and-record of one email
/// (`LoginAttemptStore::admit`); the second key is `hashtext(email)`.
pub const LOCKOUT_LOCK_CLASS: i32 = i32::from_be_bytes(*b"rglo");

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// users

macro_rules! user_cols {
    () => {
        "id, email, hashed_password, is_active, is_verified, is_superuser, full_name, \
         phone_number, is_mfa_enabled, created_at, updated_at, last_login, \
         tokens_invalidated_after"
    };
}

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: get(row, "id")?,
        email: get(row, "email")?,
        hashed_password: get(row, "hashed_password")?,
        is_active: get(row, "is_active")?,
        is_verified: get(row, "is_verified")?,
        is_superuser: get(row, "is_superuser")?,
        full_name: get(row, "full_name")?,
        phone_number: get(row, "phone_number")?,
        is_mfa_enabled: get(row, "is_mfa_enabled")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_login: get(row, "last_login")?,
        tokens_invalidated_after: get(row, "tokens_invalidated_after")?,
    })
}

/// Bearer authentication's look-up: `token_blacklist` and `users` in one statement, and the
/// look-ups of concurrent requests in one statement too, on a connection of its own: through
/// the pool every statement would cost three round trips (sqlx `ping`s a connection before
/// handing it out and again when it comes back), each waking a server process
/// (`docs/benchmarks.md`).
pub(crate) fn sessions(
    pool: PgPool,
    users: Arc<dyn UserStore>,
    revocations: Arc<dyn RevocationStore>,
) -> BatchedSessions {
    let conn = Arc::new(SessionConnections {
        pool,
        idle: std::sync::Mutex::new(Vec::new()),
    });
    BatchedSessions::new(users, revocations, move |keys| {
        let conn = conn.clone();
        Box::pin(async move { conn.lookup(keys).await })
    })
}

/// The session look-up's connections, at most one per batch in flight
/// ([`BatchedSessions::BATCHES`]): each taken from the
/// pool once (so the pool's `after_connect` set-up, such as a `search_path`, applies) and
/// detached from it, so it is neither pinged nor counted against the pool's size. A connection
/// that fails in the driver (the server closed it, a network error) is dropped, and a statement
/// that failed on a connection kept from before is retried once on a fresh one: it only reads.
#[derive(Debug)]
struct SessionConnections {
    pool: PgPool,
    idle: std::sync::Mutex<Vec<PgConnection>>,
}

impl SessionConnections {
    fn take_idle(&self) -> Option<PgConnection> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }

    async fn lookup(&self, keys: Vec<(String, String)>) -> StoreResult<Vec<SessionLookup>> {
        let (jtis, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        let mut kept = self.take_idle();
        let (rows, conn) = loop {
            let reused = kept.is_some();
            let mut conn = match kept.take() {
                Some(conn) => conn,
                None => self.connect().await?,
            };
            // Unordered: the rows are put back in the keys' order by `ord` below (an
            // `ORDER BY` cost PostgreSQL a sort per batch, a quarter of its executor time).
            let result = sqlx::query(concat!(
                "SELECT q.ord, EXISTS (SELECT 1 FROM token_blacklist \
                 WHERE token_blacklist.jti = q.jti) AS revoked, ",
                user_cols!(),
                " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q (jti, uid, ord) \
                 LEFT JOIN users ON users.id = q.uid"
            ))
            .bind(&jtis)
            .bind(&ids)
            .fetch_all(&mut conn)
            .await;
            match result {
                Ok(rows) => break (rows, conn),
                // Dropped: sqlx closes it. Retried only when it had served before.
                Err(e) if is_connection_failure(&e) && reused => {}
                Err(e) if is_connection_failure(&e) => return Err(store_err("session")(e)),
                Err(e) => {
                    self.put_back(conn);
                    return Err(store_err("session")(e));
                }
            }
        };
        self.put_back(conn);
        let mut answers = InKeyOrder::new(jtis.len());
        for row in &rows {
            let ord: i64 = get(row, "ord")?;
            let index = usize::try_from(ord - 1)
                .map_err(|_| StoreError::Corrupt(format!("session look-up: row {ord}")))?;
            let found: Option<String> = get(row, "id")?;
            answers.put(
                index,
                SessionLookup {
                    revoked: get(row, "revoked")?,
                    user: found.map(|_| user_from_row(row)).transpose()?,
                },
            )?;
        }
        answers.finish()
    }

    /// A connection of the pool, detached, planning the look-up once: with the server's
    /// default `plan_cache_mode` every execution of the prepared statement is planned anew
    /// (its array arguments make each custom plan look cheaper than a generic one), and
    /// planning costs more than running it. The generic plan follows the tables' statistics:
    /// PostgreSQL drops it when `ANALYZE` (autovacuum's, as a table grows) updates them, so a
    /// connection that planned on a tiny `users` table (sequential scans) plans index scans
    /// once the table is large (checked by hand on PostgreSQL 15 with 200 000 users and
    /// revocations).
    async fn connect(&self) -> StoreResult<PgConnection> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(store_err("session"))?
            .detach();
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&mut conn)
            .await
            .map_err(store_err("session"))?;
        Ok(conn)
    }

    fn put_back(&self, conn: PgConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

/// Whether `e` leaves the connection unusable (as opposed to an error the server reported for
/// the statement, or a value that did not decode).
fn is_connection_failure(e: &sqlx::Error) -> bool {
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

/// The `users` table.
#[derive(Debug, Clone)]
pub struct PgUsers {
    pub(crate) pool: PgPool,
}

/// `UPDATE users SET <patch>, updated_at = now WHERE id = $n RETURNING <columns>`.
fn update_query(id: &str, patch: &UserPatch, now: DateTime<Utc>) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::<Postgres>::new("UPDATE users SET ");
    {
        let mut set = q.separated(", ");
        if let Some(v) = &patch.email {
            set.push("email = ").push_bind_unseparated(v.clone());
        }
        if let Some(v) = &patch.hashed_password {
            set.push("hashed_password = ")
                .push_bind_unseparated(v.clone());
        }
        if let Some(v) = patch.is_active {
            set.push("is_active = ").push_bind_unseparated(v);
        }
        if let Some(v) = patch.is_verified {
            set.push("is_verified = ").push_bind_unseparated(v);
        }
        if let Some(v) = patch.is_superuser {
            set.push("is_superuser = ").push_bind_unseparated(v);
        }
        if let Some(v) = &patch.full_name {
            set.push("full_name = ").push_bind_unseparated(v.clone());
        }
        if let Some(v) = &patch.phone_number {
            set.push("phone_number = ").push_bind_unseparated(v.clone());
        }
        if let Some(v) = patch.is_mfa_enabled {
            set.push("is_mfa_enabled = ").push_bind_unseparated(v);
        }
        if let Some(v) = patch.last_login {
            set.push("last_login = ").push_bind_unseparated(v);
        }
        if let Some(v) = patch.tokens_invalidated_after {
            set.push("tokens_invalidated_after = ")
                .push_bind_unseparated(v);
        }
        set.push("updated_at = ").push_bind_unseparated(now);
    }
    q.push(" WHERE id = ").push_bind(id.to_owned());
    q.push(concat!(" RETURNING ", user_cols!()));
    q
}

#[async_trait]
impl UserStore for PgUsers {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        let user = user.with_id(new_uuid_hex());
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.hashed_password)
        .bind(user.is_active)
        .bind(user.is_verified)
        .bind(user.is_superuser)
        .bind(&user.full_name)
        .bind(&user.phone_number)
        .bind(user.is_mfa_enabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(user.last_login)
        .bind(user.tokens_invalidated_after)
        .execute(&self.pool)
        .await
        .map_err(store_err("user"))?;
        Ok(user)
    }

    async fn get_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("user"))?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("user"))?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn update(
        &self,
        id: &str,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut q = update_query(id, patch, now);
        q.build()
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("user"))?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn update_guarded(
        &self,
        id: &str,
        guard: &UserGuard,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut q = update_query(id, patch, now);
        // The row is locked (FOR UPDATE) from the comparison to the write.
        let err = store_err("user");
        let mut tx = self.pool.begin().await.map_err(&err)?;
        let current = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&err)?
        .as_ref()
        .map(user_from_row)
        .transpose()?;
        if !current.is_some_and(|u| guard.holds(&u)) {
            return Ok(None);
        }
        let updated = q
            .build()
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?
            .as_ref()
            .map(user_from_row)
            .transpose()?;
        tx.commit().await.map_err(&err)?;
        Ok(updated)
    }

    async fn delete(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err("user"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(store_err("user"))?;
        Ok(count(n))
    }

    async fn count_by_flags(&self) -> StoreResult<UserCounts> {
        let (total, active, verified, superusers): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE is_active), \
             COUNT(*) FILTER (WHERE is_verified), COUNT(*) FILTER (WHERE is_superuser) \
             FROM users",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_err("user"))?;
        Ok(UserCounts {
            total: count(total),
            active: count(active),
            verified: count(verified),
            superusers: count(superusers),
        })
    }

    async fn list(&self, offset: u64, limit_n: u64) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit(limit_n))
        .bind(limit(offset))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("user"))?;
        rows.iter().map(user_from_row).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// pending_registrations

macro_rules! pending_cols {
    () => {
        "id, email, hashed_password, full_name, token_hash, created_at, expires_at"
    };
}

fn pending_from_row(row: &PgRow) -> StoreResult<PendingRegistration> {
    Ok(PendingRegistration {
        id: get(row, "id")?,
        email: get(row, "email")?,
        hashed_password: get(row, "hashed_password")?,
        full_name: get(row, "full_name")?,
        token_hash: get(row, "token_hash")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

/// The `pending_registrations` table.
#[derive(Debug, Clone)]
pub struct PgPending {
    pub(crate) pool: PgPool,
}

impl PgPending {
    async fn find_one(
        &self,
        sql: &'static str,
        key: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("pending registration"))?
            .as_ref()
            .map(pending_from_row)
            .transpose()
    }
}

#[async_trait]
impl PendingStore for PgPending {
    /// Delete + insert in one transaction (the row gets a new id, as in 0.9.3). The
    /// transaction first takes `pg_advisory_xact_lock(PENDING_LOCK_CLASS, hashtext(email))`,
    /// so concurrent upserts of one email queue up instead of failing on `pending_email_unique`
    /// (or on `pending_token_unique` when they carry the same digest).
    async fn upsert(&self, pending: NewPending) -> StoreResult<PendingRegistration> {
        let pending = pending.with_id(new_uuid_hex());
        let err = store_err("pending registration");
        let mut tx = self.pool.begin().await.map_err(&err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(PENDING_LOCK_CLASS)
            .bind(&pending.email)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM pending_registrations WHERE email = $1")
            .bind(&pending.email)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query(concat!(
            "INSERT INTO pending_registrations (",
            pending_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&pending.id)
        .bind(&pending.email)
        .bind(&pending.hashed_password)
        .bind(&pending.full_name)
        .bind(&pending.token_hash)
        .bind(pending.created_at)
        .bind(pending.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(pending)
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<PendingRegistration>> {
        self.find_one(
            concat!(
                "SELECT ",
                pending_cols!(),
                " FROM pending_registrations WHERE email = $1"
            ),
            email,
        )
        .await
    }

    async fn find_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        self.find_one(
            concat!(
                "SELECT ",
                pending_cols!(),
                " FROM pending_registrations WHERE token_hash = $1"
            ),
            token_hash,
        )
        .await
    }

    async fn consume_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        sqlx::query(concat!(
            "DELETE FROM pending_registrations WHERE token_hash = $1 RETURNING ",
            pending_cols!()
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("pending registration"))?
        .as_ref()
        .map(pending_from_row)
        .transpose()
    }

    async fn delete_by_email(&self, email: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM pending_registrations WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(store_err("pending registration"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_unexpired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pending_registrations WHERE expires_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(store_err("pending registration"))?;
        Ok(count(n))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM pending_registrations WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(store_err("pending registration"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// token_blacklist

/// The `token_blacklist` table.
#[derive(Debug, Clone)]
pub struct PgRevocations {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl RevocationStore for PgRevocations {
    async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool> {
        let inserted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO token_blacklist (jti, exp) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING RETURNING id",
        )
        .bind(jti)
        .bind(exp)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("revoked token"))?;
        Ok(inserted.is_some())
    }

    async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM token_blacklist WHERE jti = $1)")
            .bind(jti)
            .fetch_one(&self.pool)
            .await
            .map_err(store_err("revoked token"))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM token_blacklist WHERE exp < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(store_err("revoked token"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// login_attempts

/// The `login_attempts` table.
#[derive(Debug, Clone)]
pub struct PgLoginAttempts {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl LoginAttemptStore for PgLoginAttempts {
    async fn record(&self, email: &str, when: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()> {
        sqlx::query(r#"INSERT INTO login_attempts (email, "when", ip) VALUES ($1, $2, $3)"#)
            .bind(email)
            .bind(when)
            .bind(ip)
            .execute(&self.pool)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(())
    }

    /// Count and insert in one transaction that first takes
    /// `pg_advisory_xact_lock(LOCKOUT_LOCK_CLASS, hashtext(email))`: admissions of one email
    /// queue up across connections and processes, so none counts before another's insert.
    async fn admit(
        &self,
        email: &str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&str>,
    ) -> StoreResult<Admission> {
        let err = store_err("login attempt");
        let mut tx = self.pool.begin().await.map_err(&err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCKOUT_LOCK_CLASS)
            .bind(email)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        let failures: Vec<DateTime<Utc>> = sqlx::query_scalar(
            r#"SELECT "when" FROM login_attempts WHERE email = $1 AND "when" >= $2 ORDER BY "when", id"#,
        )
        .bind(email)
        .bind(since)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?;
        if failures.len() as u64 >= limit {
            return Ok(Admission::Refused { failures });
        }
        let id: i64 = sqlx::query_scalar(
            r#"INSERT INTO login_attempts (email, "when", ip) VALUES ($1, $2, $3) RETURNING id::bigint"#,
        )
        .bind(email)
        .bind(when)
        .bind(ip)
        .fetch_one(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Admission::Admitted {
            ticket: id.to_string(),
            failures: failures.len() as u64 + 1,
        })
    }

    async fn release(&self, email: &str, ticket: &str) -> StoreResult<bool> {
        let Ok(id) = ticket.parse::<i64>() else {
            return Ok(false);
        };
        let done = sqlx::query("DELETE FROM login_attempts WHERE id = $1 AND email = $2")
            .bind(id)
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn failures_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        sqlx::query_scalar(
            r#"SELECT "when" FROM login_attempts WHERE email = $1 AND "when" >= $2 ORDER BY "when", id"#,
        )
        .bind(email)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("login attempt"))
    }

    async fn clear(&self, email: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(done.rows_affected())
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(r#"DELETE FROM login_attempts WHERE "when" < $1"#)
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// mfa_codes

macro_rules! mfa_cols {
    () => {
        "user_id, kind, code_hash, expires_at, attempts, max_attempts, created_at"
    };
}

fn mfa_from_row(row: &PgRow) -> StoreResult<MfaCode> {
    let kind: String = get(row, "kind")?;
    Ok(MfaCode {
        user_id: get(row, "user_id")?,
        kind: MfaKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("column kind: unknown mfa kind {kind:?}"))
        })?,
        code_hash: get(row, "code_hash")?,
        expires_at: get(row, "expires_at")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        created_at: get(row, "created_at")?,
    })
}

/// The `mfa_codes` table.
#[derive(Debug, Clone)]
pub struct PgMfaCodes {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl MfaCodeStore for PgMfaCodes {
    /// One `INSERT … ON CONFLICT (user_id, kind) DO UPDATE` that overwrites every column,
    /// the serial `id` included (`EXCLUDED.id` is the fresh `nextval`), so the result is the
    /// row 0.9.3's delete + insert leaves, without a window for a concurrent `put` to fail.
    async fn put(&self, code: MfaCode) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO mfa_codes (",
            mfa_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, kind) DO UPDATE SET id = EXCLUDED.id, \
             code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, \
             attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts, \
             created_at = EXCLUDED.created_at"
        ))
        .bind(&code.user_id)
        .bind(code.kind.as_str())
        .bind(&code.code_hash)
        .bind(code.expires_at)
        .bind(code.attempts)
        .bind(code.max_attempts)
        .bind(code.created_at)
        .execute(&self.pool)
        .await
        .map_err(store_err("mfa code"))?;
        Ok(())
    }

    async fn get(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<MfaCode>> {
        sqlx::query(concat!(
            "SELECT ",
            mfa_cols!(),
            " FROM mfa_codes WHERE user_id = $1 AND kind = $2"
        ))
        .bind(user_id)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("mfa code"))?
        .as_ref()
        .map(mfa_from_row)
        .transpose()
    }

    async fn increment_attempts(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<i32>> {
        sqlx::query_scalar(
            "UPDATE mfa_codes SET attempts = attempts + 1 WHERE user_id = $1 AND kind = $2 \
             RETURNING attempts",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("mfa code"))
    }

    async fn delete(&self, user_id: &str, kind: MfaKind) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE user_id = $1 AND kind = $2")
            .bind(user_id)
            .bind(kind.as_str())
            .execute(&self.pool)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// oauth_identities

macro_rules! identity_cols {
    () => {
        "id, user_id, provider, subject_id, email, linked_at, last_used_at"
    };
}

fn identity_from_row(row: &PgRow) -> StoreResult<OAuthIdentity> {
    Ok(OAuthIdentity {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        provider: get(row, "provider")?,
        subject_id: get(row, "subject_id")?,
        email: get(row, "email")?,
        linked_at: get(row, "linked_at")?,
        last_used_at: get(row, "last_used_at")?,
    })
}

/// The `oauth_identities` table.
#[derive(Debug, Clone)]
pub struct PgOAuthIdentities {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl OAuthIdentityStore for PgOAuthIdentities {
    async fn create(&self, identity: NewOAuthIdentity) -> StoreResult<OAuthIdentity> {
        let identity = identity.with_id(new_uuid_hex());
        sqlx::query(concat!(
            "INSERT INTO oauth_identities (",
            identity_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&identity.id)
        .bind(&identity.user_id)
        .bind(&identity.provider)
        .bind(&identity.subject_id)
        .bind(&identity.email)
        .bind(identity.linked_at)
        .bind(identity.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(store_err("oauth identity"))?;
        Ok(identity)
    }

    async fn find(&self, provider: &str, subject_id: &str) -> StoreResult<Option<OAuthIdentity>> {
        sqlx::query(concat!(
            "SELECT ",
            identity_cols!(),
            " FROM oauth_identities WHERE provider = $1 AND subject_id = $2"
        ))
        .bind(provider)
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("oauth identity"))?
        .as_ref()
        .map(identity_from_row)
        .transpose()
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<OAuthIdentity>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            identity_cols!(),
            " FROM oauth_identities WHERE user_id = $1 ORDER BY linked_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("oauth identity"))?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn delete(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM oauth_identities WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .execute(&self.pool)
            .await
            .map_err(store_err("oauth identity"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_identities WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(store_err("oauth identity"))?;
        Ok(done.rows_affected())
    }

    async fn touch_last_used(&self, id: &str, when: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_identities SET last_used_at = $1 WHERE id = $2")
            .bind(when)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_err("oauth identity"))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// oauth_states

macro_rules! state_cols {
    () => {
        "id, provider, code_verifier, nonce, redirect_to, mode, linking_user_id, created_at, \
         expires_at, result_token, result_was_new"
    };
}

fn state_from_row(row: &PgRow) -> StoreResult<OAuthState> {
    Ok(OAuthState {
        id: get(row, "id")?,
        provider: get(row, "provider")?,
        code_verifier: get(row, "code_verifier")?,
        nonce: get(row, "nonce")?,
        redirect_to: get(row, "redirect_to")?,
        mode: get(row, "mode")?,
        linking_user_id: get(row, "linking_user_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        result_token: get(row, "result_token")?,
        result_was_new: get(row, "result_was_new")?,
    })
}

/// The `oauth_states` table.
#[derive(Debug, Clone)]
pub struct PgOAuthStates {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl OAuthStateStore for PgOAuthStates {
    async fn create(&self, state: OAuthState) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO oauth_states (",
            state_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&state.id)
        .bind(&state.provider)
        .bind(&state.code_verifier)
        .bind(&state.nonce)
        .bind(&state.redirect_to)
        .bind(&state.mode)
        .bind(&state.linking_user_id)
        .bind(state.created_at)
        .bind(state.expires_at)
        .bind(&state.result_token)
        .bind(state.result_was_new)
        .execute(&self.pool)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        sqlx::query(concat!(
            "SELECT ",
            state_cols!(),
            " FROM oauth_states WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("oauth state"))?
        .as_ref()
        .map(state_from_row)
        .transpose()
    }

    async fn set_result(
        &self,
        id: &str,
        token: &str,
        was_new: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth_states SET result_token = $1, result_was_new = $2, \
             expires_at = COALESCE($3, expires_at) WHERE id = $4",
        )
        .bind(token)
        .bind(was_new)
        .bind(expires_at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn consume(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        sqlx::query(concat!(
            "DELETE FROM oauth_states WHERE id = $1 RETURNING ",
            state_cols!()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("oauth state"))?
        .as_ref()
        .map(state_from_row)
        .transpose()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(store_err("oauth state"))?;
        Ok(done.rows_affected())
    }
}
