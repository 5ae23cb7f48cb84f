//! The seven repositories on MongoDB (regstack 0.9.3's data model).
//!
//! Every atomic operation of the contract is a single server-side operation:
//! `findOneAndDelete` for consuming a pending registration or an OAuth state, an insert guarded
//! by the unique `jti` index for a revocation, `findOneAndUpdate` with `$inc` for a wrong MFA
//! guess, `deleteOne` for deleting an MFA code.

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use mongodb::Collection;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use regstack_core::domain::{
    MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthIdentity, OAuthState,
    PendingRegistration, User, UserGuard, UserPatch,
};
use regstack_core::store::{
    Admission, LoginAttemptStore, MfaCodeStore, OAuthIdentityStore, OAuthStateStore, PendingStore,
    RevocationStore, StoreError, StoreResult, UserCounts, UserStore,
};

use crate::error::{is_duplicate_key, store_err};
use crate::fields::{Fields, date, date_up, millis, object_id, or_null, put_opt};

/// How often an upsert is tried when concurrent upserts of the same key race to insert (the
/// loser of that race gets a duplicate-key error and, on the next try, replaces the winner's
/// document).
const UPSERT_ATTEMPTS: usize = 3;

/// Run an upsert, retrying it when it fails with a duplicate-key error: a concurrent upsert of
/// the same key inserted first. A duplicate key that persists (a clash on another unique
/// field) is [`StoreError::Conflict`].
async fn upsert_with_retry<T, F, Fut>(what: &'static str, op: F) -> StoreResult<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = mongodb::error::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if is_duplicate_key(&e) && attempt < UPSERT_ATTEMPTS => attempt += 1,
            done => return done.map_err(store_err(what)),
        }
    }
}

