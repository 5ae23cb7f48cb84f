//! Account flows for a signed-in user (password and email changes, deletion) and the password
//! reset flow (regstack 0.9.3's HTTP API).

use crate::RegStack;
use crate::domain::{User, UserGuard, UserPatch};
use crate::error::{Error, Result};
use crate::hooks::{Event, redact};
use crate::input::{EmailAddress, NewPassword};
use crate::jwt::{Claims, Extra, Purpose};
use crate::mail::{EmailKind, compose};
use crate::password::{HashError, Verification};

impl RegStack {
    /// Check the current password of a user (the confirmation several flows ask for). A
    /// wrong one counts in the same per-account lockout as a failed login, admitted before the
    /// password is evaluated, so a stolen session is no unlimited password oracle.
    pub async fn confirm_password(&self, user: &User, password: &str) -> Result<()> {
        let Some(hash) = user.hashed_password.as_deref() else {
            return Err(Error::NoPasswordSet);
        };
        let attempt = self.admit_password(&user.email).await?;
        match self.hasher().verify(password, hash).await {
            Verification::Valid { .. } => {
                self.lockout().succeeded(&attempt).await?;
                Ok(())
            }
            Verification::Busy { retry_after } => {
                Err(self.not_evaluated(&attempt, retry_after).await)
            }
            Verification::Invalid | Verification::Malformed => {
                self.security_event(Event::LoginFailed {
                    email: user.email.clone(),
                    user: Some(user.clone()),
                    reason: "current_password",
                })
                .await;
                Err(Error::CurrentPasswordIncorrect)
            }
        }
    }

    /// `POST /change-password`: every existing session, the caller's included, is revoked.
    pub async fn change_password(
        &self,
        user: &User,
        current_password: &str,
        new_password: &NewPassword,
    ) -> Result<()> {
        self.confirm_password(user, current_password).await?;
        let new_password = new_password.expose();
        if let Some(hash) = user.hashed_password.as_deref() {
            match self.hasher().verify(new_password, hash).await {
                Verification::Valid { .. } => return Err(Error::SamePassword),
                Verification::Busy { retry_after } => {
                    return Err(HashError::Busy { retry_after }.into());
                }
                Verification::Invalid | Verification::Malformed => {}
            }
        }
        let updated = self
            .set_password(user, new_password)
            .await?
            .ok_or(Error::CurrentPasswordIncorrect)?;
        self.lockout().clear(&user.email).await?;
        self.send_notice(EmailKind::PasswordChanged, &updated);
        self.hooks()
            .fire(Event::PasswordChanged { user: updated })
            .await;
        Ok(())
    }

    /// Tell an account's address of a change it may not have made (ASVS 2.2.3): a notice
    /// without a link, through the bounded mail queue, off the request path.
    fn send_notice(&self, kind: EmailKind, to: &User) {
        let msg = compose(
            &*self.composer(),
            self.config(),
            kind,
            &to.email,
            to.full_name.as_deref(),
            "",
        );
        if let Err(e) = msg.check_headers() {
            tracing::error!(target: "regstack.account", kind = ?kind, error = %e, "notice not sent");
            return;
        }
        let this = self.clone();
        self.enqueue_mail(None, async move { this.deliver_with_retry(msg).await });
    }

    /// Store a new password hash and revoke every credential issued until now: sessions,
    /// reset links and email-change links (all checked against `tokens_invalidated_after`).
    ///
    /// The write is a compare-and-set on the state `user` was read with (`None` when another
    /// change won). A login whose verification of the old hash was under way records itself
    /// with a compare-and-set too: it either lands before this write, and then the cutoff is
    /// stamped again after the write (so it is later than that session's `iat`), or after it,
    /// and then it is refused.
    async fn set_password(&self, user: &User, new_password: &str) -> Result<Option<User>> {
        let hash = self.hasher().hash(new_password).await?;
        let now = self.clock().now();
        let patch = UserPatch {
            hashed_password: Some(Some(hash)),
            tokens_invalidated_after: Some(Some(now)),
            ..UserPatch::default()
        };
        let users = &self.stores().users;
        let Some(written) = users
            .update_guarded(&user.id, &UserGuard::of(user), &patch, now)
            .await?
        else {
            return Ok(None);
        };
        let after = self.clock().now();
        if after <= now {
            return Ok(Some(written));
        }
        let restamp = UserPatch {
            tokens_invalidated_after: Some(Some(after)),
            ..UserPatch::default()
        };
        Ok(users
            .update_guarded(&user.id, &UserGuard::of(&written), &restamp, after)
            .await?
            .or(Some(written)))
    }

