//! The seven repositories on SQLite.
//!
//! Plain reads go to the reader pool; every statement that writes, and every read-modify-write
//! transaction (`BEGIN IMMEDIATE`), goes to the single-connection writer pool, so writers are
//! serialised inside the process and never see `database is locked`.

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
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row as _, Sqlite};

use crate::Pools;
use crate::error::store_err;
use crate::time;

const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

/// A stored datetime of column `col`.
fn parse_dt(raw: &str, col: &str) -> StoreResult<DateTime<Utc>> {
    time::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("column {col}: bad datetime {raw:?}")))
}

fn get_dt(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    parse_dt(&get::<String>(row, col)?, col)
}

fn get_opt_dt(row: &SqliteRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get::<Option<String>>(row, col)?
        .map(|raw| parse_dt(&raw, col))
        .transpose()
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

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
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
        created_at: get_dt(row, "created_at")?,
        updated_at: get_dt(row, "updated_at")?,
        last_login: get_opt_dt(row, "last_login")?,
        tokens_invalidated_after: get_opt_dt(row, "tokens_invalidated_after")?,
    })
}

/// Bearer authentication's look-up: `token_blacklist` and `users` in one query, and the
/// look-ups of concurrent requests in one query too: a round trip to a reader connection's
/// worker thread costs more than the query (`docs/benchmarks.md`).
pub(crate) fn sessions(
    pools: Pools,
    users: Arc<dyn UserStore>,
    revocations: Arc<dyn RevocationStore>,
) -> BatchedSessions {
    BatchedSessions::new(users, revocations, move |keys| {
        let pools = pools.clone();
        Box::pin(async move { lookup_sessions(&pools, keys).await })
    })
}

/// `(jti, user id)` pairs → answers in the same order, in one statement. The pairs travel as
/// one JSON array (so every batch size uses the same prepared statement) and the answers come
/// back as one JSON array in one row: sqlx hands each result row from the connection's thread
/// to the caller on its own, a wake-up each.
async fn lookup_sessions(
    pools: &Pools,
    keys: Vec<(String, String)>,
) -> StoreResult<Vec<SessionLookup>> {
    let pairs = serde_json::to_string(&keys)
        .map_err(|e| StoreError::Corrupt(format!("session keys: {e}")))?;
    let answers: Option<String> = pools
        .read(async |c| {
            sqlx::query_scalar(
                "SELECT json_group_array(json_array(q.k, \
                 EXISTS (SELECT 1 FROM token_blacklist WHERE token_blacklist.jti = q.jti), \
                 users.id, users.email, users.hashed_password, users.is_active, \
                 users.is_verified, users.is_superuser, users.full_name, users.phone_number, \
                 users.is_mfa_enabled, users.created_at, users.updated_at, users.last_login, \
                 users.tokens_invalidated_after)) \
                 FROM (SELECT key AS k, json_extract(value, '$[0]') AS jti, \
                 json_extract(value, '$[1]') AS uid FROM json_each(?)) AS q \
                 LEFT JOIN users ON users.id = q.uid",
            )
            .bind(pairs)
            .fetch_one(c)
            .await
        })
        .await
        .map_err(store_err("session"))?;
    let answers: Vec<SessionRow> = serde_json::from_str(answers.as_deref().unwrap_or("[]"))
        .map_err(|e| StoreError::Corrupt(format!("session look-up: {e}")))?;
    let mut out = InKeyOrder::new(keys.len());
    for row in answers {
        out.put(row.0, row.into_lookup()?)?;
    }
    out.finish()
}

