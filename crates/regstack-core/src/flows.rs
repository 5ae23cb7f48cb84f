//! The account flows, framework-free. Inputs are assumed already validated by the caller
//! (the HTTP layer checks schemas; see [`crate::email_address::normalize`] and the password
//! length constants); every business rule lives here.

use chrono::{DateTime, Duration, Utc};

use crate::RegStack;
use crate::domain::{MfaCode, MfaKind, NewPending, NewUser, User, UserGuard, UserPatch};
use crate::error::{AuthFailure, Error, MfaFailure, Result};
use crate::hooks::{Event, redact};
use crate::input::{EmailAddress, NewPassword};
use crate::jwt::{Claims, Extra, Purpose};
use crate::lockout::Attempt;
use crate::mail::{EmailKind, compose};
use crate::password::{HashError, Verification};
use crate::sms::{SmsKind, SmsMessage, default_text};
use crate::token;

/// Input of [`RegStack::register`].
#[derive(Clone)]
pub struct RegisterInput {
    pub email: EmailAddress,
    pub password: NewPassword,
    pub full_name: Option<String>,
}

impl std::fmt::Debug for RegisterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterInput")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Outcome of a registration.
#[derive(Debug, Clone)]
pub enum Registered {
    /// Verification required: a pending row was written and the email sent.
    Pending {
        email: String,
        expires_at: DateTime<Utc>,
    },
    /// Verification off: the user exists now.
    Created(User),
}

/// A freshly issued session token.
#[derive(Clone)]
pub struct SessionToken {
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    pub claims: Claims,
    pub user: User,
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionToken")
            .field("user_id", &self.user.id)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Outcome of a successful password check at login.
#[derive(Clone)]
pub enum LoginOutcome {
    /// Signed in.
    Token(Box<SessionToken>),
    /// An SMS code was sent; confirm with [`RegStack::login_mfa_confirm`].
    MfaRequired {
        mfa_pending_token: String,
        expires_in: i64,
    },
}

impl std::fmt::Debug for LoginOutcome {
    /// The pending token is a live credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginOutcome::Token(t) => f.debug_tuple("Token").field(t).finish(),
            LoginOutcome::MfaRequired { expires_in, .. } => f
                .debug_struct("MfaRequired")
                .field("expires_in", expires_in)
                .finish_non_exhaustive(),
        }
    }
}

/// An authenticated bearer: the user as loaded and the token's claims.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub claims: Claims,
}

impl RegStack {
    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Send an email inline (errors propagate).
    async fn send_mail(
        &self,
        kind: EmailKind,
        to: &str,
        full_name: Option<&str>,
        url: &str,
    ) -> Result<()> {
        let msg = compose(&*self.composer(), self.config(), kind, to, full_name, url);
        msg.check_headers()?;
        self.send_bounded(&msg).await
    }

    /// Write (or replace) the pending registration of `email` with a fresh link token that
    /// expires after `verification_token_ttl_seconds`; returns the row and the raw token.
    pub(crate) async fn put_pending(
        &self,
        email: String,
        hashed_password: String,
        full_name: Option<String>,
    ) -> Result<(crate::domain::PendingRegistration, String)> {
        let raw = token::new_link_token();
        let now = self.now();
        let ttl = Duration::seconds(self.config().verification_token_ttl_seconds);
        let pending = self
            .stores()
            .pending
            .upsert(NewPending {
                email,
                hashed_password,
                full_name,
                token_hash: token::sha256_hex(&raw),
                created_at: now,
                expires_at: now + ttl,
            })
            .await?;
        Ok((pending, raw))
    }

