//! `PATCH /me` (regstack 0.9.3's HTTP API, deviations #10 and #11) and the order of body
//! parsing, authentication and validation (§1.5).

use chrono::Duration;
use regstack_e2e::{PASSWORD, TestApp, assert_user_public, pydantic};
use serde_json::json;

const EMAIL: &str = "alice@example.com";

#[tokio::test]
async fn patch_me_sets_clears_and_keeps_the_name() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    let before = app.me(&token).await.json();
    assert_eq!(before["full_name"], json!(null));

    app.advance(Duration::seconds(42));
    let r = app
        .patch_me(Some(&token), Some(r#"{"full_name": "Alice Liddell"}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_user_public(&u);
    assert_eq!(u["full_name"], "Alice Liddell");
    // The response shows the stored row: updated_at moved (deviation #10).
    assert_eq!(u["updated_at"], pydantic(app.stored(app.now())));
    assert_ne!(u["updated_at"], before["updated_at"]);
    assert_eq!(u["created_at"], before["created_at"]);
    let stored = app.user_by_email(EMAIL).await.unwrap();
    assert_eq!(stored.updated_at, app.stored(app.now()));
    assert_eq!(app.me(&token).await.json(), u);

    // `{}` leaves the name alone (deviation #11).
    app.advance(Duration::seconds(1));
    let r = app.patch_me(Some(&token), Some("{}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["full_name"], "Alice Liddell");
    assert_eq!(
        app.user_by_email(EMAIL).await.unwrap().full_name.as_deref(),
        Some("Alice Liddell")
    );

    // An explicit null clears it.
    let r = app
        .patch_me(Some(&token), Some(r#"{"full_name": null}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["full_name"], json!(null));
    assert_eq!(app.user_by_email(EMAIL).await.unwrap().full_name, None);

    // 200 code points is the maximum.
    let name = "ü".repeat(200);
    let r = app
        .patch_me(Some(&token), Some(&json!({"full_name": name}).to_string()))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["full_name"], name);
}

#[tokio::test]
async fn patch_me_validation() {
    let app = TestApp::start(|_| {}).await;
    let token = app.signup_and_login(EMAIL, PASSWORD).await;
    let long = "n".repeat(201);
    let r = app
        .patch_me(Some(&token), Some(&json!({"full_name": long}).to_string()))
        .await;
    r.assert_validation(json!([{
        "type": "string_too_long",
        "loc": ["body", "full_name"],
        "msg": "String should have at most 200 characters",
        "input": long,
        "ctx": {"max_length": 200},
    }]));
    let r = app
        .patch_me(Some(&token), Some(r#"{"full_name": 1}"#))
        .await;
    r.assert_validation(json!([{
        "type": "string_type",
        "loc": ["body", "full_name"],
        "msg": "Input should be a valid string",
        "input": 1,
    }]));
    let r = app
        .patch_me(Some(&token), Some(r#"{"email": "x@example.com"}"#))
        .await;
    r.assert_validation(json!([{
        "type": "extra_forbidden",
        "loc": ["body", "email"],
        "msg": "Extra inputs are not permitted",
        "input": "x@example.com",
    }]));
    // The body is required.
    let r = app.patch_me(Some(&token), None).await;
    r.assert_validation(
        json!([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]),
    );
    let r = app.patch_me(Some(&token), Some("")).await;
    r.assert_validation(
        json!([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]),
    );
    let r = app.patch_me(Some(&token), Some("null")).await;
    assert_eq!(r.validation_items()[0]["type"], "missing");
    // Nothing changed.
    assert_eq!(app.user_by_email(EMAIL).await.unwrap().full_name, None);
}

#[tokio::test]
async fn parse_then_authenticate_then_validate() {
    let app = TestApp::start(|_| {}).await;
    // Malformed JSON is reported before authentication.
    let r = app.patch_me(None, Some(r#"{"full_name": "#)).await;
    let items = r.validation_items();
    assert_eq!(items[0]["type"], "json_invalid");
    assert_eq!(items[0]["loc"], json!(["body", 14]));
    let r = app.patch_me(Some("garbage"), Some("{")).await;
    assert_eq!(r.validation_items()[0]["type"], "json_invalid");

    // A well-formed body, valid or not, meets authentication first.
    for body in [
        Some(r#"{"full_name": "Valid"}"#),
        Some(r#"{"full_name": 5}"#),
        Some(r#"{"nope": true}"#),
        Some("[]"),
        Some(""),
        None,
    ] {
        let r = app.patch_me(None, body).await;
        r.assert_detail(401, "Authentication required.");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        let r = app.patch_me(Some("garbage"), body).await;
        r.assert_detail(401, "Invalid or expired token.");
    }
}
