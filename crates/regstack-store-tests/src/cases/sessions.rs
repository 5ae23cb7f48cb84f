//! Cases on bearer authentication's look-up,
//! [`Stores::session`](regstack_core::store::Stores::session): through the backend's
//! [`SessionStore`](regstack_core::store::SessionStore) when it has one, through the two
//! repositories otherwise. Both paths must give the same answers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regstack_core::domain::{NewUser, User, UserGuard, UserPatch};
use regstack_core::store::{
    RevocationStore, SessionLookup, StoreResult, Stores, UserCounts, UserStore,
};

use crate::Target;
use crate::support::{RACERS, full_user_with_precision, race, secs, user};

/// The answer of [`Stores::session`] with the same question asked of the two repositories.
async fn separately(stores: &Stores, jti: &str, user_id: &str) -> SessionLookup {
    SessionLookup {
        revoked: stores
            .revocations
            .is_revoked(jti)
            .await
            .expect("is_revoked"),
        user: stores.users.get_by_id(user_id).await.expect("get_by_id"),
    }
}

/// Revoked or not, user present, absent or in a foreign id format: the combined look-up says
/// what the two repositories say, and returns the full user row.
pub async fn lookup_agrees_with_the_repositories(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let full = stores
        .users
        .create(full_user_with_precision("full@example.com", p.t0(), p))
        .await
        .expect("full user");
    let plain = stores
        .users
        .create(user("plain@example.com", p.t0()))
        .await
        .expect("plain user");
    stores
        .revocations
        .revoke("revoked-jti", p.t0() + secs(60))
        .await
        .expect("revoke");
    // A revoked jti whose expiry has passed is still revoked until purged.
    stores
        .revocations
        .revoke("expired-jti", p.t0() - secs(60))
        .await
        .expect("revoke");

    // Quotes, backslashes, non-ASCII and JSON-looking text travel as data.
    let odd = "jti \"quoted\" \\ ü✓ ['x', 1]";
    stores
        .revocations
        .revoke(odd, p.t0() + secs(60))
        .await
        .expect("revoke");
    let ids = [
        full.id.as_str(),
        plain.id.as_str(),
        "0123456789abcdef0123456789abcdef",
        "not an id at all",
        "\"],[\"",
        "",
    ];
    for jti in [
        "fresh-jti",
        "revoked-jti",
        "expired-jti",
        "REVOKED-JTI",
        odd,
        "",
    ] {
        for id in ids {
            let got = stores.session(jti, id).await.expect("session");
            let want = separately(&stores, jti, id).await;
            assert_eq!(got.revoked, want.revoked, "revoked for ({jti}, {id})");
            if !got.revoked {
                assert_eq!(got.user, want.user, "user for ({jti}, {id})");
            } else if let Some(u) = &got.user {
                assert_eq!(Some(u), want.user.as_ref(), "user for ({jti}, {id})");
            }
        }
    }
    let got = stores
        .session("fresh-jti", &full.id)
        .await
        .expect("session");
    assert_eq!(got.user, Some(full.clone()), "every field of the row");
    let got = stores
        .session("fresh-jti", &plain.id)
        .await
        .expect("session");
    assert_eq!(got.user, Some(plain), "nullable fields");

    // A write is seen by the next look-up (no caching).
    let patch = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    stores
        .users
        .update(&full.id, &patch, p.t0() + secs(1))
        .await
        .expect("update");
    let got = stores
        .session("fresh-jti", &full.id)
        .await
        .expect("session");
    assert_eq!(got.user.map(|u| u.is_active), Some(false));
    stores
        .revocations
        .revoke("fresh-jti", p.t0() + secs(60))
        .await
        .expect("revoke");
    assert!(
        stores
            .session("fresh-jti", &full.id)
            .await
            .expect("s")
            .revoked
    );
    stores.users.delete(&full.id).await.expect("delete");
    let got = stores
        .session("other-jti", &full.id)
        .await
        .expect("session");
    assert_eq!(
        got,
        SessionLookup {
            revoked: false,
            user: None
        }
    );
}

