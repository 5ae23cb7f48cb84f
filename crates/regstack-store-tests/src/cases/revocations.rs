//! [`RevocationStore`](regstack_core::store::RevocationStore) cases.

use crate::Target;
use crate::support::{RACERS, race, secs};

/// Revoke is idempotent and reports whether it inserted.
pub async fn revoke_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let exp = p.t0() + secs(7200);
    assert!(
        !stores
            .revocations
            .is_revoked("jti-1")
            .await
            .expect("before")
    );
    assert!(
        stores
            .revocations
            .revoke("jti-1", exp)
            .await
            .expect("revoke")
    );
    assert!(
        !stores
            .revocations
            .revoke("jti-1", exp)
            .await
            .expect("again")
    );
    assert!(
        !stores
            .revocations
            .revoke("jti-1", exp + secs(1))
            .await
            .expect("other exp")
    );
    assert!(stores.revocations.is_revoked("jti-1").await.expect("after"));
    assert!(!stores.revocations.is_revoked("jti-2").await.expect("other"));
    assert!(!stores.revocations.is_revoked("JTI-1").await.expect("case"));
}

/// Of many concurrent revocations of one jti exactly one reports `true`.
pub async fn revoke_concurrently_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let results = race(RACERS, |_| {
        let revocations = stores.revocations.clone();
        async move {
            revocations
                .revoke("4AdBTYx-RtO83N22AJrGaQ", p.t0() + secs(60))
                .await
        }
    })
    .await;
    let inserted = results
        .into_iter()
        .filter(|r| *r.as_ref().expect("revoke"))
        .count();
    assert_eq!(inserted, 1, "exactly one revocation inserts");
    assert!(
        stores
            .revocations
            .is_revoked("4AdBTYx-RtO83N22AJrGaQ")
            .await
            .expect("revoked")
    );
}

/// A revoked jti stays revoked whatever its expiry.
pub async fn is_revoked_regardless_of_exp(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    assert!(
        stores
            .revocations
            .revoke("old", p.t0() - secs(86_400))
            .await
            .expect("revoke")
    );
    assert!(stores.revocations.is_revoked("old").await.expect("revoked"));
}

/// `purge_expired` deletes `exp < now` only.
pub async fn purge_expired_boundary(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let now = p.t0() + secs(10);
    for (jti, exp) in [
        ("before", now - p.ticks(1)),
        ("exact", now),
        ("after", now + p.ticks(1)),
    ] {
        assert!(stores.revocations.revoke(jti, exp).await.expect("revoke"));
    }
    assert_eq!(
        stores.revocations.purge_expired(now).await.expect("purge"),
        1
    );
    assert!(
        !stores
            .revocations
            .is_revoked("before")
            .await
            .expect("before")
    );
    assert!(stores.revocations.is_revoked("exact").await.expect("exact"));
    assert!(stores.revocations.is_revoked("after").await.expect("after"));
    assert_eq!(
        stores.revocations.purge_expired(now).await.expect("again"),
        0
    );
    // A purged jti can be revoked again.
    assert!(
        stores
            .revocations
            .revoke("before", now)
            .await
            .expect("re-revoke")
    );
}
