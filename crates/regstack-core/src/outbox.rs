//! Bounded mail delivery. Deferred messages (forgot-password, resend-verification,
//! change-email, security notices) wait in a queue of `email.queue_capacity`; what does not fit
//! is dropped, logged and counted, never queued without end. At most
//! `email.max_concurrent_sends` messages are in the transport at once, deferred and inline
//! together, so a burst of requests cannot open more SMTP sessions (or SES calls) than that.
//! A per-recipient cooldown (`email.cooldown_seconds`) lets through at most one message of a
//! kind per address in that time: a flood of forgot-password requests for one address sends
//! one mail.
//!
//! The cooldown is kept per process and reads the injected [`Clock`](crate::Clock), like every
//! other time rule.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::RegStack;
use crate::config::EmailConfig;
use crate::mail::{EmailKind, EmailMessage};

/// The log target of mail delivery.
const LOG_TARGET: &str = "regstack.email";

/// Cooldown entries kept at most; past it (after dropping the expired ones) a new recipient's
/// message is dropped rather than the map grown.
const MAX_COOLDOWN_ENTRIES: usize = 100_000;

/// Counters of the mail queue since start ([`RegStack::mail_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    /// Deferred messages accepted into the queue.
    pub queued: u64,
    /// Messages the transport accepted (deferred and inline).
    pub sent: u64,
    /// Deferred messages given up after every retry failed.
    pub failed: u64,
    /// Deferred messages dropped because the queue was full.
    pub dropped: u64,
    /// Requests that sent nothing because the recipient's cooldown had not passed.
    pub suppressed: u64,
}

/// The queue, the transport permits and the cooldown of one regstack instance.
pub(crate) struct Outbox {
    slots: Arc<Semaphore>,
    sends: Arc<Semaphore>,
    cooldown: Duration,
    recent: Mutex<HashMap<(EmailKind, String), DateTime<Utc>>>,
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    suppressed: AtomicU64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("free_slots", &self.slots.available_permits())
            .field("free_sends", &self.sends.available_permits())
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

/// A claimed cooldown of one recipient: given back when the message could not be queued.
pub(crate) struct Claim {
    key: (EmailKind, String),
}

impl Outbox {
    pub(crate) fn new(config: &EmailConfig) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(config.queue_capacity.max(1))),
            sends: Arc::new(Semaphore::new(config.max_concurrent_sends.max(1))),
            cooldown: Duration::from_secs(config.cooldown_seconds),
            recent: Mutex::new(HashMap::new()),
            queued: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> MailStats {
        MailStats {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            suppressed: self.suppressed.load(Ordering::Relaxed),
        }
    }

    /// Claim the cooldown of `recipient` for `kind` at `now`: `None` when a message of this
    /// kind went (or is going) to that address within the cooldown, or when no more
    /// recipients can be tracked.
    fn claim(&self, kind: EmailKind, recipient: &str, now: DateTime<Utc>) -> Option<Claim> {
        let key = (kind, recipient.to_lowercase());
        if self.cooldown.is_zero() {
            return Some(Claim { key });
        }
        let cooldown = chrono::Duration::from_std(self.cooldown).unwrap_or(chrono::Duration::MAX);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = recent.get(&key)
            && *until > now
        {
            return None;
        }
        if recent.len() >= MAX_COOLDOWN_ENTRIES {
            recent.retain(|_, until| *until > now);
            if recent.len() >= MAX_COOLDOWN_ENTRIES {
                return None;
            }
        }
        recent.insert(key.clone(), now + cooldown);
        Some(Claim { key })
    }

    fn give_back(&self, claim: Claim) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.remove(&claim.key);
    }
}

impl RegStack {
    fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// Counters of the mail queue since start: queued, sent, failed, dropped (queue full) and
    /// suppressed (recipient cooldown).
    pub fn mail_stats(&self) -> MailStats {
        self.outbox().stats()
    }

