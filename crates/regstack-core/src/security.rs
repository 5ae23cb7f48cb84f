//! Security events: each one is a hook event and one structured log line on the
//! `regstack.security` target. No line carries a secret; the email address appears only when
//! `log_security_emails` asks for it.

use crate::RegStack;
use crate::hooks::Event;

/// The log target of security events.
pub const LOG_TARGET: &str = "regstack.security";

impl RegStack {
    /// Log `event` on [`LOG_TARGET`] and fire it.
    pub(crate) async fn security_event(&self, event: Event) {
        self.log_security(&event);
        self.hooks().fire(event).await;
    }

    fn log_security(&self, event: &Event) {
        let name = event.name();
        let user_id = event.user().map(|u| u.id.as_str()).unwrap_or("");
        let with_email = self.config().log_security_emails;
        match event {
            Event::LoginFailed { email, reason, .. } => {
                if with_email {
                    tracing::info!(target: LOG_TARGET, event = name, user_id, reason, email = %email, "password refused");
                } else {
                    tracing::info!(target: LOG_TARGET, event = name, user_id, reason, "password refused");
                }
            }
            Event::LoginLockedOut { email, retry_after } => {
                if with_email {
                    tracing::warn!(target: LOG_TARGET, event = name, retry_after, email = %email, "account locked out");
                } else {
                    tracing::warn!(target: LOG_TARGET, event = name, retry_after, "account locked out");
                }
            }
            Event::MfaFailed { user_id, reason } => {
                tracing::info!(target: LOG_TARGET, event = name, user_id = %user_id, reason, "sms code refused");
            }
            Event::AdminUserUpdated {
                is_active,
                is_superuser,
                full_name_changed,
                ..
            } => {
                tracing::info!(
                    target: LOG_TARGET,
                    event = name,
                    user_id,
                    is_active = ?is_active,
                    is_superuser = ?is_superuser,
                    full_name_changed,
                    "administrator changed a user"
                );
            }
            _ => {
                tracing::info!(target: LOG_TARGET, event = name, user_id, "security event");
            }
        }
    }
}