    /// `POST /register`.
    pub async fn register(&self, input: RegisterInput) -> Result<Registered> {
        let cfg = self.config();
        if !cfg.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        let RegisterInput {
            email,
            password,
            full_name,
        } = input;
        check_full_name(full_name.as_deref())?;
        let email = email.into_string();
        let stores = self.stores();
        if stores.users.get_by_email(&email).await?.is_some() {
            return Err(Error::EmailAlreadyRegistered);
        }
        let hashed = self.hasher().hash(password.expose()).await?;
        let now = self.now();
        if cfg.require_verification {
            // At most one verification mail per address per cooldown: a registration within
            // it replaces the password and name of the pending row (the newest registration
            // wins, as always) but keeps the link already mailed, and sends nothing.
            let claim = self.claim_cooldown(EmailKind::Verification, &email);
            if claim.is_none()
                && let Some(old) = stores.pending.find_by_email(&email).await?
            {
                let pending = stores
                    .pending
                    .upsert(NewPending {
                        email: old.email,
                        hashed_password: hashed,
                        full_name,
                        token_hash: old.token_hash,
                        created_at: old.created_at,
                        expires_at: old.expires_at,
                    })
                    .await?;
                tracing::info!(
                    target: "regstack.email",
                    kind = ?EmailKind::Verification,
                    "recipient's mail cooldown has not passed; registration kept its mailed link"
                );
                return Ok(Registered::Pending {
                    email: pending.email,
                    expires_at: pending.expires_at,
                });
            }
            let (pending, raw) = self
                .put_pending(email.clone(), hashed, full_name.clone())
                .await?;
            let url = cfg.verify_url(&raw);
            let sent = self
                .send_mail(
                    EmailKind::Verification,
                    &pending.email,
                    pending.full_name.as_deref(),
                    &url,
                )
                .await;
            if sent.is_err()
                && let Some(claim) = claim
            {
                // Nothing reached the address: a retry must be able to send.
                self.give_back_cooldown(claim);
            }
            sent?;
            self.hooks()
                .fire(Event::VerificationRequested {
                    email: pending.email.clone(),
                    url_without_token: redact(&url, &raw),
                    url,
                })
                .await;
            Ok(Registered::Pending {
                email: pending.email,
                expires_at: pending.expires_at,
            })
        } else {
            let mut new = NewUser::new(email, Some(hashed), now);
            new.is_verified = true;
            new.full_name = full_name;
            let user = match stores.users.create(new).await {
                Ok(u) => u,
                Err(e) if e.is_conflict() => return Err(Error::EmailAlreadyRegistered),
                Err(e) => return Err(e.into()),
            };
            self.hooks()
                .fire(Event::UserRegistered { user: user.clone() })
                .await;
            Ok(Registered::Created(user))
        }
    }

    /// `POST /verify`: turn a pending registration into a verified user. The pending row is
    /// consumed atomically, so of concurrent uses of one link exactly one succeeds.
    pub async fn verify(&self, raw_token: &str) -> Result<User> {
        let stores = self.stores();
        let Some(pending) = stores
            .pending
            .consume_by_token_hash(&token::sha256_hex(raw_token))
            .await?
        else {
            return Err(Error::InvalidVerificationToken);
        };
        if pending.expires_at <= self.now() {
            return Err(Error::InvalidVerificationToken);
        }
        let mut new = NewUser::new(
            pending.email.clone(),
            Some(pending.hashed_password.clone()),
            self.now(),
        );
        new.is_verified = true;
        new.full_name = pending.full_name.clone();
        match stores.users.create(new).await {
            Ok(user) => {
                self.hooks()
                    .fire(Event::UserVerified { user: user.clone() })
                    .await;
                Ok(user)
            }
            Err(e) if e.is_conflict() => {
                // An administrator's resend for an existing unverified user (deviation #6):
                // the pending row carries that user's own hash; verifying marks them verified.
                match stores.users.get_by_email(&pending.email).await? {
                    Some(existing)
                        if !existing.is_verified
                            && existing.hashed_password.as_deref()
                                == Some(pending.hashed_password.as_str()) =>
                    {
                        let patch = UserPatch {
                            is_verified: Some(true),
                            ..UserPatch::default()
                        };
                        let user = stores
                            .users
                            .update(&existing.id, &patch, self.now())
                            .await?
                            .ok_or(Error::InvalidVerificationToken)?;
                        self.hooks()
                            .fire(Event::UserVerified { user: user.clone() })
                            .await;
                        Ok(user)
                    }
                    _ => Err(Error::AlreadyVerified),
                }
            }
            Err(e) => {
                // Put the registration back so the link keeps working after a transient error.
                let restore = NewPending {
                    email: pending.email,
                    hashed_password: pending.hashed_password,
                    full_name: pending.full_name,
                    token_hash: pending.token_hash,
                    created_at: pending.created_at,
                    expires_at: pending.expires_at,
                };
                if let Err(e2) = stores.pending.upsert(restore).await {
                    tracing::error!(target: "regstack.verify", error = %e2, "could not restore pending registration");
                }
                Err(e.into())
            }
        }
    }

