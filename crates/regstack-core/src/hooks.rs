//! The event bus (regstack 0.9.3's mail and SMS texts): handlers per event name, sync handlers inline in
//! registration order, async handlers concurrently; a failing or panicking handler is logged and
//! never changes the outcome of a flow.

use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};

use futures::FutureExt as _;
use futures::future::BoxFuture;

use crate::domain::User;

/// Error type a handler may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event fired by a flow, with the arguments of regstack 0.9.3's mail and SMS texts
#[non_exhaustive]
#[derive(Clone)]
pub enum Event {
    UserRegistered {
        user: User,
    },
    /// `url` is a live single-use credential; log `url_without_token` instead.
    VerificationRequested {
        email: String,
        url: String,
        url_without_token: String,
    },
    UserVerified {
        user: User,
    },
    UserLoggedIn {
        user: User,
    },
    UserLoggedOut {
        user: User,
    },
    PasswordResetRequested {
        user: User,
        url: String,
        url_without_token: String,
    },
    PasswordResetCompleted {
        user: User,
    },
    PasswordChanged {
        user: User,
    },
    EmailChangeRequested {
        user: User,
        new_email: String,
        url: String,
        url_without_token: String,
    },
    EmailChanged {
        user: User,
        previous_email: String,
    },
    PhoneSetupStarted {
        user: User,
        phone: String,
    },
    MfaEnabled {
        user: User,
    },
    PhoneSetupDisabled {
        user: User,
    },
    MfaDisabled {
        user: User,
    },
    MfaLoginStarted {
        user: User,
    },
    UserDeleted {
        user: User,
    },
    OAuthSigninStarted {
        provider: String,
        mode: String,
        user: Option<User>,
    },
    OAuthSigninCompleted {
        user: User,
        provider: String,
        mode: String,
        was_new: bool,
        mfa_required: bool,
    },
    OAuthAccountLinked {
        user: User,
        provider: String,
    },
    OAuthAccountUnlinked {
        user: User,
        provider: String,
    },
    /// A password was evaluated and refused: at login (`reason` `invalid_credentials`,
    /// `account_disabled`, `email_not_verified`, `session_invalidated`) or as the current
    /// password of an account change (`current_password`). `user` is `None` for an unknown
    /// email.
    LoginFailed {
        email: String,
        user: Option<User>,
        reason: &'static str,
    },
    /// A password evaluation was refused because the account is locked out.
    LoginLockedOut {
        email: String,
        retry_after: u64,
    },
    /// An SMS code was refused (`reason`: `missing`, `locked`, `expired`, `wrong`).
    MfaFailed {
        user_id: String,
        reason: &'static str,
    },
    /// An administrator changed a user (the fields set in the request).
    AdminUserUpdated {
        user: User,
        is_active: Option<bool>,
        is_superuser: Option<bool>,
        full_name_changed: bool,
    },
    /// An administrator deleted a user (`user_deleted` fires too).
    AdminUserDeleted {
        user: User,
    },
    /// An event fired by a host under its own name.
    Custom {
        name: String,
        data: serde_json::Value,
    },
}

impl Event {
    /// The event name handlers register under.
    pub fn name(&self) -> &str {
        match self {
            Event::UserRegistered { .. } => "user_registered",
            Event::VerificationRequested { .. } => "verification_requested",
            Event::UserVerified { .. } => "user_verified",
            Event::UserLoggedIn { .. } => "user_logged_in",
            Event::UserLoggedOut { .. } => "user_logged_out",
            Event::PasswordResetRequested { .. } => "password_reset_requested",
            Event::PasswordResetCompleted { .. } => "password_reset_completed",
            Event::PasswordChanged { .. } => "password_changed",
            Event::EmailChangeRequested { .. } => "email_change_requested",
            Event::EmailChanged { .. } => "email_changed",
            Event::PhoneSetupStarted { .. } => "phone_setup_started",
            Event::MfaEnabled { .. } => "mfa_enabled",
            Event::PhoneSetupDisabled { .. } => "phone_setup_disabled",
            Event::MfaDisabled { .. } => "mfa_disabled",
            Event::MfaLoginStarted { .. } => "mfa_login_started",
            Event::UserDeleted { .. } => "user_deleted",
            Event::OAuthSigninStarted { .. } => "oauth_signin_started",
            Event::OAuthSigninCompleted { .. } => "oauth_signin_completed",
            Event::OAuthAccountLinked { .. } => "oauth_account_linked",
            Event::OAuthAccountUnlinked { .. } => "oauth_account_unlinked",
            Event::LoginFailed { .. } => "login_failed",
            Event::LoginLockedOut { .. } => "login_locked_out",
            Event::MfaFailed { .. } => "mfa_failed",
            Event::AdminUserUpdated { .. } => "admin_user_updated",
            Event::AdminUserDeleted { .. } => "admin_user_deleted",
            Event::Custom { name, .. } => name,
        }
    }

