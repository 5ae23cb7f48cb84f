//! [`UserStore`](regstack_core::store::UserStore) cases.

use regstack_core::domain::UserPatch;

use crate::Target;
use crate::support::{RACERS, assert_conflict, full_user_with_precision, race, secs, user};

/// Every field survives create → get (datetimes exactly, at the store's precision), by id and
/// by email.
pub async fn create_and_get(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let new = full_user_with_precision("alice@example.com", p.t0(), p);
    let created = stores.users.create(new.clone()).await.expect("create");
    assert!(!created.id.is_empty(), "the store assigns an id");
    assert_eq!(created, new.clone().with_id(created.id.clone()));

    let by_id = stores
        .users
        .get_by_id(&created.id)
        .await
        .expect("get_by_id");
    assert_eq!(by_id.as_ref(), Some(&created));
    let by_email = stores
        .users
        .get_by_email("alice@example.com")
        .await
        .expect("get_by_email");
    assert_eq!(by_email.as_ref(), Some(&created));
    let row = by_id.unwrap();
    assert_eq!(row.updated_at, p.t0() + p.ticks(1));
    assert_eq!(row.last_login, Some(p.t0() + p.ticks(2)));
    assert_eq!(
        row.tokens_invalidated_after,
        Some(p.t0() - (secs(1) - p.tick()))
    );
}

/// An OAuth-only user has no password; defaults round-trip.
pub async fn create_without_password(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let mut new = user("oauth-only@example.com", p.t0());
    new.hashed_password = None;
    let created = stores.users.create(new).await.expect("create");
    let row = stores
        .users
        .get_by_id(&created.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.hashed_password, None);
    assert!(row.is_active && !row.is_verified && !row.is_superuser && !row.is_mfa_enabled);
    assert_eq!(
        (row.full_name, row.phone_number, row.last_login),
        (None, None, None)
    );
    assert_eq!(row.created_at, p.t0());
}

/// Ids are unique per user.
pub async fn ids_are_distinct(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let a = stores
        .users
        .create(user("a@example.com", p.t0()))
        .await
        .expect("create a");
    let b = stores
        .users
        .create(user("b@example.com", p.t0()))
        .await
        .expect("create b");
    assert_ne!(a.id, b.id);
}

/// A second user with the same email is a conflict and leaves the first alone.
pub async fn duplicate_email_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let first = stores
        .users
        .create(user("dup@example.com", p.t0()))
        .await
        .expect("create");
    assert_conflict(
        stores
            .users
            .create(user("dup@example.com", p.t0() + secs(1)))
            .await,
    );
    assert_eq!(stores.users.count().await.expect("count"), 1);
    let row = stores
        .users
        .get_by_email("dup@example.com")
        .await
        .expect("get");
    assert_eq!(row, Some(first));
}

/// Email matching is exact: no case folding.
pub async fn email_lookup_is_exact(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    stores
        .users
        .create(user("Case@Example.com", p.t0()))
        .await
        .expect("create");
    assert!(
        stores
            .users
            .get_by_email("case@example.com")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        stores
            .users
            .get_by_email("Case@Example.com ")
            .await
            .expect("get")
            .is_none()
    );
    // A differently cased address is a different account.
    stores
        .users
        .create(user("case@example.com", p.t0()))
        .await
        .expect("create lower");
    assert_eq!(stores.users.count().await.expect("count"), 2);
}

/// Unknown ids, and ids in another backend's format, are simply not found.
pub async fn get_missing_is_none(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    stores
        .users
        .create(user("someone@example.com", p.t0()))
        .await
        .expect("create");
    for id in [
        "0123456789abcdef0123456789abcdef",
        "507f1f77bcf86cd799439011",
        "not-an-id",
        "",
        "' OR 1=1 --",
    ] {
        assert!(
            stores
                .users
                .get_by_id(id)
                .await
                .expect("get_by_id")
                .is_none(),
            "{id:?}"
        );
        assert!(!stores.users.delete(id).await.expect("delete"), "{id:?}");
    }
    assert!(
        stores
            .users
            .get_by_email("nobody@example.com")
            .await
            .expect("get")
            .is_none()
    );
}

