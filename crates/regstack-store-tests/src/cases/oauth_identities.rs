//! [`OAuthIdentityStore`](regstack_core::store::OAuthIdentityStore) cases.

use crate::Target;
use crate::support::{assert_conflict, identity, secs};

const ALICE: &str = "5ee8cecccb05472a8cc0c40e374b5f4d";
const BOB: &str = "3bf618c22dca44df900dd0785bb29350";

/// Create then find by `(provider, subject_id)`; `last_used_at` starts empty.
pub async fn create_and_find(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let new = identity(
        ALICE,
        "google",
        "109876543210987654321",
        p.t0() + p.ticks(7),
    );
    let created = stores
        .oauth_identities
        .create(new.clone())
        .await
        .expect("create");
    assert!(!created.id.is_empty());
    assert_eq!(created, new.with_id(created.id.clone()));
    assert_eq!(created.last_used_at, None);
    let found = stores
        .oauth_identities
        .find("google", "109876543210987654321")
        .await
        .expect("find");
    assert_eq!(found, Some(created));
    let miss = stores
        .oauth_identities
        .find("github", "109876543210987654321")
        .await;
    assert!(miss.expect("other provider").is_none());

    let mut no_email = identity(BOB, "google", "42", p.t0());
    no_email.email = None;
    let bob = stores
        .oauth_identities
        .create(no_email)
        .await
        .expect("no email");
    assert_eq!(
        stores
            .oauth_identities
            .find("google", "42")
            .await
            .expect("find"),
        Some(bob)
    );
}

/// One external account links to one user: `(provider, subject_id)` clash is a conflict.
pub async fn provider_subject_clash_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    stores
        .oauth_identities
        .create(identity(ALICE, "google", "sub-1", p.t0()))
        .await
        .expect("alice");
    assert_conflict(
        stores
            .oauth_identities
            .create(identity(BOB, "google", "sub-1", p.t0()))
            .await,
    );
    assert!(
        stores
            .oauth_identities
            .list_for_user(BOB)
            .await
            .expect("bob")
            .is_empty()
    );
    // The same subject at another provider is a different account.
    stores
        .oauth_identities
        .create(identity(BOB, "github", "sub-1", p.t0()))
        .await
        .expect("github");
}

/// One identity per provider per user: `(user_id, provider)` clash is a conflict.
pub async fn user_provider_clash_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    stores
        .oauth_identities
        .create(identity(ALICE, "google", "sub-1", p.t0()))
        .await
        .expect("first");
    assert_conflict(
        stores
            .oauth_identities
            .create(identity(ALICE, "google", "sub-2", p.t0()))
            .await,
    );
    assert!(
        stores
            .oauth_identities
            .find("google", "sub-2")
            .await
            .expect("find")
            .is_none()
    );
    assert_eq!(
        stores
            .oauth_identities
            .list_for_user(ALICE)
            .await
            .expect("list")
            .len(),
        1
    );
}

/// A user's identities come ordered by `linked_at`; other users' are not included.
pub async fn list_for_user_ordered(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let mut made = Vec::new();
    for (provider, off) in [("github", 2), ("google", 0), ("apple", 1)] {
        let new = identity(
            ALICE,
            provider,
            &format!("{provider}-alice"),
            p.t0() + p.ticks(off),
        );
        made.push(stores.oauth_identities.create(new).await.expect("create"));
    }
    stores
        .oauth_identities
        .create(identity(BOB, "google", "bob", p.t0()))
        .await
        .expect("bob");
    made.sort_by_key(|i| i.linked_at);
    assert_eq!(
        stores
            .oauth_identities
            .list_for_user(ALICE)
            .await
            .expect("list"),
        made
    );
    assert!(
        stores
            .oauth_identities
            .list_for_user("nobody")
            .await
            .expect("none")
            .is_empty()
    );
}

/// Delete one provider link, then every link of a user.
pub async fn delete_and_delete_for_user(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    for provider in ["google", "github", "apple"] {
        let new = identity(ALICE, provider, &format!("{provider}-alice"), p.t0());
        stores.oauth_identities.create(new).await.expect("create");
    }
    stores
        .oauth_identities
        .create(identity(BOB, "google", "bob", p.t0()))
        .await
        .expect("bob");
    assert!(
        stores
            .oauth_identities
            .delete(ALICE, "google")
            .await
            .expect("delete")
    );
    assert!(
        !stores
            .oauth_identities
            .delete(ALICE, "google")
            .await
            .expect("again")
    );
    assert!(
        !stores
            .oauth_identities
            .delete(BOB, "github")
            .await
            .expect("not linked")
    );
    assert!(
        stores
            .oauth_identities
            .find("google", "google-alice")
            .await
            .expect("gone")
            .is_none()
    );
    assert_eq!(
        stores
            .oauth_identities
            .delete_for_user(ALICE)
            .await
            .expect("all"),
        2
    );
    assert_eq!(
        stores
            .oauth_identities
            .delete_for_user(ALICE)
            .await
            .expect("none"),
        0
    );
    assert_eq!(
        stores
            .oauth_identities
            .list_for_user(BOB)
            .await
            .expect("bob")
            .len(),
        1
    );
    // After unlinking, the provider can be linked again.
    let again = identity(ALICE, "google", "google-alice", p.t0() + secs(1));
    stores.oauth_identities.create(again).await.expect("relink");
}

/// `touch_last_used` sets `last_used_at` exactly; a missing id is not an error.
pub async fn touch_last_used(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .oauth_identities
        .create(identity(ALICE, "google", "sub", p.t0()))
        .await
        .expect("create");
    let when = p.t0() + secs(60) + p.ticks(7);
    stores
        .oauth_identities
        .touch_last_used(&created.id, when)
        .await
        .expect("touch");
    let found = stores
        .oauth_identities
        .find("google", "sub")
        .await
        .expect("find")
        .expect("row");
    assert_eq!(found.last_used_at, Some(when));
    assert_eq!(found.linked_at, p.t0());
    let later = when + p.ticks(1);
    stores
        .oauth_identities
        .touch_last_used(&created.id, later)
        .await
        .expect("touch again");
    let found = stores
        .oauth_identities
        .find("google", "sub")
        .await
        .expect("find")
        .expect("row");
    assert_eq!(found.last_used_at, Some(later));
    stores
        .oauth_identities
        .touch_last_used("missing", later)
        .await
        .expect("missing id");
}
