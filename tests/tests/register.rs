//! `POST /register` (regstack 0.9.3's HTTP API).

use chrono::Duration;
use regstack_core::EmailKind;
use regstack_e2e::{
    DbKind, PASSWORD, TestApp, assert_json_content_type, assert_user_public, isoformat,
};
use serde_json::json;

#[tokio::test]
async fn register_answers_pending_and_sends_the_verification_mail() {
    let app = TestApp::start(|_| {}).await;
    let r = app
        .post(
            "/register",
            &json!({"email": "Alice@Example.COM", "password": PASSWORD, "full_name": "Alice"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_json_content_type(&r);
    let expires = app.now() + Duration::seconds(86_400);
    assert_eq!(isoformat(expires), "2026-05-02T10:20:30.123456+00:00");
    // Exactly these keys, in this order; the email is normalised (local part kept).
    assert_eq!(
        r.text,
        format!(
            r#"{{"status":"pending_verification","email":"Alice@example.com","expires_at":"{}"}}"#,
            isoformat(app.stored(expires))
        )
    );

    let mails = app.mailer.messages();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.kind, EmailKind::Verification);
    assert_eq!(m.to, "Alice@example.com");
    assert_eq!(m.subject, "Confirm your RegStack account");
    assert!(
        m.text.contains("http://localhost:8000/verify?token="),
        "{}",
        m.text
    );
    let token = app.last_token_for("Alice@example.com");
    assert_eq!(token.len(), 43, "{token}");
    assert!(m.html.contains(&token));

    assert_eq!(app.user_count().await, 0);
    assert_eq!(app.pending_count().await, 1);
    let pending = app
        .rs
        .stores()
        .pending
        .find_by_email("Alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.full_name.as_deref(), Some("Alice"));
    assert_eq!(pending.expires_at, app.stored(expires));
    assert!(
        pending
            .hashed_password
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
    );
}

#[tokio::test]
async fn expires_at_without_fraction_has_no_fraction() {
    let clock = std::sync::Arc::new(regstack_core::FrozenClock::new(
        chrono::DateTime::from_timestamp(1_777_630_830, 0).unwrap(),
    ));
    let app = TestApp::start_with_clock(clock, |_| {}).await;
    let r = app.register("bob@example.com", PASSWORD).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["expires_at"], "2026-05-02T10:20:30+00:00");
}

#[tokio::test]
async fn register_existing_user_is_409() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("alice@example.com", PASSWORD).await;
    let before = app.mailer.messages().len();
    let r = app.register("alice@example.com", "another password").await;
    r.assert_detail(409, "An account with that email already exists.");
    assert_eq!(app.mailer.messages().len(), before);
    assert_eq!(app.pending_count().await, 0);
    assert_eq!(app.user_count().await, 1);
    // Exact-match look-up: a differently cased local part is another account.
    let r = app.register("ALICE@example.com", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn register_disabled_is_403() {
    let app = TestApp::start(|c| c.allow_registration = false).await;
    let r = app.register("alice@example.com", PASSWORD).await;
    r.assert_detail(403, "Registration is disabled.");
    assert_eq!(app.pending_count().await, 0);
    assert_eq!(app.user_count().await, 0);
    assert!(app.mailer.messages().is_empty());
}

#[tokio::test]
async fn register_without_verification_creates_the_user() {
    let app = TestApp::start(|c| c.require_verification = false).await;
    let r = app
        .post(
            "/register",
            &json!({"email": "carol@example.com", "password": PASSWORD, "full_name": "Carol"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let u = r.json();
    assert_user_public(&u);
    assert_eq!(u["email"], "carol@example.com");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_verified"], true);
    assert_eq!(u["is_superuser"], false);
    assert_eq!(u["full_name"], "Carol");
    let created_at = match app.kind() {
        // BSON dates keep milliseconds.
        DbKind::Mongo => "2026-05-01T10:20:30.123000Z",
        DbKind::Sqlite | DbKind::Postgres => "2026-05-01T10:20:30.123456Z",
    };
    assert_eq!(u["created_at"], created_at);
    assert_eq!(u["last_login"], serde_json::Value::Null);
    assert_eq!(app.user_count().await, 1);
    assert_eq!(app.pending_count().await, 0);
    assert!(app.mailer.messages().is_empty());
    // The password works at once.
    app.login_token("carol@example.com", PASSWORD).await;
    // And a second registration is a conflict.
    app.register("carol@example.com", PASSWORD)
        .await
        .assert_detail(409, "An account with that email already exists.");
}

#[tokio::test]
async fn re_registering_a_pending_email_replaces_it() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("dave@example.com", PASSWORD).await.status, 201);
    let old = app.last_token_for("dave@example.com");
    // Past the address's mail cooldown (within it, see the next test).
    app.advance(Duration::seconds(61));
    let r = app
        .post(
            "/register",
            &json!({"email": "dave@example.com", "password": "second password", "full_name": "D2"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let new = app.last_token_for("dave@example.com");
    assert_ne!(old, new);
    assert_eq!(app.pending_count().await, 1);
    assert_eq!(app.mailer.messages().len(), 2);

    app.verify(&old).await.assert_detail(
        400,
        "Verification link is invalid or has expired. Request a new one.",
    );
    let u = app.verify(&new).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.json()["full_name"], "D2");
    // The newest password won.
    app.login("dave@example.com", PASSWORD)
        .await
        .assert_detail(401, "Invalid email or password. 4 attempt(s) remaining.");
    app.login_token("dave@example.com", "second password").await;
}

#[tokio::test]
async fn re_registering_within_the_mail_cooldown_keeps_the_mailed_link() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("ivy@example.com", PASSWORD).await.status, 201);
    let link = app.last_token_for("ivy@example.com");
    app.advance(Duration::seconds(5));
    // Twenty more registrations inside the cooldown: no mail, the newest password wins.
    for i in 0..20 {
        let r = app
            .post(
                "/register",
                &json!({"email": "ivy@example.com", "password": format!("password {i:02}"), "full_name": format!("I{i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(app.mailer.messages().len(), 1, "one verification mail");
    assert_eq!(app.pending_count().await, 1);
    // The link mailed first still works and activates the newest registration.
    let u = app.verify(&link).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.json()["full_name"], "I19");
    app.login_token("ivy@example.com", "password 19").await;
}

#[tokio::test]
async fn register_with_a_failing_mailer_is_a_plain_500() {
    let app = TestApp::start(|_| {}).await;
    app.mailer.set_failing(true);
    let r = app.register("erin@example.com", PASSWORD).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.text, "Internal Server Error");
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        r.header("content-type")
    );
    // As in 0.9.3 the pending row was written before the send failed; a retry replaces it.
    assert!(app.has_pending("erin@example.com").await);
    app.mailer.set_failing(false);
    assert_eq!(app.register("erin@example.com", PASSWORD).await.status, 201);
    assert_eq!(app.pending_count().await, 1);
    let token = app.last_token_for("erin@example.com");
    assert_eq!(app.verify(&token).await.status, 200);
}