/// One answer of [`lookup_sessions`]: index, revoked, then the user columns (all null when
/// there is no such user), in `user_cols!` order.
#[derive(serde::Deserialize)]
struct SessionRow(
    usize,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl SessionRow {
    fn into_lookup(self) -> StoreResult<SessionLookup> {
        fn flag(v: Option<i64>, col: &str) -> StoreResult<bool> {
            v.map(|v| v != 0)
                .ok_or_else(|| StoreError::Corrupt(format!("column {col}: null")))
        }
        fn text(v: Option<String>, col: &str) -> StoreResult<String> {
            v.ok_or_else(|| StoreError::Corrupt(format!("column {col}: null")))
        }
        fn dt(v: Option<String>, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
            v.map(|raw| parse_dt(&raw, col)).transpose()
        }
        let user = match self.2 {
            None => None,
            Some(id) => Some(User {
                id,
                email: text(self.3, "email")?,
                hashed_password: self.4,
                is_active: flag(self.5, "is_active")?,
                is_verified: flag(self.6, "is_verified")?,
                is_superuser: flag(self.7, "is_superuser")?,
                full_name: self.8,
                phone_number: self.9,
                is_mfa_enabled: flag(self.10, "is_mfa_enabled")?,
                created_at: parse_dt(&text(self.11, "created_at")?, "created_at")?,
                updated_at: parse_dt(&text(self.12, "updated_at")?, "updated_at")?,
                last_login: dt(self.13, "last_login")?,
                tokens_invalidated_after: dt(self.14, "tokens_invalidated_after")?,
            }),
        };
        Ok(SessionLookup {
            revoked: self.1 != 0,
            user,
        })
    }
}

/// `UPDATE users SET <patch>, updated_at = now WHERE id = ? RETURNING <columns>`.
fn update_query(id: &str, patch: &UserPatch, now: DateTime<Utc>) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new("UPDATE users SET ");
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
            set.push("last_login = ")
                .push_bind_unseparated(time::format_opt(v));
        }
        if let Some(v) = patch.tokens_invalidated_after {
            set.push("tokens_invalidated_after = ")
                .push_bind_unseparated(time::format_opt(v));
        }
        set.push("updated_at = ")
            .push_bind_unseparated(time::format(now));
    }
    q.push(" WHERE id = ").push_bind(id.to_owned());
    q.push(concat!(" RETURNING ", user_cols!()));
    q
}

/// The `users` table.
#[derive(Debug, Clone)]
pub struct SqliteUsers {
    pub(crate) pools: Pools,
}

#[async_trait]
impl UserStore for SqliteUsers {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        let user = user.with_id(new_uuid_hex());
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        .bind(time::format(user.created_at))
        .bind(time::format(user.updated_at))
        .bind(time::format_opt(user.last_login))
        .bind(time::format_opt(user.tokens_invalidated_after))
        .execute(&self.pools.writer)
        .await
        .map_err(store_err("user"))?;
        Ok(user)
    }

    async fn get_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.pools
            .read(async |c| {
                sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(c)
                    .await
            })
            .await
            .map_err(store_err("user"))?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE email = ?"
                ))
                .bind(email)
                .fetch_optional(c)
                .await
            })
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
        update_query(id, patch, now)
            .build()
            .fetch_optional(&self.pools.writer)
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
        // Compared in Rust (a datetime written by 0.9.3 need not match our text form), inside
        // one write transaction.
        let err = store_err("user");
        let mut tx = self
            .pools
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(&err)?;
        let current = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = ?"))
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
        let updated = update_query(id, patch, now)
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
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("user"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn count(&self) -> StoreResult<u64> {
        let n: i64 = self
            .pools
            .read(async |c| {
                sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(c)
                    .await
            })
            .await
            .map_err(store_err("user"))?;
        Ok(count(n))
    }

    async fn count_by_flags(&self) -> StoreResult<UserCounts> {
        let (total, active, verified, superusers): (i64, i64, i64, i64) =
            self.pools
                .read(async |c| {
                    sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(is_active), 0), COALESCE(SUM(is_verified), 0), \
             COALESCE(SUM(is_superuser), 0) FROM users",
        )
        .fetch_one(c).await
                })
                .await
                .map_err(store_err("user"))?;
        Ok(UserCounts {
            total: count(total),
            active: count(active),
            verified: count(verified),
            superusers: count(superusers),
        })
    }

    async fn list(&self, offset: u64, limit: u64) -> StoreResult<Vec<User>> {
        let rows = self
            .pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
                ))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_all(c)
                .await
            })
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

fn pending_from_row(row: &SqliteRow) -> StoreResult<PendingRegistration> {
    Ok(PendingRegistration {
        id: get(row, "id")?,
        email: get(row, "email")?,
        hashed_password: get(row, "hashed_password")?,
        full_name: get(row, "full_name")?,
        token_hash: get(row, "token_hash")?,
        created_at: get_dt(row, "created_at")?,
        expires_at: get_dt(row, "expires_at")?,
    })
}