/// Many look-ups at once (a backend may answer them together): each caller gets the answer
/// for its own token and user, never a neighbour's.
pub async fn concurrent_lookups_each_get_their_own_answer(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let mut users = Vec::new();
    for i in 0..8 {
        let u = stores
            .users
            .create(user(&format!("many{i}@example.com"), p.t0()))
            .await
            .expect("user");
        users.push(u);
    }
    for i in (0..8).step_by(2) {
        stores
            .revocations
            .revoke(&format!("jti-{i}"), p.t0() + secs(60))
            .await
            .expect("revoke");
    }
    let users = Arc::new(users);
    let answers = race(RACERS * 4, |n| {
        let (stores, users) = (stores.clone(), users.clone());
        async move {
            // Token n % 8 (even ones revoked), user n % 9 (the ninth does not exist).
            let jti = format!("jti-{}", n % 8);
            let id = users
                .get(n % 9)
                .map_or_else(|| format!("missing-{n}"), |u| u.id.clone());
            let got = stores.session(&jti, &id).await.expect("session");
            (n, got)
        }
    })
    .await;
    assert_eq!(answers.len(), RACERS * 4);
    for (n, got) in answers {
        assert_eq!(got.revoked, (n % 8) % 2 == 0, "revoked for caller {n}");
        if !got.revoked {
            assert_eq!(got.user.as_ref(), users.get(n % 9), "user for caller {n}");
        }
    }
}

/// A `users` repository that hides every user from `get_by_id`, delegating the rest.
#[derive(Debug)]
struct HidingUsers(Arc<dyn UserStore>);

#[async_trait]
impl UserStore for HidingUsers {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        self.0.create(user).await
    }
    async fn get_by_id(&self, _id: &str) -> StoreResult<Option<User>> {
        Ok(None)
    }
    async fn get_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.0.get_by_email(email).await
    }
    async fn update(
        &self,
        id: &str,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.0.update(id, patch, now).await
    }
    async fn update_guarded(
        &self,
        id: &str,
        guard: &UserGuard,
        patch: &UserPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.0.update_guarded(id, guard, patch, now).await
    }
    async fn delete(&self, id: &str) -> StoreResult<bool> {
        self.0.delete(id).await
    }
    async fn count(&self) -> StoreResult<u64> {
        self.0.count().await
    }
    async fn list(&self, offset: u64, limit: u64) -> StoreResult<Vec<User>> {
        self.0.list(offset, limit).await
    }
    async fn count_by_flags(&self) -> StoreResult<UserCounts> {
        self.0.count_by_flags().await
    }
}

/// A revocation repository that says every token is revoked.
#[derive(Debug)]
struct RevokeEverything;

#[async_trait]
impl RevocationStore for RevokeEverything {
    async fn revoke(&self, _jti: &str, _exp: DateTime<Utc>) -> StoreResult<bool> {
        Ok(true)
    }
    async fn is_revoked(&self, _jti: &str) -> StoreResult<bool> {
        Ok(true)
    }
    async fn purge_expired(&self, _now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(0)
    }
}

/// A host that replaces `users` or `revocations` gets the answers of its own repository, never
/// those of the backend's tables behind the combined look-up.
pub async fn a_replaced_repository_is_asked(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let u = stores
        .users
        .create(user("replaced@example.com", p.t0()))
        .await
        .expect("user");
    let found = stores.session("jti", &u.id).await.expect("session");
    assert_eq!(found.user.as_ref(), Some(&u));

    let mut hiding = stores.clone();
    hiding.users = Arc::new(HidingUsers(stores.users.clone()));
    let found = hiding.session("jti", &u.id).await.expect("session");
    assert_eq!(
        found,
        SessionLookup {
            revoked: false,
            user: None
        }
    );

    let mut revoking = stores.clone();
    revoking.revocations = Arc::new(RevokeEverything);
    assert!(
        revoking
            .session("jti", &u.id)
            .await
            .expect("session")
            .revoked
    );

    // Left as they were, the backend's own repositories are still used.
    assert!(!stores.session("jti", &u.id).await.expect("session").revoked);
}
