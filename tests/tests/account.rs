//! Change password, change email (+ confirm), delete account: regstack 0.9.3's HTTP API

use std::sync::{Arc, Mutex};

use chrono::Duration;
use regstack_core::{Event, UserPatch};
use regstack_e2e::{PASSWORD, Resp, TestApp, assert_user_public, pydantic, token_from_text};
use serde_json::{Value, json};

async fn authed(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    app.send(req).await
}

const NO_PASSWORD: &str = "No password set on this account. Use forgot-password to set one before changing account details.";

#[tokio::test]
async fn change_password_revokes_every_earlier_token_and_clears_lockout() {
    let app = TestApp::start(|_| {}).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    app.rs.hooks().on("password_changed", move |e: &Event| {
        seen.lock().unwrap().push(e.user().map(|u| u.email.clone()));
        Ok(())
    });
    let t1 = app.signup_and_login("alice@example.com", PASSWORD).await;
    app.advance(Duration::milliseconds(500));
    let t2 = app.login_token("alice@example.com", PASSWORD).await;
    // A failure to be cleared by the change.
    assert_eq!(
        app.login("alice@example.com", "wrong password")
            .await
            .status,
        401
    );
    assert_eq!(app.failures("alice@example.com").await, 1);
    // Still the same second as both logins.
    app.advance(Duration::milliseconds(400));
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &t2,
        Some(json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"message": "Password changed. Existing sessions have been signed out."})
    );
    for t in [&t1, &t2] {
        app.me(t)
            .await
            .assert_detail(401, "Session was invalidated; please sign in again.");
    }
    assert_eq!(app.failures("alice@example.com").await, 0);
    assert_eq!(
        *events.lock().unwrap(),
        vec![Some("alice@example.com".to_owned())]
    );
    // MongoDB keeps milliseconds and rounds the cutoff up: a session of the change's own
    // millisecond dies with it, so the next sign-in comes a millisecond later.
    app.advance(Duration::milliseconds(1));
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status, 401);
    let t3 = app
        .login_token("alice@example.com", "a brand new secret")
        .await;
    assert_eq!(app.me(&t3).await.status, 200);
}

#[tokio::test]
async fn change_password_errors() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("bob@example.com", PASSWORD).await;
    let post = |body: Value| {
        authed(
            &app,
            reqwest::Method::POST,
            "/change-password",
            &t,
            Some(body),
        )
    };
    post(json!({"current_password": "not it at all", "new_password": "another secret"}))
        .await
        .assert_detail(400, "Current password is incorrect.");
    post(json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        .await
        .assert_detail(400, "New password must differ from the current password.");
    let short = post(json!({"current_password": PASSWORD, "new_password": "1234567"})).await;
    assert_eq!(short.validation_items()[0]["type"], "string_too_short");
    // No token: 401 before validation.
    let r = app
        .post("/change-password", &json!({"current_password": PASSWORD}))
        .await;
    r.assert_detail(401, "Authentication required.");
    // OAuth-only account.
    let oauth = app.create_user("oauth@example.com", None, |_| {}).await;
    let (token, _) = app.rs.jwt().issue(
        regstack_core::jwt::Purpose::Session,
        &oauth.id,
        regstack_core::jwt::Extra::default(),
    );
    authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &token,
        Some(json!({"current_password": "whatever1", "new_password": "another secret"})),
    )
    .await
    .assert_detail(400, NO_PASSWORD);
}