    /// `POST /change-email`: checks the current password, then answers at once; the look-up
    /// of the new address and the mail happen off the request path, so neither the answer, its
    /// status nor its time reveals whether the address is taken.
    pub async fn request_email_change(
        &self,
        user: &User,
        new_email: &EmailAddress,
        current_password: &str,
    ) -> Result<()> {
        let new_email = new_email.as_str();
        if new_email.to_lowercase() == user.email.to_lowercase() {
            return Err(Error::SameEmail);
        }
        self.confirm_password(user, current_password).await?;
        let this = self.clone();
        let user = user.clone();
        let new_email = new_email.to_owned();
        let key = new_email.clone();
        self.enqueue_mail(Some((EmailKind::EmailChange, &key)), async move {
            if let Err(e) = this.request_email_change_now(&user, &new_email).await {
                tracing::error!(target: "regstack.account", error = %e, "change-email failed");
            }
        });
        Ok(())
    }

    async fn request_email_change_now(&self, user: &User, new_email: &str) -> Result<()> {
        if self.stores().users.get_by_email(new_email).await?.is_some() {
            tracing::info!(
                target: "regstack.account",
                "change-email blocked by clash (anti-enumeration): user_id={}",
                user.id
            );
            return Ok(());
        }
        let (raw, _) = self.jwt().issue(
            Purpose::EmailChange,
            &user.id,
            Extra {
                new_email: Some(new_email.to_owned()),
                old_email: Some(user.email.clone()),
                ..Extra::default()
            },
        );
        let url = self.config().email_change_url(&raw);
        let msg = compose(
            &*self.composer(),
            self.config(),
            EmailKind::EmailChange,
            new_email,
            user.full_name.as_deref(),
            &url,
        );
        msg.check_headers()?;
        self.deliver_with_retry(msg).await;
        self.hooks()
            .fire(Event::EmailChangeRequested {
                user: user.clone(),
                new_email: new_email.to_owned(),
                url_without_token: redact(&url, &raw),
                url,
            })
            .await;
        Ok(())
    }

    /// `POST /confirm-email-change`: single use (the token's `jti` is revoked, deviation #3);
    /// revokes every session. Returns the stored row.
    pub async fn confirm_email_change(&self, raw_token: &str) -> Result<User> {
        let claims = self
            .jwt()
            .decode(raw_token, Purpose::EmailChange)
            .map_err(|_| Error::InvalidEmailChangeToken)?;
        let new_email = claims
            .new_email
            .clone()
            .ok_or(Error::InvalidEmailChangeToken)?;
        let stores = self.stores();
        if stores.revocations.is_revoked(&claims.jti).await? {
            return Err(Error::InvalidEmailChangeToken);
        }
        let user = match stores.users.get_by_id(&claims.sub).await? {
            Some(u) if u.is_active => u,
            _ => return Err(Error::TokenAccountMismatch),
        };
        // A link issued at or before a password change (or any bulk revocation), or for an
        // address the account no longer has, is dead.
        if issued_before_cutoff(&claims, &user)
            || claims.old_email.as_ref().is_some_and(|e| *e != user.email)
        {
            return Err(Error::InvalidEmailChangeToken);
        }
        // Claim the token first: of concurrent confirmations exactly one proceeds.
        if !stores.revocations.revoke(&claims.jti, claims.exp).await? {
            return Err(Error::InvalidEmailChangeToken);
        }
        let now = self.clock().now();
        let patch = UserPatch {
            email: Some(new_email),
            tokens_invalidated_after: Some(Some(now)),
            ..UserPatch::default()
        };
        let guarded = stores
            .users
            .update_guarded(&user.id, &UserGuard::of(&user), &patch, now)
            .await;
        let updated = match guarded {
            Ok(Some(u)) => u,
            // A password change committed since the user was read: the link died with it.
            Ok(None) => return Err(Error::InvalidEmailChangeToken),
            Err(e) if e.is_conflict() => return Err(Error::EmailInUse),
            Err(e) => return Err(e.into()),
        };
        self.lockout().clear(&user.email).await?;
        // The former address learns where its account went (`user` is the row as it was).
        self.send_notice(EmailKind::EmailChanged, &user);
        self.hooks()
            .fire(Event::EmailChanged {
                user: updated.clone(),
                previous_email: user.email,
            })
            .await;
        Ok(updated)
    }

