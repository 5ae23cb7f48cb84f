//! The storage contract: one trait per repository, bundled in [`Stores`].
//!
//! Every backend crate (`regstack-store-sqlite`, `-pg`, `-mongo`) implements these traits and
//! passes the shared conformance suite in `regstack-store-tests`. A host can replace any one
//! repository with its own implementation and keep the rest.
//!
//! Atomicity is part of the contract: [`PendingStore::consume_by_token_hash`],
//! [`RevocationStore::revoke`] and [`OAuthStateStore::consume`] must let exactly one of many
//! concurrent callers win.
//!
//! Stores know no clock: every method that needs "now" takes it as an argument.
//!
//! # A custom store
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use async_trait::async_trait;
//! use chrono::{DateTime, Utc};
//! use regstack_core::store::{RevocationStore, StoreResult};
//!
//! #[derive(Debug, Default)]
//! struct MemoryRevocations(Mutex<HashMap<String, DateTime<Utc>>>);
//!
//! #[async_trait]
//! impl RevocationStore for MemoryRevocations {
//!     async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool> {
//!         Ok(self.0.lock().unwrap().insert(jti.to_owned(), exp).is_none())
//!     }
//!     async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
//!         Ok(self.0.lock().unwrap().contains_key(jti))
//!     }
//!     async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
//!         let mut map = self.0.lock().unwrap();
//!         let before = map.len();
//!         map.retain(|_, exp| *exp >= now);
//!         Ok((before - map.len()) as u64)
//!     }
//! }
//! ```

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthIdentity, OAuthState,
    PendingRegistration, User, UserGuard, UserPatch,
};

/// Boxed error source kept by [`StoreError::Backend`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias of the store traits.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// What can go wrong in a store.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (duplicate email, duplicate identity, ...).
    #[error("conflict: {0} already exists")]
    Conflict(&'static str),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The schema is missing, older than this build expects, or at an unknown (newer) revision.
    #[error("schema error: {0}")]
    Schema(String),
    /// The database driver failed.
    #[error("database error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wrap a driver error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }

    /// Whether this is a unique-constraint conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// Counts of users by flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserCounts {
    pub total: u64,
    pub active: u64,
    pub verified: u64,
    pub superusers: u64,
}

