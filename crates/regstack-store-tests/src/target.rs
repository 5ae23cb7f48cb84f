//! What a case runs against: the stores, and the documented ways a backend may differ.

use chrono::{DateTime, Duration, Utc};
use regstack_core::store::Stores;

use crate::support;

/// The finest time step a store keeps.
///
/// The cases express every datetime as [`Precision::t0`] plus whole seconds and
/// [`Precision::ticks`], so the same case checks exact round trips and `<` / `<=` boundaries at
/// the store's own resolution.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Microseconds, kept exactly (the SQL backends, as regstack 0.9.3 on SQL).
    #[default]
    Micros,
    /// Milliseconds: the store truncates to whole milliseconds (BSON dates, MongoDB).
    Millis,
}

impl Precision {
    /// One step of this precision.
    pub fn tick(self) -> Duration {
        match self {
            Precision::Micros => Duration::microseconds(1),
            Precision::Millis => Duration::milliseconds(1),
        }
    }

    /// `n` steps of this precision.
    pub fn ticks(self, n: i64) -> Duration {
        match self {
            Precision::Micros => Duration::microseconds(n),
            Precision::Millis => Duration::milliseconds(n),
        }
    }

    /// `t` truncated to this precision (what such a store gives back).
    pub fn truncate(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let keep = match self {
            Precision::Micros => 1_000,
            Precision::Millis => 1_000_000,
        };
        let nanos = t.timestamp_subsec_nanos();
        t - Duration::nanoseconds(i64::from(nanos % keep))
    }

    /// The reference instant of the cases at this precision: [`support::t0`]
    /// (2026-05-01T10:00:00.123456Z) truncated, so `…00.123Z` for [`Precision::Millis`].
    pub fn t0(self) -> DateTime<Utc> {
        self.truncate(support::t0())
    }
}

/// The documented ways a store may legitimately differ from the reference (SQL) behaviour.
///
/// [`Capabilities::default`] is the strict reference: microsecond datetimes, a replaced pending
/// registration gets a new id. Build others with the `with_*` methods.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// Resolution of stored datetimes.
    pub precision: Precision,
    /// Whether [`PendingStore::upsert`](regstack_core::store::PendingStore::upsert) over an
    /// existing email keeps that row's id (regstack 0.9.3 on MongoDB replaces the document in
    /// place) instead of assigning a new one (SQL).
    pub pending_upsert_keeps_id: bool,
}

impl Capabilities {
    /// The strict reference (same as [`Capabilities::default`]).
    pub const fn new() -> Self {
        Self {
            precision: Precision::Micros,
            pending_upsert_keeps_id: false,
        }
    }

    /// With this datetime precision.
    #[must_use]
    pub const fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// With a pending upsert that keeps (`true`) or renews (`false`) the row id.
    #[must_use]
    pub const fn with_pending_upsert_keeping_id(mut self, keeps: bool) -> Self {
        self.pending_upsert_keeps_id = keeps;
        self
    }
}

/// The argument of every case: the stores under test and their [`Capabilities`].
///
/// Cases take `impl Into<Target>`, so a plain [`Stores`] (strict reference capabilities) can be
/// passed directly: `cases::users::create_and_get(stores).await`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Target {
    /// The stores under test (empty when the case starts).
    pub stores: Stores,
    /// How they may differ from the reference.
    pub capabilities: Capabilities,
}

impl Target {
    /// Stores with the given capabilities.
    pub fn new(stores: Stores, capabilities: Capabilities) -> Self {
        Self {
            stores,
            capabilities,
        }
    }
}

impl From<Stores> for Target {
    fn from(stores: Stores) -> Self {
        Self::new(stores, Capabilities::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t0_per_precision() {
        assert_eq!(Precision::Micros.t0(), support::t0());
        assert_eq!(
            Precision::Millis.t0().to_rfc3339(),
            "2026-05-01T10:00:00.123+00:00"
        );
        assert_eq!(
            Precision::Millis.truncate(Precision::Millis.t0() + Duration::microseconds(999)),
            Precision::Millis.t0()
        );
        assert_eq!(Precision::Millis.ticks(3), Duration::milliseconds(3));
        assert_eq!(Precision::Micros.tick(), support::micros(1));
    }
}
