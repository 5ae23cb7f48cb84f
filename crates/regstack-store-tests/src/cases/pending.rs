//! [`PendingStore`](regstack_core::store::PendingStore) cases.

use crate::Target;
use crate::support::{RACERS, assert_conflict, digest, pending, race, secs};

/// Upsert inserts; the row is found by email and by token digest, every field intact.
pub async fn upsert_and_find(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let new = pending(
        "dave@example.com",
        &digest("tok-1"),
        p.t0(),
        secs(86_400) + p.ticks(1),
    );
    let row = stores.pending.upsert(new.clone()).await.expect("upsert");
    assert!(!row.id.is_empty());
    assert_eq!(row, new.with_id(row.id.clone()));
    let by_email = stores
        .pending
        .find_by_email("dave@example.com")
        .await
        .expect("by email");
    assert_eq!(by_email.as_ref(), Some(&row));
    let by_hash = stores
        .pending
        .find_by_token_hash(&digest("tok-1"))
        .await
        .expect("by hash");
    assert_eq!(by_hash.as_ref(), Some(&row));
    assert!(
        stores
            .pending
            .find_by_email("DAVE@example.com")
            .await
            .expect("exact")
            .is_none()
    );
    assert!(
        stores
            .pending
            .find_by_token_hash(&digest("other"))
            .await
            .expect("miss")
            .is_none()
    );
}

/// A second upsert for the same email replaces the row: a new id (or the same one where
/// [`Capabilities::pending_upsert_keeps_id`](crate::Capabilities::pending_upsert_keeps_id)),
/// the old digest is gone.
pub async fn upsert_replaces(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let first = stores
        .pending
        .upsert(pending(
            "dave@example.com",
            &digest("old"),
            p.t0(),
            secs(60),
        ))
        .await
        .expect("first");
    let mut again = pending(
        "dave@example.com",
        &digest("new"),
        p.t0() + secs(5),
        secs(120),
    );
    again.full_name = None;
    let second = stores.pending.upsert(again.clone()).await.expect("second");
    if capabilities.pending_upsert_keeps_id {
        assert_eq!(first.id, second.id, "the replaced row keeps its id");
    } else {
        assert_ne!(first.id, second.id, "a replaced row gets a new id");
    }
    assert_eq!(second, again.with_id(second.id.clone()));
    assert!(
        stores
            .pending
            .find_by_token_hash(&digest("old"))
            .await
            .expect("old")
            .is_none()
    );
    let by_email = stores
        .pending
        .find_by_email("dave@example.com")
        .await
        .expect("by email");
    assert_eq!(by_email, Some(second.clone()));
    assert_eq!(
        stores.pending.count_unexpired(p.t0()).await.expect("count"),
        1
    );
    // Re-using the same digest for the same email is fine too.
    let third = stores
        .pending
        .upsert(pending(
            "dave@example.com",
            &digest("new"),
            p.t0() + secs(6),
            secs(120),
        ))
        .await
        .expect("third");
    if capabilities.pending_upsert_keeps_id {
        assert_eq!(third.id, second.id);
    } else {
        assert_ne!(third.id, second.id);
    }
    assert_eq!(
        stores.pending.count_unexpired(p.t0()).await.expect("count"),
        1
    );
}

/// A digest already held by another email's row is a conflict; that row is untouched.
pub async fn token_hash_clash_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let a = stores
        .pending
        .upsert(pending("a@example.com", &digest("same"), p.t0(), secs(60)))
        .await
        .expect("a");
    assert_conflict(
        stores
            .pending
            .upsert(pending("b@example.com", &digest("same"), p.t0(), secs(60)))
            .await,
    );
    assert!(
        stores
            .pending
            .find_by_email("b@example.com")
            .await
            .expect("b")
            .is_none()
    );
    assert_eq!(
        stores
            .pending
            .find_by_token_hash(&digest("same"))
            .await
            .expect("a"),
        Some(a)
    );
}

