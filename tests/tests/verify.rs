//! `POST /verify` and `POST /resend-verification` (regstack 0.9.3's HTTP API).

use std::time::Duration;

use chrono::Duration as TimeDelta;
use regstack_core::NewUser;
use regstack_e2e::{PASSWORD, TestApp, assert_user_public, pydantic};
use serde_json::json;

const INVALID_LINK: &str = "Verification link is invalid or has expired. Request a new one.";
const RESEND_MESSAGE: &str = "If a pending registration exists, a new email has been sent.";

#[tokio::test]
async fn verify_creates_the_user_once() {
    let app = TestApp::start(|_| {}).await;
    let r = app
        .post(
            "/register",
            &json!({"email": "alice@example.com", "password": PASSWORD, "full_name": "Alice"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let token = app.last_token_for("alice@example.com");
    app.advance(TimeDelta::seconds(30));

    let r = app.verify(&token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_user_public(&u);
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_verified"], true);
    assert_eq!(u["is_superuser"], false);
    assert_eq!(u["full_name"], "Alice");
    assert_eq!(u["phone_number"], json!(null));
    assert_eq!(u["is_mfa_enabled"], false);
    assert_eq!(u["created_at"], pydantic(app.stored(app.now())));
    assert_eq!(u["updated_at"], pydantic(app.stored(app.now())));
    assert_eq!(u["last_login"], json!(null));
    assert_eq!(u["tokens_invalidated_after"], json!(null));
    assert_eq!(app.user_count().await, 1);
    assert!(!app.has_pending("alice@example.com").await);
    // The stored hash is the one written at registration.
    let stored = app.user_by_email("alice@example.com").await.unwrap();
    assert_eq!(stored.id, u["id"].as_str().unwrap());

    // Replay.
    app.verify(&token).await.assert_detail(400, INVALID_LINK);
    assert_eq!(app.user_count().await, 1);
    // Verification does not log in: the new user signs in with the password.
    app.login_token("alice@example.com", PASSWORD).await;
}

#[tokio::test]
async fn unknown_tokens_are_refused() {
    let app = TestApp::start(|_| {}).await;
    for token in [
        "",
        "nope",
        &"x".repeat(43),
        "Uuz1l-nZFO-YR-wfrcvmCBug6kKClrCGkd01iLVO_Cg",
    ] {
        app.verify(token).await.assert_detail(400, INVALID_LINK);
    }
    let r = app.post("/verify", &json!({"token": 5})).await;
    assert_eq!(r.validation_items()[0]["type"], "string_type");
    let r = app.post("/verify", &json!({})).await;
    assert_eq!(r.validation_items()[0]["type"], "missing");
}

#[tokio::test]
async fn expired_link_is_refused_and_removed() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("bob@example.com", PASSWORD).await.status, 201);
    let token = app.last_token_for("bob@example.com");
    // Still valid one microsecond before the expiry instant.
    app.advance(TimeDelta::seconds(86_400) - TimeDelta::microseconds(1));
    assert!(app.has_pending("bob@example.com").await);
    app.advance(TimeDelta::seconds(2));
    app.verify(&token).await.assert_detail(400, INVALID_LINK);
    assert!(
        !app.has_pending("bob@example.com").await,
        "expired row deleted"
    );
    assert_eq!(app.user_count().await, 0);
    app.verify(&token).await.assert_detail(400, INVALID_LINK);
}

#[tokio::test]
async fn expiry_instant_itself_is_expired() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("bob@example.com", PASSWORD).await.status, 201);
    let token = app.last_token_for("bob@example.com");
    app.advance(TimeDelta::seconds(86_400));
    app.verify(&token).await.assert_detail(400, INVALID_LINK);
    assert!(!app.has_pending("bob@example.com").await);
}

#[tokio::test]
async fn verify_when_the_user_already_exists() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(
        app.register("carol@example.com", PASSWORD).await.status,
        201
    );
    let token = app.last_token_for("carol@example.com");
    // Someone (an admin, another flow) created the user meanwhile.
    let mut new = NewUser::new("carol@example.com", None, app.now());
    new.full_name = Some("Direct".into());
    app.rs.stores().users.create(new).await.unwrap();

    app.verify(&token)
        .await
        .assert_detail(400, "This email is already registered. Please sign in.");
    assert!(
        !app.has_pending("carol@example.com").await,
        "pending row deleted"
    );
    assert_eq!(app.user_count().await, 1);
    let u = app.user_by_email("carol@example.com").await.unwrap();
    assert_eq!(u.full_name.as_deref(), Some("Direct"));
    app.verify(&token).await.assert_detail(400, INVALID_LINK);
}

