//! Hook events fired by the flows, with their arguments (regstack 0.9.3's mail and SMS texts), and lockout
//! checked before any password verification.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use regstack_core::Event;
use regstack_e2e::{PASSWORD, TestApp};
use serde_json::json;

type Log = Arc<Mutex<Vec<String>>>;

fn record_all(app: &TestApp) -> Log {
    let log: Log = Arc::default();
    for name in [
        "user_registered",
        "verification_requested",
        "user_verified",
        "user_logged_in",
        "user_logged_out",
        "password_reset_requested",
        "password_reset_completed",
        "password_changed",
        "email_change_requested",
        "email_changed",
        "user_deleted",
        "mfa_login_started",
    ] {
        let l = log.clone();
        app.rs.hooks().on(name, move |e: &Event| {
            let line = match e {
                Event::VerificationRequested {
                    email,
                    url,
                    url_without_token,
                } => {
                    assert!(url.contains("/verify?token="));
                    assert_eq!(
                        url_without_token,
                        "http://localhost:8000/verify?token=[REDACTED]"
                    );
                    format!("verification_requested {email}")
                }
                Event::PasswordResetRequested {
                    user,
                    url_without_token,
                    ..
                } => {
                    assert!(url_without_token.ends_with("/reset-password?token=[REDACTED]"));
                    format!("password_reset_requested {}", user.email)
                }
                Event::EmailChangeRequested {
                    user,
                    new_email,
                    url_without_token,
                    ..
                } => {
                    assert!(url_without_token.ends_with("/confirm-email-change?token=[REDACTED]"));
                    format!("email_change_requested {} -> {new_email}", user.email)
                }
                Event::EmailChanged {
                    user,
                    previous_email,
                } => format!("email_changed {previous_email} -> {}", user.email),
                other => format!(
                    "{} {}",
                    other.name(),
                    other.user().map(|u| u.email.as_str()).unwrap_or("-")
                ),
            };
            l.lock().unwrap().push(line);
            Ok(())
        });
    }
    log
}

async fn bearer_post(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> u16 {
    app.send(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body),
    )
    .await
    .status
}

#[tokio::test]
async fn the_lifecycle_fires_every_event_in_order() {
    let app = TestApp::start(|_| {}).await;
    // A failing async handler never changes an answer.
    app.rs
        .hooks()
        .on_async("user_logged_in", |_e| async { Err("handler down".into()) });
    let log = record_all(&app);

    let t = app.signup_and_login("a@example.com", PASSWORD).await;
    assert_eq!(
        bearer_post(
            &app,
            "/change-email",
            &t,
            json!({"new_email": "b@example.com", "current_password": PASSWORD})
        )
        .await,
        202
    );
    app.settle().await;
    let token = app.last_token_for("b@example.com");
    assert_eq!(
        app.post("/confirm-email-change", &json!({"token": token}))
            .await
            .status,
        200
    );
    app.advance(Duration::seconds(1));
    let t = app.login_token("b@example.com", PASSWORD).await;
    assert_eq!(
        bearer_post(
            &app,
            "/change-password",
            &t,
            json!({"current_password": PASSWORD, "new_password": "second password"})
        )
        .await,
        200
    );
    // A link issued in the very instant of a password change dies with it: move on first.
    app.advance(Duration::seconds(1));
    app.post("/forgot-password", &json!({"email": "b@example.com"}))
        .await;
    app.settle().await;
    let reset = app.last_token_for("b@example.com");
    app.advance(Duration::seconds(1));
    assert_eq!(
        app.post(
            "/reset-password",
            &json!({"token": reset, "new_password": "third password"})
        )
        .await
        .status,
        200
    );
    app.advance(Duration::seconds(1));
    let t = app.login_token("b@example.com", "third password").await;
    assert_eq!(app.logout(&t).await.status, 200);
    let t = app.login_token("b@example.com", "third password").await;
    let del = app
        .send(
            app.client
                .delete(app.url("/account"))
                .bearer_auth(&t)
                .json(&json!({"current_password": "third password"})),
        )
        .await;
    assert_eq!(del.status, 200);

    assert_eq!(
        *log.lock().unwrap(),
        [
            "verification_requested a@example.com",
            "user_verified a@example.com",
            "user_logged_in a@example.com",
            "email_change_requested a@example.com -> b@example.com",
            "email_changed a@example.com -> b@example.com",
            "user_logged_in b@example.com",
            "password_changed b@example.com",
            "password_reset_requested b@example.com",
            "password_reset_completed b@example.com",
            "user_logged_in b@example.com",
            "user_logged_out b@example.com",
            "user_logged_in b@example.com",
            "user_deleted b@example.com",
        ]
    );
}

#[tokio::test]
async fn registration_without_verification_fires_user_registered() {
    let app = TestApp::start(|c| c.require_verification = false).await;
    let log = record_all(&app);
    assert_eq!(app.register("r@example.com", PASSWORD).await.status, 201);
    assert_eq!(*log.lock().unwrap(), ["user_registered r@example.com"]);
}

#[tokio::test]
async fn lockout_counts_disabled_and_unverified_and_is_checked_before_hashing() {
    let app = TestApp::start(|c| c.login_lockout_threshold = 3).await;
    app.create_user("off@example.com", Some(PASSWORD), |u| u.is_active = false)
        .await;
    app.create_user("unv@example.com", Some(PASSWORD), |u| u.is_verified = false)
        .await;
    for _ in 0..3 {
        app.login("off@example.com", PASSWORD)
            .await
            .assert_detail(403, "Account is disabled.");
        app.login("unv@example.com", PASSWORD)
            .await
            .assert_detail(403, "Email address has not been verified.");
    }
    let before = app.verifications();
    for email in ["off@example.com", "unv@example.com"] {
        let r = app.login(email, PASSWORD).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.header("retry-after").as_deref(), Some("900"));
    }
    assert_eq!(app.verifications(), before, "no Argon2 work while locked");
}