/// The `users` repository.
#[async_trait]
pub trait UserStore: Debug + Send + Sync + 'static {
    /// Insert a user; a duplicate email is [`StoreError::Conflict`].
    async fn create(&self, user: NewUser) -> StoreResult<User>;
    /// Look a user up by id; an id in a foreign format is simply not found.
    async fn get_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// Look a user up by exact email.
    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Apply `patch` and set `updated_at = now`; returns the stored row after the update, or
    /// `None` when no such user exists. A duplicate email is [`StoreError::Conflict`].
    async fn update(
        &self,
        id: &str,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// [`UserStore::update`], applied only while the row still holds the password hash and
    /// bulk-revocation cutoff of `guard` (one atomic compare-and-set). `None` when no such user
    /// exists or either value changed since the guard was taken: a password change, reset or
    /// revocation that committed in between wins.
    async fn update_guarded(
        &self,
        id: &str,
        guard: &UserGuard,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Delete a user; `true` when a row was deleted.
    async fn delete(&self, id: &str) -> StoreResult<bool>;
    /// Number of users.
    async fn count(&self) -> StoreResult<u64>;
    /// Users newest first (`created_at` descending, then id descending), for listings.
    async fn list(&self, offset: u64, limit: u64) -> StoreResult<Vec<User>>;
    /// Numbers of users in all, active, verified and superusers.
    async fn count_by_flags(&self) -> StoreResult<UserCounts>;
}

/// The `pending_registrations` repository.
#[async_trait]
pub trait PendingStore: Debug + Send + Sync + 'static {
    /// Replace any pending row for this email or insert one. SQL backends give the new row a
    /// new id; MongoDB keeps the document's `_id` (as 0.9.3 does). A `token_hash` held by
    /// another email is [`StoreError::Conflict`].
    async fn upsert(&self, pending: NewPending) -> StoreResult<PendingRegistration>;
    /// Look up by exact email.
    async fn find_by_email(&self, email: &str) -> StoreResult<Option<PendingRegistration>>;
    /// Look up by token digest.
    async fn find_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>>;
    /// Atomically delete and return the row with this token digest: of many concurrent
    /// callers exactly one gets `Some`.
    async fn consume_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>>;
    /// Delete the row for this email; `true` when one was deleted.
    async fn delete_by_email(&self, email: &str) -> StoreResult<bool>;
    /// Rows with `expires_at > now`.
    async fn count_unexpired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Delete rows with `expires_at < now`.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The `token_blacklist` repository (per-token revocation by `jti`).
#[async_trait]
pub trait RevocationStore: Debug + Send + Sync + 'static {
    /// Revoke `jti` until `exp`. Idempotent; returns `true` only for the call that inserted
    /// the row, so of many concurrent callers exactly one gets `true`.
    async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool>;
    /// Whether `jti` is revoked (regardless of its expiry).
    async fn is_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Delete rows with `exp < now`.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The answer of [`LoginAttemptStore::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A failure was recorded in advance: it counts as one until [`LoginAttemptStore::release`]
    /// takes it back (the password turned out right) or the window passes.
    Admitted {
        /// Names the recorded failure for [`LoginAttemptStore::release`].
        ticket: String,
        /// Failures in the window, this one included.
        failures: u64,
    },
    /// The limit was reached: nothing was recorded.
    Refused {
        /// The failures in the window, oldest first (at least `limit` of them).
        failures: Vec<DateTime<Utc>>,
    },
}

/// The `login_attempts` repository (failed logins, shared by every server process).
#[async_trait]
pub trait LoginAttemptStore: Debug + Send + Sync + 'static {
    /// Record one failure.
    async fn record(&self, email: &str, when: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()>;
    /// The lockout's check and count as one atomic operation: when fewer than `limit` failures
    /// of `email` have `when >= since`, record one at `when` and admit the attempt; otherwise
    /// record nothing and refuse. However many callers (in however many processes) race, at most
    /// `limit` are admitted per window: this is what stops a parallel burst of guesses.
    async fn admit(
        &self,
        email: &str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&str>,
    ) -> StoreResult<Admission>;
    /// Take back the failure recorded by an admission; `true` when it was still there.
    async fn release(&self, email: &str, ticket: &str) -> StoreResult<bool>;
    /// Times of the failures for `email` with `when >= since`, oldest first.
    async fn failures_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>>;
    /// Delete every failure for `email`.
    async fn clear(&self, email: &str) -> StoreResult<u64>;
    /// Delete failures with `when < before`.
    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// The `mfa_codes` repository.
#[async_trait]
pub trait MfaCodeStore: Debug + Send + Sync + 'static {
    /// Replace the `(user_id, kind)` row or insert it.
    async fn put(&self, code: MfaCode) -> StoreResult<()>;
    /// The `(user_id, kind)` row.
    async fn get(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<MfaCode>>;
    /// Atomically add one wrong guess; returns the new attempt count, `None` when no row.
    async fn increment_attempts(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<i32>>;
    /// Atomically delete the row; `true` for the one caller that deleted it.
    async fn delete(&self, user_id: &str, kind: MfaKind) -> StoreResult<bool>;
    /// Delete every code of a user.
    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64>;
    /// Delete rows with `expires_at < now`.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The `oauth_identities` repository.
#[async_trait]
pub trait OAuthIdentityStore: Debug + Send + Sync + 'static {
    /// Insert; either uniqueness clash is [`StoreError::Conflict`].
    async fn create(&self, identity: NewOAuthIdentity) -> StoreResult<OAuthIdentity>;
    /// Look up by `(provider, subject_id)`.
    async fn find(&self, provider: &str, subject_id: &str) -> StoreResult<Option<OAuthIdentity>>;
    /// A user's identities ordered by `linked_at`.
    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<OAuthIdentity>>;
    /// Delete the user's identity for `provider`.
    async fn delete(&self, user_id: &str, provider: &str) -> StoreResult<bool>;
    /// Delete every identity of a user.
    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64>;
    /// Set `last_used_at` (a missing id is not an error).
    async fn touch_last_used(&self, id: &str, when: DateTime<Utc>) -> StoreResult<()>;
}

/// The `oauth_states` repository.
#[async_trait]
pub trait OAuthStateStore: Debug + Send + Sync + 'static {
    /// Insert a new state row; a duplicate id is [`StoreError::Conflict`].
    async fn create(&self, state: OAuthState) -> StoreResult<()>;
    /// Look up by id.
    async fn get(&self, id: &str) -> StoreResult<Option<OAuthState>>;
    /// Record the callback's result; `expires_at` optionally shortened. `false` when no such row.
    async fn set_result(
        &self,
        id: &str,
        token: &str,
        was_new: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Atomically read and delete.
    async fn consume(&self, id: &str) -> StoreResult<Option<OAuthState>>;
    /// Delete rows with `expires_at < now`.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// What bearer authentication asks of the store for one request: whether the token's `jti`
/// is revoked, and the user row it names.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLookup {
    /// The `jti` is in the revocation store.
    pub revoked: bool,
    /// The user with the token's `sub` as id. May be `None` when `revoked` is true even though
    /// the user exists (the separate path stops at the revocation).
    pub user: Option<User>,
}

/// One look-up answering both questions of [`SessionLookup`], for backends whose users and
/// revocations live in one database (a SQL join instead of two round trips: every
/// authenticated request asks it, `docs/benchmarks.md`).
///
/// It is optional: [`Stores::session`] uses it only while [`SessionStore::serves`] says it
/// reads the very `users` and `revocations` repositories in the [`Stores`]. A host that replaces
/// either one therefore never gets answers from tables it no longer uses; it falls back to
/// asking the two repositories.
#[async_trait]
pub trait SessionStore: Debug + Send + Sync + 'static {
    /// Whether this look-up reads exactly these two repositories (compare with
    /// [`same_store`]).
    fn serves(&self, users: &Arc<dyn UserStore>, revocations: &Arc<dyn RevocationStore>) -> bool;
    /// Whether `jti` is revoked, and the user `user_id` (a foreign id format is not found).
    async fn lookup(&self, jti: &str, user_id: &str) -> StoreResult<SessionLookup>;
}

/// A [`SessionStore`] that answers through a [`Batcher`](crate::batch::Batcher): the
/// backend supplies the query for a batch of `(jti, user id)` pairs (answers in the same
/// order), this type does the rest. The SQL backends use it.
#[derive(Debug, Clone)]
pub struct BatchedSessions {
    users: Arc<dyn UserStore>,
    revocations: Arc<dyn RevocationStore>,
    batcher: crate::batch::Batcher<(String, String), SessionLookup>,
}

impl BatchedSessions {
    /// Queries in flight at once. One: a second batch in flight takes requests the first could
    /// have answered in the same round trip; measured with 1 to 4 on SQLite and PostgreSQL, one
    /// gave the most look-ups per second (`docs/benchmarks.md`).
    pub const BATCHES: usize = 1;
    /// Most pairs answered by one query.
    pub const MAX_BATCH: usize = 64;

    /// Look-ups for the `users` and `revocations` objects given (the ones put in the
    /// [`Stores`]), [`Self::BATCHES`] queries in flight, each for at most [`Self::MAX_BATCH`]
    /// pairs.
    pub fn new(
        users: Arc<dyn UserStore>,
        revocations: Arc<dyn RevocationStore>,
        query: impl Fn(
            Vec<(String, String)>,
        ) -> futures::future::BoxFuture<'static, StoreResult<Vec<SessionLookup>>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            users,
            revocations,
            batcher: crate::batch::Batcher::new(Self::BATCHES, Self::MAX_BATCH, query),
        }
    }
}

#[async_trait]
impl SessionStore for BatchedSessions {
    fn serves(&self, users: &Arc<dyn UserStore>, revocations: &Arc<dyn RevocationStore>) -> bool {
        same_store(&self.users, users) && same_store(&self.revocations, revocations)
    }

    async fn lookup(&self, jti: &str, user_id: &str) -> StoreResult<SessionLookup> {
        self.batcher
            .load((jti.to_owned(), user_id.to_owned()))
            .await
    }
}

/// Whether two trait objects are the same object (data pointers compared, vtables ignored).
pub fn same_store<T: ?Sized>(a: &Arc<T>, b: &Arc<T>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// Every repository regstack uses, as shareable trait objects.
///
/// Replace a repository by assigning its field; `sessions` is then ignored where it no longer
/// matches (see [`SessionStore`]).
#[derive(Debug, Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub pending: Arc<dyn PendingStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub login_attempts: Arc<dyn LoginAttemptStore>,
    pub mfa_codes: Arc<dyn MfaCodeStore>,
    pub oauth_identities: Arc<dyn OAuthIdentityStore>,
    pub oauth_states: Arc<dyn OAuthStateStore>,
    /// The combined look-up of bearer authentication, when the backend has one.
    pub sessions: Option<Arc<dyn SessionStore>>,
}

/// Counts of rows removed by [`Stores::purge_expired`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub pending: u64,
    pub revocations: u64,
    pub login_attempts: u64,
    pub mfa_codes: u64,
    pub oauth_states: u64,
}

impl Stores {
    /// What bearer authentication needs: one query through [`Stores::sessions`] when it serves
    /// these repositories, otherwise the revocation look-up and then the user look-up.
    pub async fn session(&self, jti: &str, user_id: &str) -> StoreResult<SessionLookup> {
        if let Some(sessions) = &self.sessions
            && sessions.serves(&self.users, &self.revocations)
        {
            return sessions.lookup(jti, user_id).await;
        }
        if self.revocations.is_revoked(jti).await? {
            return Ok(SessionLookup {
                revoked: true,
                user: None,
            });
        }
        Ok(SessionLookup {
            revoked: false,
            user: self.users.get_by_id(user_id).await?,
        })
    }

    /// Delete expired rows everywhere (regstack 0.9.3's data model).
    pub async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        lockout_window: chrono::Duration,
    ) -> StoreResult<PurgeReport> {
        Ok(PurgeReport {
            pending: self.pending.purge_expired(now).await?,
            revocations: self.revocations.purge_expired(now).await?,
            login_attempts: self
                .login_attempts
                .purge_before(now - lockout_window)
                .await?,
            mfa_codes: self.mfa_codes.purge_expired(now).await?,
            oauth_states: self.oauth_states.purge_expired(now).await?,
        })
    }
}

/// Where the schema of a database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The revision found (`None` for an empty database).
    pub current: Option<String>,
    /// The revision this build brings a database to.
    pub head: String,
}

impl SchemaStatus {
    /// Whether the database is at head.
    pub fn is_at_head(&self) -> bool {
        self.current.as_deref() == Some(self.head.as_str())
    }
}

/// A storage backend: the repositories plus lifecycle.
#[async_trait]
pub trait Backend: Debug + Send + Sync + 'static {
    /// Short name (`sqlite`, `postgres`, `mongo`).
    fn name(&self) -> &'static str;
    /// The repositories of this backend.
    fn stores(&self) -> Stores;
    /// Bring the schema to head (idempotent).
    async fn install_schema(&self) -> StoreResult<()>;
    /// The schema revision found and expected.
    async fn schema_status(&self) -> StoreResult<SchemaStatus>;
    /// Cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Close connection pools.
    async fn close(&self);
}

impl<B: Backend> From<&B> for Stores {
    fn from(b: &B) -> Self {
        b.stores()
    }
}
