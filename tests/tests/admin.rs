//! The admin router: regstack 0.9.3's HTTP API, deviation #6.

use chrono::Duration;
use regstack_e2e::{PASSWORD, Resp, TestApp, assert_user_public};
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    app.send(req).await
}

async fn admin_app() -> (TestApp, String) {
    let app = TestApp::start(|c| c.enable_admin_router = true).await;
    app.rs
        .bootstrap_admin(
            &"root@example.com".try_into().unwrap(),
            &PASSWORD.try_into().unwrap(),
        )
        .await
        .unwrap();
    let token = app.login_token("root@example.com", PASSWORD).await;
    (app, token)
}

#[tokio::test]
async fn non_admins_get_403_and_anonymous_401_on_every_route() {
    let (app, _) = admin_app().await;
    let user = app.signup_and_login("plain@example.com", PASSWORD).await;
    let id = app.user_by_email("plain@example.com").await.unwrap().id;
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, "/admin/stats".into(), None),
        (reqwest::Method::GET, "/admin/users".into(), None),
        (reqwest::Method::GET, format!("/admin/users/{id}"), None),
        (
            reqwest::Method::PATCH,
            format!("/admin/users/{id}"),
            Some(json!({"is_superuser": true})),
        ),
        (reqwest::Method::DELETE, format!("/admin/users/{id}"), None),
        (
            reqwest::Method::POST,
            format!("/admin/users/{id}/resend-verification"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/admin/pending/x@example.com/promote".into(),
            None,
        ),
    ];
    for (m, path, body) in routes {
        call(&app, m.clone(), &path, Some(&user), body.clone())
            .await
            .assert_detail(403, "Administrator privileges required.");
        call(&app, m, &path, None, body)
            .await
            .assert_detail(401, "Authentication required.");
    }
    // Nothing changed.
    assert!(
        !app.user_by_email("plain@example.com")
            .await
            .unwrap()
            .is_superuser
    );
}

