//! [`LoginAttemptStore`](regstack_core::store::LoginAttemptStore) cases.

use crate::Target;
use crate::support::{RACERS, race, secs};

/// `failures_since` returns the email's failures with `when >= since`, oldest first.
pub async fn failures_since_window_and_order(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let a = "mallory@example.com";
    let t = p.t0();
    for when in [t + secs(3), t + p.ticks(1), t + secs(2), t - p.ticks(1), t] {
        stores
            .login_attempts
            .record(a, when, None)
            .await
            .expect("record");
    }
    stores
        .login_attempts
        .record(a, t + secs(2), Some("203.0.113.7"))
        .await
        .expect("dup");
    stores
        .login_attempts
        .record("other@example.com", t + secs(1), None)
        .await
        .expect("other");

    let got = stores
        .login_attempts
        .failures_since(a, t)
        .await
        .expect("since t");
    assert_eq!(
        got,
        vec![t, t + p.ticks(1), t + secs(2), t + secs(2), t + secs(3)]
    );
    let got = stores
        .login_attempts
        .failures_since(a, t + p.ticks(1))
        .await
        .expect("since t+1");
    assert_eq!(
        got,
        vec![t + p.ticks(1), t + secs(2), t + secs(2), t + secs(3)]
    );
    let got = stores
        .login_attempts
        .failures_since(a, t + secs(4))
        .await
        .expect("later");
    assert!(got.is_empty());
    let got = stores
        .login_attempts
        .failures_since(a, t - secs(60))
        .await
        .expect("all");
    assert_eq!(got.len(), 6);
    assert_eq!(got[0], t - p.ticks(1));
    let got = stores
        .login_attempts
        .failures_since("MALLORY@example.com", t)
        .await
        .expect("case");
    assert!(got.is_empty(), "email matching is exact");
}

/// `clear` deletes every failure of one email and reports how many.
pub async fn clear_one_email(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    for i in 0..3 {
        stores
            .login_attempts
            .record("a@example.com", p.t0() + secs(i), None)
            .await
            .expect("a");
    }
    stores
        .login_attempts
        .record("b@example.com", p.t0(), None)
        .await
        .expect("b");
    assert_eq!(
        stores
            .login_attempts
            .clear("a@example.com")
            .await
            .expect("clear"),
        3
    );
    assert_eq!(
        stores
            .login_attempts
            .clear("a@example.com")
            .await
            .expect("again"),
        0
    );
    let a = stores
        .login_attempts
        .failures_since("a@example.com", p.t0() - secs(1))
        .await;
    assert!(a.expect("a").is_empty());
    let b = stores
        .login_attempts
        .failures_since("b@example.com", p.t0() - secs(1))
        .await;
    assert_eq!(b.expect("b"), vec![p.t0()]);
}

/// `purge_before` deletes `when < before` for every email.
pub async fn purge_before_boundary(target: impl Into<Target>) {
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let cut = p.t0() + secs(30);
    for (email, when) in [
        ("a@example.com", cut - p.ticks(1)),
        ("b@example.com", cut - secs(100)),
        ("a@example.com", cut),
        ("b@example.com", cut + p.ticks(1)),
    ] {
        stores
            .login_attempts
            .record(email, when, None)
            .await
            .expect("record");
    }
    assert_eq!(
        stores
            .login_attempts
            .purge_before(cut)
            .await
            .expect("purge"),
        2
    );
    let since = cut - secs(1000);
    let a = stores
        .login_attempts
        .failures_since("a@example.com", since)
        .await
        .expect("a");
    assert_eq!(a, vec![cut]);
    let b = stores
        .login_attempts
        .failures_since("b@example.com", since)
        .await
        .expect("b");
    assert_eq!(b, vec![cut + p.ticks(1)]);
    assert_eq!(
        stores
            .login_attempts
            .purge_before(cut)
            .await
            .expect("again"),
        0
    );
}

