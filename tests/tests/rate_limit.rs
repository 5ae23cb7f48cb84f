//! Per-route IP rate limits (regstack 0.9.3's HTTP API).

use regstack::config::IpNetwork;
use regstack_e2e::{PASSWORD, TestApp, test_config};
use serde_json::json;

#[tokio::test]
async fn login_limit_answers_429_when_exceeded() {
    let app = TestApp::start(|c| c.login_rate_limit = Some("3/minute".into())).await;
    for _ in 0..3 {
        assert_eq!(app.login("nobody@example.com", PASSWORD).await.status, 401);
    }
    let r = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"error": "Rate limit exceeded: 3 per 1 minute"})
    );
    assert!(r.header("retry-after").is_some());
    // Other routes are not limited.
    assert_eq!(app.register("x@example.com", PASSWORD).await.status, 201);
}

#[tokio::test]
async fn requests_refused_by_validation_are_not_counted() {
    let app = TestApp::start(|c| c.register_rate_limit = Some("2 per minute".into())).await;
    for _ in 0..5 {
        let r = app.post("/register", &json!({"email": "bad"})).await;
        assert_eq!(r.status, 422);
    }
    assert_eq!(app.register("a@example.com", PASSWORD).await.status, 201);
    assert_eq!(app.register("b@example.com", PASSWORD).await.status, 201);
    assert_eq!(app.register("c@example.com", PASSWORD).await.status, 429);
}

/// `POST /forgot-password` (limited to 1/hour in these tests) with an `X-Forwarded-For` header.
async fn forgot_via(app: &TestApp, forwarded_for: &str) -> u16 {
    app.send(
        app.client
            .post(app.url("/forgot-password"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"email": "a@example.com"})),
    )
    .await
    .status
}

fn trusting(proxies: &[&str]) -> Vec<IpNetwork> {
    proxies.iter().map(|p| p.parse().unwrap()).collect()
}

#[tokio::test]
async fn behind_proxy_keys_on_the_forwarded_address() {
    // The tests connect from 127.0.0.1: loopback is the trusted proxy.
    let app = TestApp::start(|c| {
        c.behind_proxy = true;
        c.trusted_proxies = trusting(&["127.0.0.1"]);
        c.forgot_password_rate_limit = Some("1/hour".into());
    })
    .await;
    assert_eq!(forgot_via(&app, "203.0.113.1").await, 202);
    assert_eq!(forgot_via(&app, "203.0.113.1").await, 429);
    // An entry the client prepended does not give it a fresh bucket.
    assert_eq!(forgot_via(&app, "198.51.100.9, 203.0.113.1").await, 429);
    assert_eq!(forgot_via(&app, "203.0.113.2").await, 202);
    // A chain: the proxy's own address on the right is skipped.
    assert_eq!(forgot_via(&app, "203.0.113.2, 127.0.0.1").await, 429);
}

#[tokio::test]
async fn ipv6_addresses_of_one_64_share_a_bucket() {
    let app = TestApp::start(|c| {
        c.behind_proxy = true;
        c.trusted_proxies = trusting(&["127.0.0.1"]);
        c.forgot_password_rate_limit = Some("1/hour".into());
    })
    .await;
    assert_eq!(forgot_via(&app, "2001:db8:1:2::1").await, 202);
    assert_eq!(
        forgot_via(&app, "2001:db8:1:2:ffff:ffff:ffff:fffe").await,
        429
    );
    assert_eq!(forgot_via(&app, "[2001:db8:1:2:abcd::7]:443").await, 429);
    assert_eq!(forgot_via(&app, "2001:db8:1:3::1").await, 202);
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_gets_no_fresh_bucket() {
    // behind_proxy with a proxy list that does not hold loopback
    let app = TestApp::start(|c| {
        c.behind_proxy = true;
        c.trusted_proxies = trusting(&["10.0.0.0/8", "::1/128"]);
        c.forgot_password_rate_limit = Some("1/hour".into());
    })
    .await;
    assert_eq!(forgot_via(&app, "203.0.113.1").await, 202);
    assert_eq!(forgot_via(&app, "203.0.113.2").await, 429);
    assert_eq!(forgot_via(&app, "10.0.0.1, 198.51.100.3").await, 429);
    let r = app
        .post("/forgot-password", &json!({"email": "a@example.com"}))
        .await;
    assert_eq!(r.status, 429);

    // behind_proxy = false: the list is not consulted, the header never read
    let app = TestApp::start(|c| {
        c.trusted_proxies = trusting(&["127.0.0.1"]);
        c.forgot_password_rate_limit = Some("1/hour".into());
    })
    .await;
    assert_eq!(forgot_via(&app, "203.0.113.1").await, 202);
    assert_eq!(forgot_via(&app, "203.0.113.2").await, 429);
}

#[tokio::test]
async fn behind_proxy_without_trusted_proxies_refuses_to_start() {
    let mut cfg = test_config();
    cfg.behind_proxy = true;
    let err = regstack::from_config(cfg).await.unwrap_err().to_string();
    assert!(
        err.starts_with("cannot start with `trusted_proxies` (REGSTACK_TRUSTED_PROXIES)"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unenforceable_limit_refuses_to_start() {
    let mut cfg = test_config();
    cfg.login_rate_limit = Some("lots per fortnight".into());
    let err = regstack::from_config(cfg).await.unwrap_err().to_string();
    assert!(err.contains("login_rate_limit"), "{err}");
}