/// Collect a cursor of documents and decode each.
async fn collect<T>(
    cursor: mongodb::error::Result<mongodb::Cursor<Document>>,
    what: &'static str,
    decode: impl Fn(&Document) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let docs: Vec<Document> = cursor
        .map_err(store_err(what))?
        .try_collect()
        .await
        .map_err(store_err(what))?;
    docs.iter().map(decode).collect()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// users

const USER: &str = "user";

fn user_from_doc(doc: &Document) -> StoreResult<User> {
    let f = Fields::new(doc, USER);
    Ok(User {
        id: f.id()?,
        email: f.string("email")?,
        hashed_password: f.opt_string("hashed_password")?,
        is_active: f.bool_or("is_active", true)?,
        is_verified: f.bool_or("is_verified", false)?,
        is_superuser: f.bool_or("is_superuser", false)?,
        full_name: f.opt_string("full_name")?,
        phone_number: f.opt_string("phone_number")?,
        is_mfa_enabled: f.bool_or("is_mfa_enabled", false)?,
        created_at: f.date("created_at")?,
        updated_at: f.date("updated_at")?,
        last_login: f.opt_date("last_login")?,
        tokens_invalidated_after: f.opt_date("tokens_invalidated_after")?,
    })
}

/// The `$set` document of a patch: only the patched fields (cleared ones as explicit `null`)
/// plus `updated_at`, so host-defined fields of the document are left alone.
fn user_set(patch: &UserPatch, now: DateTime<Utc>) -> Document {
    let mut set = Document::new();
    if let Some(v) = &patch.email {
        set.insert("email", v.as_str());
    }
    if let Some(v) = &patch.hashed_password {
        set.insert("hashed_password", or_null(v.as_deref()));
    }
    if let Some(v) = patch.is_active {
        set.insert("is_active", v);
    }
    if let Some(v) = patch.is_verified {
        set.insert("is_verified", v);
    }
    if let Some(v) = patch.is_superuser {
        set.insert("is_superuser", v);
    }
    if let Some(v) = &patch.full_name {
        set.insert("full_name", or_null(v.as_deref()));
    }
    if let Some(v) = &patch.phone_number {
        set.insert("phone_number", or_null(v.as_deref()));
    }
    if let Some(v) = patch.is_mfa_enabled {
        set.insert("is_mfa_enabled", v);
    }
    if let Some(v) = patch.last_login {
        set.insert("last_login", or_null(v.map(date)));
    }
    if let Some(v) = patch.tokens_invalidated_after {
        set.insert("tokens_invalidated_after", or_null(v.map(date_up)));
    }
    set.insert("updated_at", date(now));
    set
}

/// The users collection. Documents may carry extra host-defined fields: reads ignore them,
/// updates touch only the patched fields.
#[derive(Debug, Clone)]
pub struct MongoUsers {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl UserStore for MongoUsers {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        let id = ObjectId::new();
        let mut doc = doc! {
            "_id": id,
            "email": user.email.as_str(),
            "is_active": user.is_active,
            "is_verified": user.is_verified,
            "is_superuser": user.is_superuser,
            "is_mfa_enabled": user.is_mfa_enabled,
            "created_at": date(user.created_at),
            "updated_at": date(user.updated_at),
        };
        put_opt(&mut doc, "hashed_password", user.hashed_password.as_deref());
        put_opt(&mut doc, "full_name", user.full_name.as_deref());
        put_opt(&mut doc, "phone_number", user.phone_number.as_deref());
        put_opt(&mut doc, "last_login", user.last_login.map(date));
        put_opt(
            &mut doc,
            "tokens_invalidated_after",
            user.tokens_invalidated_after.map(date),
        );
        self.coll.insert_one(doc).await.map_err(store_err(USER))?;
        let mut user = user.with_id(id.to_hex());
        user.created_at = millis(user.created_at);
        user.updated_at = millis(user.updated_at);
        user.last_login = user.last_login.map(millis);
        user.tokens_invalidated_after = user.tokens_invalidated_after.map(millis);
        Ok(user)
    }

    async fn get_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let Some(oid) = object_id(id) else {
            return Ok(None);
        };
        self.coll
            .find_one(doc! { "_id": oid })
            .await
            .map_err(store_err(USER))?
            .as_ref()
            .map(user_from_doc)
            .transpose()
    }

    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.coll
            .find_one(doc! { "email": email })
            .await
            .map_err(store_err(USER))?
            .as_ref()
            .map(user_from_doc)
            .transpose()
    }

    async fn update(
        &self,
        id: &str,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let Some(oid) = object_id(id) else {
            return Ok(None);
        };
        self.coll
            .find_one_and_update(doc! { "_id": oid }, doc! { "$set": user_set(patch, now) })
            .return_document(ReturnDocument::After)
            .await
            .map_err(store_err(USER))?
            .as_ref()
            .map(user_from_doc)
            .transpose()
    }

    async fn update_guarded(
        &self,
        id: &str,
        guard: &UserGuard,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let Some(oid) = object_id(id) else {
            return Ok(None);
        };
        // Compare in Rust (the stored values may be in any type 0.9.3 wrote), then make the
        // write conditional on those very values: a change in between makes it match nothing.
        let Some(current) = self
            .coll
            .find_one(doc! { "_id": oid })
            .await
            .map_err(store_err(USER))?
        else {
            return Ok(None);
        };
        if !guard.holds(&user_from_doc(&current)?) {
            return Ok(None);
        }
        let stored = |key: &str| current.get(key).cloned().unwrap_or(Bson::Null);
        let filter = doc! {
            "_id": oid,
            "hashed_password": stored("hashed_password"),
            "tokens_invalidated_after": stored("tokens_invalidated_after"),
        };
        self.coll
            .find_one_and_update(filter, doc! { "$set": user_set(patch, now) })
            .return_document(ReturnDocument::After)
            .await
            .map_err(store_err(USER))?
            .as_ref()
            .map(user_from_doc)
            .transpose()
    }

    async fn delete(&self, id: &str) -> StoreResult<bool> {
        let Some(oid) = object_id(id) else {
            return Ok(false);
        };
        let done = self
            .coll
            .delete_one(doc! { "_id": oid })
            .await
            .map_err(store_err(USER))?;
        Ok(done.deleted_count > 0)
    }

    async fn count(&self) -> StoreResult<u64> {
        self.coll
            .count_documents(doc! {})
            .await
            .map_err(store_err(USER))
    }

    async fn list(&self, offset: u64, limit: u64) -> StoreResult<Vec<User>> {
        if limit == 0 {
            // A limit of 0 means "no limit" to MongoDB.
            return Ok(Vec::new());
        }
        let mut find = self
            .coll
            .find(doc! {})
            .sort(doc! { "created_at": -1, "_id": -1 })
            .skip(offset.min(i64::MAX.unsigned_abs()));
        if let Ok(limit) = i64::try_from(limit) {
            find = find.limit(limit);
        }
        collect(find.await, USER, user_from_doc).await
    }

    async fn count_by_flags(&self) -> StoreResult<UserCounts> {
        // Missing flags count as their 0.9.3 model defaults (active, not verified, not admin).
        let pipeline = [doc! { "$group": {
            "_id": Bson::Null,
            "total": { "$sum": 1 },
            "active": { "$sum": { "$cond": [{ "$eq": ["$is_active", false] }, 0, 1] } },
            "verified": { "$sum": { "$cond": [{ "$eq": ["$is_verified", true] }, 1, 0] } },
            "superusers": { "$sum": { "$cond": [{ "$eq": ["$is_superuser", true] }, 1, 0] } },
        } }];
        let groups = collect(self.coll.aggregate(pipeline).await, USER, |doc| {
            let f = Fields::new(doc, "user counts");
            Ok(UserCounts {
                total: count(f.int64("total")?),
                active: count(f.int64("active")?),
                verified: count(f.int64("verified")?),
                superusers: count(f.int64("superusers")?),
            })
        })
        .await?;
        Ok(groups.into_iter().next().unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------------------------
// pending_registrations

const PENDING: &str = "pending registration";

fn pending_from_doc(doc: &Document) -> StoreResult<PendingRegistration> {
    let f = Fields::new(doc, PENDING);
    Ok(PendingRegistration {
        id: f.id()?,
        email: f.string("email")?,
        hashed_password: f.string("hashed_password")?,
        full_name: f.opt_string("full_name")?,
        token_hash: f.string("token_hash")?,
        created_at: f.date("created_at")?,
        expires_at: f.date("expires_at")?,
    })
}

/// The pending registrations collection.
#[derive(Debug, Clone)]
pub struct MongoPending {
    pub(crate) coll: Collection<Document>,
}

impl MongoPending {
    async fn find_one(&self, filter: Document) -> StoreResult<Option<PendingRegistration>> {
        self.coll
            .find_one(filter)
            .await
            .map_err(store_err(PENDING))?
            .as_ref()
            .map(pending_from_doc)
            .transpose()
    }
}

#[async_trait]
impl PendingStore for MongoPending {
    /// Replaces the document with this email in place (it keeps its `_id`, as regstack 0.9.3
    /// on MongoDB does) or inserts one.
    async fn upsert(&self, pending: NewPending) -> StoreResult<PendingRegistration> {
        let mut replacement = doc! {
            "email": pending.email.as_str(),
            "hashed_password": pending.hashed_password.as_str(),
            "token_hash": pending.token_hash.as_str(),
            "created_at": date(pending.created_at),
            "expires_at": date(pending.expires_at),
        };
        put_opt(&mut replacement, "full_name", pending.full_name.as_deref());
        // An upsert always returns the document it wrote, except on servers that lose it when
        // a concurrent upsert of the same email inserts between their match and their write
        // (secantusd answers `value: null` then, after replacing that document): the same
        // replacement is applied again, now matching, and returns it.
        let mut attempt = 1;
        let stored = loop {
            let stored = upsert_with_retry(PENDING, || {
                self.coll
                    .find_one_and_replace(
                        doc! { "email": pending.email.as_str() },
                        replacement.clone(),
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .into_future()
            })
            .await?;
            match stored {
                Some(stored) => break stored,
                None if attempt < UPSERT_ATTEMPTS => attempt += 1,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "{PENDING}: the upsert returned no document"
                    )));
                }
            }
        };
        pending_from_doc(&stored)
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<PendingRegistration>> {
        self.find_one(doc! { "email": email }).await
    }

    async fn find_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        self.find_one(doc! { "token_hash": token_hash }).await
    }

    async fn consume_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<PendingRegistration>> {
        self.coll
            .find_one_and_delete(doc! { "token_hash": token_hash })
            .await
            .map_err(store_err(PENDING))?
            .as_ref()
            .map(pending_from_doc)
            .transpose()
    }

    async fn delete_by_email(&self, email: &str) -> StoreResult<bool> {
        let done = self
            .coll
            .delete_many(doc! { "email": email })
            .await
            .map_err(store_err(PENDING))?;
        Ok(done.deleted_count > 0)
    }

    async fn count_unexpired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.coll
            .count_documents(doc! { "expires_at": { "$gt": date(now) } })
            .await
            .map_err(store_err(PENDING))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "expires_at": { "$lt": date(now) } })
            .await
            .map_err(store_err(PENDING))?;
        Ok(done.deleted_count)
    }
}

