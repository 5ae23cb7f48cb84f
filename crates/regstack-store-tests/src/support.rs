//! Building blocks of the conformance cases, public so hosts can reuse them in their own tests.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use regstack_core::domain::{MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthState};
use regstack_core::store::{StoreError, StoreResult};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::Precision;

/// How many tasks the concurrency cases start at once.
pub const RACERS: usize = 50;

/// The reference instant of the cases: 2026-05-01T10:00:00.123456Z (microsecond precision). The
/// cases use [`Precision::t0`], this instant truncated to the precision of the store under test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + Duration::microseconds(123_456)
}

/// `n` microseconds.
pub fn micros(n: i64) -> Duration {
    Duration::microseconds(n)
}

/// `n` seconds.
pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// A user with every field set to a non-default value (so a store that drops a column fails),
/// its datetimes microseconds apart.
pub fn full_user(email: &str, now: DateTime<Utc>) -> NewUser {
    full_user_with_precision(email, now, Precision::Micros)
}

/// [`full_user`] with datetimes one step of `precision` apart: `updated_at = now + 1 tick`,
/// `last_login = now + 2 ticks`, `tokens_invalidated_after = now - (1 s - 1 tick)`.
pub fn full_user_with_precision(email: &str, now: DateTime<Utc>, precision: Precision) -> NewUser {
    NewUser {
        email: email.to_owned(),
        hashed_password: Some("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA".to_owned()),
        is_active: true,
        is_verified: true,
        is_superuser: false,
        full_name: Some("Ünïcode Name ✓".to_owned()),
        phone_number: Some("+15555550123".to_owned()),
        is_mfa_enabled: true,
        created_at: now,
        updated_at: now + precision.tick(),
        last_login: Some(now + precision.ticks(2)),
        tokens_invalidated_after: Some(now - (secs(1) - precision.tick())),
    }
}

/// A plain new user as the flows create one.
pub fn user(email: &str, now: DateTime<Utc>) -> NewUser {
    NewUser::new(
        email,
        Some("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA".to_owned()),
        now,
    )
}

/// A pending registration for `email` with the given token digest.
pub fn pending(email: &str, token_hash: &str, now: DateTime<Utc>, ttl: Duration) -> NewPending {
    NewPending {
        email: email.to_owned(),
        hashed_password: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$cGVuZGluZw".to_owned(),
        full_name: Some("Pending Person".to_owned()),
        token_hash: token_hash.to_owned(),
        created_at: now,
        expires_at: now + ttl,
    }
}

/// A 64-hex-character digest made from `seed`.
pub fn digest(seed: &str) -> String {
    regstack_core::token::sha256_hex(seed)
}

/// An MFA code row.
pub fn mfa_code(user_id: &str, kind: MfaKind, now: DateTime<Utc>, ttl: Duration) -> MfaCode {
    MfaCode {
        user_id: user_id.to_owned(),
        kind,
        code_hash: digest(&format!("{user_id}-{}", kind.as_str())),
        expires_at: now + ttl,
        attempts: 0,
        max_attempts: 5,
        created_at: now,
    }
}

/// An identity link.
pub fn identity(
    user_id: &str,
    provider: &str,
    subject_id: &str,
    linked_at: DateTime<Utc>,
) -> NewOAuthIdentity {
    NewOAuthIdentity {
        user_id: user_id.to_owned(),
        provider: provider.to_owned(),
        subject_id: subject_id.to_owned(),
        email: Some(format!("{subject_id}@gmail.example")),
        linked_at,
    }
}

/// An OAuth state in `signin` mode without a result.
pub fn oauth_state(id: &str, now: DateTime<Utc>, ttl: Duration) -> OAuthState {
    OAuthState {
        id: id.to_owned(),
        provider: "google".to_owned(),
        code_verifier: format!("verifier-{id}"),
        nonce: format!("nonce-{id}"),
        redirect_to: "http://localhost:8000/account/me".to_owned(),
        mode: "signin".to_owned(),
        linking_user_id: None,
        created_at: now,
        expires_at: now + ttl,
        result_token: None,
        result_was_new: false,
    }
}

/// Assert that `result` is a [`StoreError::Conflict`].
#[track_caller]
pub fn assert_conflict<T: Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected StoreError::Conflict, got {other:?}"),
    }
}

/// Start `n` tasks made by `make` together (behind a barrier) and collect their outputs.
pub async fn race<T, F, Fut>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let fut = make(i);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            barrier.wait().await;
            fut.await
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        out.push(done.expect("racing task panicked"));
    }
    out
}
