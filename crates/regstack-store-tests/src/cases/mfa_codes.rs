//! [`MfaCodeStore`](regstack_core::store::MfaCodeStore) cases.

use regstack_core::domain::MfaKind;

use crate::Target;
use crate::support::{RACERS, digest, mfa_code, race, secs};

const USER: &str = "5ee8cecccb05472a8cc0c40e374b5f4d";

/// Put then get, per `(user_id, kind)`.
pub async fn put_and_get(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let mut code = mfa_code(USER, MfaKind::PhoneSetup, p.t0(), secs(300) + p.ticks(3));
    code.attempts = 2;
    code.max_attempts = 7;
    stores.mfa_codes.put(code.clone()).await.expect("put");
    let got = stores
        .mfa_codes
        .get(USER, MfaKind::PhoneSetup)
        .await
        .expect("get");
    assert_eq!(got, Some(code));
    assert!(
        stores
            .mfa_codes
            .get(USER, MfaKind::LoginMfa)
            .await
            .expect("other kind")
            .is_none()
    );
    assert!(
        stores
            .mfa_codes
            .get("someone-else", MfaKind::PhoneSetup)
            .await
            .expect("other")
            .is_none()
    );

    let login = mfa_code(USER, MfaKind::LoginMfa, p.t0(), secs(300));
    stores
        .mfa_codes
        .put(login.clone())
        .await
        .expect("put login");
    assert_eq!(
        stores
            .mfa_codes
            .get(USER, MfaKind::LoginMfa)
            .await
            .expect("get"),
        Some(login)
    );
}

/// A second put for the same `(user_id, kind)` replaces the row (and resets its attempts).
pub async fn put_replaces(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let mut first = mfa_code(USER, MfaKind::LoginMfa, p.t0(), secs(300));
    first.attempts = 3;
    stores.mfa_codes.put(first).await.expect("first");
    let mut second = mfa_code(USER, MfaKind::LoginMfa, p.t0() + secs(10), secs(300));
    second.code_hash = digest("654321");
    stores.mfa_codes.put(second.clone()).await.expect("second");
    assert_eq!(
        stores
            .mfa_codes
            .get(USER, MfaKind::LoginMfa)
            .await
            .expect("get"),
        Some(second)
    );
    assert_eq!(
        stores.mfa_codes.delete_for_user(USER).await.expect("count"),
        1
    );
}

/// Each wrong guess adds one; a missing row is `None`.
pub async fn increment_attempts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let kind = MfaKind::PhoneSetup;
    assert_eq!(
        stores
            .mfa_codes
            .increment_attempts(USER, kind)
            .await
            .expect("missing"),
        None
    );
    stores
        .mfa_codes
        .put(mfa_code(USER, kind, p.t0(), secs(300)))
        .await
        .expect("put");
    assert_eq!(
        stores
            .mfa_codes
            .increment_attempts(USER, kind)
            .await
            .expect("1"),
        Some(1)
    );
    assert_eq!(
        stores
            .mfa_codes
            .increment_attempts(USER, kind)
            .await
            .expect("2"),
        Some(2)
    );
    let row = stores
        .mfa_codes
        .get(USER, kind)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.attempts, 2);
    let other = MfaKind::LoginMfa;
    assert_eq!(
        stores
            .mfa_codes
            .increment_attempts(USER, other)
            .await
            .expect("other"),
        None
    );
}

/// Concurrent increments are not lost: every caller sees a distinct count and the final count
/// is the number of callers.
pub async fn increment_attempts_concurrently(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let kind = MfaKind::LoginMfa;
    stores
        .mfa_codes
        .put(mfa_code(USER, kind, p.t0(), secs(300)))
        .await
        .expect("put");
    let results = race(RACERS, |_| {
        let mfa = stores.mfa_codes.clone();
        async move { mfa.increment_attempts(USER, kind).await }
    })
    .await;
    let mut seen: Vec<i32> = results
        .into_iter()
        .map(|r| r.expect("increment").expect("row exists"))
        .collect();
    seen.sort_unstable();
    let racers = i32::try_from(RACERS).expect("small");
    assert_eq!(seen, (1..=racers).collect::<Vec<_>>());
    let row = stores
        .mfa_codes
        .get(USER, kind)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.attempts, racers);
}

/// Delete reports whether it deleted; of many concurrent deleters exactly one wins.
pub async fn delete_one_winner(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let kind = MfaKind::PhoneSetup;
    assert!(!stores.mfa_codes.delete(USER, kind).await.expect("missing"));
    stores
        .mfa_codes
        .put(mfa_code(USER, kind, p.t0(), secs(300)))
        .await
        .expect("put");
    stores
        .mfa_codes
        .put(mfa_code(USER, MfaKind::LoginMfa, p.t0(), secs(300)))
        .await
        .expect("put");
    let results = race(RACERS, |_| {
        let mfa = stores.mfa_codes.clone();
        async move { mfa.delete(USER, kind).await }
    })
    .await;
    let winners = results
        .into_iter()
        .filter(|r| *r.as_ref().expect("delete"))
        .count();
    assert_eq!(winners, 1, "exactly one deleter wins");
    assert!(
        stores
            .mfa_codes
            .get(USER, kind)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        stores
            .mfa_codes
            .get(USER, MfaKind::LoginMfa)
            .await
            .expect("other")
            .is_some()
    );
}

/// `delete_for_user` removes every kind of one user only.
pub async fn delete_for_user(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    for kind in [MfaKind::PhoneSetup, MfaKind::LoginMfa] {
        stores
            .mfa_codes
            .put(mfa_code(USER, kind, p.t0(), secs(300)))
            .await
            .expect("put");
        stores
            .mfa_codes
            .put(mfa_code("other", kind, p.t0(), secs(300)))
            .await
            .expect("put other");
    }
    assert_eq!(
        stores
            .mfa_codes
            .delete_for_user(USER)
            .await
            .expect("delete"),
        2
    );
    assert_eq!(
        stores.mfa_codes.delete_for_user(USER).await.expect("again"),
        0
    );
    assert!(
        stores
            .mfa_codes
            .get("other", MfaKind::LoginMfa)
            .await
            .expect("other")
            .is_some()
    );
}

/// `purge_expired` deletes `expires_at < now` only.
pub async fn purge_expired_boundary(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let now = p.t0() + secs(300);
    for (user, expires_at) in [
        ("before", now - p.ticks(1)),
        ("exact", now),
        ("after", now + p.ticks(1)),
    ] {
        let mut code = mfa_code(user, MfaKind::LoginMfa, p.t0(), secs(0));
        code.expires_at = expires_at;
        stores.mfa_codes.put(code).await.expect("put");
    }
    assert_eq!(stores.mfa_codes.purge_expired(now).await.expect("purge"), 1);
    assert!(
        stores
            .mfa_codes
            .get("before", MfaKind::LoginMfa)
            .await
            .expect("b")
            .is_none()
    );
    assert!(
        stores
            .mfa_codes
            .get("exact", MfaKind::LoginMfa)
            .await
            .expect("e")
            .is_some()
    );
    assert!(
        stores
            .mfa_codes
            .get("after", MfaKind::LoginMfa)
            .await
            .expect("a")
            .is_some()
    );
}
