//! Every "now" of regstack goes through a [`Clock`], so tests can pin time.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current UTC instant.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant, with microsecond precision.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, truncated to microseconds (the precision every backend stores).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_micros(Utc::now())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct FrozenClock {
    now: Mutex<DateTime<Utc>>,
}

impl FrozenClock {
    /// A clock frozen at `at` (truncated to microseconds).
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(truncate_micros(at)),
        }
    }

    /// Move the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Set the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = truncate_micros(at);
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Drop sub-microsecond precision.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap();
        let clock = FrozenClock::new(start);
        assert_eq!(clock.now().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(clock.now(), clock.now());
        clock.advance(Duration::seconds(5));
        assert_eq!(clock.now().timestamp(), 1_767_225_605);
    }

    #[test]
    fn system_clock_has_microsecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
    }
}
