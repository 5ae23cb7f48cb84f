//! Operations for administrators and operators: the admin API's flows, `bootstrap_admin`,
//! `promote_pending` and the purge of expired rows.

use chrono::Duration;

use crate::RegStack;
use crate::domain::{NewUser, User, UserPatch};
use crate::error::{Error, Result};
use crate::hooks::{Event, redact};
use crate::mail::{EmailKind, compose};
use crate::store::PurgeReport;

/// Counts for `GET /admin/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub total_users: u64,
    pub active_users: u64,
    pub verified_users: u64,
    pub superusers: u64,
    pub pending_registrations: u64,
}

/// Changes an administrator may make to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub full_name: Option<String>,
}

impl RegStack {
    /// Create an active, verified superuser, or promote an existing user (password untouched).
    /// Idempotent.
    pub async fn bootstrap_admin(&self, email: &str, password: &str) -> Result<User> {
        let users = &self.stores().users;
        if let Some(existing) = users.get_by_email(email).await? {
            if existing.is_superuser {
                return Ok(existing);
            }
            let patch = UserPatch {
                is_superuser: Some(true),
                ..UserPatch::default()
            };
            return users
                .update(&existing.id, &patch, self.clock().now())
                .await?
                .ok_or(Error::UserNotFound);
        }
        let hash = self.hasher().hash(password).await?;
        let mut new = NewUser::new(email, Some(hash), self.clock().now());
        new.is_verified = true;
        new.is_superuser = true;
        match users.create(new).await {
            Ok(u) => Ok(u),
            // Lost a race with another writer: promote whoever won.
            Err(e) if e.is_conflict() => Box::pin(self.bootstrap_admin(email, password)).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Turn a pending registration into a verified user without the email round trip.
    /// An expired pending row is deleted and reported as missing. Fires `user_verified`.
    pub async fn promote_pending(&self, email: &str) -> Result<User> {
        let stores = self.stores();
        let Some(pending) = stores.pending.find_by_email(email).await? else {
            return Err(Error::PendingNotFound);
        };
        if pending.expires_at <= self.clock().now() {
            stores.pending.delete_by_email(&pending.email).await?;
            return Err(Error::PendingNotFound);
        }
        let mut new = NewUser::new(
            pending.email.clone(),
            Some(pending.hashed_password),
            self.clock().now(),
        );
        new.is_verified = true;
        new.full_name = pending.full_name;
        let user = match stores.users.create(new).await {
            Ok(u) => u,
            Err(e) if e.is_conflict() => return Err(Error::EmailAlreadyRegistered),
            Err(e) => return Err(e.into()),
        };
        stores.pending.delete_by_email(&pending.email).await?;
        self.hooks()
            .fire(Event::UserVerified { user: user.clone() })
            .await;
        Ok(user)
    }

    /// Delete expired pending rows, revocations, SMS codes, OAuth states and login failures
    /// older than the lockout window.
    pub async fn purge_expired(&self) -> Result<PurgeReport> {
        Ok(self
            .stores()
            .purge_expired(
                self.clock().now(),
                Duration::seconds(self.config().login_lockout_window_seconds),
            )
            .await?)
    }

    /// `GET /admin/stats`.
    pub async fn admin_stats(&self) -> Result<Stats> {
        let stores = self.stores();
        let c = stores.users.count_by_flags().await?;
        Ok(Stats {
            total_users: c.total,
            active_users: c.active,
            verified_users: c.verified,
            superusers: c.superusers,
            pending_registrations: stores.pending.count_unexpired(self.clock().now()).await?,
        })
    }

    /// `GET /admin/users`: newest first, and the total.
    pub async fn admin_list_users(&self, skip: u64, limit: u64) -> Result<(Vec<User>, u64)> {
        let users = &self.stores().users;
        Ok((users.list(skip, limit).await?, users.count().await?))
    }

    /// `GET /admin/users/{id}`.
    pub async fn admin_get_user(&self, id: &str) -> Result<User> {
        self.stores()
            .users
            .get_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// `PATCH /admin/users/{id}`: disabling also revokes every session (bulk cutoff).
    pub async fn admin_update_user(&self, id: &str, patch: AdminPatch) -> Result<User> {
        crate::flows::check_full_name(patch.full_name.as_deref())?;
        let now = self.clock().now();
        let p = UserPatch {
            is_active: patch.is_active,
            is_superuser: patch.is_superuser,
            full_name: patch.full_name.map(Some),
            tokens_invalidated_after: (patch.is_active == Some(false)).then_some(Some(now)),
            ..UserPatch::default()
        };
        self.stores()
            .users
            .update(id, &p, now)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// `DELETE /admin/users/{id}`: the same cascade as a self-service deletion.
    pub async fn admin_delete_user(&self, id: &str) -> Result<User> {
        let user = self.admin_get_user(id).await?;
        self.delete_cascade(&user).await?;
        Ok(user)
    }

    /// `POST /admin/users/{id}/resend-verification`: a fresh verification mail for an
    /// unverified user. Verifying it marks the existing user verified (deviation #6).
    pub async fn admin_resend_verification(&self, id: &str) -> Result<User> {
        let user = self.admin_get_user(id).await?;
        if user.is_verified {
            return Err(Error::AlreadyVerifiedUser);
        }
        let Some(hash) = user.hashed_password.clone() else {
            return Err(Error::NoPasswordSet);
        };
        let cfg = self.config();
        let (_, raw) = self
            .put_pending(user.email.clone(), hash, user.full_name.clone())
            .await?;
        let url = cfg.verify_url(&raw);
        let msg = compose(
            &*self.composer(),
            cfg,
            EmailKind::Verification,
            &user.email,
            user.full_name.as_deref(),
            &url,
        );
        msg.check_headers()?;
        self.send_bounded(&msg).await?;
        self.hooks()
            .fire(Event::VerificationRequested {
                email: user.email.clone(),
                url_without_token: redact(&url, &raw),
                url,
            })
            .await;
        Ok(user)
    }
}
