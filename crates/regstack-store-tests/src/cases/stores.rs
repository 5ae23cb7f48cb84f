//! Cases on the [`Stores`](regstack_core::store::Stores) bundle itself.

use regstack_core::domain::MfaKind;
use regstack_core::store::PurgeReport;

use crate::Target;
use crate::support::{digest, mfa_code, oauth_state, pending, secs, user};

/// [`Stores::purge_expired`](regstack_core::store::Stores::purge_expired) purges every
/// repository with its own rule and reports counts; users and identities are never purged.
pub async fn purge_expired_everywhere(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let now = p.t0() + secs(3600);
    let window = chrono::Duration::seconds(900);
    let old = now - p.ticks(1);
    let fresh = now + p.ticks(1);

    let u = stores
        .users
        .create(user("keep@example.com", p.t0()))
        .await
        .expect("user");
    for (email, exp) in [("old@example.com", old), ("new@example.com", fresh)] {
        let mut p = pending(email, &digest(email), p.t0(), secs(0));
        p.expires_at = exp;
        stores.pending.upsert(p).await.expect("pending");
    }
    stores.revocations.revoke("old", old).await.expect("revoke");
    stores
        .revocations
        .revoke("new", fresh)
        .await
        .expect("revoke");
    let a = "a@example.com";
    stores
        .login_attempts
        .record(a, now - window - p.ticks(1), None)
        .await
        .expect("old");
    stores
        .login_attempts
        .record(a, now - window, None)
        .await
        .expect("edge");
    let mut code = mfa_code(&u.id, MfaKind::LoginMfa, p.t0(), secs(0));
    code.expires_at = old;
    stores.mfa_codes.put(code).await.expect("mfa");
    let mut state = oauth_state("old", p.t0(), secs(0));
    state.expires_at = old;
    stores.oauth_states.create(state).await.expect("state");
    stores
        .oauth_states
        .create(oauth_state("new", now, secs(1)))
        .await
        .expect("state");

    let report = stores.purge_expired(now, window).await.expect("purge");
    assert_eq!(
        report,
        PurgeReport {
            pending: 1,
            revocations: 1,
            login_attempts: 1,
            mfa_codes: 1,
            oauth_states: 1,
        }
    );
    assert_eq!(stores.users.count().await.expect("users"), 1);
    assert_eq!(
        stores
            .pending
            .count_unexpired(p.t0())
            .await
            .expect("pending"),
        1
    );
    assert!(stores.revocations.is_revoked("new").await.expect("new"));
    let left = stores
        .login_attempts
        .failures_since(a, p.t0())
        .await
        .expect("attempts");
    assert_eq!(left, vec![now - window]);
    assert!(
        stores
            .oauth_states
            .get("new")
            .await
            .expect("state")
            .is_some()
    );
    assert_eq!(
        stores.purge_expired(now, window).await.expect("again"),
        PurgeReport::default()
    );
}
