//! The seven repositories, once for every SQL backend.
//!
//! Every operation the contract calls atomic is a single statement (`DELETE … RETURNING`,
//! `INSERT … ON CONFLICT … DO NOTHING`, `UPDATE … RETURNING`), or a write transaction that the
//! backend serialises with the others of its [`Subject`] (the pending-registration upsert, the
//! lockout's count-and-insert, the guarded user update, and an MFA code's replacement where
//! [`Dialect::UPSERT_RENEWS_ID`] is false).

use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regstack_core::domain::{
    MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthIdentity, OAuthState,
    PendingRegistration, User, UserGuard, UserPatch,
};
use regstack_core::store::{
    Admission, LoginAttemptStore, MfaCodeStore, OAuthIdentityStore, OAuthStateStore, PendingStore,
    RevocationStore, StoreError, StoreResult, UserCounts, UserStore,
};
use regstack_core::token::new_uuid_hex;
use sqlx::AssertSqlSafe;

use crate::{Cols, Connections, Dialect, Row, Stmt, Subject, Value, store_err};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// users

/// The `users` columns, in the order of [`User`]'s fields, as a string literal (for `concat!`
/// in a backend's own statements).
#[macro_export]
macro_rules! user_cols {
    () => {
        "id, email, hashed_password, is_active, is_verified, is_superuser, full_name, \
         phone_number, is_mfa_enabled, created_at, updated_at, last_login, \
         tokens_invalidated_after"
    };
}

/// A [`User`] from a row holding [`user_cols!`].
pub fn user_from_row<D: Dialect>(row: &Row<D>) -> StoreResult<User> {
    let r = Cols::<D>(row);
    Ok(User {
        id: r.get("id")?,
        email: r.get("email")?,
        hashed_password: r.get("hashed_password")?,
        is_active: r.get("is_active")?,
        is_verified: r.get("is_verified")?,
        is_superuser: r.get("is_superuser")?,
        full_name: r.get("full_name")?,
        phone_number: r.get("phone_number")?,
        is_mfa_enabled: r.get("is_mfa_enabled")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        last_login: r.get("last_login")?,
        tokens_invalidated_after: r.get("tokens_invalidated_after")?,
    })
}

/// `UPDATE users SET <patch>, updated_at = now WHERE id = $n RETURNING <columns>`.
fn update_user<'a, D: Dialect>(id: &'a str, patch: &'a UserPatch, now: DateTime<Utc>) -> Stmt<D> {
    let set: [(&str, Option<Value<'a>>); 11] = [
        ("email", patch.email.as_ref().map(Value::from)),
        (
            "hashed_password",
            patch.hashed_password.as_ref().map(Value::from),
        ),
        ("is_active", patch.is_active.map(Value::from)),
        ("is_verified", patch.is_verified.map(Value::from)),
        ("is_superuser", patch.is_superuser.map(Value::from)),
        ("full_name", patch.full_name.as_ref().map(Value::from)),
        ("phone_number", patch.phone_number.as_ref().map(Value::from)),
        ("is_mfa_enabled", patch.is_mfa_enabled.map(Value::from)),
        ("last_login", patch.last_login.map(Value::from)),
        (
            "tokens_invalidated_after",
            patch.tokens_invalidated_after.map(Value::from),
        ),
        ("updated_at", Some(now.into())),
    ];
    let mut sql = String::from("UPDATE users SET ");
    let mut values = Vec::with_capacity(set.len() + 1);
    for (col, value) in set {
        if let Some(value) = value {
            values.push(value);
            let sep = if values.len() > 1 { ", " } else { "" };
            let _ = write!(sql, "{sep}{col} = ${}", values.len());
        }
    }
    values.push(Value::from(id));
    let _ = write!(
        sql,
        concat!(" WHERE id = ${} RETURNING ", user_cols!()),
        values.len()
    );
    values
        .into_iter()
        .fold(Stmt::new(AssertSqlSafe(sql)), Stmt::bind)
}

/// The `users` table.
#[derive(Debug, Clone)]
pub struct Users<B> {
    b: B,
}

impl<B: Connections> Users<B> {
    /// The `users` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }

    async fn find(&self, sql: &'static str, key: &str) -> StoreResult<Option<User>> {
        Stmt::<B>::new(sql)
            .bind(key)
            .read_optional(&self.b)
            .await
            .map_err(store_err("user"))?
            .as_ref()
            .map(user_from_row::<B>)
            .transpose()
    }
}

#[async_trait]
impl<B: Connections> UserStore for Users<B> {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        let user = user.with_id(new_uuid_hex());
        Stmt::<B>::new(concat!(
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
        .write(&self.b)
        .await
        .map_err(store_err("user"))?;
        Ok(user)
    }

    async fn get_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.find(
            concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"),
            id,
        )
        .await
    }

    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.find(
            concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1"),
            email,
        )
        .await
    }

    async fn update(
        &self,
        id: &str,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        update_user::<B>(id, patch, now)
            .write_optional(&self.b)
            .await
            .map_err(store_err("user"))?
            .as_ref()
            .map(user_from_row::<B>)
            .transpose()
    }

    /// The guard is compared in Rust (a datetime written by 0.9.3 need not match the form this
    /// crate writes), inside one write transaction; where the dialect has row locks, the row
    /// stays locked (`FOR UPDATE`) from the comparison to the write.
    async fn update_guarded(
        &self,
        id: &str,
        guard: &UserGuard,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let err = store_err("user");
        let mut tx = self.b.begin(Subject::User).await.map_err(&err)?;
        let select = if B::ROW_LOCKS {
            concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE id = $1 FOR UPDATE"
            )
        } else {
            concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1")
        };
        let current = Stmt::<B>::new(select)
            .bind(id)
            .fetch_optional(&mut tx)
            .await
            .map_err(&err)?
            .as_ref()
            .map(user_from_row::<B>)
            .transpose()?;
        if !current.is_some_and(|u| guard.holds(&u)) {
            return Ok(None);
        }
        let updated = update_user::<B>(id, patch, now)
            .fetch_optional(&mut tx)
            .await
            .map_err(&err)?
            .as_ref()
            .map(user_from_row::<B>)
            .transpose()?;
        tx.commit().await.map_err(&err)?;
        Ok(updated)
    }

    async fn delete(&self, id: &str) -> StoreResult<bool> {
        let deleted = Stmt::<B>::new("DELETE FROM users WHERE id = $1")
            .bind(id)
            .write(&self.b)
            .await
            .map_err(store_err("user"))?;
        Ok(deleted > 0)
    }

    async fn count(&self) -> StoreResult<u64> {
        let row = Stmt::<B>::new("SELECT COUNT(*) AS n FROM users")
            .read_one(&self.b)
            .await
            .map_err(store_err("user"))?;
        Ok(count(Cols::<B>(&row).get("n")?))
    }

    async fn count_by_flags(&self) -> StoreResult<UserCounts> {
        let row = Stmt::<B>::new(
            "SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE is_active) AS active, \
             COUNT(*) FILTER (WHERE is_verified) AS verified, \
             COUNT(*) FILTER (WHERE is_superuser) AS superusers FROM users",
        )
        .read_one(&self.b)
        .await
        .map_err(store_err("user"))?;
        let r = Cols::<B>(&row);
        Ok(UserCounts {
            total: count(r.get("total")?),
            active: count(r.get("active")?),
            verified: count(r.get("verified")?),
            superusers: count(r.get("superusers")?),
        })
    }

    async fn list(&self, offset: u64, limit_n: u64) -> StoreResult<Vec<User>> {
        Stmt::<B>::new(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit(limit_n))
        .bind(limit(offset))
        .read_all(&self.b)
        .await
        .map_err(store_err("user"))?
        .iter()
        .map(user_from_row::<B>)
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// pending_registrations

macro_rules! pending_cols {
    () => {
        "id, email, hashed_password, full_name, token_hash, created_at, expires_at"
    };
}

fn pending_from_row<D: Dialect>(row: &Row<D>) -> StoreResult<PendingRegistration> {
    let r = Cols::<D>(row);
    Ok(PendingRegistration {
        id: r.get("id")?,
        email: r.get("email")?,
        hashed_password: r.get("hashed_password")?,
        full_name: r.get("full_name")?,
        token_hash: r.get("token_hash")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

/// The `pending_registrations` table.
#[derive(Debug, Clone)]
pub struct Pending<B> {
    b: B,
}

impl<B: Connections> Pending<B> {
    /// The `pending_registrations` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }

    async fn find(&self, sql: &'static str, key: &str) -> StoreResult<Option<PendingRegistration>> {
        Stmt::<B>::new(sql)
            .bind(key)
            .read_optional(&self.b)
            .await
            .map_err(store_err("pending registration"))?
            .as_ref()
            .map(pending_from_row::<B>)
            .transpose()
    }
}

#[async_trait]
impl<B: Connections> PendingStore for Pending<B> {
    /// Delete + insert in one write transaction (the row gets a new id, as in 0.9.3), which
    /// the backend serialises with the other upserts of the email, so concurrent upserts of
    /// one email queue up instead of failing on `pending_email_unique` (or on
    /// `pending_token_unique` when they carry the same digest).
    async fn upsert(&self, pending: NewPending) -> StoreResult<PendingRegistration> {
        let pending = pending.with_id(new_uuid_hex());
        let err = store_err("pending registration");
        let mut tx = self
            .b
            .begin(Subject::Pending(&pending.email))
            .await
            .map_err(&err)?;
        Stmt::<B>::new("DELETE FROM pending_registrations WHERE email = $1")
            .bind(&pending.email)
            .execute(&mut tx)
            .await
            .map_err(&err)?;
        Stmt::<B>::new(concat!(
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
        .execute(&mut tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(pending)
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<PendingRegistration>> {
        self.find(
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
        self.find(
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
        Stmt::<B>::new(concat!(
            "DELETE FROM pending_registrations WHERE token_hash = $1 RETURNING ",
            pending_cols!()
        ))
        .bind(token_hash)
        .write_optional(&self.b)
        .await
        .map_err(store_err("pending registration"))?
        .as_ref()
        .map(pending_from_row::<B>)
        .transpose()
    }

    async fn delete_by_email(&self, email: &str) -> StoreResult<bool> {
        let deleted = Stmt::<B>::new("DELETE FROM pending_registrations WHERE email = $1")
            .bind(email)
            .write(&self.b)
            .await
            .map_err(store_err("pending registration"))?;
        Ok(deleted > 0)
    }

    async fn count_unexpired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let row =
            Stmt::<B>::new("SELECT COUNT(*) AS n FROM pending_registrations WHERE expires_at > $1")
                .bind(now)
                .read_one(&self.b)
                .await
                .map_err(store_err("pending registration"))?;
        Ok(count(Cols::<B>(&row).get("n")?))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM pending_registrations WHERE expires_at < $1")
            .bind(now)
            .write(&self.b)
            .await
            .map_err(store_err("pending registration"))
    }
}

// ---------------------------------------------------------------------------------------------
// token_blacklist

/// The `token_blacklist` table.
#[derive(Debug, Clone)]
pub struct Revocations<B> {
    b: B,
}

impl<B: Connections> Revocations<B> {
    /// The `token_blacklist` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }
}

#[async_trait]
impl<B: Connections> RevocationStore for Revocations<B> {
    async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool> {
        let inserted = Stmt::<B>::new(
            "INSERT INTO token_blacklist (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(exp)
        .write(&self.b)
        .await
        .map_err(store_err("revoked token"))?;
        Ok(inserted == 1)
    }

    async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = Stmt::<B>::new(
            "SELECT EXISTS (SELECT 1 FROM token_blacklist WHERE jti = $1) AS revoked",
        )
        .bind(jti)
        .read_one(&self.b)
        .await
        .map_err(store_err("revoked token"))?;
        Cols::<B>(&row).get("revoked")
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM token_blacklist WHERE exp < $1")
            .bind(now)
            .write(&self.b)
            .await
            .map_err(store_err("revoked token"))
    }
}

// ---------------------------------------------------------------------------------------------
// login_attempts

const FAILURES_SINCE: &str =
    r#"SELECT "when" FROM login_attempts WHERE email = $1 AND "when" >= $2 ORDER BY "when", id"#;

fn failure_times<D: Dialect>(rows: &[Row<D>]) -> StoreResult<Vec<DateTime<Utc>>> {
    rows.iter().map(|row| Cols::<D>(row).get("when")).collect()
}

/// The `login_attempts` table.
#[derive(Debug, Clone)]
pub struct LoginAttempts<B> {
    b: B,
}

impl<B: Connections> LoginAttempts<B> {
    /// The `login_attempts` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }
}

#[async_trait]
impl<B: Connections> LoginAttemptStore for LoginAttempts<B> {
    async fn record(&self, email: &str, when: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()> {
        Stmt::<B>::new(r#"INSERT INTO login_attempts (email, "when", ip) VALUES ($1, $2, $3)"#)
            .bind(email)
            .bind(when)
            .bind(ip)
            .write(&self.b)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(())
    }

    /// Count and insert in one write transaction that the backend serialises with the other
    /// admissions of the email: none counts before another's insert.
    async fn admit(
        &self,
        email: &str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&str>,
    ) -> StoreResult<Admission> {
        let err = store_err("login attempt");
        let mut tx = self.b.begin(Subject::Lockout(email)).await.map_err(&err)?;
        let rows = Stmt::<B>::new(FAILURES_SINCE)
            .bind(email)
            .bind(since)
            .fetch_all(&mut tx)
            .await
            .map_err(&err)?;
        if rows.len() as u64 >= limit {
            return Ok(Admission::Refused {
                failures: failure_times::<B>(&rows)?,
            });
        }
        let row = Stmt::<B>::new(
            r#"INSERT INTO login_attempts (email, "when", ip) VALUES ($1, $2, $3) RETURNING CAST(id AS BIGINT) AS id"#,
        )
        .bind(email)
        .bind(when)
        .bind(ip)
        .fetch_one(&mut tx)
        .await
        .map_err(&err)?;
        let id: i64 = Cols::<B>(&row).get("id")?;
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
        let deleted = Stmt::<B>::new("DELETE FROM login_attempts WHERE id = $1 AND email = $2")
            .bind(id)
            .bind(email)
            .write(&self.b)
            .await
            .map_err(store_err("login attempt"))?;
        Ok(deleted > 0)
    }

    async fn failures_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let rows = Stmt::<B>::new(FAILURES_SINCE)
            .bind(email)
            .bind(since)
            .read_all(&self.b)
            .await
            .map_err(store_err("login attempt"))?;
        failure_times::<B>(&rows)
    }

    async fn clear(&self, email: &str) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM login_attempts WHERE email = $1")
            .bind(email)
            .write(&self.b)
            .await
            .map_err(store_err("login attempt"))
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Stmt::<B>::new(r#"DELETE FROM login_attempts WHERE "when" < $1"#)
            .bind(before)
            .write(&self.b)
            .await
            .map_err(store_err("login attempt"))
    }
}

// ---------------------------------------------------------------------------------------------
// mfa_codes

macro_rules! mfa_cols {
    () => {
        "user_id, kind, code_hash, expires_at, attempts, max_attempts, created_at"
    };
}

fn mfa_from_row<D: Dialect>(row: &Row<D>) -> StoreResult<MfaCode> {
    let r = Cols::<D>(row);
    let kind: String = r.get("kind")?;
    Ok(MfaCode {
        user_id: r.get("user_id")?,
        kind: MfaKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("column kind: unknown mfa kind {kind:?}"))
        })?,
        code_hash: r.get("code_hash")?,
        expires_at: r.get("expires_at")?,
        attempts: r.get("attempts")?,
        max_attempts: r.get("max_attempts")?,
        created_at: r.get("created_at")?,
    })
}

fn insert_mfa<D: Dialect>(sql: &'static str, code: &MfaCode) -> Stmt<D> {
    Stmt::new(sql)
        .bind(&code.user_id)
        .bind(code.kind.as_str())
        .bind(&code.code_hash)
        .bind(code.expires_at)
        .bind(code.attempts)
        .bind(code.max_attempts)
        .bind(code.created_at)
}

/// The `mfa_codes` table.
#[derive(Debug, Clone)]
pub struct MfaCodes<B> {
    b: B,
}

impl<B: Connections> MfaCodes<B> {
    /// The `mfa_codes` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }
}

#[async_trait]
impl<B: Connections> MfaCodeStore for MfaCodes<B> {
    /// The row 0.9.3's delete + insert leaves: where [`Dialect::UPSERT_RENEWS_ID`], one
    /// `INSERT … ON CONFLICT (user_id, kind) DO UPDATE` that overwrites every column, the
    /// serial `id` included, without a window for a concurrent `put` to fail; elsewhere delete
    /// + insert in one write transaction.
    async fn put(&self, code: MfaCode) -> StoreResult<()> {
        let err = store_err("mfa code");
        if B::UPSERT_RENEWS_ID {
            insert_mfa::<B>(
                concat!(
                    "INSERT INTO mfa_codes (",
                    mfa_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (user_id, kind) DO UPDATE SET id = EXCLUDED.id, \
                     code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, \
                     attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts, \
                     created_at = EXCLUDED.created_at"
                ),
                &code,
            )
            .write(&self.b)
            .await
            .map_err(&err)?;
            return Ok(());
        }
        let mut tx = self.b.begin(Subject::MfaCode).await.map_err(&err)?;
        Stmt::<B>::new("DELETE FROM mfa_codes WHERE user_id = $1 AND kind = $2")
            .bind(&code.user_id)
            .bind(code.kind.as_str())
            .execute(&mut tx)
            .await
            .map_err(&err)?;
        insert_mfa::<B>(
            concat!(
                "INSERT INTO mfa_codes (",
                mfa_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &code,
        )
        .execute(&mut tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn get(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<MfaCode>> {
        Stmt::<B>::new(concat!(
            "SELECT ",
            mfa_cols!(),
            " FROM mfa_codes WHERE user_id = $1 AND kind = $2"
        ))
        .bind(user_id)
        .bind(kind.as_str())
        .read_optional(&self.b)
        .await
        .map_err(store_err("mfa code"))?
        .as_ref()
        .map(mfa_from_row::<B>)
        .transpose()
    }

    async fn increment_attempts(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<i32>> {
        Stmt::<B>::new(
            "UPDATE mfa_codes SET attempts = attempts + 1 WHERE user_id = $1 AND kind = $2 \
             RETURNING attempts",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .write_optional(&self.b)
        .await
        .map_err(store_err("mfa code"))?
        .map(|row| Cols::<B>(&row).get("attempts"))
        .transpose()
    }

    async fn delete(&self, user_id: &str, kind: MfaKind) -> StoreResult<bool> {
        let deleted = Stmt::<B>::new("DELETE FROM mfa_codes WHERE user_id = $1 AND kind = $2")
            .bind(user_id)
            .bind(kind.as_str())
            .write(&self.b)
            .await
            .map_err(store_err("mfa code"))?;
        Ok(deleted > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM mfa_codes WHERE user_id = $1")
            .bind(user_id)
            .write(&self.b)
            .await
            .map_err(store_err("mfa code"))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM mfa_codes WHERE expires_at < $1")
            .bind(now)
            .write(&self.b)
            .await
            .map_err(store_err("mfa code"))
    }
}

// ---------------------------------------------------------------------------------------------
// oauth_identities

macro_rules! identity_cols {
    () => {
        "id, user_id, provider, subject_id, email, linked_at, last_used_at"
    };
}

fn identity_from_row<D: Dialect>(row: &Row<D>) -> StoreResult<OAuthIdentity> {
    let r = Cols::<D>(row);
    Ok(OAuthIdentity {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        provider: r.get("provider")?,
        subject_id: r.get("subject_id")?,
        email: r.get("email")?,
        linked_at: r.get("linked_at")?,
        last_used_at: r.get("last_used_at")?,
    })
}

/// The `oauth_identities` table.
#[derive(Debug, Clone)]
pub struct OAuthIdentities<B> {
    b: B,
}

impl<B: Connections> OAuthIdentities<B> {
    /// The `oauth_identities` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }
}

#[async_trait]
impl<B: Connections> OAuthIdentityStore for OAuthIdentities<B> {
    async fn create(&self, identity: NewOAuthIdentity) -> StoreResult<OAuthIdentity> {
        let identity = identity.with_id(new_uuid_hex());
        Stmt::<B>::new(concat!(
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
        .write(&self.b)
        .await
        .map_err(store_err("oauth identity"))?;
        Ok(identity)
    }

    async fn find(&self, provider: &str, subject_id: &str) -> StoreResult<Option<OAuthIdentity>> {
        Stmt::<B>::new(concat!(
            "SELECT ",
            identity_cols!(),
            " FROM oauth_identities WHERE provider = $1 AND subject_id = $2"
        ))
        .bind(provider)
        .bind(subject_id)
        .read_optional(&self.b)
        .await
        .map_err(store_err("oauth identity"))?
        .as_ref()
        .map(identity_from_row::<B>)
        .transpose()
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<OAuthIdentity>> {
        Stmt::<B>::new(concat!(
            "SELECT ",
            identity_cols!(),
            " FROM oauth_identities WHERE user_id = $1 ORDER BY linked_at, id"
        ))
        .bind(user_id)
        .read_all(&self.b)
        .await
        .map_err(store_err("oauth identity"))?
        .iter()
        .map(identity_from_row::<B>)
        .collect()
    }

    async fn delete(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let deleted =
            Stmt::<B>::new("DELETE FROM oauth_identities WHERE user_id = $1 AND provider = $2")
                .bind(user_id)
                .bind(provider)
                .write(&self.b)
                .await
                .map_err(store_err("oauth identity"))?;
        Ok(deleted > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM oauth_identities WHERE user_id = $1")
            .bind(user_id)
            .write(&self.b)
            .await
            .map_err(store_err("oauth identity"))
    }

    async fn touch_last_used(&self, id: &str, when: DateTime<Utc>) -> StoreResult<()> {
        Stmt::<B>::new("UPDATE oauth_identities SET last_used_at = $1 WHERE id = $2")
            .bind(when)
            .bind(id)
            .write(&self.b)
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

fn state_from_row<D: Dialect>(row: &Row<D>) -> StoreResult<OAuthState> {
    let r = Cols::<D>(row);
    Ok(OAuthState {
        id: r.get("id")?,
        provider: r.get("provider")?,
        code_verifier: r.get("code_verifier")?,
        nonce: r.get("nonce")?,
        redirect_to: r.get("redirect_to")?,
        mode: r.get("mode")?,
        linking_user_id: r.get("linking_user_id")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        result_token: r.get("result_token")?,
        result_was_new: r.get("result_was_new")?,
    })
}

/// The `oauth_states` table.
#[derive(Debug, Clone)]
pub struct OAuthStates<B> {
    b: B,
}

impl<B: Connections> OAuthStates<B> {
    /// The `oauth_states` table of `backend`.
    pub fn new(backend: B) -> Self {
        Self { b: backend }
    }
}

#[async_trait]
impl<B: Connections> OAuthStateStore for OAuthStates<B> {
    async fn create(&self, state: OAuthState) -> StoreResult<()> {
        Stmt::<B>::new(concat!(
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
        .write(&self.b)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        Stmt::<B>::new(concat!(
            "SELECT ",
            state_cols!(),
            " FROM oauth_states WHERE id = $1"
        ))
        .bind(id)
        .read_optional(&self.b)
        .await
        .map_err(store_err("oauth state"))?
        .as_ref()
        .map(state_from_row::<B>)
        .transpose()
    }

    async fn set_result(
        &self,
        id: &str,
        token: &str,
        was_new: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let updated = Stmt::<B>::new(
            "UPDATE oauth_states SET result_token = $1, result_was_new = $2, \
             expires_at = COALESCE($3, expires_at) WHERE id = $4",
        )
        .bind(token)
        .bind(was_new)
        .bind(expires_at)
        .bind(id)
        .write(&self.b)
        .await
        .map_err(store_err("oauth state"))?;
        Ok(updated > 0)
    }

    async fn consume(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        Stmt::<B>::new(concat!(
            "DELETE FROM oauth_states WHERE id = $1 RETURNING ",
            state_cols!()
        ))
        .bind(id)
        .write_optional(&self.b)
        .await
        .map_err(store_err("oauth state"))?
        .as_ref()
        .map(state_from_row::<B>)
        .transpose()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Stmt::<B>::new("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now)
            .write(&self.b)
            .await
            .map_err(store_err("oauth state"))
    }
}