/// The `pending_registrations` table.
#[derive(Debug, Clone)]
pub struct SqlitePending {
    pub(crate) pools: Pools,
}

impl SqlitePending {
    async fn find_one(
        &self,
        sql: &'static str,
        key: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        self.pools
            .read(async |c| sqlx::query(sql).bind(key).fetch_optional(c).await)
            .await
            .map_err(store_err("pending registration"))?
            .as_ref()
            .map(pending_from_row)
            .transpose()
    }
}

#[async_trait]
impl PendingStore for SqlitePending {
    async fn upsert(&self, pending: NewPending) -> StoreResult<PendingRegistration> {
        let pending = pending.with_id(new_uuid_hex());
        let err = store_err("pending registration");
        let mut tx = self
            .pools
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM pending_registrations WHERE email = ?")
            .bind(&pending.email)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query(concat!(
            "INSERT INTO pending_registrations (",
            pending_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&pending.id)
        .bind(&pending.email)
        .bind(&pending.hashed_password)
        .bind(&pending.full_name)
        .bind(&pending.token_hash)
        .bind(time::format(pending.created_at))
        .bind(time::format(pending.expires_at))
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
                " FROM pending_registrations WHERE email = ?"
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
                " FROM pending_registrations WHERE token_hash = ?"
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
            "DELETE FROM pending_registrations WHERE token_hash = ? RETURNING ",
            pending_cols!()
        ))
        .bind(token_hash)
        .fetch_optional(&self.pools.writer)
        .await
        .map_err(store_err("pending registration"))?
        .as_ref()
        .map(pending_from_row)
        .transpose()
    }

    async fn delete_by_email(&self, email: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM pending_registrations WHERE email = ?")
            .bind(email)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("pending registration"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_unexpired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let n: i64 = self
            .pools
            .read(async |c| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pending_registrations WHERE expires_at > ?",
                )
                .bind(time::format(now))
                .fetch_one(c)
                .await
            })
            .await
            .map_err(store_err("pending registration"))?;
        Ok(count(n))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM pending_registrations WHERE expires_at < ?")
            .bind(time::format(now))
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("pending registration"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// token_blacklist

/// The `token_blacklist` table.
#[derive(Debug, Clone)]
pub struct SqliteRevocations {
    pub(crate) pools: Pools,
}

#[async_trait]
impl RevocationStore for SqliteRevocations {
    async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO token_blacklist (jti, exp) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(time::format(exp))
        .execute(&self.pools.writer)
        .await
        .map_err(store_err("revoked token"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        let found: i64 = self
            .pools
            .read(async |c| {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM token_blacklist WHERE jti = ?)")
                    .bind(jti)
                    .fetch_one(c)
                    .await
            })
            .await
            .map_err(store_err("revoked token"))?;
        Ok(found != 0)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM token_blacklist WHERE exp < ?")
            .bind(time::format(now))
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("revoked token"))?;
        Ok(done.rows_affected())
    }
}

// ---------------------------------------------------------------------------------------------
// login_attempts

/// The `login_attempts` table.
#[derive(Debug, Clone)]
pub struct SqliteLoginAttempts {
    pub(crate) pools: Pools,
}