    /// `POST /resend-verification`: answers at once; the look-up and the mail happen off the
    /// request path, so neither time nor a transport failure reveals whether anything exists.
    /// At most one verification mail per address per `email.cooldown_seconds`: within it the
    /// request changes nothing (the link already mailed stays the valid one).
    pub fn resend_verification(&self, email: EmailAddress) {
        let email = email.into_string();
        let this = self.clone();
        let key = email.clone();
        self.enqueue_mail(Some((EmailKind::Verification, &key)), async move {
            if let Err(e) = this.resend_verification_now(&email).await {
                tracing::error!(target: "regstack.verify", error = %e, "resend-verification failed");
            }
        });
    }

    async fn resend_verification_now(&self, email: &str) -> Result<()> {
        let stores = self.stores();
        if stores.users.get_by_email(email).await?.is_some() {
            return Ok(());
        }
        let Some(old) = stores.pending.find_by_email(email).await? else {
            return Ok(());
        };
        let cfg = self.config();
        let (pending, raw) = self
            .put_pending(old.email, old.hashed_password, old.full_name)
            .await?;
        let url = cfg.verify_url(&raw);
        let msg = compose(
            &*self.composer(),
            cfg,
            EmailKind::Verification,
            &pending.email,
            pending.full_name.as_deref(),
            &url,
        );
        msg.check_headers()?;
        self.deliver_with_retry(msg).await;
        self.hooks()
            .fire(Event::VerificationRequested {
                email: pending.email,
                url_without_token: redact(&url, &raw),
                url,
            })
            .await;
        Ok(())
    }