#[tokio::test]
async fn stats_and_paginated_listing() {
    let (app, t) = admin_app().await;
    for i in 0..3 {
        app.advance(Duration::seconds(1));
        app.register_verified(&format!("u{i}@example.com"), PASSWORD)
            .await;
    }
    app.register("pending@example.com", PASSWORD).await;
    let stats = call(&app, reqwest::Method::GET, "/admin/stats", Some(&t), None).await;
    assert_eq!(
        stats.json(),
        json!({"total_users": 4, "active_users": 4, "verified_users": 4, "superusers": 1, "pending_registrations": 1})
    );
    let page = call(
        &app,
        reqwest::Method::GET,
        "/admin/users?skip=1&limit=2",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let body = page.json();
    assert_eq!(body["total"], 4);
    assert_eq!(body["skip"], 1);
    assert_eq!(body["limit"], 2);
    let emails: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_user_public(u);
            u["email"].as_str().unwrap()
        })
        .collect();
    assert_eq!(emails, ["u1@example.com", "u0@example.com"], "newest first");
    let all = call(&app, reqwest::Method::GET, "/admin/users", Some(&t), None)
        .await
        .json();
    assert_eq!(all["limit"], 50);
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn listing_query_validation() {
    let (app, t) = admin_app().await;
    let r = call(
        &app,
        reqwest::Method::GET,
        "/admin/users?limit=0",
        Some(&t),
        None,
    )
    .await;
    r.assert_validation(
        json!([{"type": "greater_than_equal", "loc": ["query", "limit"],
        "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}}]),
    );
    let r = call(
        &app,
        reqwest::Method::GET,
        "/admin/users?limit=201",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.validation_items()[0]["type"], "less_than_equal");
    let r = call(
        &app,
        reqwest::Method::GET,
        "/admin/users?skip=-1&limit=abc",
        Some(&t),
        None,
    )
    .await;
    let items = r.validation_items();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["loc"], json!(["query", "skip"]));
    assert_eq!(items[1]["type"], "int_parsing");
}

#[tokio::test]
async fn get_patch_delete_user() {
    let (app, t) = admin_app().await;
    let victim = app.signup_and_login("vic@example.com", PASSWORD).await;
    let id = app.user_by_email("vic@example.com").await.unwrap().id;
    let got = call(
        &app,
        reqwest::Method::GET,
        &format!("/admin/users/{id}"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_user_public(&got.json());
    call(
        &app,
        reqwest::Method::GET,
        "/admin/users/nope",
        Some(&t),
        None,
    )
    .await
    .assert_detail(404, "User not found.");

    app.advance(Duration::seconds(1));
    let patched = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(&t),
        Some(json!({"is_active": false, "is_superuser": true, "full_name": "Vic"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let body = patched.json();
    assert_eq!(body["is_active"], false);
    assert_eq!(body["is_superuser"], true);
    assert_eq!(body["full_name"], "Vic");
    assert!(body["tokens_invalidated_after"].is_string());
    app.me(&victim)
        .await
        .assert_detail(401, "User no longer active.");
    // Re-enabling does not resurrect old sessions.
    call(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(&t),
        Some(json!({"is_active": true})),
    )
    .await;
    app.me(&victim)
        .await
        .assert_detail(401, "Session was invalidated; please sign in again.");
    let bad = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(&t),
        Some(json!({"is_active": "maybe", "extra": 1})),
    )
    .await;
    let items = bad.validation_items();
    assert_eq!(items[0]["type"], "bool_type");
    assert_eq!(items[1]["type"], "extra_forbidden");
    call(
        &app,
        reqwest::Method::PATCH,
        "/admin/users/nope",
        Some(&t),
        Some(json!({})),
    )
    .await
    .assert_detail(404, "User not found.");

    let del = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/users/{id}"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(
        del.json(),
        json!({"message": "User vic@example.com deleted."})
    );
    assert!(app.user_by_email("vic@example.com").await.is_none());
    call(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/users/{id}"),
        Some(&t),
        None,
    )
    .await
    .assert_detail(404, "User not found.");
}

#[tokio::test]
async fn admin_resend_verification_works_for_unverified_users() {
    let (app, t) = admin_app().await;
    let user = app
        .create_user("unv@example.com", Some(PASSWORD), |u| u.is_verified = false)
        .await;
    let r = call(
        &app,
        reqwest::Method::POST,
        &format!("/admin/users/{}/resend-verification", user.id),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"message": "Verification email sent to unv@example.com."})
    );
    let token = app.last_token_for("unv@example.com");
    let v = app.verify(&token).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.json()["is_verified"], true);
    assert_eq!(v.json()["id"], user.id.as_str());
    call(
        &app,
        reqwest::Method::POST,
        &format!("/admin/users/{}/resend-verification", user.id),
        Some(&t),
        None,
    )
    .await
    .assert_detail(400, "User is already verified.");
    let oauth = app
        .create_user("oauth@example.com", None, |u| u.is_verified = false)
        .await;
    call(&app, reqwest::Method::POST, &format!("/admin/users/{}/resend-verification", oauth.id), Some(&t), None)
        .await
        .assert_detail(400, "User has no password (OAuth-only). Verify them directly via the user record instead of resending verification email.");
    call(
        &app,
        reqwest::Method::POST,
        "/admin/users/nope/resend-verification",
        Some(&t),
        None,
    )
    .await
    .assert_detail(404, "User not found.");
}

#[tokio::test]
async fn promote_pending_registration() {
    let (app, t) = admin_app().await;
    app.register("pen@example.com", PASSWORD).await;
    let r = call(
        &app,
        reqwest::Method::POST,
        "/admin/pending/pen@example.com/promote",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_user_public(&r.json());
    assert_eq!(r.json()["is_verified"], true);
    assert_eq!(app.login("pen@example.com", PASSWORD).await.status, 200);
    call(
        &app,
        reqwest::Method::POST,
        "/admin/pending/pen@example.com/promote",
        Some(&t),
        None,
    )
    .await
    .assert_detail(404, "No pending registration for pen@example.com.");
    // Expired rows are not promotable.
    app.register("old@example.com", PASSWORD).await;
    app.advance(Duration::seconds(86_400));
    let t = app.login_token("root@example.com", PASSWORD).await;
    call(
        &app,
        reqwest::Method::POST,
        "/admin/pending/old@example.com/promote",
        Some(&t),
        None,
    )
    .await
    .assert_detail(404, "No pending registration for old@example.com.");
    assert!(!app.has_pending("old@example.com").await);
    // A user took the address meanwhile.
    app.register("dup@example.com", PASSWORD).await;
    app.create_user("dup@example.com", Some(PASSWORD), |_| {})
        .await;
    call(
        &app,
        reqwest::Method::POST,
        "/admin/pending/dup@example.com/promote",
        Some(&t),
        None,
    )
    .await
    .assert_detail(409, "A user with email dup@example.com already exists.");
}

#[tokio::test]
async fn admin_router_absent_unless_enabled() {
    let app = TestApp::start(|_| {}).await;
    app.rs
        .bootstrap_admin(
            &"root@example.com".try_into().unwrap(),
            &PASSWORD.try_into().unwrap(),
        )
        .await
        .unwrap();
    let t = app.login_token("root@example.com", PASSWORD).await;
    call(&app, reqwest::Method::GET, "/admin/stats", Some(&t), None)
        .await
        .assert_detail(404, "Not Found");
}

#[tokio::test]
async fn bootstrap_admin_is_idempotent_and_keeps_the_password() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified("boss@example.com", PASSWORD).await;
    let a = app
        .rs
        .bootstrap_admin(
            &"boss@example.com".try_into().unwrap(),
            &"ignored password".try_into().unwrap(),
        )
        .await
        .unwrap();
    assert!(a.is_superuser);
    let b = app
        .rs
        .bootstrap_admin(
            &"boss@example.com".try_into().unwrap(),
            &"ignored password".try_into().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(app.login("boss@example.com", PASSWORD).await.status, 200);
    let fresh = app
        .rs
        .bootstrap_admin(
            &"new@example.com".try_into().unwrap(),
            &PASSWORD.try_into().unwrap(),
        )
        .await
        .unwrap();
    assert!(fresh.is_superuser && fresh.is_verified && fresh.is_active);
}

#[tokio::test]
async fn purge_removes_only_expired_rows() {
    let app = TestApp::start(|_| {}).await;
    let t = app.signup_and_login("keep@example.com", PASSWORD).await;
    assert_eq!(app.logout(&t).await.status, 200);
    app.register("stale@example.com", PASSWORD).await;
    assert_eq!(app.login("ghost@example.com", PASSWORD).await.status, 401);
    let nothing = app.rs.purge_expired().await.unwrap();
    assert_eq!(nothing, regstack_core::store::PurgeReport::default());
    app.advance(Duration::seconds(86_401));
    let report = app.rs.purge_expired().await.unwrap();
    assert_eq!(report.pending, 1);
    assert_eq!(report.revocations, 1);
    assert_eq!(report.login_attempts, 1);
    assert!(!app.has_pending("stale@example.com").await);
    assert!(app.user_by_email("keep@example.com").await.is_some());
}