    /// Claim the cooldown of `recipient` for `kind` now: `None` when a message of this kind
    /// went (or is going) to that address within `email.cooldown_seconds`. For a flow that
    /// sends inline and decides itself what to do instead; a send that fails gives the claim
    /// back ([`RegStack::give_back_cooldown`]).
    pub(crate) fn claim_cooldown(&self, kind: EmailKind, recipient: &str) -> Option<Claim> {
        let outbox = self.outbox();
        let claim = outbox.claim(kind, recipient, self.clock().now());
        if claim.is_none() {
            outbox.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        claim
    }

    /// A message claimed with [`RegStack::claim_cooldown`] was not sent: the recipient may
    /// get the next one at once.
    pub(crate) fn give_back_cooldown(&self, claim: Claim) {
        self.outbox().give_back(claim);
    }

    /// Run `work` (a look-up and a deferred send) off the request path, in a slot of the
    /// bounded mail queue. With `cooldown = Some((kind, recipient))`, nothing happens when a
    /// message of `kind` went to `recipient` within `email.cooldown_seconds` — the check comes
    /// before `work`, so no new token replaces one already mailed. A full queue drops `work`
    /// (logged at WARN, counted). The request's answer is the same in every case.
    pub(crate) fn enqueue_mail<F>(&self, cooldown: Option<(EmailKind, &str)>, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let outbox = self.outbox();
        let claim = match cooldown {
            Some((kind, recipient)) => match outbox.claim(kind, recipient, self.clock().now()) {
                Some(claim) => Some(claim),
                None => {
                    outbox.suppressed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        target: LOG_TARGET,
                        kind = ?kind,
                        "recipient's mail cooldown has not passed; nothing sent"
                    );
                    return;
                }
            },
            None => None,
        };
        let slot: OwnedSemaphorePermit = match outbox.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(claim) = claim {
                    outbox.give_back(claim);
                }
                let dropped = outbox.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    target: LOG_TARGET,
                    dropped,
                    kind = ?cooldown.map(|(k, _)| k),
                    "mail queue full; message dropped"
                );
                return;
            }
        };
        outbox.queued.fetch_add(1, Ordering::Relaxed);
        self.spawn_background(async move {
            work.await;
            drop(slot);
        });
    }

    /// Deliver `message` now, within the transport bound (errors propagate).
    pub(crate) async fn send_bounded(&self, message: &EmailMessage) -> crate::Result<()> {
        let outbox = self.outbox();
        let _permit = outbox
            .sends
            .acquire()
            .await
            .map_err(|_| crate::mail::MailError::Transport("mail transport closed".into()))?;
        self.mailer().send(message).await?;
        outbox.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Deliver a deferred message, retrying a failing transport with backoff. The transport
    /// permit is held for each attempt only, not across the waits.
    pub(crate) async fn deliver_with_retry(&self, message: EmailMessage) {
        const DELAYS_MS: [u64; 3] = [250, 1_000, 4_000];
        for attempt in 0..=DELAYS_MS.len() {
            match self.send_bounded(&message).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(
                        target: LOG_TARGET,
                        kind = ?message.kind,
                        attempt = attempt + 1,
                        error = %e,
                        "deferred email delivery failed"
                    );
                    match DELAYS_MS.get(attempt) {
                        Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                        None => {
                            self.outbox().failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(cooldown: u64) -> Outbox {
        Outbox::new(&EmailConfig {
            cooldown_seconds: cooldown,
            ..EmailConfig::default()
        })
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn one_message_per_kind_and_recipient_per_cooldown() {
        let o = outbox(60);
        assert!(
            o.claim(EmailKind::PasswordReset, "A@example.com", at(0))
                .is_some()
        );
        // The same address in another case, within the cooldown: refused.
        assert!(
            o.claim(EmailKind::PasswordReset, "a@example.com", at(59))
                .is_none()
        );
        // Another kind or another address: its own cooldown.
        assert!(
            o.claim(EmailKind::Verification, "a@example.com", at(1))
                .is_some()
        );
        assert!(
            o.claim(EmailKind::PasswordReset, "b@example.com", at(1))
                .is_some()
        );
        // Once it has passed, one more.
        assert!(
            o.claim(EmailKind::PasswordReset, "a@example.com", at(60))
                .is_some()
        );
        assert!(
            o.claim(EmailKind::PasswordReset, "a@example.com", at(61))
                .is_none()
        );
    }

    #[test]
    fn a_given_back_claim_frees_the_recipient_and_zero_turns_it_off() {
        let o = outbox(60);
        let claim = o
            .claim(EmailKind::EmailChange, "a@example.com", at(0))
            .unwrap();
        o.give_back(claim);
        assert!(
            o.claim(EmailKind::EmailChange, "a@example.com", at(1))
                .is_some()
        );
        let off = outbox(0);
        for _ in 0..3 {
            assert!(
                off.claim(EmailKind::PasswordReset, "a@example.com", at(0))
                    .is_some()
            );
        }
        assert!(off.recent.lock().unwrap().is_empty());
    }

    #[test]
    fn expired_entries_are_dropped_when_the_map_is_full() {
        let o = outbox(60);
        {
            let mut recent = o.recent.lock().unwrap();
            for i in 0..MAX_COOLDOWN_ENTRIES {
                recent.insert((EmailKind::PasswordReset, format!("{i}@x")), at(10));
            }
        }
        // Full of live entries: a new recipient is refused rather than the map grown.
        assert!(o.claim(EmailKind::PasswordReset, "new@x", at(5)).is_none());
        // Once they have expired they make room.
        assert!(o.claim(EmailKind::PasswordReset, "new@x", at(11)).is_some());
        assert_eq!(o.recent.lock().unwrap().len(), 1);
    }
}
