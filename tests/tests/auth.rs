//! Bearer authentication on `GET /me`, and `POST /logout` (regstack 0.9.3's HTTP API,
//! §2.7).

use std::sync::Arc;

use chrono::Duration;
use regstack_core::jwt::{Extra, JwtCodec, Purpose};
use regstack_core::{FrozenClock, RegStackConfig, UserPatch};
use regstack_e2e::{
    DbKind, PASSWORD, Resp, TestApp, assert_user_public, pydantic, t0, test_config,
};

const EMAIL: &str = "alice@example.com";

#[track_caller]
fn assert_challenge(r: &Resp, detail: &str) {
    r.assert_detail(401, detail);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
}

#[track_caller]
fn assert_no_challenge(r: &Resp, detail: &str) {
    r.assert_detail(401, detail);
    assert_eq!(r.header("www-authenticate"), None);
}

#[tokio::test]
async fn me_returns_the_user() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    let r = app.me(&token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_user_public(&u);
    assert_eq!(u["email"], EMAIL);
    assert_eq!(u["is_verified"], true);
    assert_eq!(u["last_login"], pydantic(app.stored(app.now())));
    // The scheme is case-insensitive.
    let r = app.get_auth("/me", Some(&format!("bEaReR {token}"))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn missing_or_malformed_credentials() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    for header in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic x"),
        Some(&*format!("Basic {token}")),
        Some(&*format!("Token {token}")),
        Some(&*token),
    ] {
        let r = app.get_auth("/me", header).await;
        assert_challenge(&r, "Authentication required.");
    }
}

#[tokio::test]
async fn undecodable_tokens() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    let user = app.user_by_email(EMAIL).await.unwrap();

    // Signed with another secret.
    let other_cfg = RegStackConfig {
        jwt_secret: "another-secret-of-sufficient-length-0123456789".into(),
        ..test_config()
    };
    let foreign = JwtCodec::new(&other_cfg, app.clock.clone());
    let (forged, _) = foreign.issue(Purpose::Session, &user.id, Extra::default());
    // Another purpose with the right secret.
    let (reset, _) = app
        .rs
        .jwt()
        .issue(Purpose::PasswordReset, &user.id, Extra::default());
    let (mfa, _) = app
        .rs
        .jwt()
        .issue(Purpose::LoginMfa, &user.id, Extra::default());
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let parts: Vec<&str> = token.split('.').collect();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);

    for bad in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        forged,
        reset,
        mfa,
        tampered,
        unsigned,
        format!(" {token}"),
    ] {
        let r = app.get_auth("/me", Some(&format!("Bearer {bad}"))).await;
        assert_challenge(&r, "Invalid or expired token.");
    }
    // The genuine token still works.
    assert_eq!(app.me(&token).await.status, 200);
}

#[tokio::test]
async fn expired_token() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    app.advance(Duration::seconds(7199));
    assert_eq!(app.me(&token).await.status, 200);
    app.advance(Duration::seconds(1));
    assert_challenge(&app.me(&token).await, "Invalid or expired token.");
}

#[tokio::test]
async fn deleted_or_disabled_user() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    let user = app.user_by_email(EMAIL).await.unwrap();
    app.update_user(
        &user.id,
        UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        },
    )
    .await;
    assert_no_challenge(&app.me(&token).await, "User no longer active.");
    // Re-enabled without a cutoff: the token works again.
    app.update_user(
        &user.id,
        UserPatch {
            is_active: Some(true),
            ..UserPatch::default()
        },
    )
    .await;
    assert_eq!(app.me(&token).await.status, 200);

    assert!(app.rs.stores().users.delete(&user.id).await.unwrap());
    assert_no_challenge(&app.me(&token).await, "User no longer active.");
    assert_no_challenge(&app.logout(&token).await, "User no longer active.");
}