/// Consume returns the row once and deletes it.
pub async fn consume_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let row = stores
        .pending
        .upsert(pending("c@example.com", &digest("c"), p.t0(), secs(60)))
        .await
        .expect("upsert");
    let got = stores
        .pending
        .consume_by_token_hash(&digest("c"))
        .await
        .expect("consume");
    assert_eq!(got, Some(row));
    assert!(
        stores
            .pending
            .consume_by_token_hash(&digest("c"))
            .await
            .expect("again")
            .is_none()
    );
    assert!(
        stores
            .pending
            .find_by_email("c@example.com")
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        stores
            .pending
            .consume_by_token_hash(&digest("never"))
            .await
            .expect("miss")
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
    let row = stores
        .pending
        .upsert(pending(
            "race@example.com",
            &digest("race"),
            p.t0(),
            secs(60),
        ))
        .await
        .expect("upsert");
    let results = race(RACERS, |_| {
        let pending = stores.pending.clone();
        async move { pending.consume_by_token_hash(&digest("race")).await }
    })
    .await;
    let winners: Vec<_> = results
        .into_iter()
        .filter_map(|r| r.expect("consume"))
        .collect();
    assert_eq!(winners, vec![row], "exactly one consumer wins");
    assert!(
        stores
            .pending
            .find_by_email("race@example.com")
            .await
            .expect("find")
            .is_none()
    );
}

/// Delete by email.
pub async fn delete_by_email(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    stores
        .pending
        .upsert(pending("d@example.com", &digest("d"), p.t0(), secs(60)))
        .await
        .expect("upsert");
    stores
        .pending
        .upsert(pending("e@example.com", &digest("e"), p.t0(), secs(60)))
        .await
        .expect("upsert");
    assert!(
        stores
            .pending
            .delete_by_email("d@example.com")
            .await
            .expect("delete")
    );
    assert!(
        !stores
            .pending
            .delete_by_email("d@example.com")
            .await
            .expect("again")
    );
    assert!(
        stores
            .pending
            .find_by_token_hash(&digest("d"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        stores
            .pending
            .find_by_email("e@example.com")
            .await
            .expect("other")
            .is_some()
    );
}

/// `count_unexpired` counts `expires_at > now`; `purge_expired` deletes `expires_at < now`; a
/// row expiring exactly at `now` is neither counted nor purged.
pub async fn count_unexpired_and_purge_boundaries(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let now = p.t0() + secs(100);
    for (email, expires_at) in [
        ("before@example.com", now - p.ticks(1)),
        ("exact@example.com", now),
        ("after@example.com", now + p.ticks(1)),
    ] {
        let mut new = pending(email, &digest(email), p.t0(), secs(0));
        new.expires_at = expires_at;
        stores.pending.upsert(new).await.expect("upsert");
    }
    assert_eq!(stores.pending.count_unexpired(now).await.expect("count"), 1);
    assert_eq!(
        stores
            .pending
            .count_unexpired(now - p.ticks(1))
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        stores
            .pending
            .count_unexpired(now - p.ticks(2))
            .await
            .expect("count"),
        3
    );
    assert_eq!(stores.pending.purge_expired(now).await.expect("purge"), 1);
    assert!(
        stores
            .pending
            .find_by_email("before@example.com")
            .await
            .expect("b")
            .is_none()
    );
    assert!(
        stores
            .pending
            .find_by_email("exact@example.com")
            .await
            .expect("e")
            .is_some()
    );
    assert!(
        stores
            .pending
            .find_by_email("after@example.com")
            .await
            .expect("a")
            .is_some()
    );
    assert_eq!(
        stores
            .pending
            .purge_expired(now)
            .await
            .expect("purge again"),
        0
    );
    assert_eq!(
        stores
            .pending
            .purge_expired(now + p.ticks(2))
            .await
            .expect("purge all"),
        2
    );
    assert_eq!(
        stores.pending.count_unexpired(p.t0()).await.expect("count"),
        0
    );
}
