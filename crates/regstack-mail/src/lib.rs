#![doc = include_str!("../README.md")]

mod compose;
mod error;
#[cfg(feature = "ses")]
mod ses;
#[cfg(feature = "smtp")]
mod smtp;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use regstack_core::config::EmailConfig;
use regstack_core::mail::MailError;
use regstack_core::{EmailMessage, Mailer};
use tokio::sync::Notify;

pub use crate::compose::{
    AskamaComposer, AskamaComposerBuilder, KindRenderer, MailTheme, render_bundled,
};
pub use crate::error::{Error, Result};
#[cfg(feature = "ses")]
pub use crate::ses::SesMailer;
#[cfg(feature = "smtp")]
pub use crate::smtp::SmtpMailer;
/// The AWS SDK for SES, so hosts build a client ([`SesMailer::from_client`]) with a matching
/// version.
#[cfg(feature = "ses")]
pub use aws_sdk_sesv2;
/// lettre, so hosts build a transport ([`SmtpMailer::from_transport`]) with a matching version.
#[cfg(feature = "smtp")]
pub use lettre;

/// How many messages the console outbox keeps (oldest dropped first).
pub const CONSOLE_OUTBOX_LIMIT: usize = 100;

/// The development transport: logs instead of sending.
#[derive(Debug, Default)]
pub struct ConsoleMailer {
    log_bodies: bool,
    outbox: Mutex<VecDeque<EmailMessage>>,
}

impl ConsoleMailer {
    /// A console mailer; `log_bodies` logs the text body at INFO instead of DEBUG.
    pub fn new(log_bodies: bool) -> Self {
        Self {
            log_bodies,
            outbox: Mutex::new(VecDeque::new()),
        }
    }

    /// A console mailer configured from `[email]`.
    pub fn from_config(config: &EmailConfig) -> Self {
        Self::new(config.log_bodies)
    }

    /// The most recent messages, oldest first.
    pub fn outbox(&self) -> Vec<EmailMessage> {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Mailer for ConsoleMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        message.check_headers()?;
        tracing::info!(
            target: "regstack.email.console",
            "[regstack/console-email] To: {} | From: {} | Subject: {}",
            message.to,
            message.from_header(),
            message.subject
        );
        if self.log_bodies {
            tracing::info!(
                target: "regstack.email.console",
                "[regstack/console-email] text body:\n{}",
                message.text
            );
        } else {
            tracing::debug!(
                target: "regstack.email.console",
                "[regstack/console-email] text body:\n{}",
                message.text
            );
        }
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if outbox.len() == CONSOLE_OUTBOX_LIMIT {
            outbox.pop_front();
        }
        outbox.push_back(message.clone());
        Ok(())
    }
}

/// A test transport that keeps every message.
#[derive(Debug, Default)]
pub struct CapturingMailer {
    messages: Mutex<Vec<EmailMessage>>,
    failing: AtomicBool,
    arrived: Notify,
}

/// The error a failing [`CapturingMailer`] returns.
#[derive(Debug, Clone, Copy)]
pub struct TransportDown;

impl std::fmt::Display for TransportDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("capturing transport told to fail")
    }
}

impl std::error::Error for TransportDown {}

impl CapturingMailer {
    /// An empty capturing mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message delivered so far.
    pub fn messages(&self) -> Vec<EmailMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make every following send fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Wait until at least `n` messages were delivered, or `timeout` passes.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<EmailMessage> {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self
                    .messages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len()
                    >= n
                {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.messages()
    }
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        message.check_headers()?;
        if self.failing.load(Ordering::SeqCst) {
            return Err(MailError::Transport(Box::new(TransportDown)));
        }
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// Extract the `?token=` value of the first link in a text body.
pub fn token_from_text(text: &str) -> Option<String> {
    let start = text.find("?token=")? + "?token=".len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._-+/=%".contains(c)))
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use regstack_core::EmailKind;

    fn msg() -> EmailMessage {
        EmailMessage {
            kind: EmailKind::Verification,
            to: "a@example.com".into(),
            from_name: "App".into(),
            from_address: "noreply@example.com".into(),
            subject: "Confirm your App account".into(),
            text: "Hi,\n\nx\n\n  http://localhost:8000/verify?token=abc-DEF_1\n\nbye\n".into(),
            html: "<p>x</p>".into(),
        }
    }

    #[tokio::test]
    async fn console_keeps_a_bounded_outbox() {
        let m = ConsoleMailer::new(true);
        for _ in 0..(CONSOLE_OUTBOX_LIMIT + 5) {
            m.send(&msg()).await.unwrap();
        }
        assert_eq!(m.outbox().len(), CONSOLE_OUTBOX_LIMIT);
    }

    #[tokio::test]
    async fn capturing_can_fail_and_be_awaited() {
        let m = CapturingMailer::new();
        m.set_failing(true);
        assert!(m.send(&msg()).await.is_err());
        m.set_failing(false);
        m.send(&msg()).await.unwrap();
        assert_eq!(m.wait_for(1, Duration::from_secs(1)).await.len(), 1);
        let mut bad = msg();
        bad.to = "a@example.com\r\nBcc: x@example.com".into();
        assert!(m.send(&bad).await.is_err());
    }

    #[test]
    fn token_extraction() {
        assert_eq!(token_from_text(&msg().text).as_deref(), Some("abc-DEF_1"));
        assert_eq!(token_from_text("no link"), None);
    }
}