/// A patch writes only its fields plus `updated_at = now` and returns the stored row.
pub async fn update_patches_given_fields(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .users
        .create(full_user_with_precision("patch@example.com", p.t0(), p))
        .await
        .expect("create");
    let now = p.t0() + secs(60) + p.ticks(7);
    let patch = UserPatch {
        is_superuser: Some(true),
        full_name: Some(None),
        last_login: Some(Some(now)),
        ..UserPatch::default()
    };
    let updated = stores
        .users
        .update(&created.id, &patch, now)
        .await
        .expect("update");
    let mut expected = created.clone();
    expected.is_superuser = true;
    expected.full_name = None;
    expected.last_login = Some(now);
    expected.updated_at = now;
    assert_eq!(updated.as_ref(), Some(&expected));
    let stored = stores.users.get_by_id(&created.id).await.expect("get");
    assert_eq!(stored, Some(expected));
}

/// Every patchable field, set and cleared.
pub async fn update_every_field(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .users
        .create(full_user_with_precision("every@example.com", p.t0(), p))
        .await
        .expect("create");
    let now = p.t0() + secs(3600) + p.ticks(1);
    let set = UserPatch {
        email: Some("every.new@example.com".to_owned()),
        hashed_password: Some(Some("$argon2id$new".to_owned())),
        is_active: Some(false),
        is_verified: Some(false),
        is_superuser: Some(true),
        full_name: Some(Some("New Name".to_owned())),
        phone_number: Some(Some("+4915112345678".to_owned())),
        is_mfa_enabled: Some(false),
        last_login: Some(Some(now - p.ticks(5))),
        tokens_invalidated_after: Some(Some(now)),
    };
    let mut expected = created.clone();
    set.apply_to(&mut expected, now);
    let updated = stores
        .users
        .update(&created.id, &set, now)
        .await
        .expect("update");
    assert_eq!(updated.as_ref(), Some(&expected));
    assert!(
        stores
            .users
            .get_by_email("every@example.com")
            .await
            .expect("get old")
            .is_none()
    );
    let by_new = stores
        .users
        .get_by_email("every.new@example.com")
        .await
        .expect("get new");
    assert_eq!(by_new.as_ref(), Some(&expected));

    let later = now + secs(1);
    let clear = UserPatch {
        hashed_password: Some(None),
        phone_number: Some(None),
        last_login: Some(None),
        tokens_invalidated_after: Some(None),
        ..UserPatch::default()
    };
    clear.apply_to(&mut expected, later);
    let cleared = stores
        .users
        .update(&created.id, &clear, later)
        .await
        .expect("clear");
    assert_eq!(cleared.as_ref(), Some(&expected));
    assert_eq!(
        stores.users.get_by_id(&created.id).await.expect("get"),
        Some(expected)
    );
}

/// An empty patch still bumps `updated_at`.
pub async fn update_empty_patch_bumps_updated_at(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .users
        .create(user("empty@example.com", p.t0()))
        .await
        .expect("create");
    let now = p.t0() + p.ticks(1);
    let updated = stores
        .users
        .update(&created.id, &UserPatch::default(), now)
        .await
        .expect("update")
        .expect("row");
    assert_eq!(updated.updated_at, now);
    assert_eq!(updated.created_at, p.t0());
}

/// Changing the email to one another user has is a conflict; nothing changes.
pub async fn update_email_clash_conflicts(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let a = stores
        .users
        .create(user("a@example.com", p.t0()))
        .await
        .expect("create a");
    let b = stores
        .users
        .create(user("b@example.com", p.t0()))
        .await
        .expect("create b");
    let patch = UserPatch {
        email: Some(a.email.clone()),
        full_name: Some(Some("Should Not Stick".to_owned())),
        ..UserPatch::default()
    };
    assert_conflict(stores.users.update(&b.id, &patch, p.t0() + secs(1)).await);
    assert_eq!(stores.users.get_by_id(&b.id).await.expect("get b"), Some(b));
    assert_eq!(stores.users.get_by_id(&a.id).await.expect("get a"), Some(a));
}

