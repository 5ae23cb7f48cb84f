//! Per-account login lockout (regstack 0.9.3's data model), counted in the store so that every server
//! process sharing a database shares the counts.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::store::{Admission, LoginAttemptStore, StoreResult};

/// Lockout settings and the store they count in.
#[derive(Debug, Clone)]
pub struct Lockout {
    attempts: Arc<dyn LoginAttemptStore>,
    clock: Arc<dyn Clock>,
    enabled: bool,
    threshold: u64,
    window_seconds: i64,
}

/// A locked account: when it unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    /// Seconds until the lockout actually ends (rounded up, at least 1).
    pub retry_after: u64,
    /// The configured window in seconds.
    pub window: u64,
}

/// One admitted password evaluation, counted as a failure until [`Lockout::succeeded`].
#[derive(Debug, Clone)]
pub struct Attempt {
    email: String,
    ticket: Option<String>,
    failures: u64,
}

impl Lockout {
    /// A lockout service.
    pub fn new(
        attempts: Arc<dyn LoginAttemptStore>,
        clock: Arc<dyn Clock>,
        enabled: bool,
        threshold: u64,
        window_seconds: i64,
    ) -> Self {
        Self {
            attempts,
            clock,
            enabled,
            threshold: threshold.max(1),
            window_seconds,
        }
    }

    /// Whether lockout is on at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn window(&self) -> Duration {
        Duration::seconds(self.window_seconds)
    }

    /// `Some` when `email` is locked out now (a read-only look; a flow that is about to
    /// evaluate a password uses [`Lockout::admit`]).
    pub async fn check(&self, email: &str) -> StoreResult<Option<Locked>> {
        if !self.enabled {
            return Ok(None);
        }
        let now = self.clock.now();
        let failures = self
            .attempts
            .failures_since(email, now - self.window())
            .await?;
        Ok(self.locked(&failures, now))
    }

    /// When `failures` (oldest first) hold at least `threshold` in the window: until when.
    fn locked(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Locked> {
        let n = failures.len() as u64;
        if n < self.threshold {
            return None;
        }
        // The lock lifts when fewer than `threshold` failures remain in the window, i.e. when
        // the failure at index n - threshold (oldest first) ages out.
        let pivot = failures[(n - self.threshold) as usize];
        let ends = pivot + self.window();
        let micros = (ends - now).num_microseconds().unwrap_or(i64::MAX).max(0);
        let retry_after = (micros as u64).div_ceil(1_000_000).max(1);
        Some(Locked {
            retry_after,
            window: self.window_seconds.max(0) as u64,
        })
    }

    /// Admit one password evaluation for `email`, or refuse it because the account is locked.
    /// The check and the count are one atomic store operation: the admitted attempt is counted
    /// as a failure from this moment on, until [`Lockout::succeeded`] takes it back. So however
    /// many requests arrive at once, at most `threshold` passwords are evaluated per window.
    pub async fn admit(&self, email: &str) -> StoreResult<Result<Attempt, Locked>> {
        if !self.enabled {
            return Ok(Ok(Attempt {
                email: email.to_owned(),
                ticket: None,
                failures: 0,
            }));
        }
        let now = self.clock.now();
        let admission = self
            .attempts
            .admit(email, now, now - self.window(), self.threshold, None)
            .await?;
        Ok(match admission {
            Admission::Admitted { ticket, failures } => Ok(Attempt {
                email: email.to_owned(),
                ticket: Some(ticket),
                failures,
            }),
            Admission::Refused { failures } => Err(self.locked(&failures, now).unwrap_or(Locked {
                retry_after: 1,
                window: self.window_seconds.max(0) as u64,
            })),
        })
    }

    /// The attempts left after `attempt` failed (`None` when lockout is disabled).
    pub fn remaining(&self, attempt: &Attempt) -> Option<u64> {
        attempt
            .ticket
            .as_ref()
            .map(|_| self.threshold.saturating_sub(attempt.failures))
    }

    /// The password of `attempt` was right: take its failure back (the others stay).
    pub async fn succeeded(&self, attempt: &Attempt) -> StoreResult<()> {
        if let Some(ticket) = &attempt.ticket {
            self.attempts.release(&attempt.email, ticket).await?;
        }
        Ok(())
    }

    /// Forget every failure of `email`.
    pub async fn clear(&self, email: &str) -> StoreResult<()> {
        if self.enabled {
            self.attempts.clear(email).await?;
        }
        Ok(())
    }
}
