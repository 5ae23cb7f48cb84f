//! `POST /login` and `POST /login/mfa-confirm` (regstack 0.9.3's HTTP API, deviations #1,
//! #4, #12).

use chrono::Duration;
use regstack_core::UserPatch;
use regstack_core::jwt::Purpose;
use regstack_e2e::{
    PASSWORD, Resp, TestApp, assert_json_content_type, assert_user_public, pydantic,
};
use serde_json::json;

const EMAIL: &str = "alice@example.com";

fn invalid(remaining: u64) -> String {
    if remaining == 0 {
        "Invalid email or password.".to_owned()
    } else {
        format!("Invalid email or password. {remaining} attempt(s) remaining.")
    }
}

#[tokio::test]
async fn login_returns_a_session_token() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    app.advance(Duration::seconds(10));
    let r = app.login(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_json_content_type(&r);
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["access_token", "token_type", "expires_in"]);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let claims = app.rs.jwt().decode(token, Purpose::Session).unwrap();
    assert_eq!(claims.iat, app.now());
    assert_eq!(claims.exp.timestamp(), app.now().timestamp() + 7200);

    // last_login is the token's iat.
    let me = app.me(token).await;
    assert_eq!(me.status, 200);
    let u = me.json();
    assert_user_public(&u);
    assert_eq!(u["last_login"], pydantic(app.stored(app.now())));
    assert_eq!(u["email"], EMAIL);

    // The domain is case-insensitive, the local part is not.
    app.login_token("alice@EXAMPLE.com", PASSWORD).await;
    app.login("Alice@example.com", PASSWORD)
        .await
        .assert_detail(401, &invalid(4));
}

#[tokio::test]
async fn failures_count_down_then_lock_with_the_remaining_time() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    let t0 = app.now();
    for (i, remaining) in [4, 3, 2, 1, 0].into_iter().enumerate() {
        app.clock.set(t0 + Duration::seconds(i as i64));
        app.login(EMAIL, "wrong password")
            .await
            .assert_detail(401, &invalid(remaining));
    }
    // Locked: even the right password is refused; the wait is what remains of the window.
    app.clock.set(t0 + Duration::seconds(10));
    let r = app.login(EMAIL, PASSWORD).await;
    r.assert_detail(429, "Too many failed attempts. Try again in 890 seconds.");
    assert_eq!(r.header("retry-after").as_deref(), Some("890"));
    assert_eq!(
        app.failures(EMAIL).await,
        5,
        "a locked attempt is not recorded"
    );

    app.clock.set(t0 + Duration::milliseconds(899_500));
    let r = app.login(EMAIL, "wrong password").await;
    r.assert_detail(429, "Too many failed attempts. Try again in 1 seconds.");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));

    // The oldest failure ages out after the window: unlocked, and the right password works.
    app.clock.set(t0 + Duration::seconds(901));
    let token = app.login_token(EMAIL, PASSWORD).await;
    assert_eq!(app.me(&token).await.status, 200);
    assert_eq!(app.failures(EMAIL).await, 0, "success clears the failures");
    app.login(EMAIL, "wrong password")
        .await
        .assert_detail(401, &invalid(4));
}

#[tokio::test]
async fn lockout_applies_to_unknown_emails() {
    let app = TestApp::start(|c| c.login_lockout_threshold = 2).await;
    let ghost = "ghost@example.com";
    app.login(ghost, PASSWORD)
        .await
        .assert_detail(401, &invalid(1));
    app.advance(Duration::seconds(100));
    app.login(ghost, PASSWORD)
        .await
        .assert_detail(401, &invalid(0));
    app.advance(Duration::seconds(100));
    let r = app.login(ghost, PASSWORD).await;
    // The first failure ends its window 900 s after it happened: 700 s from now.
    r.assert_detail(429, "Too many failed attempts. Try again in 700 seconds.");
    assert_eq!(r.header("retry-after").as_deref(), Some("700"));
}

