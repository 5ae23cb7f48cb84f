//! Bearer authentication's look-up: `token_blacklist` and `users` in one query, and the
//! look-ups of concurrent requests in one query too: a round trip to a reader connection's
//! worker thread costs more than the query (`docs/benchmarks.md`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use regstack_core::batch::InKeyOrder;
use regstack_core::domain::User;
use regstack_core::store::{
    BatchedSessions, RevocationStore, SessionLookup, StoreError, StoreResult, UserStore,
};

use crate::Pools;
use crate::dialect::parse_dt;
use crate::error::store_err;

/// The batched look-up for `users` and `revocations` (the repositories put in the `Stores`).
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
        out.put(row.index, row.into_lookup()?)?;
    }
    out.finish()
}

/// One answer of [`lookup_sessions`], read from its JSON array in this order: the key's index,
/// whether the `jti` is revoked, then the user columns (all null when there is no such user).
#[derive(serde::Deserialize)]
struct SessionRow {
    index: usize,
    revoked: i64,
    id: Option<String>,
    email: Option<String>,
    hashed_password: Option<String>,
    is_active: Option<i64>,
    is_verified: Option<i64>,
    is_superuser: Option<i64>,
    full_name: Option<String>,
    phone_number: Option<String>,
    is_mfa_enabled: Option<i64>,
    created_at: Option<String>,
    updated_at: Option<String>,
    last_login: Option<String>,
    tokens_invalidated_after: Option<String>,
}

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
        let user = match self.id {
            None => None,
            Some(id) => Some(User {
                id,
                email: text(self.email, "email")?,
                hashed_password: self.hashed_password,
                is_active: flag(self.is_active, "is_active")?,
                is_verified: flag(self.is_verified, "is_verified")?,
                is_superuser: flag(self.is_superuser, "is_superuser")?,
                full_name: self.full_name,
                phone_number: self.phone_number,
                is_mfa_enabled: flag(self.is_mfa_enabled, "is_mfa_enabled")?,
                created_at: parse_dt(&text(self.created_at, "created_at")?, "created_at")?,
                updated_at: parse_dt(&text(self.updated_at, "updated_at")?, "updated_at")?,
                last_login: dt(self.last_login, "last_login")?,
                tokens_invalidated_after: dt(
                    self.tokens_invalidated_after,
                    "tokens_invalidated_after",
                )?,
            }),
        };
        Ok(SessionLookup {
            revoked: self.revoked != 0,
            user,
        })
    }
}