#[tokio::test]
async fn bulk_revocation_cutoff() {
    // MongoDB keeps datetimes to the millisecond (a cutoff rounded up): the boundary checks
    // start on an instant every backend keeps exactly.
    let start = DbKind::from_env().stored(t0());
    let app = TestApp::start_with_clock(Arc::new(FrozenClock::new(start)), |_| {}).await;
    let old = app.signup_and_login(EMAIL, PASSWORD).await;
    let user = app.user_by_email(EMAIL).await.unwrap();
    // Cutoff == the token's iat: revoked (inclusive).
    app.update_user(
        &user.id,
        UserPatch {
            tokens_invalidated_after: Some(Some(app.now())),
            ..UserPatch::default()
        },
    )
    .await;
    let r = app.me(&old).await;
    assert_no_challenge(&r, "Session was invalidated; please sign in again.");
    // A login at the same instant is still at or before the cutoff.
    let same_instant = app.login_token(EMAIL, PASSWORD).await;
    assert_no_challenge(
        &app.me(&same_instant).await,
        "Session was invalidated; please sign in again.",
    );

    // One microsecond later a new session survives; the old ones stay dead.
    app.advance(Duration::microseconds(1));
    let fresh = app.login_token(EMAIL, PASSWORD).await;
    let r = app.me(&fresh).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["tokens_invalidated_after"],
        pydantic(app.now() - Duration::microseconds(1))
    );
    assert_no_challenge(
        &app.me(&old).await,
        "Session was invalidated; please sign in again.",
    );

    // And with millisecond steps too. `fresh` was issued at this very instant: refused on
    // every backend (MongoDB keeps milliseconds and rounds a cutoff up, so a token of the
    // cutoff's own millisecond dies there too).
    let cutoff = app.now();
    app.update_user(
        &user.id,
        UserPatch {
            tokens_invalidated_after: Some(Some(cutoff)),
            ..UserPatch::default()
        },
    )
    .await;
    let fresh_iat = app.rs.jwt().decode(&fresh, Purpose::Session).unwrap().iat;
    assert_eq!(fresh_iat, cutoff);
    assert_no_challenge(
        &app.me(&fresh).await,
        "Session was invalidated; please sign in again.",
    );
    assert_no_challenge(
        &app.me(&old).await,
        "Session was invalidated; please sign in again.",
    );
    app.advance(Duration::milliseconds(1));
    let later = app.login_token(EMAIL, PASSWORD).await;
    assert_eq!(app.me(&later).await.status, 200);
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let app = TestApp::start(|_| {}).await;
    let a = app.signup_and_login(EMAIL, PASSWORD).await;
    let b = app.login_token(EMAIL, PASSWORD).await;
    assert_ne!(a, b);

    let r = app.logout(&a).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, r#"{"message":"Logged out."}"#);

    assert_no_challenge(&app.me(&a).await, "Token has been revoked.");
    assert_no_challenge(&app.logout(&a).await, "Token has been revoked.");
    // The other session of the same user is untouched.
    assert_eq!(app.me(&b).await.status, 200);
    assert_eq!(app.logout(&b).await.status, 200);
    assert_no_challenge(&app.me(&b).await, "Token has been revoked.");

    // The revocation lives in the store, with the token's expiry.
    let claims = app.rs.jwt().decode(&a, Purpose::Session).unwrap();
    assert!(
        app.rs
            .stores()
            .revocations
            .is_revoked(&claims.jti)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn logout_needs_authentication() {
    let app = TestApp::start(|_| {}).await;
    let r = app.send(app.client.post(app.url("/logout"))).await;
    assert_challenge(&r, "Authentication required.");
    let r = app
        .send(
            app.client
                .post(app.url("/logout"))
                .header("authorization", "Bearer garbage"),
        )
        .await;
    assert_challenge(&r, "Invalid or expired token.");
}

#[tokio::test]
async fn two_instances_share_nothing() {
    // A token of one app (other secret) is refused by another.
    let a = TestApp::start(|_| {}).await;
    let b = TestApp::start(|c| {
        c.jwt_secret = "a-completely-different-secret-0123456789abcdef".into();
    })
    .await;
    let token = a.signup_and_login(EMAIL, PASSWORD).await;
    b.register_verified(EMAIL, PASSWORD).await;
    assert_challenge(&b.me(&token).await, "Invalid or expired token.");
}