#[tokio::test]
async fn lockout_can_be_disabled() {
    let app = TestApp::start(|c| c.rate_limit_disabled = true).await;
    app.register_verified(EMAIL, PASSWORD).await;
    for _ in 0..8 {
        app.login(EMAIL, "wrong password")
            .await
            .assert_detail(401, "Invalid email or password.");
        app.login("nobody@example.com", PASSWORD)
            .await
            .assert_detail(401, "Invalid email or password.");
    }
    app.login_token(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn unknown_and_pending_emails_are_401() {
    let app = TestApp::start(|_| {}).await;
    app.login("nobody@example.com", PASSWORD)
        .await
        .assert_detail(401, &invalid(4));
    assert_eq!(
        app.register("pending@example.com", PASSWORD).await.status,
        201
    );
    app.login("pending@example.com", PASSWORD)
        .await
        .assert_detail(401, &invalid(4));
    assert_eq!(app.failures("pending@example.com").await, 1);
}

#[tokio::test]
async fn disabled_user_is_403_after_the_right_password() {
    let app = TestApp::start(|_| {}).await;
    let u = app.register_verified(EMAIL, PASSWORD).await;
    app.update_user(
        u["id"].as_str().unwrap(),
        UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        },
    )
    .await;
    app.login(EMAIL, "wrong password")
        .await
        .assert_detail(401, &invalid(4));
    app.login(EMAIL, PASSWORD)
        .await
        .assert_detail(403, "Account is disabled.");
    assert_eq!(app.failures(EMAIL).await, 2, "a 403 also counts");
}

#[tokio::test]
async fn unverified_user_is_403() {
    let app = TestApp::start(|_| {}).await;
    app.create_user(EMAIL, Some(PASSWORD), |u| u.is_verified = false)
        .await;
    app.login(EMAIL, PASSWORD)
        .await
        .assert_detail(403, "Email address has not been verified.");
    assert_eq!(app.failures(EMAIL).await, 1);

    // Without require_verification an unverified user signs in.
    let app = TestApp::start(|c| c.require_verification = false).await;
    app.create_user(EMAIL, Some(PASSWORD), |u| u.is_verified = false)
        .await;
    app.login_token(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn non_phc_hash_is_a_failed_login_not_500() {
    let app = TestApp::start(|_| {}).await;
    for (email, stored) in [
        (
            "bcrypt@example.com",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ),
        ("plain@example.com", "correct horse battery"),
        ("empty@example.com", ""),
        (
            "cut@example.com",
            "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ",
        ),
    ] {
        app.create_user(email, None, |u| u.hashed_password = Some(stored.to_owned()))
            .await;
        let before = app.verifications();
        app.login(email, PASSWORD)
            .await
            .assert_detail(401, &invalid(4));
        assert_eq!(app.verifications() - before, 1, "{email}");
    }
}

#[tokio::test]
async fn every_failure_costs_exactly_one_verification() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    assert_eq!(
        app.register("pending@example.com", PASSWORD).await.status,
        201
    );
    app.create_user("oauth@example.com", None, |_| {}).await;

    let cases = [
        ("unknown@example.com", PASSWORD, 401),
        ("pending@example.com", PASSWORD, 401),
        (EMAIL, "wrong password", 401),
        ("oauth@example.com", PASSWORD, 401),
        (EMAIL, PASSWORD, 200),
    ];
    for (email, password, status) in cases {
        let before = app.verifications();
        let r = app.login(email, password).await;
        assert_eq!(r.status, status, "{email}: {}", r.text);
        assert_eq!(app.verifications() - before, 1, "{email} / {password}");
    }
    // The unknown and OAuth-only answers are those of a wrong password.
    app.login("unknown2@example.com", PASSWORD)
        .await
        .assert_detail(401, &invalid(4));
    app.login("oauth@example.com", PASSWORD)
        .await
        .assert_detail(401, &invalid(3));
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> Resp {
    app.post(
        "/login/mfa-confirm",
        &json!({"mfa_pending_token": token, "code": code}),
    )
    .await
}

/// Log in as the MFA user; returns the pending token.
async fn start_mfa(app: &TestApp) -> String {
    let r = app.login(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "mfa_required");
    r.json()["mfa_pending_token"].as_str().unwrap().to_owned()
}

/// The code of the newest SMS.
fn code_of(app: &TestApp) -> String {
    let body = app.sms.messages().last().expect("an sms").body.clone();
    body["RegStack sign-in code: ".len()..][..6].to_owned()
}

#[tokio::test]
async fn mfa_login_takes_a_second_step() {
    let app = TestApp::start(|_| {}).await;
    let u = app.register_verified(EMAIL, PASSWORD).await;
    let id = u["id"].as_str().unwrap().to_owned();
    app.update_user(
        &id,
        UserPatch {
            is_mfa_enabled: Some(true),
            phone_number: Some(Some("+14155552671".into())),
            ..UserPatch::default()
        },
    )
    .await;

    let r = app.login(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["status", "mfa_pending_token", "expires_in", "delivery"]
    );
    assert_eq!(body["status"], "mfa_required");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["delivery"], "sms");
    let pending = body["mfa_pending_token"].as_str().unwrap().to_owned();
    // The pending token is not a session token.
    app.me(&pending)
        .await
        .assert_detail(401, "Invalid or expired token.");
    assert_eq!(app.user_by_email(EMAIL).await.unwrap().last_login, None);

    let sms = app.sms.messages();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].to, "+14155552671");
    let body = &sms[0].body;
    let code = body
        .strip_prefix("RegStack sign-in code: ")
        .and_then(|rest| rest.get(..6))
        .unwrap_or_else(|| panic!("unexpected sms {body:?}"))
        .to_owned();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{body}");
    assert_eq!(
        body,
        &format!(
            "RegStack sign-in code: {code}. Expires in 5 minutes. If you didn't try to sign in, ignore this message."
        )
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    confirm(&app, &pending, wrong)
        .await
        .assert_detail(400, "Wrong code; 4 attempts remaining.");
    confirm(&app, &pending, wrong)
        .await
        .assert_detail(400, "Wrong code; 3 attempts remaining.");

    app.advance(Duration::seconds(5));
    let r = confirm(&app, &pending, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = r.json();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 7200);
    let token = t["access_token"].as_str().unwrap();
    let me = app.me(token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["last_login"], pydantic(app.stored(app.now())));
    assert_eq!(me.json()["is_mfa_enabled"], true);
    assert_eq!(app.failures(EMAIL).await, 0);

    // Replay of the code (and the still-valid pending token).
    confirm(&app, &pending, &code)
        .await
        .assert_detail(400, "No pending sign-in code — start the login flow again.");
    confirm(&app, "garbage", &code).await.assert_detail(
        400,
        "Sign-in session is invalid or has expired. Start over from sign-in.",
    );
    // A session token is not a pending token.
    confirm(&app, token, &code).await.assert_detail(
        400,
        "Sign-in session is invalid or has expired. Start over from sign-in.",
    );
    let r = confirm(&app, &pending, "123").await;
    r.assert_validation(json!([{
        "type": "string_too_short",
        "loc": ["body", "code"],
        "msg": "String should have at least 4 characters",
        "input": "123",
        "ctx": {"min_length": 4},
    }]));
    let r = confirm(&app, &pending, "12345678901").await;
    assert_eq!(r.validation_items()[0]["type"], "string_too_long");
}

#[tokio::test]
async fn mfa_codes_lock_and_expire() {
    let app = TestApp::start(|_| {}).await;
    let u = app.register_verified(EMAIL, PASSWORD).await;
    app.update_user(
        u["id"].as_str().unwrap(),
        UserPatch {
            is_mfa_enabled: Some(true),
            phone_number: Some(Some("+14155552671".into())),
            ..UserPatch::default()
        },
    )
    .await;
    // Five wrong guesses: 4, 3, 2, 1 remaining, then locked.
    let pending = start_mfa(&app).await;
    let code = code_of(&app);
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for n in [4, 3, 2, 1] {
        confirm(&app, &pending, wrong)
            .await
            .assert_detail(400, &format!("Wrong code; {n} attempts remaining."));
    }
    confirm(&app, &pending, wrong)
        .await
        .assert_detail(400, "Too many wrong attempts — start the login flow again.");
    confirm(&app, &pending, &code)
        .await
        .assert_detail(400, "No pending sign-in code — start the login flow again.");

    // The code expires after sms_code_ttl_seconds (300).
    let pending = start_mfa(&app).await;
    let code = code_of(&app);
    app.advance(Duration::seconds(301));
    confirm(&app, &pending, &code)
        .await
        .assert_detail(400, "Sign-in code has expired. Try logging in again.");

    // The pending token expires after 600 s.
    let pending = start_mfa(&app).await;
    let code = code_of(&app);
    app.advance(Duration::seconds(600));
    confirm(&app, &pending, &code).await.assert_detail(
        400,
        "Sign-in session is invalid or has expired. Start over from sign-in.",
    );
}

#[tokio::test]
async fn mfa_needs_both_the_flag_and_a_phone() {
    let app = TestApp::start(|_| {}).await;
    let u = app.register_verified(EMAIL, PASSWORD).await;
    let id = u["id"].as_str().unwrap().to_owned();
    app.update_user(
        &id,
        UserPatch {
            is_mfa_enabled: Some(true),
            ..UserPatch::default()
        },
    )
    .await;
    app.login_token(EMAIL, PASSWORD).await;
    app.update_user(
        &id,
        UserPatch {
            is_mfa_enabled: Some(false),
            phone_number: Some(Some("+14155552671".into())),
            ..UserPatch::default()
        },
    )
    .await;
    app.login_token(EMAIL, PASSWORD).await;
    assert!(app.sms.messages().is_empty());
}