// ---------------------------------------------------------------------------------------------
// token_blacklist

const REVOKED: &str = "revoked token";

/// The token blacklist collection.
#[derive(Debug, Clone)]
pub struct MongoRevocations {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl RevocationStore for MongoRevocations {
    /// An insert guarded by the unique `jti_unique` index (created by `install_schema`): the
    /// duplicate-key refusal means "already revoked".
    async fn revoke(&self, jti: &str, exp: DateTime<Utc>) -> StoreResult<bool> {
        match self
            .coll
            .insert_one(doc! { "jti": jti, "exp": date(exp) })
            .await
            .map_err(store_err(REVOKED))
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        let found = self
            .coll
            .find_one(doc! { "jti": jti })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(store_err(REVOKED))?;
        Ok(found.is_some())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "exp": { "$lt": date(now) } })
            .await
            .map_err(store_err(REVOKED))?;
        Ok(done.deleted_count)
    }
}

// ---------------------------------------------------------------------------------------------
// login_attempts

const ATTEMPT: &str = "login attempt";

/// The `_id` of lockout slot `k` of `email` (see [`MongoLoginAttempts::admit`]).
fn slot_id(email: &str, k: u64) -> String {
    format!("lockout:{k}:{email}")
}

/// The login attempts collection.
#[derive(Debug, Clone)]
pub struct MongoLoginAttempts {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl LoginAttemptStore for MongoLoginAttempts {
    async fn record(&self, email: &str, when: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()> {
        let mut doc = doc! { "email": email, "when": date(when) };
        put_opt(&mut doc, "ip", ip);
        self.coll
            .insert_one(doc)
            .await
            .map_err(store_err(ATTEMPT))?;
        Ok(())
    }

    /// MongoDB has no multi-document atomicity here, so an admission claims one of `limit`
    /// slot documents of the email (`_id` `lockout:<k>:<email>`, with the usual `email`/`when`
    /// fields, so they count as failures everywhere, 0.9.3 included). A slot is free when it
    /// does not exist or its `when` is before the window; claiming it is one atomic upsert, and a
    /// taken slot makes the upsert fail on `_id`. At most `limit` slots can be live at once.
    /// Failures 0.9.3 recorded (ObjectId ids) take slots away.
    async fn admit(
        &self,
        email: &str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&str>,
    ) -> StoreResult<Admission> {
        let legacy = self
            .coll
            .count_documents(doc! {
                "email": email,
                "when": { "$gte": date(since) },
                "slot": { "$exists": false },
            })
            .await
            .map_err(store_err(ATTEMPT))?;
        for k in 0..limit.saturating_sub(legacy) {
            let ticket = slot_id(email, k);
            let mut set = doc! { "email": email, "when": date(when), "slot": k as i64 };
            put_opt(&mut set, "ip", ip);
            let claimed = self
                .coll
                .find_one_and_update(
                    doc! { "_id": ticket.as_str(), "when": { "$lt": date(since) } },
                    doc! { "$set": set },
                )
                .upsert(true)
                .await
                .map_err(store_err(ATTEMPT));
            match claimed {
                Ok(_) => {
                    let failures = self
                        .coll
                        .count_documents(doc! { "email": email, "when": { "$gte": date(since) } })
                        .await
                        .map_err(store_err(ATTEMPT))?;
                    if failures > limit {
                        // More than the limit can only come from writers that do not take
                        // slots (0.9.3 processes) racing this one: fail closed.
                        self.release(email, &ticket).await?;
                        break;
                    }
                    return Ok(Admission::Admitted { ticket, failures });
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Admission::Refused {
            failures: self.failures_since(email, since).await?,
        })
    }

    async fn release(&self, email: &str, ticket: &str) -> StoreResult<bool> {
        let done = self
            .coll
            .delete_one(doc! { "_id": ticket, "email": email })
            .await
            .map_err(store_err(ATTEMPT))?;
        Ok(done.deleted_count > 0)
    }

    async fn failures_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let find = self
            .coll
            .find(doc! { "email": email, "when": { "$gte": date(since) } })
            .sort(doc! { "when": 1, "_id": 1 })
            .projection(doc! { "when": 1 });
        collect(find.await, ATTEMPT, |doc| {
            Fields::new(doc, ATTEMPT).date("when")
        })
        .await
    }

    async fn clear(&self, email: &str) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "email": email })
            .await
            .map_err(store_err(ATTEMPT))?;
        Ok(done.deleted_count)
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "when": { "$lt": date(before) } })
            .await
            .map_err(store_err(ATTEMPT))?;
        Ok(done.deleted_count)
    }
}