/// `admit` records a failure while fewer than `limit` are in the window, refuses (recording
/// nothing) at the limit, and `release` takes an admitted failure back.
pub async fn admit_counts_up_to_the_limit(target: impl Into<Target>) {
    use regstack_core::store::Admission;
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let attempts = &stores.login_attempts;
    let a = "admit@example.com";
    let since = p.t0();
    // Outside the window and another email's: neither counts.
    attempts
        .record(a, since - secs(1), None)
        .await
        .expect("old");
    attempts
        .record("other@example.com", since + secs(1), None)
        .await
        .expect("other");
    let mut tickets = Vec::new();
    for n in 1..=3u64 {
        match attempts
            .admit(a, since + secs(n as i64), since, 3, Some("203.0.113.9"))
            .await
            .expect("admit")
        {
            Admission::Admitted { ticket, failures } => {
                assert_eq!(failures, n, "admission {n}");
                tickets.push(ticket);
            }
            other => panic!("admission {n} refused: {other:?}"),
        }
    }
    let distinct: std::collections::HashSet<_> = tickets.iter().collect();
    assert_eq!(distinct.len(), 3, "tickets are distinct");
    let refused = attempts
        .admit(a, since + secs(10), since, 3, None)
        .await
        .expect("fourth");
    assert_eq!(
        refused,
        Admission::Refused {
            failures: vec![since + secs(1), since + secs(2), since + secs(3)]
        }
    );
    assert_eq!(
        attempts
            .failures_since(a, since)
            .await
            .expect("since")
            .len(),
        3,
        "a refusal records nothing"
    );
    assert!(attempts.release(a, &tickets[1]).await.expect("release"));
    assert!(!attempts.release(a, &tickets[1]).await.expect("twice"));
    assert!(
        !attempts
            .release("other@example.com", &tickets[0])
            .await
            .expect("another email's ticket"),
    );
    assert_eq!(
        attempts.failures_since(a, since).await.expect("after"),
        vec![since + secs(1), since + secs(3)]
    );
    assert!(matches!(
        attempts.admit(a, since + secs(11), since, 3, None).await,
        Ok(Admission::Admitted { failures: 3, .. })
    ));
    // Once the window has moved past them, the old failures free their places again.
    let later = since + secs(20);
    for n in 1..=3u64 {
        assert!(
            matches!(
                attempts.admit(a, later + secs(n as i64), later, 3, None).await,
                Ok(Admission::Admitted { failures, .. }) if failures == n
            ),
            "admission {n} in the new window"
        );
    }
    assert!(matches!(
        attempts.admit(a, later + secs(5), later, 3, None).await,
        Ok(Admission::Refused { .. })
    ));
    attempts.clear(a).await.expect("clear");
    assert!(matches!(
        attempts.admit(a, later + secs(6), later, 3, None).await,
        Ok(Admission::Admitted { failures: 1, .. })
    ));
}

/// Of [`RACERS`] concurrent admissions for one email, exactly `limit` are admitted: the count
/// and the record are one atomic operation.
pub async fn admit_concurrently_at_most_the_limit(target: impl Into<Target>) {
    use regstack_core::store::Admission;
    let Target {
        stores,
        capabilities,
    } = target.into();
    let p = capabilities.precision;
    let since = p.t0();
    let attempts = stores.login_attempts.clone();
    let results = race(RACERS, |i| {
        let attempts = attempts.clone();
        async move {
            attempts
                .admit(
                    "burst@example.com",
                    since + secs(1) + p.ticks(i as i64),
                    since,
                    5,
                    None,
                )
                .await
                .expect("admit")
        }
    })
    .await;
    let admitted = results
        .iter()
        .filter(|r| matches!(r, Admission::Admitted { .. }))
        .count();
    assert_eq!(admitted, 5, "{results:?}");
    assert_eq!(
        attempts
            .failures_since("burst@example.com", since)
            .await
            .expect("since")
            .len(),
        5
    );
}
