//! [`OAuthStateStore`](regstack_core::store::OAuthStateStore) cases.

use crate::Target;
use crate::support::{RACERS, assert_conflict, oauth_state, race, secs};

const STATE: &str = "pxuYgFiM48FS62_3bgaKFb2-prmpLPxvJ9Gz99xiQfg";

/// Create then get, in both modes; every field intact.
pub async fn create_and_get(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let signin = oauth_state(STATE, p.t0() + p.ticks(100), secs(600));
    stores
        .oauth_states
        .create(signin.clone())
        .await
        .expect("create");
    assert_eq!(
        stores.oauth_states.get(STATE).await.expect("get"),
        Some(signin)
    );

    let mut link = oauth_state("link-state", p.t0(), secs(600));
    link.mode = "link".to_owned();
    link.linking_user_id = Some("5ee8cecccb05472a8cc0c40e374b5f4d".to_owned());
    link.result_token = Some("eyJ.token.sig".to_owned());
    link.result_was_new = true;
    stores
        .oauth_states
        .create(link.clone())
        .await
        .expect("create link");
    assert_eq!(
        stores.oauth_states.get("link-state").await.expect("get"),
        Some(link)
    );
    assert!(
        stores
            .oauth_states
            .get("missing")
            .await
            .expect("missing")
            .is_none()
    );
}

/// A second state with the same id is a conflict.
pub async fn duplicate_id_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let first = oauth_state(STATE, p.t0(), secs(600));
    stores
        .oauth_states
        .create(first.clone())
        .await
        .expect("create");
    assert_conflict(
        stores
            .oauth_states
            .create(oauth_state(STATE, p.t0() + secs(1), secs(60)))
            .await,
    );
    assert_eq!(
        stores.oauth_states.get(STATE).await.expect("get"),
        Some(first)
    );
}

/// `set_result` records the token and `was_new`, optionally shortening the expiry.
pub async fn set_result(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let state = oauth_state(STATE, p.t0(), secs(600));
    stores
        .oauth_states
        .create(state.clone())
        .await
        .expect("create");
    let shorter = p.t0() + secs(60) + p.ticks(9);
    assert!(
        stores
            .oauth_states
            .set_result(STATE, "tok-1", true, Some(shorter))
            .await
            .expect("set")
    );
    let got = stores
        .oauth_states
        .get(STATE)
        .await
        .expect("get")
        .expect("row");
    let mut expected = state.clone();
    expected.result_token = Some("tok-1".to_owned());
    expected.result_was_new = true;
    expected.expires_at = shorter;
    assert_eq!(got, expected);

    assert!(
        stores
            .oauth_states
            .set_result(STATE, "tok-2", false, None)
            .await
            .expect("set again")
    );
    let got = stores
        .oauth_states
        .get(STATE)
        .await
        .expect("get")
        .expect("row");
    expected.result_token = Some("tok-2".to_owned());
    expected.result_was_new = false;
    assert_eq!(got, expected, "no new expiry keeps the old one");

    assert!(
        !stores
            .oauth_states
            .set_result("missing", "tok", true, None)
            .await
            .expect("missing")
    );
    assert!(
        stores
            .oauth_states
            .get("missing")
            .await
            .expect("get")
            .is_none()
    );
}

/// Consume returns the row once and deletes it.
pub async fn consume_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let state = oauth_state(STATE, p.t0(), secs(600));
    stores
        .oauth_states
        .create(state.clone())
        .await
        .expect("create");
    stores
        .oauth_states
        .set_result(STATE, "tok", true, None)
        .await
        .expect("set");
    let mut expected = state;
    expected.result_token = Some("tok".to_owned());
    expected.result_was_new = true;
    assert_eq!(
        stores.oauth_states.consume(STATE).await.expect("consume"),
        Some(expected)
    );
    assert!(
        stores
            .oauth_states
            .consume(STATE)
            .await
            .expect("again")
            .is_none()
    );
    assert!(stores.oauth_states.get(STATE).await.expect("get").is_none());
    assert!(
        stores
            .oauth_states
            .consume("missing")
            .await
            .expect("missing")
            .is_none()
    );
}

/// Of many concurrent consumers exactly one gets the row.
pub async fn consume_concurrently_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let state = oauth_state(STATE, p.t0(), secs(600));
    stores
        .oauth_states
        .create(state.clone())
        .await
        .expect("create");
    let results = race(RACERS, |_| {
        let states = stores.oauth_states.clone();
        async move { states.consume(STATE).await }
    })
    .await;
    let winners: Vec<_> = results
        .into_iter()
        .filter_map(|r| r.expect("consume"))
        .collect();
    assert_eq!(winners, vec![state], "exactly one consumer wins");
}

/// `purge_expired` deletes `expires_at < now` only.
pub async fn purge_expired_boundary(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let now = p.t0() + secs(600);
    for (id, expires_at) in [
        ("before", now - p.ticks(1)),
        ("exact", now),
        ("after", now + p.ticks(1)),
    ] {
        let mut state = oauth_state(id, p.t0(), secs(0));
        state.expires_at = expires_at;
        stores.oauth_states.create(state).await.expect("create");
    }
    assert_eq!(
        stores.oauth_states.purge_expired(now).await.expect("purge"),
        1
    );
    assert!(
        stores
            .oauth_states
            .get("before")
            .await
            .expect("b")
            .is_none()
    );
    assert!(stores.oauth_states.get("exact").await.expect("e").is_some());
    assert!(stores.oauth_states.get("after").await.expect("a").is_some());
    assert_eq!(
        stores.oauth_states.purge_expired(now).await.expect("again"),
        0
    );
}