    /// The user the event is about, when there is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Event::UserRegistered { user }
            | Event::UserVerified { user }
            | Event::UserLoggedIn { user }
            | Event::UserLoggedOut { user }
            | Event::PasswordResetRequested { user, .. }
            | Event::PasswordResetCompleted { user }
            | Event::PasswordChanged { user }
            | Event::EmailChangeRequested { user, .. }
            | Event::EmailChanged { user, .. }
            | Event::PhoneSetupStarted { user, .. }
            | Event::MfaEnabled { user }
            | Event::PhoneSetupDisabled { user }
            | Event::MfaDisabled { user }
            | Event::MfaLoginStarted { user }
            | Event::UserDeleted { user }
            | Event::OAuthSigninCompleted { user, .. }
            | Event::OAuthAccountLinked { user, .. }
            | Event::OAuthAccountUnlinked { user, .. }
            | Event::AdminUserUpdated { user, .. }
            | Event::AdminUserDeleted { user } => Some(user),
            Event::OAuthSigninStarted { user, .. } | Event::LoginFailed { user, .. } => {
                user.as_ref()
            }
            Event::VerificationRequested { .. }
            | Event::LoginLockedOut { .. }
            | Event::MfaFailed { .. }
            | Event::Custom { .. } => None,
        }
    }
}

impl fmt::Debug for Event {
    /// Never prints a live credential: URLs appear only in their redacted form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("name", &self.name());
        if let Some(u) = self.user() {
            d.field("user_id", &u.id);
        }
        match self {
            Event::VerificationRequested {
                email,
                url_without_token,
                ..
            } => {
                d.field("email", email).field("url", url_without_token);
            }
            Event::PasswordResetRequested {
                url_without_token, ..
            } => {
                d.field("url", url_without_token);
            }
            Event::EmailChangeRequested {
                new_email,
                url_without_token,
                ..
            } => {
                d.field("new_email", new_email)
                    .field("url", url_without_token);
            }
            Event::LoginFailed { reason, .. } | Event::MfaFailed { reason, .. } => {
                d.field("reason", reason);
            }
            _ => {}
        }
        d.finish_non_exhaustive()
    }
}

/// Replace the token (raw and percent-encoded) in `url` with `[REDACTED]` (`messaging.md` §6).
pub fn redact(url: &str, token: &str) -> String {
    if token.is_empty() {
        return url.to_owned();
    }
    let mut out = url.replace(token, "[REDACTED]");
    let encoded: String = token
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if encoded != token {
        out = out.replace(&encoded, "[REDACTED]");
    }
    out
}

type SyncHandler = Arc<dyn Fn(&Event) -> Result<(), HookError> + Send + Sync>;
type AsyncHandler = Arc<dyn Fn(Event) -> BoxFuture<'static, Result<(), HookError>> + Send + Sync>;

#[derive(Clone)]
enum Handler {
    Sync(SyncHandler),
    Async(AsyncHandler),
}

/// The registry of event handlers of one regstack instance.
#[derive(Default)]
pub struct HookRegistry {
    handlers: RwLock<HashMap<String, Vec<Handler>>>,
}

impl fmt::Debug for HookRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.handlers.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        names.sort();
        f.debug_struct("HookRegistry")
            .field("handlers", &names)
            .finish()
    }
}