    /// `POST /login`. Unknown, pending-only, password-less and wrong-password attempts all cost
    /// exactly one Argon2 verification and answer alike. The lockout admits the attempt (and
    /// counts it as a failure) before the password is evaluated, in one atomic store
    /// operation, so a parallel burst gets no more than `login_lockout_threshold` guesses.
    pub async fn login(&self, email: &EmailAddress, password: &str) -> Result<LoginOutcome> {
        let email = email.as_str();
        let lockout = self.lockout();
        let attempt = self.admit_password(email).await?;
        let user = self.stores().users.get_by_email(email).await?;
        let (user, verification) = match user {
            Some(u) => match u.hashed_password.clone() {
                Some(hash) => {
                    let v = self.hasher().verify(password, &hash).await;
                    if v == Verification::Malformed {
                        tracing::warn!(
                            target: "regstack.login",
                            user_id = %u.id,
                            "stored password hash is not an argon2 phc string; treating as mismatch"
                        );
                    }
                    (Some(u), v)
                }
                None => (Some(u), self.hasher().verify_dummy(password).await),
            },
            None => (None, self.hasher().verify_dummy(password).await),
        };
        if let Verification::Busy { retry_after } = verification {
            return Err(self.not_evaluated(&attempt, retry_after).await);
        }
        let refused = |user: Option<User>, reason: &'static str| Event::LoginFailed {
            email: email.to_owned(),
            user,
            reason,
        };
        let (user, needs_rehash) = match (user, verification) {
            (Some(user), Verification::Valid { needs_rehash }) => (user, needs_rehash),
            (user, _) => {
                self.security_event(refused(user, "invalid_credentials"))
                    .await;
                return Err(Error::InvalidCredentials {
                    remaining: lockout.remaining(&attempt),
                });
            }
        };
        // The attempt stays counted as a failure for a disabled or unverified account.
        if !user.is_active {
            self.security_event(refused(Some(user), "account_disabled"))
                .await;
            return Err(Error::AccountDisabled);
        }
        if self.config().require_verification && !user.is_verified {
            self.security_event(refused(Some(user), "email_not_verified"))
                .await;
            return Err(Error::EmailNotVerified);
        }
        // What the password was checked against: a reset or revocation that commits while the
        // hash was being verified makes the session below refused.
        let guard = UserGuard::of(&user);
        if needs_rehash {
            self.rehash_in_background(user.id.clone(), guard.clone(), password.to_owned());
        }
        if user.is_mfa_enabled
            && let Some(phone) = user.phone_number.clone()
        {
            lockout.succeeded(&attempt).await?;
            return self.start_login_mfa(user, phone).await;
        }
        match self.complete_login(user, &guard).await {
            Err(Error::InvalidCredentials { .. }) => Err(Error::InvalidCredentials {
                remaining: lockout.remaining(&attempt),
            }),
            other => other.map(|token| LoginOutcome::Token(Box::new(token))),
        }
    }

    /// Admit one password evaluation for `email` in the lockout (counted as a failure until
    /// it succeeds), or refuse it with the 429 outcome and a `login_locked_out` event.
    pub(crate) async fn admit_password(&self, email: &str) -> Result<Attempt> {
        match self.lockout().admit(email).await? {
            Ok(attempt) => Ok(attempt),
            Err(locked) => {
                self.security_event(Event::LoginLockedOut {
                    email: email.to_owned(),
                    retry_after: locked.retry_after,
                })
                .await;
                Err(Error::LockedOut {
                    retry_after: locked.retry_after,
                    window: locked.window,
                })
            }
        }
    }

    /// A password that could not be evaluated (every hashing thread stayed busy): the attempt
    /// is taken back, since nothing was guessed, and the caller answers 503.
    pub(crate) async fn not_evaluated(&self, attempt: &Attempt, retry_after: u64) -> Error {
        match self.lockout().succeeded(attempt).await {
            Ok(()) => Error::Hash(HashError::Busy { retry_after }),
            Err(e) => e.into(),
        }
    }

    /// Replace an outdated hash of a password just verified, unless the password changed in
    /// the meantime (a compare-and-set on the hash that was verified).
    fn rehash_in_background(&self, user_id: String, guard: UserGuard, password: String) {
        let this = self.clone();
        self.spawn_background(async move {
            let result = async {
                let hash = this.hasher().hash(&password).await?;
                let patch = UserPatch {
                    hashed_password: Some(Some(hash)),
                    ..UserPatch::default()
                };
                let done = this
                    .stores()
                    .users
                    .update_guarded(&user_id, &guard, &patch, this.now())
                    .await?;
                if done.is_none() {
                    tracing::info!(
                        target: "regstack.login",
                        user_id = %user_id,
                        "password changed before the rehash finished; rehash dropped"
                    );
                }
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(target: "regstack.login", error = %e, "password rehash failed");
            }
        });
    }

    async fn start_login_mfa(&self, user: User, phone: String) -> Result<LoginOutcome> {
        let cfg = self.config();
        let code = self.issue_mfa_code(&user.id, MfaKind::LoginMfa).await?;
        let body = default_text(
            SmsKind::LoginMfa,
            &cfg.app_name,
            &code,
            (cfg.sms_code_ttl_seconds / 60).max(1),
        );
        self.sms()
            .send(&SmsMessage {
                kind: SmsKind::LoginMfa,
                to: phone,
                from: cfg.sms.from_number.clone(),
                body,
            })
            .await?;
        let (pending, _) = self
            .jwt()
            .issue(Purpose::LoginMfa, &user.id, Extra::default());
        self.hooks().fire(Event::MfaLoginStarted { user }).await;
        Ok(LoginOutcome::MfaRequired {
            mfa_pending_token: pending,
            expires_in: self.jwt().ttl_seconds(Purpose::LoginMfa),
        })
    }

    /// Store a fresh SMS code of `kind` for a user (replacing any earlier one); returns the
    /// raw code.
    pub async fn issue_mfa_code(&self, user_id: &str, kind: MfaKind) -> Result<String> {
        let cfg = self.config();
        let code = token::numeric_code(cfg.sms_code_length);
        let now = self.now();
        self.stores()
            .mfa_codes
            .put(MfaCode {
                user_id: user_id.to_owned(),
                kind,
                code_hash: token::sha256_hex(&code),
                expires_at: now + Duration::seconds(cfg.sms_code_ttl_seconds),
                attempts: 0,
                max_attempts: cfg.sms_code_max_attempts,
                created_at: now,
            })
            .await?;
        Ok(code)
    }

    /// Check an SMS code; a correct code is consumed exactly once. A refused code is an
    /// [`Error::MfaCode`] and an `mfa_failed` security event.
    pub async fn verify_mfa_code(
        &self,
        user_id: &str,
        kind: MfaKind,
        raw_code: &str,
    ) -> Result<()> {
        match self.check_mfa_code(user_id, kind, raw_code).await? {
            None => Ok(()),
            Some(failure) => {
                self.security_event(Event::MfaFailed {
                    user_id: user_id.to_owned(),
                    reason: match failure {
                        MfaFailure::Missing => "missing",
                        MfaFailure::Locked => "locked",
                        MfaFailure::Expired => "expired",
                        MfaFailure::Wrong { .. } => "wrong",
                    },
                })
                .await;
                Err(Error::MfaCode(failure))
            }
        }
    }

    /// Why the code is refused, or `None` once it was consumed.
    async fn check_mfa_code(
        &self,
        user_id: &str,
        kind: MfaKind,
        raw_code: &str,
    ) -> Result<Option<MfaFailure>> {
        let codes = &self.stores().mfa_codes;
        let Some(row) = codes.get(user_id, kind).await? else {
            return Ok(Some(MfaFailure::Missing));
        };
        if row.attempts >= row.max_attempts {
            codes.delete(user_id, kind).await?;
            return Ok(Some(MfaFailure::Locked));
        }
        if row.expires_at <= self.now() {
            codes.delete(user_id, kind).await?;
            return Ok(Some(MfaFailure::Expired));
        }
        if !token::constant_time_eq(&token::sha256_hex(raw_code), &row.code_hash) {
            let Some(attempts) = codes.increment_attempts(user_id, kind).await? else {
                return Ok(Some(MfaFailure::Missing));
            };
            let remaining = (row.max_attempts - attempts).max(0);
            if remaining == 0 {
                codes.delete(user_id, kind).await?;
                return Ok(Some(MfaFailure::Locked));
            }
            return Ok(Some(MfaFailure::Wrong {
                attempts_remaining: remaining,
            }));
        }
        if codes.delete(user_id, kind).await? {
            Ok(None)
        } else {
            Ok(Some(MfaFailure::Missing))
        }
    }

    /// `POST /login/mfa-confirm`.
    pub async fn login_mfa_confirm(&self, pending_token: &str, code: &str) -> Result<SessionToken> {
        let claims = self
            .jwt()
            .decode(pending_token, Purpose::LoginMfa)
            .map_err(|_| Error::InvalidMfaSession)?;
        self.verify_mfa_code(&claims.sub, MfaKind::LoginMfa, code)
            .await?;
        let user = match self.stores().users.get_by_id(&claims.sub).await? {
            Some(u) if u.is_active => u,
            _ => return Err(Error::TokenAccountMismatch),
        };
        // The pending sign-in was issued before a password change or revocation: refused.
        if let Some(cutoff) = user.tokens_invalidated_after
            && claims.iat <= cutoff
        {
            return Err(Error::InvalidMfaSession);
        }
        let guard = UserGuard::of(&user);
        self.complete_login(user, &guard)
            .await
            .map_err(|e| match e {
                Error::InvalidCredentials { .. } => Error::InvalidMfaSession,
                e => e,
            })
    }

    /// Issue a session token, record the login, clear lockout and fire `user_logged_in`.
    ///
    /// The login is recorded with a compare-and-set on `guard` (the password hash and cutoff
    /// the credentials were checked against): when a password change, reset or revocation
    /// committed since, the token is never handed out (`InvalidCredentials`). A change that
    /// commits after this write stamps its cutoff after it (see `set_password`), so the token
    /// dies with it.
    async fn complete_login(&self, user: User, guard: &UserGuard) -> Result<SessionToken> {
        let (access_token, claims) = self
            .jwt()
            .issue(Purpose::Session, &user.id, Extra::default());
        let patch = UserPatch {
            last_login: Some(Some(claims.iat)),
            ..UserPatch::default()
        };
        let Some(user) = self
            .stores()
            .users
            .update_guarded(&user.id, guard, &patch, self.now())
            .await?
        else {
            self.security_event(Event::LoginFailed {
                email: user.email.clone(),
                user: Some(user),
                reason: "session_invalidated",
            })
            .await;
            return Err(Error::InvalidCredentials { remaining: None });
        };
        self.lockout().clear(&user.email).await?;
        self.hooks()
            .fire(Event::UserLoggedIn { user: user.clone() })
            .await;
        Ok(SessionToken {
            access_token,
            expires_in: self.jwt().ttl_seconds(Purpose::Session),
            claims,
            user,
        })
    }

    /// Bearer authentication (regstack 0.9.3's HTTP API): decode, revocation, user, cutoff.
    pub async fn authenticate(&self, bearer_token: &str) -> Result<Authenticated> {
        let claims = self
            .jwt()
            .decode(bearer_token, Purpose::Session)
            .map_err(|_| AuthFailure::InvalidToken)?;
        let found = self.stores().session(&claims.jti, &claims.sub).await?;
        if found.revoked {
            return Err(AuthFailure::Revoked.into());
        }
        let user = match found.user {
            Some(u) if u.is_active => u,
            _ => return Err(AuthFailure::Inactive.into()),
        };
        if let Some(cutoff) = user.tokens_invalidated_after
            && claims.iat <= cutoff
        {
            return Err(AuthFailure::Invalidated.into());
        }
        Ok(Authenticated { user, claims })
    }

    /// `POST /logout`: revoke the presented token until its expiry.
    pub async fn logout(&self, auth: &Authenticated) -> Result<()> {
        self.stores()
            .revocations
            .revoke(&auth.claims.jti, auth.claims.exp)
            .await?;
        self.hooks()
            .fire(Event::UserLoggedOut {
                user: auth.user.clone(),
            })
            .await;
        Ok(())
    }

    /// `PATCH /me`: `None` leaves the name alone, `Some(None)` clears it. Returns the stored row.
    pub async fn update_profile(
        &self,
        user: &User,
        full_name: Option<Option<String>>,
    ) -> Result<User> {
        check_full_name(full_name.as_ref().and_then(Option::as_deref))?;
        let patch = UserPatch {
            full_name,
            ..UserPatch::default()
        };
        self.stores()
            .users
            .update(&user.id, &patch, self.now())
            .await?
            .ok_or(Error::Auth(AuthFailure::Inactive))
    }
}

/// Refuse a `full_name` with control or bidirectional formatting characters.
pub(crate) fn check_full_name(name: Option<&str>) -> Result<()> {
    match name.and_then(crate::full_name_problem) {
        Some(reason) => Err(Error::InvalidFullName(reason)),
        None => Ok(()),
    }
}