    /// `DELETE /account`.
    pub async fn delete_account(&self, user: &User, current_password: &str) -> Result<()> {
        if !self.config().enable_account_deletion {
            return Err(Error::AccountDeletionDisabled);
        }
        self.confirm_password(user, current_password).await?;
        self.delete_cascade(user).await
    }

    /// Delete a user with its identities, pending row and lockout rows; fires `user_deleted`.
    pub(crate) async fn delete_cascade(&self, user: &User) -> Result<()> {
        let stores = self.stores();
        stores.oauth_identities.delete_for_user(&user.id).await?;
        stores.users.delete(&user.id).await?;
        stores.pending.delete_by_email(&user.email).await?;
        self.lockout().clear(&user.email).await?;
        self.hooks()
            .fire(Event::UserDeleted { user: user.clone() })
            .await;
        Ok(())
    }

    /// `POST /forgot-password`: answers at once; the look-up, the token and the mail happen off
    /// the request path, so neither time nor a transport failure reveals the account.
    pub fn forgot_password(&self, email: EmailAddress) -> Result<()> {
        if !self.config().enable_password_reset {
            return Err(Error::PasswordResetDisabled);
        }
        let email = email.into_string();
        let this = self.clone();
        let key = email.clone();
        self.enqueue_mail(Some((EmailKind::PasswordReset, &key)), async move {
            if let Err(e) = this.forgot_password_now(&email).await {
                tracing::error!(target: "regstack.password", error = %e, "forgot-password failed");
            }
        });
        Ok(())
    }

    async fn forgot_password_now(&self, email: &str) -> Result<()> {
        let Some(user) = self.stores().users.get_by_email(email).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let (raw, _) = self
            .jwt()
            .issue(Purpose::PasswordReset, &user.id, Extra::default());
        let url = self.config().password_reset_url(&raw);
        let msg = compose(
            &*self.composer(),
            self.config(),
            EmailKind::PasswordReset,
            &user.email,
            user.full_name.as_deref(),
            &url,
        );
        msg.check_headers()?;
        self.deliver_with_retry(msg).await;
        self.hooks()
            .fire(Event::PasswordResetRequested {
                user,
                url_without_token: redact(&url, &raw),
                url,
            })
            .await;
        Ok(())
    }

    /// `POST /reset-password`: single use (the token's `jti` is claimed atomically), revokes
    /// every session and clears the lockout.
    pub async fn reset_password(&self, raw_token: &str, new_password: &NewPassword) -> Result<()> {
        let new_password = new_password.expose();
        if !self.config().enable_password_reset {
            return Err(Error::PasswordResetDisabled);
        }
        let claims = self
            .jwt()
            .decode(raw_token, Purpose::PasswordReset)
            .map_err(|_| Error::InvalidResetToken)?;
        let stores = self.stores();
        if stores.revocations.is_revoked(&claims.jti).await? {
            return Err(Error::InvalidResetToken);
        }
        let user = match stores.users.get_by_id(&claims.sub).await? {
            Some(u) if u.is_active => u,
            _ => return Err(Error::ResetAccountMismatch),
        };
        // A link issued at or before the last password change (a newer reset included) is dead.
        if issued_before_cutoff(&claims, &user) {
            return Err(Error::InvalidResetToken);
        }
        if !stores.revocations.revoke(&claims.jti, claims.exp).await? {
            return Err(Error::InvalidResetToken);
        }
        let Some(updated) = self.set_password(&user, new_password).await? else {
            // Another change of the password won the race: this link is as old as the rest.
            return Err(Error::InvalidResetToken);
        };
        self.lockout().clear(&user.email).await?;
        self.send_notice(EmailKind::PasswordChanged, &updated);
        self.hooks()
            .fire(Event::PasswordResetCompleted { user })
            .await;
        Ok(())
    }
}

/// Whether a one-time link was issued at or before the account's bulk-revocation cutoff.
fn issued_before_cutoff(claims: &Claims, user: &User) -> bool {
    user.tokens_invalidated_after
        .is_some_and(|cutoff| claims.iat <= cutoff)
}