impl HookRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, event: impl Into<String>, h: Handler) {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.into())
            .or_default()
            .push(h);
    }

    /// Register a synchronous handler; it runs inline, in registration order.
    pub fn on<F>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(&Event) -> Result<(), HookError> + Send + Sync + 'static,
    {
        self.push(event, Handler::Sync(Arc::new(handler)));
    }

    /// Register an asynchronous handler; async handlers of one event run concurrently and the
    /// flow waits for all of them.
    pub fn on_async<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.push(
            event,
            Handler::Async(Arc::new(move |e| Box::pin(handler(e)))),
        );
    }

    /// Number of handlers registered for `event`.
    pub fn handler_count(&self, event: &str) -> usize {
        self.handlers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event)
            .map_or(0, Vec::len)
    }

    /// Fire an event. Never fails: handler errors and panics are logged and swallowed.
    pub async fn fire(&self, event: Event) {
        let handlers: Vec<Handler> = {
            let map = self.handlers.read().unwrap_or_else(|e| e.into_inner());
            match map.get(event.name()) {
                Some(v) if !v.is_empty() => v.clone(),
                _ => return,
            }
        };
        let name = event.name().to_owned();
        let mut pending = Vec::new();
        for h in handlers {
            match h {
                Handler::Sync(f) => {
                    match std::panic::catch_unwind(AssertUnwindSafe(|| f(&event))) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(
                            target: "regstack.hooks",
                            error = %e,
                            "regstack hook '{name}' raised synchronously"
                        ),
                        Err(_) => tracing::error!(
                            target: "regstack.hooks",
                            "regstack hook '{name}' raised synchronously (panic)"
                        ),
                    }
                }
                Handler::Async(f) => {
                    let ev = event.clone();
                    pending.push(async move { AssertUnwindSafe(f(ev)).catch_unwind().await });
                }
            }
        }
        for outcome in futures::future::join_all(pending).await {
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(
                    target: "regstack.hooks",
                    error = %e,
                    "regstack hook '{name}' raised in awaitable"
                ),
                Err(_) => tracing::error!(
                    target: "regstack.hooks",
                    "regstack hook '{name}' raised in awaitable (panic)"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn custom(name: &str) -> Event {
        Event::Custom {
            name: name.into(),
            data: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn sync_handlers_run_in_order_and_failures_are_swallowed() {
        let hooks = HookRegistry::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        hooks.on("e", move |_| {
            s.lock().unwrap().push(1);
            Err("boom".into())
        });
        hooks.on("e", |_| panic!("handler panic"));
        let s = seen.clone();
        hooks.on("e", move |_| {
            s.lock().unwrap().push(3);
            Ok(())
        });
        hooks.fire(custom("e")).await;
        hooks.fire(custom("other")).await;
        assert_eq!(*seen.lock().unwrap(), vec![1, 3]);
    }

    #[tokio::test]
    async fn async_handlers_all_complete_even_when_one_fails() {
        let hooks = HookRegistry::new();
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let c = count.clone();
            hooks.on_async("e", move |_ev| {
                let c = c.clone();
                async move {
                    tokio::task::yield_now().await;
                    c.fetch_add(1, Ordering::SeqCst);
                    if i == 1 {
                        return Err("async boom".into());
                    }
                    Ok(())
                }
            });
        }
        hooks.on_async("e", |_ev| async { panic!("async panic") });
        hooks.fire(custom("e")).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn redaction_covers_raw_and_encoded_forms() {
        assert_eq!(
            redact("http://x/verify?token=abc_DEF-1", "abc_DEF-1"),
            "http://x/verify?token=[REDACTED]"
        );
        assert_eq!(
            redact("http://x/?t=a%2Fb&u=a/b", "a/b"),
            "http://x/?t=[REDACTED]&u=[REDACTED]"
        );
        assert_eq!(redact("http://x/", ""), "http://x/");
    }

    #[test]
    fn debug_never_shows_live_url() {
        let ev = Event::VerificationRequested {
            email: "a@example.com".into(),
            url: "http://x/verify?token=SECRET".into(),
            url_without_token: "http://x/verify?token=[REDACTED]".into(),
        };
        let s = format!("{ev:?}");
        assert!(!s.contains("SECRET"), "{s}");
    }
}
