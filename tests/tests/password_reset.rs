//! Forgot / reset password: regstack 0.9.3's HTTP API, deviations #1 and #5.

use chrono::Duration;
use regstack_e2e::{PASSWORD, TestApp};
use serde_json::json;

const FORGOT_MSG: &str =
    "If the address matches an active account, a reset link has been sent. Check your email.";

#[tokio::test]
async fn forgot_password_answers_identical_bytes_for_known_unknown_and_failing_transport() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("alice@example.com", PASSWORD).await;
    let known = app
        .post("/forgot-password", &json!({"email": "alice@example.com"}))
        .await;
    let unknown = app
        .post("/forgot-password", &json!({"email": "nobody@example.com"}))
        .await;
    app.mailer.set_failing(true);
    let failing = app
        .post("/forgot-password", &json!({"email": "alice@example.com"}))
        .await;
    for r in [&known, &unknown, &failing] {
        assert_eq!(r.status, 202);
        assert_eq!(r.json(), json!({"message": FORGOT_MSG}));
    }
    assert_eq!(known.text, unknown.text);
    assert_eq!(known.text, failing.text);
    assert_eq!(
        known.header("content-length"),
        unknown.header("content-length")
    );
    app.mailer.set_failing(false);
    app.settle().await;
    let resets: Vec<_> = app
        .mailer
        .messages()
        .into_iter()
        .filter(|m| m.subject == "Reset your RegStack password")
        .collect();
    // One for the first request, and the failing one delivered by a retry.
    assert!(!resets.is_empty());
    assert!(resets.iter().all(|m| m.to == "alice@example.com"));
    assert!(
        resets[0]
            .text
            .contains("http://localhost:8000/reset-password?token=")
    );
}

#[tokio::test]
async fn reset_password_round_trip_single_use_and_revocation() {
    let app = TestApp::start(|_| {}).await;
    let old_session = app.signup_and_login("bob@example.com", PASSWORD).await;
    // Lockout rows to be cleared.
    assert_eq!(
        app.login("bob@example.com", "wrong password").await.status,
        401
    );
    app.post("/forgot-password", &json!({"email": "bob@example.com"}))
        .await;
    app.settle().await;
    let token = app.last_token_for("bob@example.com");
    app.advance(Duration::seconds(1));
    let r = app
        .post(
            "/reset-password",
            &json!({"token": token, "new_password": "fresh password 1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"message": "Password has been reset. Please sign in."})
    );
    assert_eq!(app.failures("bob@example.com").await, 0);
    app.me(&old_session)
        .await
        .assert_detail(401, "Session was invalidated; please sign in again.");
    app.post(
        "/reset-password",
        &json!({"token": token, "new_password": "fresh password 2"}),
    )
    .await
    .assert_detail(
        400,
        "Reset link is invalid or has expired. Request a new one.",
    );
    app.advance(Duration::seconds(1));
    assert_eq!(
        app.login("bob@example.com", "fresh password 1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn concurrent_double_use_of_one_reset_token_succeeds_exactly_once() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("carl@example.com", PASSWORD).await;
    app.post("/forgot-password", &json!({"email": "carl@example.com"}))
        .await;
    app.settle().await;
    let token = app.last_token_for("carl@example.com");
    let bodies: Vec<_> = (0..10)
        .map(|i| json!({"token": token, "new_password": format!("new password {i}")}))
        .collect();
    let tries = bodies.iter().map(|b| app.post("/reset-password", b));
    let results = futures::future::join_all(tries).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_detail(
            400,
            "Reset link is invalid or has expired. Request a new one.",
        );
    }
}

#[tokio::test]
async fn reset_password_errors() {
    let app = TestApp::start(|_| {}).await;
    app.post(
        "/reset-password",
        &json!({"token": "garbage", "new_password": "long enough"}),
    )
    .await
    .assert_detail(
        400,
        "Reset link is invalid or has expired. Request a new one.",
    );
    let short = app
        .post(
            "/reset-password",
            &json!({"token": "x", "new_password": "short"}),
        )
        .await;
    assert_eq!(short.validation_items()[0]["type"], "string_too_short");
    // A token for a user deleted since.
    app.register_verified("dee@example.com", PASSWORD).await;
    app.post("/forgot-password", &json!({"email": "dee@example.com"}))
        .await;
    app.settle().await;
    let token = app.last_token_for("dee@example.com");
    let user = app.user_by_email("dee@example.com").await.unwrap();
    app.rs.stores().users.delete(&user.id).await.unwrap();
    app.post(
        "/reset-password",
        &json!({"token": token, "new_password": "long enough"}),
    )
    .await
    .assert_detail(400, "Reset link does not match an active account.");
    // Expired.
    app.register_verified("eve@example.com", PASSWORD).await;
    app.post("/forgot-password", &json!({"email": "eve@example.com"}))
        .await;
    app.settle().await;
    let token = app.last_token_for("eve@example.com");
    app.advance(Duration::seconds(1800));
    app.post(
        "/reset-password",
        &json!({"token": token, "new_password": "long enough"}),
    )
    .await
    .assert_detail(
        400,
        "Reset link is invalid or has expired. Request a new one.",
    );
}

#[tokio::test]
async fn no_mail_for_unknown_or_disabled_accounts() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("fred@example.com", PASSWORD).await;
    let user = app.user_by_email("fred@example.com").await.unwrap();
    app.update_user(
        &user.id,
        regstack_core::UserPatch {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await;
    let before = app.mailer.messages().len();
    app.post("/forgot-password", &json!({"email": "fred@example.com"}))
        .await;
    app.post("/forgot-password", &json!({"email": "ghost@example.com"}))
        .await;
    app.settle().await;
    assert_eq!(app.mailer.messages().len(), before);
}

#[tokio::test]
async fn routes_absent_when_reset_is_disabled() {
    let app = TestApp::start(|c| c.enable_password_reset = false).await;
    for path in ["/forgot-password", "/reset-password"] {
        app.post(path, &json!({"email": "a@example.com"}))
            .await
            .assert_detail(404, "Not Found");
    }
}