#[tokio::test]
async fn change_email_round_trip_is_single_use_and_revokes_sessions() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("carol@example.com", PASSWORD).await;
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-email",
        &t,
        Some(json!({"new_email": "Carol.New@Example.com", "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"message": "If the address is available, a confirmation link has been sent. Check your email."})
    );
    // The look-up and the mail happen off the request path.
    app.settle().await;
    let mails = app.mailer.messages();
    let mail = mails.last().unwrap();
    assert_eq!(mail.to, "Carol.New@example.com");
    assert_eq!(mail.subject, "Confirm your new RegStack email address");
    assert!(
        mail.text
            .contains("http://localhost:8000/confirm-email-change?token=")
    );
    let token = token_from_text(&mail.text).unwrap();
    // Nothing changed yet.
    assert!(app.user_by_email("carol@example.com").await.is_some());
    app.advance(Duration::seconds(1));
    let ok = app
        .post("/confirm-email-change", &json!({"token": token}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let body = ok.json();
    assert_user_public(&body);
    assert_eq!(body["email"], "Carol.New@example.com");
    // The stored row, not a stale copy (deviation #10).
    let stored = app.user_by_email("Carol.New@example.com").await.unwrap();
    assert_eq!(body["updated_at"], pydantic(stored.updated_at));
    assert_eq!(
        body["tokens_invalidated_after"],
        pydantic(stored.tokens_invalidated_after.unwrap())
    );
    app.me(&t)
        .await
        .assert_detail(401, "Session was invalidated; please sign in again.");
    // Replay refused (deviation #3).
    app.post("/confirm-email-change", &json!({"token": token}))
        .await
        .assert_detail(
            400,
            "Email-change link is invalid or has expired. Request a new one.",
        );
    app.advance(Duration::seconds(1));
    assert_eq!(
        app.login("Carol.New@example.com", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn change_email_errors_and_anti_enumeration() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("dan@example.com", PASSWORD).await;
    app.register_verified("taken@example.com", PASSWORD).await;
    let sent_before = app.mailer.messages().len();
    let post = |body: Value| authed(&app, reqwest::Method::POST, "/change-email", &t, Some(body));
    post(json!({"new_email": "DAN@example.com", "current_password": PASSWORD}))
        .await
        .assert_detail(400, "New email is the same as the current email.");
    post(json!({"new_email": "x@example.com", "current_password": "wrong one!"}))
        .await
        .assert_detail(400, "Current password is incorrect.");
    let taken = post(json!({"new_email": "taken@example.com", "current_password": PASSWORD})).await;
    assert_eq!(taken.status, 202);
    app.settle().await;
    assert_eq!(
        app.mailer.messages().len(),
        sent_before,
        "no mail for a taken address"
    );
    let bad = post(json!({"new_email": "not-an-email", "current_password": PASSWORD})).await;
    assert_eq!(bad.validation_items()[0]["type"], "value_error");
    app.post("/confirm-email-change", &json!({"token": "garbage"}))
        .await
        .assert_detail(
            400,
            "Email-change link is invalid or has expired. Request a new one.",
        );
}

#[tokio::test]
async fn confirm_email_change_conflicts_and_expiry() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("erin@example.com", PASSWORD).await;
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-email",
        &t,
        Some(json!({"new_email": "erin2@example.com", "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 202);
    app.settle().await;
    let token = app.last_token_for("erin2@example.com");
    // Someone takes the address before the confirmation.
    app.create_user("erin2@example.com", Some(PASSWORD), |_| {})
        .await;
    app.post("/confirm-email-change", &json!({"token": token}))
        .await
        .assert_detail(409, "That email address is already in use.");

    // Expired link.
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-email",
        &t,
        Some(json!({"new_email": "erin3@example.com", "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 202);
    app.settle().await;
    let token = app.last_token_for("erin3@example.com");
    app.advance(Duration::seconds(3600));
    app.post("/confirm-email-change", &json!({"token": token}))
        .await
        .assert_detail(
            400,
            "Email-change link is invalid or has expired. Request a new one.",
        );
}

#[tokio::test]
async fn concurrent_confirmations_of_one_email_change_token_succeed_once() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("fay@example.com", PASSWORD).await;
    authed(
        &app,
        reqwest::Method::POST,
        "/change-email",
        &t,
        Some(json!({"new_email": "fay2@example.com", "current_password": PASSWORD})),
    )
    .await;
    app.settle().await;
    let token = app.last_token_for("fay2@example.com");
    let body = json!({"token": token});
    let attempts = (0..20).map(|_| app.post("/confirm-email-change", &body));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1);
    assert!(results.iter().all(|r| r.status == 200 || r.status == 400));
}

#[tokio::test]
async fn delete_account_and_its_errors() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("gus@example.com", PASSWORD).await;
    let del = |token: String, body: Option<Value>| {
        let app = &app;
        async move { authed(app, reqwest::Method::DELETE, "/account", &token, body).await }
    };
    del(t.clone(), Some(json!({"current_password": "not the one"})))
        .await
        .assert_detail(400, "Current password is incorrect.");
    let missing = del(t.clone(), None).await;
    assert_eq!(missing.validation_items()[0]["type"], "missing");
    let r = del(t.clone(), Some(json!({"current_password": PASSWORD}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"message": "Account deleted."}));
    assert!(app.user_by_email("gus@example.com").await.is_none());
    app.me(&t)
        .await
        .assert_detail(401, "User no longer active.");
    // The email can register again.
    assert_eq!(app.register("gus@example.com", PASSWORD).await.status, 201);
}

#[tokio::test]
async fn delete_account_disabled_answers_404_after_auth_and_validation() {
    let app = TestApp::start(|c| c.enable_account_deletion = false).await;
    let t = app.signup_and_login("hal@example.com", PASSWORD).await;
    let r = authed(
        &app,
        reqwest::Method::DELETE,
        "/account",
        &t,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    r.assert_detail(404, "Account deletion is disabled for this application.");
    assert!(app.user_by_email("hal@example.com").await.is_some());
    let anon = app
        .send(
            app.client
                .delete(app.url("/account"))
                .json(&json!({"current_password": PASSWORD})),
        )
        .await;
    anon.assert_detail(401, "Authentication required.");
}

#[tokio::test]
async fn disabled_user_cannot_use_old_sessions() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("ivy@example.com", PASSWORD).await;
    let user = app.user_by_email("ivy@example.com").await.unwrap();
    app.update_user(
        &user.id,
        UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        },
    )
    .await;
    app.me(&t)
        .await
        .assert_detail(401, "User no longer active.");
}