#[async_trait]
impl LoginAttemptStore for SqliteLoginAttempts {
    async fn record(&self, email: &str, when: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()> {
        sqlx::query(r#"INSERT INTO login_attempts (email, "when", ip) VALUES (?, ?, ?)"#)
            .bind(email)
            .bind(time::format(when))
            .bind(ip)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(())
    }

    async fn admit(
        &self,
        email: &str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&str>,
    ) -> StoreResult<Admission> {
        // One write transaction on the single writer connection: no other count or insert
        // for this database (in this or another process) runs between the count and the insert.
        let err = store_err("login attempt");
        let mut tx = self
            .pools
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(&err)?;
        let rows = sqlx::query(
            r#"SELECT "when" FROM login_attempts WHERE email = ? AND "when" >= ? ORDER BY "when", id"#,
        )
        .bind(email)
        .bind(time::format(since))
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?;
        if rows.len() as u64 >= limit {
            let failures = rows
                .iter()
                .map(|row| get_dt(row, "when"))
                .collect::<StoreResult<_>>()?;
            return Ok(Admission::Refused { failures });
        }
        let id: i64 = sqlx::query_scalar(
            r#"INSERT INTO login_attempts (email, "when", ip) VALUES (?, ?, ?) RETURNING id"#,
        )
        .bind(email)
        .bind(time::format(when))
        .bind(ip)
        .fetch_one(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Admission::Admitted {
            ticket: id.to_string(),
            failures: rows.len() as u64 + 1,
        })
    }

    async fn release(&self, email: &str, ticket: &str) -> StoreResult<bool> {
        let Ok(id) = ticket.parse::<i64>() else {
            return Ok(false);
        };
        let done = sqlx::query("DELETE FROM login_attempts WHERE id = ? AND email = ?")
            .bind(id)
            .bind(email)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn failures_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let rows = self.pools.read(async |c| sqlx::query(
            r#"SELECT "when" FROM login_attempts WHERE email = ? AND "when" >= ? ORDER BY "when", id"#,
        )
        .bind(email)
        .bind(time::format(since))
        .fetch_all(c).await)
        .await
        .map_err(store_err("login attempt"))?;
        rows.iter().map(|row| get_dt(row, "when")).collect()
    }

    async fn clear(&self, email: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE email = ?")
            .bind(email)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(done.rows_affected())
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(r#"DELETE FROM login_attempts WHERE "when" < ?"#)
            .bind(time::format(before))
            .execute(&self.pools.writer)
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

fn mfa_from_row(row: &SqliteRow) -> StoreResult<MfaCode> {
    let kind: String = get(row, "kind")?;
    Ok(MfaCode {
        user_id: get(row, "user_id")?,
        kind: MfaKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("column kind: unknown mfa kind {kind:?}"))
        })?,
        code_hash: get(row, "code_hash")?,
        expires_at: get_dt(row, "expires_at")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        created_at: get_dt(row, "created_at")?,
    })
}

/// The `mfa_codes` table.
#[derive(Debug, Clone)]
pub struct SqliteMfaCodes {
    pub(crate) pools: Pools,
}

#[async_trait]
impl MfaCodeStore for SqliteMfaCodes {
    async fn put(&self, code: MfaCode) -> StoreResult<()> {
        let err = store_err("mfa code");
        let mut tx = self
            .pools
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM mfa_codes WHERE user_id = ? AND kind = ?")
            .bind(&code.user_id)
            .bind(code.kind.as_str())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query(concat!(
            "INSERT INTO mfa_codes (",
            mfa_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&code.user_id)
        .bind(code.kind.as_str())
        .bind(&code.code_hash)
        .bind(time::format(code.expires_at))
        .bind(code.attempts)
        .bind(code.max_attempts)
        .bind(time::format(code.created_at))
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn get(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<MfaCode>> {
        self.pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    mfa_cols!(),
                    " FROM mfa_codes WHERE user_id = ? AND kind = ?"
                ))
                .bind(user_id)
                .bind(kind.as_str())
                .fetch_optional(c)
                .await
            })
            .await
            .map_err(store_err("mfa code"))?
            .as_ref()
            .map(mfa_from_row)
            .transpose()
    }

    async fn increment_attempts(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<i32>> {
        sqlx::query_scalar(
            "UPDATE mfa_codes SET attempts = attempts + 1 WHERE user_id = ? AND kind = ? \
             RETURNING attempts",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .fetch_optional(&self.pools.writer)
        .await
        .map_err(store_err("mfa code"))
    }

    async fn delete(&self, user_id: &str, kind: MfaKind) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE user_id = ? AND kind = ?")
            .bind(user_id)
            .bind(kind.as_str())
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mfa_codes WHERE expires_at < ?")
            .bind(time::format(now))
            .execute(&self.pools.writer)
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

fn identity_from_row(row: &SqliteRow) -> StoreResult<OAuthIdentity> {
    Ok(OAuthIdentity {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        provider: get(row, "provider")?,
        subject_id: get(row, "subject_id")?,
        email: get(row, "email")?,
        linked_at: get_dt(row, "linked_at")?,
        last_used_at: get_opt_dt(row, "last_used_at")?,
    })
}

/// The `oauth_identities` table.
#[derive(Debug, Clone)]
pub struct SqliteOAuthIdentities {
    pub(crate) pools: Pools,
}

#[async_trait]
impl OAuthIdentityStore for SqliteOAuthIdentities {
    async fn create(&self, identity: NewOAuthIdentity) -> StoreResult<OAuthIdentity> {
        let identity = identity.with_id(new_uuid_hex());
        sqlx::query(concat!(
            "INSERT INTO oauth_identities (",
            identity_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&identity.id)
        .bind(&identity.user_id)
        .bind(&identity.provider)
        .bind(&identity.subject_id)
        .bind(&identity.email)
        .bind(time::format(identity.linked_at))
        .bind(time::format_opt(identity.last_used_at))
        .execute(&self.pools.writer)
        .await
        .map_err(store_err("oauth identity"))?;
        Ok(identity)
    }

    async fn find(&self, provider: &str, subject_id: &str) -> StoreResult<Option<OAuthIdentity>> {
        self.pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    identity_cols!(),
                    " FROM oauth_identities WHERE provider = ? AND subject_id = ?"
                ))
                .bind(provider)
                .bind(subject_id)
                .fetch_optional(c)
                .await
            })
            .await
            .map_err(store_err("oauth identity"))?
            .as_ref()
            .map(identity_from_row)
            .transpose()
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<OAuthIdentity>> {
        let rows = self
            .pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    identity_cols!(),
                    " FROM oauth_identities WHERE user_id = ? ORDER BY linked_at, id"
                ))
                .bind(user_id)
                .fetch_all(c)
                .await
            })
            .await
            .map_err(store_err("oauth identity"))?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn delete(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM oauth_identities WHERE user_id = ? AND provider = ?")
            .bind(user_id)
            .bind(provider)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("oauth identity"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_identities WHERE user_id = ?")
            .bind(user_id)
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("oauth identity"))?;
        Ok(done.rows_affected())
    }

    async fn touch_last_used(&self, id: &str, when: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_identities SET last_used_at = ? WHERE id = ?")
            .bind(time::format(when))
            .bind(id)
            .execute(&self.pools.writer)
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

fn state_from_row(row: &SqliteRow) -> StoreResult<OAuthState> {
    Ok(OAuthState {
        id: get(row, "id")?,
        provider: get(row, "provider")?,
        code_verifier: get(row, "code_verifier")?,
        nonce: get(row, "nonce")?,
        redirect_to: get(row, "redirect_to")?,
        mode: get(row, "mode")?,
        linking_user_id: get(row, "linking_user_id")?,
        created_at: get_dt(row, "created_at")?,
        expires_at: get_dt(row, "expires_at")?,
        result_token: get(row, "result_token")?,
        result_was_new: get(row, "result_was_new")?,
    })
}

/// The `oauth_states` table.
#[derive(Debug, Clone)]
pub struct SqliteOAuthStates {
    pub(crate) pools: Pools,
}

#[async_trait]
impl OAuthStateStore for SqliteOAuthStates {
    async fn create(&self, state: OAuthState) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO oauth_states (",
            state_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&state.id)
        .bind(&state.provider)
        .bind(&state.code_verifier)
        .bind(&state.nonce)
        .bind(&state.redirect_to)
        .bind(&state.mode)
        .bind(&state.linking_user_id)
        .bind(time::format(state.created_at))
        .bind(time::format(state.expires_at))
        .bind(&state.result_token)
        .bind(state.result_was_new)
        .execute(&self.pools.writer)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        self.pools
            .read(async |c| {
                sqlx::query(concat!(
                    "SELECT ",
                    state_cols!(),
                    " FROM oauth_states WHERE id = ?"
                ))
                .bind(id)
                .fetch_optional(c)
                .await
            })
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
            "UPDATE oauth_states SET result_token = ?, result_was_new = ?, \
             expires_at = COALESCE(?, expires_at) WHERE id = ?",
        )
        .bind(token)
        .bind(was_new)
        .bind(time::format_opt(expires_at))
        .bind(id)
        .execute(&self.pools.writer)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn consume(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        sqlx::query(concat!(
            "DELETE FROM oauth_states WHERE id = ? RETURNING ",
            state_cols!()
        ))
        .bind(id)
        .fetch_optional(&self.pools.writer)
        .await
        .map_err(store_err("oauth state"))?
        .as_ref()
        .map(state_from_row)
        .transpose()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_states WHERE expires_at < ?")
            .bind(time::format(now))
            .execute(&self.pools.writer)
            .await
            .map_err(store_err("oauth state"))?;
        Ok(done.rows_affected())
    }
}