/// Updating a missing user is `None`, and creates nothing.
pub async fn update_missing_is_none(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let patch = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    let res = stores
        .users
        .update("0123456789abcdef0123456789abcdef", &patch, p.t0())
        .await;
    assert_eq!(res.expect("update"), None);
    assert_eq!(stores.users.count().await.expect("count"), 0);
}

/// Delete removes the row once.
pub async fn delete_once(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let a = stores
        .users
        .create(user("a@example.com", p.t0()))
        .await
        .expect("create a");
    let b = stores
        .users
        .create(user("b@example.com", p.t0()))
        .await
        .expect("create b");
    assert!(stores.users.delete(&a.id).await.expect("delete"));
    assert!(!stores.users.delete(&a.id).await.expect("delete again"));
    assert!(stores.users.get_by_id(&a.id).await.expect("get").is_none());
    assert!(
        stores
            .users
            .get_by_email("a@example.com")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(stores.users.count().await.expect("count"), 1);
    assert_eq!(stores.users.get_by_id(&b.id).await.expect("get b"), Some(b));
    // The email is free again.
    stores
        .users
        .create(user("a@example.com", p.t0()))
        .await
        .expect("re-create");
}

/// `count` and `list` (newest first: `created_at` then id, descending; offset/limit).
pub async fn count_and_list(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    assert_eq!(stores.users.count().await.expect("count"), 0);
    assert!(stores.users.list(0, 10).await.expect("list").is_empty());
    // Insert out of order; two users share a creation instant.
    let offsets = [3, 1, 4, 0, 2];
    let mut made = Vec::new();
    for (i, off) in offsets.iter().enumerate() {
        let new = user(&format!("u{i}@example.com"), p.t0() + p.ticks(*off));
        made.push(stores.users.create(new).await.expect("create"));
    }
    let twin = stores
        .users
        .create(user("twin@example.com", p.t0() + p.ticks(2)))
        .await
        .expect("twin");
    made.push(twin);
    made.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });

    assert_eq!(stores.users.count().await.expect("count"), 6);
    assert_eq!(stores.users.list(0, 100).await.expect("list"), made);
    assert_eq!(
        stores.users.list(1, 2).await.expect("page"),
        made[1..3].to_vec()
    );
    assert_eq!(
        stores.users.list(5, 10).await.expect("tail"),
        made[5..].to_vec()
    );
    assert!(stores.users.list(6, 10).await.expect("past end").is_empty());
    assert!(stores.users.list(0, 0).await.expect("limit 0").is_empty());
    assert_eq!(
        stores
            .users
            .list(0, u64::MAX)
            .await
            .expect("huge limit")
            .len(),
        6
    );
}

/// `count_by_flags` counts every flag independently.
pub async fn count_by_flags(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    assert_eq!(
        stores.users.count_by_flags().await.expect("empty"),
        regstack_core::store::UserCounts::default()
    );
    let mut a = user("a@example.com", p.t0());
    a.is_verified = true;
    a.is_superuser = true;
    let mut b = user("b@example.com", p.t0());
    b.is_active = false;
    b.is_verified = true;
    let c = user("c@example.com", p.t0());
    for u in [a, b, c] {
        stores.users.create(u).await.expect("create");
    }
    let counts = stores.users.count_by_flags().await.expect("counts");
    assert_eq!(counts.total, 3);
    assert_eq!(counts.active, 2);
    assert_eq!(counts.verified, 2);
    assert_eq!(counts.superusers, 1);
}