#[tokio::test]
async fn concurrent_verifies_of_one_token() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("race@example.com", PASSWORD).await.status, 201);
    let token = app.last_token_for("race@example.com");
    let answers = futures::future::join_all((0..20).map(|_| app.verify(&token))).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "exactly one verify wins");
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_detail(400, INVALID_LINK);
    }
    assert_eq!(app.user_count().await, 1);
    assert!(!app.has_pending("race@example.com").await);
}

#[tokio::test]
async fn resend_always_answers_202() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("user@example.com", PASSWORD).await;
    assert_eq!(
        app.register("pending@example.com", PASSWORD).await.status,
        201
    );
    // The registration's mail started the address's cooldown.
    app.advance(TimeDelta::seconds(61));
    let mails_before = app.mailer.messages().len();

    let mut bodies = Vec::new();
    for email in [
        "unknown@example.com",
        "user@example.com",
        "pending@example.com",
    ] {
        let r = app
            .post("/resend-verification", &json!({"email": email}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json(), json!({"message": RESEND_MESSAGE}));
        bodies.push((r.header("content-type"), r.text));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "identical answers");

    app.settle().await;
    let mails = app.mailer.messages();
    assert_eq!(
        mails.len(),
        mails_before + 1,
        "one mail, for the pending email only"
    );
    assert_eq!(mails.last().unwrap().to, "pending@example.com");
    // Validation still applies.
    let r = app
        .post("/resend-verification", &json!({"email": "nope"}))
        .await;
    assert_eq!(r.validation_items()[0]["type"], "value_error");
}

#[tokio::test]
async fn resend_replaces_the_link() {
    let app = TestApp::start(|_| {}).await;
    let r = app
        .post(
            "/register",
            &json!({"email": "dave@example.com", "password": PASSWORD, "full_name": "Dave"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let old = app.last_token_for("dave@example.com");
    app.advance(TimeDelta::seconds(60));

    let r = app
        .post(
            "/resend-verification",
            &json!({"email": "dave@example.com"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let mails = app.mailer.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 2, "the new mail arrives");
    assert_eq!(mails[1].subject, "Confirm your RegStack account");
    assert_eq!(mails[1].to, "dave@example.com");
    app.settle().await;
    let new = app.last_token_for("dave@example.com");
    assert_ne!(old, new);
    // The row's expiry restarts from now.
    let pending = app
        .rs
        .stores()
        .pending
        .find_by_email("dave@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pending.expires_at,
        app.stored(app.now() + TimeDelta::seconds(86_400))
    );

    app.verify(&old).await.assert_detail(400, INVALID_LINK);
    let u = app.verify(&new).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.json()["full_name"], "Dave");
    app.login_token("dave@example.com", PASSWORD).await;
}

#[tokio::test]
async fn resend_revives_an_expired_row() {
    let app = TestApp::start(|_| {}).await;
    assert_eq!(app.register("old@example.com", PASSWORD).await.status, 201);
    app.advance(TimeDelta::days(3));
    assert_eq!(app.pending_count().await, 0);
    let r = app
        .post("/resend-verification", &json!({"email": "old@example.com"}))
        .await;
    assert_eq!(r.status, 202);
    app.settle().await;
    assert_eq!(app.mailer.messages().len(), 2);
    assert_eq!(app.pending_count().await, 1);
    let token = app.last_token_for("old@example.com");
    assert_eq!(app.verify(&token).await.status, 200);
}

#[tokio::test]
async fn resend_with_a_failing_mailer_answers_the_same() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("user@example.com", PASSWORD).await;
    assert_eq!(
        app.register("pending@example.com", PASSWORD).await.status,
        201
    );
    // The registration's mail started the address's cooldown.
    app.advance(TimeDelta::seconds(61));
    let expected = app
        .post(
            "/resend-verification",
            &json!({"email": "unknown@example.com"}),
        )
        .await;
    app.settle().await;
    let sent = app.mailer.messages().len();

    app.mailer.set_failing(true);
    for email in [
        "unknown@example.com",
        "user@example.com",
        "pending@example.com",
    ] {
        let r = app
            .post("/resend-verification", &json!({"email": email}))
            .await;
        assert_eq!(r.status, expected.status);
        assert_eq!(r.text, expected.text);
        assert_eq!(r.header("content-type"), expected.header("content-type"));
    }
    assert_eq!(app.mailer.messages().len(), sent);
    // The deferred send is retried: once the transport is back the mail goes out.
    app.mailer.set_failing(false);
    let mails = app.mailer.wait_for(sent + 1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), sent + 1);
    assert_eq!(mails.last().unwrap().to, "pending@example.com");
    app.settle().await;
    let token = app.last_token_for("pending@example.com");
    assert_eq!(app.verify(&token).await.status, 200);
}
