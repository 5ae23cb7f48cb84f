//! Operations for administrators and operators: the admin API's flows, `bootstrap_admin`,
//! `promote_pending` and the purge of expired rows.

use chrono::Duration;

use crate::RegStack;
use crate::domain::{NewUser, User, UserPatch};
use crate::error::{Error, Result};
use crate::flows::Authenticated;
use crate::hooks::{Event, redact};
use crate::input::{EmailAddress, NewPassword};
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

/// The operations of the admin API, reached only through an authenticated superuser while
/// `enable_admin_router` is on ([`RegStack::admin`]). What an administrator does is a security
/// event (`admin_user_updated`, `admin_user_deleted`).
#[derive(Debug, Clone, Copy)]
pub struct AdminView<'a> {
    rs: &'a RegStack,
    by: &'a User,
}

impl AdminView<'_> {
    /// The superuser acting.
    pub fn by(&self) -> &User {
        self.by
    }

    /// `GET /admin/stats`.
    pub async fn stats(&self) -> Result<Stats> {
        self.rs.admin_stats().await
    }

    /// `GET /admin/users`: newest first, `skip`/`limit`, and the total.
    pub async fn list_users(&self, skip: u64, limit: u64) -> Result<(Vec<User>, u64)> {
        self.rs.admin_list_users(skip, limit).await
    }

    /// `GET /admin/users/{id}`.
    pub async fn get_user(&self, id: &str) -> Result<User> {
        self.rs.admin_get_user(id).await
    }

    /// `PATCH /admin/users/{id}`.
    pub async fn update_user(&self, id: &str, patch: AdminPatch) -> Result<User> {
        self.rs.admin_update_user(id, patch).await
    }

    /// `DELETE /admin/users/{id}`.
    pub async fn delete_user(&self, id: &str) -> Result<User> {
        self.rs.admin_delete_user(id).await
    }

    /// `POST /admin/users/{id}/resend-verification`.
    pub async fn resend_verification(&self, id: &str) -> Result<User> {
        self.rs.admin_resend_verification(id).await
    }

    /// `POST /admin/pending/{email}/promote`.
    pub async fn promote_pending(&self, email: &str) -> Result<User> {
        self.rs.promote_pending(email).await
    }
}

/// What [`RegStack::create_admin`] found or did.
#[derive(Debug, Clone)]
pub enum AdminCreation {
    /// A new active, verified superuser with the password given.
    Created(User),
    /// The email already belongs to this account; nothing was changed.
    Exists(User),
}

impl RegStack {
    /// The admin API as `auth` may use it: refused with [`Error::AdminDisabled`] while
    /// `enable_admin_router` is off and [`Error::NotSuperuser`] for anyone but a superuser.
    pub fn admin<'a>(&'a self, auth: &'a Authenticated) -> Result<AdminView<'a>> {
        if !self.config().enable_admin_router {
            return Err(Error::AdminDisabled);
        }
        if !auth.user.is_superuser {
            return Err(Error::NotSuperuser);
        }
        Ok(AdminView {
            rs: self,
            by: &auth.user,
        })
    }

    /// For operators (`regstack create-admin --promote-existing`), not for requests: make the
    /// account `user_id` a superuser, its password untouched (`admin_user_updated` fires).
    pub async fn grant_superuser(&self, user_id: &str) -> Result<User> {
        self.admin_update_user(
            user_id,
            AdminPatch {
                is_superuser: Some(true),
                ..AdminPatch::default()
            },
        )
        .await
    }

    /// Create an active, verified superuser with `password`, unless `email` already belongs to
    /// an account: then that account, untouched. An account that appears between the look-up
    /// and the insert (a registration racing this call) is reported, never promoted: whoever
    /// registered first would keep a password of their choosing on an administrator account.
    pub async fn create_admin(
        &self,
        email: &EmailAddress,
        password: &NewPassword,
    ) -> Result<AdminCreation> {
        let (email, password) = (email.as_str(), password.expose());
        let users = &self.stores().users;
        if let Some(existing) = users.get_by_email(email).await? {
            return Ok(AdminCreation::Exists(existing));
        }
        let hash = self.hasher().hash(password).await?;
        let mut new = NewUser::new(email, Some(hash), self.clock().now());
        new.is_verified = true;
        new.is_superuser = true;
        match users.create(new).await {
            Ok(user) => Ok(AdminCreation::Created(user)),
            Err(e) if e.is_conflict() => match users.get_by_email(email).await? {
                Some(existing) => Ok(AdminCreation::Exists(existing)),
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// [`RegStack::create_admin`], then make an existing account a superuser with its own
    /// password untouched (`password` is used only for a new account; `admin_user_updated`
    /// fires for a promotion). Idempotent. Use it only where every existing account is
    /// trusted; `regstack create-admin` refuses existing accounts unless asked.
    pub async fn bootstrap_admin(
        &self,
        email: &EmailAddress,
        password: &NewPassword,
    ) -> Result<User> {
        match self.create_admin(email, password).await? {
            AdminCreation::Created(user) => Ok(user),
            AdminCreation::Exists(user) if user.is_superuser => Ok(user),
            AdminCreation::Exists(user) => self.grant_superuser(&user.id).await,
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
    pub(crate) async fn admin_stats(&self) -> Result<Stats> {
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
    pub(crate) async fn admin_list_users(&self, skip: u64, limit: u64) -> Result<(Vec<User>, u64)> {
        let users = &self.stores().users;
        Ok((users.list(skip, limit).await?, users.count().await?))
    }

    /// `GET /admin/users/{id}`.
    pub(crate) async fn admin_get_user(&self, id: &str) -> Result<User> {
        self.stores()
            .users
            .get_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// `PATCH /admin/users/{id}`: disabling also revokes every session (bulk cutoff). Fires
    /// `admin_user_updated` (and logs it on `regstack.security`).
    pub(crate) async fn admin_update_user(&self, id: &str, patch: AdminPatch) -> Result<User> {
        crate::flows::check_full_name(patch.full_name.as_deref())?;
        let now = self.clock().now();
        let p = UserPatch {
            is_active: patch.is_active,
            is_superuser: patch.is_superuser,
            full_name: patch.full_name.clone().map(Some),
            tokens_invalidated_after: (patch.is_active == Some(false)).then_some(Some(now)),
            ..UserPatch::default()
        };
        let user = self
            .stores()
            .users
            .update(id, &p, now)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.security_event(Event::AdminUserUpdated {
            user: user.clone(),
            is_active: patch.is_active,
            is_superuser: patch.is_superuser,
            full_name_changed: patch.full_name.is_some(),
        })
        .await;
        Ok(user)
    }

    /// `DELETE /admin/users/{id}`: the same cascade as a self-service deletion (which fires
    /// `user_deleted`), then `admin_user_deleted`.
    pub(crate) async fn admin_delete_user(&self, id: &str) -> Result<User> {
        let user = self.admin_get_user(id).await?;
        self.delete_cascade(&user).await?;
        self.security_event(Event::AdminUserDeleted { user: user.clone() })
            .await;
        Ok(user)
    }

    /// `POST /admin/users/{id}/resend-verification`: a fresh verification mail for an
    /// unverified user. Verifying it marks the existing user verified (deviation #6).
    pub(crate) async fn admin_resend_verification(&self, id: &str) -> Result<User> {
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
