//! Per-account login lockout (`spec/domain.md` §6), counted in the store so that every server
//! process sharing a database shares the counts.

use std::sync::Arc;

use chrono::Duration;

use crate::clock::Clock;
use crate::store::{LoginAttemptStore, StoreResult};

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

    /// `Some` when `email` is locked out now.
    pub async fn check(&self, email: &str) -> StoreResult<Option<Locked>> {
        if !self.enabled {
            return Ok(None);
        }
        let now = self.clock.now();
        let failures = self
            .attempts
            .failures_since(email, now - self.window())
            .await?;
        let n = failures.len() as u64;
        if n < self.threshold {
            return Ok(None);
        }
        // The lock lifts when fewer than `threshold` failures remain in the window, i.e. when
        // the failure at index n - threshold (oldest first) ages out.
        let pivot = failures[(n - self.threshold) as usize];
        let ends = pivot + self.window();
        let micros = (ends - now).num_microseconds().unwrap_or(i64::MAX).max(0);
        let retry_after = (micros as u64).div_ceil(1_000_000).max(1);
        Ok(Some(Locked {
            retry_after,
            window: self.window_seconds.max(0) as u64,
        }))
    }

    /// Record a failure; returns the attempts remaining after it (`None` when disabled).
    pub async fn record_failure(&self, email: &str) -> StoreResult<Option<u64>> {
        if !self.enabled {
            return Ok(None);
        }
        let now = self.clock.now();
        self.attempts.record(email, now, None).await?;
        let n = self
            .attempts
            .failures_since(email, now - self.window())
            .await?
            .len() as u64;
        Ok(Some(self.threshold.saturating_sub(n)))
    }

    /// Forget every failure of `email`.
    pub async fn clear(&self, email: &str) -> StoreResult<()> {
        if self.enabled {
            self.attempts.clear(email).await?;
        }
        Ok(())
    }
}
