//! Per-route IP rate limits (`spec/http-api.md` §1.9).

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

#[tokio::test]
async fn behind_proxy_keys_on_the_forwarded_address() {
    let app = TestApp::start(|c| {
        c.behind_proxy = true;
        c.forgot_password_rate_limit = Some("1/hour".into());
    })
    .await;
    let send = |ip: &'static str| {
        app.send(
            app.client
                .post(app.url("/forgot-password"))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": "a@example.com"})),
        )
    };
    assert_eq!(send("203.0.113.1").await.status, 202);
    assert_eq!(send("203.0.113.1").await.status, 429);
    assert_eq!(send("203.0.113.2").await.status, 202);
}

#[tokio::test]
async fn an_unenforceable_limit_refuses_to_start() {
    let mut cfg = test_config();
    cfg.login_rate_limit = Some("lots per fortnight".into());
    let err = regstack::from_config(cfg).await.unwrap_err().to_string();
    assert!(err.contains("login_rate_limit"), "{err}");
}
