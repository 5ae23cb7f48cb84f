//! [`LoginAttemptStore`](regstack_core::store::LoginAttemptStore) cases.

use crate::Target;
use crate::support::secs;

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