/// `update_guarded` writes only while the password hash and the cutoff are those of the guard.
pub async fn update_guarded_holds_or_refuses(target: impl Into<Target>) {
    use regstack_core::domain::UserGuard;
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .users
        .create(user("guard@example.com", p.t0()))
        .await
        .expect("create");
    let guard = UserGuard::of(&created);
    let now = p.t0() + secs(1);
    let login = UserPatch {
        last_login: Some(Some(now)),
        ..UserPatch::default()
    };
    let updated = stores
        .users
        .update_guarded(&created.id, &guard, &login, now)
        .await
        .expect("guarded")
        .expect("guard holds");
    assert_eq!(updated.last_login, Some(now));
    // A password change in between: the old guard no longer holds, nothing is written.
    let changed = UserPatch {
        hashed_password: Some(Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into())),
        ..UserPatch::default()
    };
    stores
        .users
        .update(&created.id, &changed, now)
        .await
        .expect("change");
    let later = now + secs(1);
    let stale = UserPatch {
        last_login: Some(Some(later)),
        ..UserPatch::default()
    };
    assert_eq!(
        stores
            .users
            .update_guarded(&created.id, &guard, &stale, later)
            .await
            .expect("stale"),
        None
    );
    let stored = stores
        .users
        .get_by_id(&created.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.last_login, Some(now), "nothing written");
    // A new cutoff makes a guard taken before it fail too.
    let fresh = UserGuard::of(&stored);
    let cut = UserPatch {
        tokens_invalidated_after: Some(Some(later)),
        ..UserPatch::default()
    };
    stores
        .users
        .update(&created.id, &cut, later)
        .await
        .expect("cut");
    assert_eq!(
        stores
            .users
            .update_guarded(&created.id, &fresh, &stale, later)
            .await
            .expect("after cutoff"),
        None
    );
    let missing = stores
        .users
        .update_guarded("0123456789abcdef0123456789abcdef", &fresh, &stale, later)
        .await
        .expect("missing");
    assert_eq!(missing, None);
    assert_eq!(
        stores
            .users
            .update_guarded("not-an-id", &fresh, &stale, later)
            .await
            .expect("foreign id"),
        None
    );
}

/// Of [`RACERS`] concurrent guarded writes with one guard, each changing the password, exactly
/// one lands (a compare-and-set).
pub async fn update_guarded_concurrently_once(target: impl Into<Target>) {
    use regstack_core::domain::UserGuard;
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let created = stores
        .users
        .create(user("cas@example.com", p.t0()))
        .await
        .expect("create");
    let guard = UserGuard::of(&created);
    let users = stores.users.clone();
    let id = created.id.clone();
    let results = race(RACERS, |i| {
        let users = users.clone();
        let guard = guard.clone();
        let id = id.clone();
        async move {
            let patch = UserPatch {
                hashed_password: Some(Some(format!("hash-{i}"))),
                ..UserPatch::default()
            };
            users
                .update_guarded(&id, &guard, &patch, p.t0() + secs(1))
                .await
                .expect("guarded")
        }
    })
    .await;
    let landed: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(landed.len(), 1);
    let stored = stores
        .users
        .get_by_id(&id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(stored.hashed_password, landed[0].hashed_password);
}

/// A bulk-revocation cutoff is stored at or after the instant given, never before it: a
/// store that keeps less precision rounds up, so a token issued in the same tick before the
/// cutoff still dies.
pub async fn cutoff_never_rounds_down(target: impl Into<Target>) {
    let Target { stores, .. } = target.into();
    let t0 = crate::support::t0();
    let created = stores
        .users
        .create(user("cutoff@example.com", t0))
        .await
        .expect("create");
    let cutoff = t0 + secs(5) + crate::support::micros(789);
    let patch = UserPatch {
        tokens_invalidated_after: Some(Some(cutoff)),
        ..UserPatch::default()
    };
    let returned = stores
        .users
        .update(&created.id, &patch, cutoff)
        .await
        .expect("update")
        .expect("row");
    let stored = stores
        .users
        .get_by_id(&created.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        returned.tokens_invalidated_after,
        stored.tokens_invalidated_after
    );
    let stored = stored.tokens_invalidated_after.expect("cutoff");
    assert!(stored >= cutoff, "stored {stored} < given {cutoff}");
    assert!(stored - cutoff < chrono::Duration::milliseconds(1));
}