// ---------------------------------------------------------------------------------------------
// mfa_codes

const MFA: &str = "mfa code";

fn mfa_from_doc(doc: &Document) -> StoreResult<MfaCode> {
    let f = Fields::new(doc, MFA);
    let kind = f.string("kind")?;
    Ok(MfaCode {
        user_id: f.string("user_id")?,
        kind: MfaKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("{MFA} field kind: unknown {kind:?}")))?,
        code_hash: f.string("code_hash")?,
        expires_at: f.date("expires_at")?,
        attempts: f.int32("attempts")?,
        max_attempts: f.int32("max_attempts")?,
        created_at: f.date("created_at")?,
    })
}

fn mfa_key(user_id: &str, kind: MfaKind) -> Document {
    doc! { "user_id": user_id, "kind": kind.as_str() }
}

/// The MFA codes collection.
#[derive(Debug, Clone)]
pub struct MongoMfaCodes {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl MfaCodeStore for MongoMfaCodes {
    async fn put(&self, code: MfaCode) -> StoreResult<()> {
        let replacement = doc! {
            "user_id": code.user_id.as_str(),
            "kind": code.kind.as_str(),
            "code_hash": code.code_hash.as_str(),
            "expires_at": date(code.expires_at),
            "attempts": code.attempts,
            "max_attempts": code.max_attempts,
            "created_at": date(code.created_at),
        };
        upsert_with_retry(MFA, || {
            self.coll
                .replace_one(mfa_key(&code.user_id, code.kind), replacement.clone())
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn get(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<MfaCode>> {
        self.coll
            .find_one(mfa_key(user_id, kind))
            .await
            .map_err(store_err(MFA))?
            .as_ref()
            .map(mfa_from_doc)
            .transpose()
    }

    async fn increment_attempts(&self, user_id: &str, kind: MfaKind) -> StoreResult<Option<i32>> {
        self.coll
            .find_one_and_update(mfa_key(user_id, kind), doc! { "$inc": { "attempts": 1 } })
            .return_document(ReturnDocument::After)
            .projection(doc! { "attempts": 1 })
            .await
            .map_err(store_err(MFA))?
            .map(|doc| Fields::new(&doc, MFA).int32("attempts"))
            .transpose()
    }

    async fn delete(&self, user_id: &str, kind: MfaKind) -> StoreResult<bool> {
        let done = self
            .coll
            .delete_one(mfa_key(user_id, kind))
            .await
            .map_err(store_err(MFA))?;
        Ok(done.deleted_count == 1)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(store_err(MFA))?;
        Ok(done.deleted_count)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "expires_at": { "$lt": date(now) } })
            .await
            .map_err(store_err(MFA))?;
        Ok(done.deleted_count)
    }
}

// ---------------------------------------------------------------------------------------------
// oauth_identities

const IDENTITY: &str = "oauth identity";

fn identity_from_doc(doc: &Document) -> StoreResult<OAuthIdentity> {
    let f = Fields::new(doc, IDENTITY);
    Ok(OAuthIdentity {
        id: f.id()?,
        user_id: f.string("user_id")?,
        provider: f.string("provider")?,
        subject_id: f.string("subject_id")?,
        email: f.opt_string("email")?,
        linked_at: f.date("linked_at")?,
        last_used_at: f.opt_date("last_used_at")?,
    })
}

/// The OAuth identities collection.
#[derive(Debug, Clone)]
pub struct MongoOAuthIdentities {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl OAuthIdentityStore for MongoOAuthIdentities {
    async fn create(&self, identity: NewOAuthIdentity) -> StoreResult<OAuthIdentity> {
        let id = ObjectId::new();
        let mut doc = doc! {
            "_id": id,
            "user_id": identity.user_id.as_str(),
            "provider": identity.provider.as_str(),
            "subject_id": identity.subject_id.as_str(),
            "linked_at": date(identity.linked_at),
        };
        put_opt(&mut doc, "email", identity.email.as_deref());
        self.coll
            .insert_one(doc)
            .await
            .map_err(store_err(IDENTITY))?;
        let mut identity = identity.with_id(id.to_hex());
        identity.linked_at = millis(identity.linked_at);
        Ok(identity)
    }

    async fn find(&self, provider: &str, subject_id: &str) -> StoreResult<Option<OAuthIdentity>> {
        self.coll
            .find_one(doc! { "provider": provider, "subject_id": subject_id })
            .await
            .map_err(store_err(IDENTITY))?
            .as_ref()
            .map(identity_from_doc)
            .transpose()
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<OAuthIdentity>> {
        let find = self
            .coll
            .find(doc! { "user_id": user_id })
            .sort(doc! { "linked_at": 1, "_id": 1 });
        collect(find.await, IDENTITY, identity_from_doc).await
    }

    async fn delete(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let done = self
            .coll
            .delete_one(doc! { "user_id": user_id, "provider": provider })
            .await
            .map_err(store_err(IDENTITY))?;
        Ok(done.deleted_count > 0)
    }

    async fn delete_for_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "user_id": user_id })
            .await
            .map_err(store_err(IDENTITY))?;
        Ok(done.deleted_count)
    }

    async fn touch_last_used(&self, id: &str, when: DateTime<Utc>) -> StoreResult<()> {
        let Some(oid) = object_id(id) else {
            return Ok(());
        };
        self.coll
            .update_one(
                doc! { "_id": oid },
                doc! { "$set": { "last_used_at": date(when) } },
            )
            .await
            .map_err(store_err(IDENTITY))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// oauth_states

const STATE: &str = "oauth state";

fn state_from_doc(doc: &Document) -> StoreResult<OAuthState> {
    let f = Fields::new(doc, STATE);
    Ok(OAuthState {
        id: f.id()?,
        provider: f.string("provider")?,
        code_verifier: f.string("code_verifier")?,
        nonce: f.string("nonce")?,
        redirect_to: f.string("redirect_to")?,
        mode: f.string("mode")?,
        linking_user_id: f.opt_string("linking_user_id")?,
        created_at: f.date("created_at")?,
        expires_at: f.date("expires_at")?,
        result_token: f.opt_string("result_token")?,
        result_was_new: f.bool_or("result_was_new", false)?,
    })
}

/// The OAuth states collection (`_id` is the `state` string itself).
#[derive(Debug, Clone)]
pub struct MongoOAuthStates {
    pub(crate) coll: Collection<Document>,
}

#[async_trait]
impl OAuthStateStore for MongoOAuthStates {
    async fn create(&self, state: OAuthState) -> StoreResult<()> {
        let mut doc = doc! {
            "_id": state.id.as_str(),
            "provider": state.provider.as_str(),
            "code_verifier": state.code_verifier.as_str(),
            "nonce": state.nonce.as_str(),
            "redirect_to": state.redirect_to.as_str(),
            "mode": state.mode.as_str(),
            "created_at": date(state.created_at),
            "expires_at": date(state.expires_at),
            "result_was_new": state.result_was_new,
        };
        put_opt(
            &mut doc,
            "linking_user_id",
            state.linking_user_id.as_deref(),
        );
        put_opt(&mut doc, "result_token", state.result_token.as_deref());
        self.coll.insert_one(doc).await.map_err(store_err(STATE))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        self.coll
            .find_one(doc! { "_id": id })
            .await
            .map_err(store_err(STATE))?
            .as_ref()
            .map(state_from_doc)
            .transpose()
    }

    async fn set_result(
        &self,
        id: &str,
        token: &str,
        was_new: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut set = doc! { "result_token": token, "result_was_new": was_new };
        put_opt(&mut set, "expires_at", expires_at.map(date));
        let done = self
            .coll
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await
            .map_err(store_err(STATE))?;
        Ok(done.matched_count > 0)
    }

    async fn consume(&self, id: &str) -> StoreResult<Option<OAuthState>> {
        self.coll
            .find_one_and_delete(doc! { "_id": id })
            .await
            .map_err(store_err(STATE))?
            .as_ref()
            .map(state_from_doc)
            .transpose()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = self
            .coll
            .delete_many(doc! { "expires_at": { "$lt": date(now) } })
            .await
            .map_err(store_err(STATE))?;
        Ok(done.deleted_count)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::tests::command_error;

    /// Calls of an op that fails with `code` the first `failures` times.
    async fn run(failures: usize, code: i32) -> (StoreResult<usize>, usize) {
        let calls = AtomicUsize::new(0);
        let res = upsert_with_retry("thing", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < failures {
                    Err(command_error(code))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        (res, calls.into_inner())
    }

    #[tokio::test]
    async fn upserts_retry_a_lost_insert_race() {
        assert!(matches!(run(0, 11_000).await, (Ok(0), 1)));
        assert!(matches!(run(2, 11_000).await, (Ok(2), 3)));
        // A clash that persists is a conflict.
        assert!(matches!(
            run(usize::MAX, 11_000).await,
            (Err(StoreError::Conflict("thing")), UPSERT_ATTEMPTS)
        ));
        // Other errors are not retried.
        assert!(matches!(
            run(usize::MAX, 121).await,
            (Err(StoreError::Backend(_)), 1)
        ));
    }
}
