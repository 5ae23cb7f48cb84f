//! The persisted entities of regstack (regstack 0.9.3's data model).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user account.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Opaque id: 32 hex chars on SQL, 24 on MongoDB.
    pub id: String,
    pub email: String,
    /// Argon2 PHC string; `None` for an OAuth-only account. Never serialised: a host that
    /// returns a `User` as JSON does not leak the hash (deserialising reads it when present).
    #[serde(skip_serializing, default)]
    pub hashed_password: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_superuser: bool,
    pub full_name: Option<String>,
    pub phone_number: Option<String>,
    pub is_mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub tokens_invalidated_after: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_password", &self.hashed_password.is_some())
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .field("is_superuser", &self.is_superuser)
            .field("is_mfa_enabled", &self.is_mfa_enabled)
            .finish_non_exhaustive()
    }
}

/// A user about to be inserted; the store assigns the id.
#[derive(Clone, PartialEq)]
pub struct NewUser {
    pub email: String,
    pub hashed_password: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_superuser: bool,
    pub full_name: Option<String>,
    pub phone_number: Option<String>,
    pub is_mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub tokens_invalidated_after: Option<DateTime<Utc>>,
}

impl NewUser {
    /// An active user with no roles, created at `now`.
    pub fn new(
        email: impl Into<String>,
        hashed_password: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            email: email.into(),
            hashed_password,
            is_active: true,
            is_verified: false,
            is_superuser: false,
            full_name: None,
            phone_number: None,
            is_mfa_enabled: false,
            created_at: now,
            updated_at: now,
            last_login: None,
            tokens_invalidated_after: None,
        }
    }

    /// Attach the id chosen by a store.
    pub fn with_id(self, id: String) -> User {
        User {
            id,
            email: self.email,
            hashed_password: self.hashed_password,
            is_active: self.is_active,
            is_verified: self.is_verified,
            is_superuser: self.is_superuser,
            full_name: self.full_name,
            phone_number: self.phone_number,
            is_mfa_enabled: self.is_mfa_enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login: self.last_login,
            tokens_invalidated_after: self.tokens_invalidated_after,
        }
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("has_password", &self.hashed_password.is_some())
            .finish_non_exhaustive()
    }
}

/// A partial update of a user row. `None` leaves a field alone; every update also sets
/// `updated_at`. The business meaning (which fields go together) is decided by the flows.
#[derive(Clone, Default, PartialEq)]
pub struct UserPatch {
    pub email: Option<String>,
    pub hashed_password: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub is_superuser: Option<bool>,
    pub full_name: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub is_mfa_enabled: Option<bool>,
    pub last_login: Option<Option<DateTime<Utc>>>,
    pub tokens_invalidated_after: Option<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field("sets_password", &self.hashed_password.is_some())
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

impl UserPatch {
    /// Apply this patch to an in-memory user (what a store does to its row).
    pub fn apply_to(&self, user: &mut User, now: DateTime<Utc>) {
        if let Some(v) = &self.email {
            user.email.clone_from(v);
        }
        if let Some(v) = &self.hashed_password {
            user.hashed_password.clone_from(v);
        }
        if let Some(v) = self.is_active {
            user.is_active = v;
        }
        if let Some(v) = self.is_verified {
            user.is_verified = v;
        }
        if let Some(v) = self.is_superuser {
            user.is_superuser = v;
        }
        if let Some(v) = &self.full_name {
            user.full_name.clone_from(v);
        }
        if let Some(v) = &self.phone_number {
            user.phone_number.clone_from(v);
        }
        if let Some(v) = self.is_mfa_enabled {
            user.is_mfa_enabled = v;
        }
        if let Some(v) = self.last_login {
            user.last_login = v;
        }
        if let Some(v) = self.tokens_invalidated_after {
            user.tokens_invalidated_after = v;
        }
        user.updated_at = now;
    }
}

/// The credential state of a user row that [`UserStore::update_guarded`](crate::store::UserStore::update_guarded)
/// requires to be unchanged: the password hash and the bulk-revocation cutoff.
#[derive(Clone, PartialEq)]
pub struct UserGuard {
    pub hashed_password: Option<String>,
    pub tokens_invalidated_after: Option<DateTime<Utc>>,
}

impl UserGuard {
    /// The guard of a user row as read.
    pub fn of(user: &User) -> Self {
        Self {
            hashed_password: user.hashed_password.clone(),
            tokens_invalidated_after: user.tokens_invalidated_after,
        }
    }

    /// Whether `user` still holds this state.
    pub fn holds(&self, user: &User) -> bool {
        self.hashed_password == user.hashed_password
            && self.tokens_invalidated_after == user.tokens_invalidated_after
    }
}

impl std::fmt::Debug for UserGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserGuard")
            .field("has_password", &self.hashed_password.is_some())
            .field("tokens_invalidated_after", &self.tokens_invalidated_after)
            .finish()
    }
}

/// A registration waiting for its email to be verified.
#[derive(Clone, PartialEq)]
pub struct PendingRegistration {
    pub id: String,
    pub email: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
    /// SHA-256 hex of the raw verification token.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRegistration")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A pending registration about to be upserted (by email).
#[derive(Clone, PartialEq)]
pub struct NewPending {
    pub email: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPending")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl NewPending {
    /// Attach the id chosen by a store.
    pub fn with_id(self, id: String) -> PendingRegistration {
        PendingRegistration {
            id,
            email: self.email,
            hashed_password: self.hashed_password,
            full_name: self.full_name,
            token_hash: self.token_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// One failed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub email: String,
    pub when: DateTime<Utc>,
    pub ip: Option<String>,
}

/// What an SMS code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaKind {
    PhoneSetup,
    LoginMfa,
}

impl MfaKind {
    /// The stored string (`phone_setup` / `login_mfa`).
    pub fn as_str(self) -> &'static str {
        match self {
            MfaKind::PhoneSetup => "phone_setup",
            MfaKind::LoginMfa => "login_mfa",
        }
    }

    /// Parse the stored string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "phone_setup" => Some(MfaKind::PhoneSetup),
            "login_mfa" => Some(MfaKind::LoginMfa),
            _ => None,
        }
    }
}

/// A hashed SMS code.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaCode {
    pub user_id: String,
    pub kind: MfaKind,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for MfaCode {
    /// The hash of a short code is as good as the code (a million guesses): never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaCode")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A link between a user and an external identity provider account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthIdentity {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub subject_id: String,
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An identity link about to be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthIdentity {
    pub user_id: String,
    pub provider: String,
    pub subject_id: String,
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
}

impl NewOAuthIdentity {
    /// Attach the id chosen by a store.
    pub fn with_id(self, id: String) -> OAuthIdentity {
        OAuthIdentity {
            id,
            user_id: self.user_id,
            provider: self.provider,
            subject_id: self.subject_id,
            email: self.email,
            linked_at: self.linked_at,
            last_used_at: None,
        }
    }
}

/// An OAuth authorization in flight.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// The `state` parameter itself.
    pub id: String,
    pub provider: String,
    pub code_verifier: String,
    pub nonce: String,
    pub redirect_to: String,
    /// `signin` or `link`.
    pub mode: String,
    pub linking_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub result_token: Option<String>,
    pub result_was_new: bool,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .field("expires_at", &self.expires_at)
            .field("has_result", &self.result_token.is_some())
            .finish_non_exhaustive()
    }
}
