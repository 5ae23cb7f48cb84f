//! Bad input on `POST /register` and `POST /login`: every case is a 4xx with the FastAPI
//! envelope (regstack 0.9.3's HTTP API) and writes nothing.

use regstack_e2e::{PASSWORD, Resp, TestApp};
use serde_json::{Value, json};

const EMAIL: &str = "alice@example.com";

/// Nothing was written by a refused request.
async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.user_count().await, 0, "a user row was written");
    assert_eq!(app.pending_count().await, 0, "a pending row was written");
    assert!(!app.has_pending(EMAIL).await);
    assert!(app.mailer.messages().is_empty(), "a mail was sent");
    assert_eq!(app.failures(EMAIL).await, 0, "a login failure was recorded");
}

fn missing_body() -> Value {
    json!([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}])
}

fn not_an_object(input: Value) -> Value {
    json!([{
        "type": "model_attributes_type",
        "loc": ["body"],
        "msg": "Input should be a valid dictionary or object to extract fields from",
        "input": input,
    }])
}

#[track_caller]
fn assert_json_invalid(r: &Resp, offset: usize) {
    let items = r.validation_items();
    assert_eq!(items.len(), 1, "{}", r.text);
    let item = &items[0];
    let keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["type", "loc", "msg", "input", "ctx"]);
    assert_eq!(item["type"], "json_invalid");
    assert_eq!(item["loc"], json!(["body", offset]), "{}", r.text);
    assert_eq!(item["msg"], "JSON decode error");
    assert_eq!(item["input"], json!({}));
    let ctx = item["ctx"].as_object().unwrap();
    assert_eq!(ctx.len(), 1);
    assert!(!ctx["error"].as_str().unwrap().is_empty());
}

/// The body-shape cases shared by both routes.
async fn body_shape_cases(path: &str) {
    let app = TestApp::start(|_| {}).await;
    let good_password = json!(PASSWORD);

    // Malformed JSON, in the middle and truncated (Python's character offsets).
    let r = app
        .post_raw(
            path,
            r#"{"email": "alice@example.com", "password": }"#,
            Some("application/json"),
        )
        .await;
    assert_json_invalid(&r, 43);
    let r = app
        .post_raw(path, r#"{"email": "alice@example.com""#, None)
        .await;
    assert_json_invalid(&r, 29);
    let r = app.post_raw(path, r#"{"email": "ali"#, None).await;
    assert_json_invalid(&r, 10);
    let r = app.post_raw(path, "{\n \"é\": x}", None).await;
    assert_json_invalid(&r, 8);
    let r = app.post_raw(path, "{} x", None).await;
    assert_json_invalid(&r, 3);

    // An extra key.
    let r = app
        .post(
            path,
            &json!({"email": EMAIL, "password": PASSWORD, "is_superuser": true}),
        )
        .await;
    r.assert_validation(json!([{
        "type": "extra_forbidden",
        "loc": ["body", "is_superuser"],
        "msg": "Extra inputs are not permitted",
        "input": true,
    }]));

    // A wrong type: strings do not accept numbers.
    let r = app
        .post(path, &json!({"email": 123, "password": PASSWORD}))
        .await;
    r.assert_validation(json!([{
        "type": "string_type",
        "loc": ["body", "email"],
        "msg": "Input should be a valid string",
        "input": 123,
    }]));
    let r = app
        .post(path, &json!({"email": EMAIL, "password": 12_345_678}))
        .await;
    r.assert_validation(json!([{
        "type": "string_type",
        "loc": ["body", "password"],
        "msg": "Input should be a valid string",
        "input": 12_345_678,
    }]));

    // A missing field: the input is the whole body.
    let r = app.post(path, &json!({"email": EMAIL})).await;
    r.assert_validation(json!([{
        "type": "missing",
        "loc": ["body", "password"],
        "msg": "Field required",
        "input": {"email": EMAIL},
    }]));
    let r = app.post(path, &json!({})).await;
    r.assert_validation(json!([
        {"type": "missing", "loc": ["body", "email"], "msg": "Field required", "input": {}},
        {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": {}},
    ]));
    // Every error is listed, fields first, then extra keys.
    let r = app
        .post(
            path,
            &json!({"zzz": 1, "email": false, "password": "short"}),
        )
        .await;
    r.assert_validation(json!([
        {"type": "string_type", "loc": ["body", "email"],
         "msg": "Input should be a valid string", "input": false},
        {"type": "string_too_short", "loc": ["body", "password"],
         "msg": "String should have at least 8 characters", "input": "short",
         "ctx": {"min_length": 8}},
        {"type": "extra_forbidden", "loc": ["body", "zzz"],
         "msg": "Extra inputs are not permitted", "input": 1},
    ]));

    // Missing / empty / null bodies.
    let r = app.send(app.client.post(app.url(path))).await;
    r.assert_validation(missing_body());
    let r = app.post_raw(path, "", Some("application/json")).await;
    r.assert_validation(missing_body());
    let r = app.post_raw(path, "null", Some("application/json")).await;
    r.assert_validation(missing_body());

    // Not an object.
    let r = app.post_raw(path, "[]", Some("application/json")).await;
    r.assert_validation(not_an_object(json!([])));
    let r = app
        .post_raw(path, r#"[{"email": "alice@example.com"}]"#, None)
        .await;
    r.assert_validation(not_an_object(json!([{"email": EMAIL}])));
    let r = app.post_raw(path, r#""text""#, None).await;
    r.assert_validation(not_an_object(json!("text")));

    // A form body is handed to validation as text.
    let form = "email=alice%40example.com&password=correct+horse+battery";
    let r = app
        .post_raw(path, form, Some("application/x-www-form-urlencoded"))
        .await;
    r.assert_validation(not_an_object(json!(form)));
    // A JSON body under a non-JSON content type is not parsed either.
    let body = json!({"email": EMAIL, "password": good_password}).to_string();
    let r = app.post_raw(path, body.clone(), Some("text/plain")).await;
    r.assert_validation(not_an_object(json!(body)));
    // `application/*+json` and parameters are JSON.
    let r = app
        .post_raw(path, "[]", Some("application/vnd.api+json; charset=utf-8"))
        .await;
    r.assert_validation(not_an_object(json!([])));

    // Oversized: more than the default 64 KiB.
    let big = json!({"email": EMAIL, "password": PASSWORD, "full_name": "x".repeat(70_000)});
    let r = app.post(path, &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.text, r#"{"detail":"Request body too large."}"#);

    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn register_refuses_bad_bodies_and_writes_nothing() {
    body_shape_cases("/register").await;
}

#[tokio::test]
async fn login_refuses_bad_bodies_and_writes_nothing() {
    body_shape_cases("/login").await;
}

#[tokio::test]
async fn small_body_limit_is_enforced() {
    let app = TestApp::start(|c| c.max_body_bytes = 1024).await;
    for path in ["/register", "/login"] {
        let body = json!({"email": EMAIL, "password": PASSWORD, "full_name": "y".repeat(1100)});
        let r = app.post(path, &body).await;
        assert_eq!(r.status, 413, "{path}: {}", r.text);
        assert_eq!(r.text, r#"{"detail":"Request body too large."}"#);
    }
    // Just under the limit is read (and then validated).
    let r = app
        .post(
            "/register",
            &json!({"email": EMAIL, "password": PASSWORD, "full_name": "y".repeat(900)}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.validation_items()[0]["type"], "string_too_long");
    assert_nothing_written(&app).await;
}

/// A `value_error` for the email field with this input.
#[track_caller]
fn assert_email_error(r: &Resp, input: &str) -> String {
    let items = r.validation_items();
    assert_eq!(items.len(), 1, "{}", r.text);
    let item = &items[0];
    assert_eq!(item["type"], "value_error", "{}", r.text);
    assert_eq!(item["loc"], json!(["body", "email"]));
    assert_eq!(item["input"], json!(input));
    let reason = item["ctx"]["reason"].as_str().expect("reason").to_owned();
    assert!(!reason.is_empty());
    assert_eq!(
        item["msg"],
        format!("value is not a valid email address: {reason}")
    );
    reason
}

#[tokio::test]
async fn invalid_emails_are_value_errors() {
    let app = TestApp::start(|_| {}).await;
    let long_local = format!("{}@example.com", "a".repeat(65));
    let long_total = format!(
        "{}@{}.{}.{}.example.com",
        "a".repeat(64),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(60)
    );
    assert!(long_total.chars().count() > 254);
    let huge = format!("{}@example.com", "a".repeat(2100));
    let mut cases: Vec<String> = [
        "",
        "plainaddress",
        "@example.com",
        "alice@",
        "alice@localhost",
        "alice@example",
        "alice@foo.test",
        "alice@[127.0.0.1]",
        "\"quoted\"@example.com",
        "a..b@example.com",
        "a b@example.com",
        // Control characters, NUL, non-ASCII spaces and line separators.
        "a\u{0001}b@example.com",
        "a\u{0000}b@example.com",
        "\u{0000}@example.com",
        "a\u{00A0}b@example.com",
        "a\u{2028}b@example.com",
        "a\tb@example.com",
        // Bidirectional marks and overrides, other format characters, private use, a
        // leading combining mark (email-validator's "unsafe characters").
        "a\u{200F}b@example.com",
        "\u{200E}alice@example.com",
        "a\u{202E}b@example.com",
        "a\u{2066}b@example.com",
        "a\u{00AD}b@example.com",
        "a\u{FEFF}b@example.com",
        "a\u{E000}b@example.com",
        "\u{0308}a@example.com",
        "a@exa\u{200F}mple.com",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    cases.extend([long_local.clone(), long_total.clone(), huge.clone()]);
    for path in ["/register", "/login"] {
        for email in &cases {
            let r = app
                .post(path, &json!({"email": email, "password": PASSWORD}))
                .await;
            let reason = assert_email_error(&r, email);
            if email == &long_local {
                assert!(reason.contains("too long before the @-sign"), "{reason}");
            }
            if email == &long_total {
                assert!(reason.contains("too long"), "{reason}");
            }
            if email.contains('\u{200F}') && !email.contains("exa\u{200F}") {
                assert!(reason.contains("U+200F"), "{reason}");
            }
        }
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn email_length_limits_are_exact() {
    let app = TestApp::start(|_| {}).await;
    // 64 characters before the @ is fine, 65 is not.
    let ok = format!("{}@example.com", "a".repeat(64));
    assert_eq!(app.register(&ok, PASSWORD).await.status, 201);
    // 254 characters in total is fine.
    let domain = |n: usize| {
        format!(
            "{}.{}.{}.example.com",
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(n)
        )
    };
    let ok254 = format!("{}@{}", "a".repeat(64), domain(55));
    assert_eq!(ok254.chars().count(), 254);
    let r = app.register(&ok254, PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let too_long = format!("{}@{}", "a".repeat(64), domain(56));
    assert_eq!(too_long.chars().count(), 255);
    let r = app.register(&too_long, PASSWORD).await;
    assert_email_error(&r, &too_long);
    // Input over 2048 characters is refused even when surrounded by whitespace.
    let padded = format!("{}alice@example.com", " ".repeat(2040));
    let r = app.register(&padded, PASSWORD).await;
    assert_email_error(&r, &padded);
}

#[tokio::test]
async fn unicode_emails_are_normalised() {
    let app = TestApp::start(|_| {}).await;
    // A valid internationalised address; the domain is lowercased (IDNA), the local part kept.
    let r = app.register("jörg@BÜCHER.de", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["email"], "jörg@bücher.de");
    // Punycode domain input maps to the same account.
    let r = app.register("jörg@xn--bcher-kva.de", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["email"], "jörg@bücher.de");
    assert_eq!(app.pending_count().await, 1);

    // NFD and NFC spellings of one local part are the same account.
    let nfd = "jo\u{0308}rg@bücher.de";
    let nfc = "j\u{00F6}rg@bücher.de";
    let r = app.register(nfd, PASSWORD).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["email"], nfc);
    assert_eq!(app.pending_count().await, 1);
    let token = app.last_token_for(nfc);
    let u = app.verify(&token).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.json()["email"], nfc);
    app.register(nfc, PASSWORD)
        .await
        .assert_detail(409, "An account with that email already exists.");
    app.register(nfd, PASSWORD)
        .await
        .assert_detail(409, "An account with that email already exists.");
    app.login_token(nfd, PASSWORD).await;
    app.login_token(nfc, PASSWORD).await;

    // Display-name form and surrounding whitespace.
    let r = app
        .register("  Bob Example <Bob@Example.com>  ", PASSWORD)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["email"], "Bob@example.com");
    // Role mailboxes are lowercased.
    let r = app.register("PostMaster@example.com", PASSWORD).await;
    assert_eq!(r.json()["email"], "postmaster@example.com");
}

#[tokio::test]
async fn emoji_addresses_never_fail_with_500() {
    let app = TestApp::start(|_| {}).await;
    for email in ["😀@example.com", "a😀b@example.com", "a@😀.example.com"] {
        let r = app.register(email, PASSWORD).await;
        match r.status {
            201 => assert_eq!(r.json()["status"], "pending_verification"),
            422 => {
                assert_email_error(&r, email);
            }
            other => panic!("{email}: {other} {}", r.text),
        }
        let r = app.login(email, PASSWORD).await;
        assert!(
            matches!(r.status, 401 | 422),
            "{email}: {} {}",
            r.status,
            r.text
        );
    }
}

#[tokio::test]
async fn password_length_rules() {
    let app = TestApp::start(|_| {}).await;
    for path in ["/register", "/login"] {
        let r = app
            .post(path, &json!({"email": EMAIL, "password": "1234567"}))
            .await;
        r.assert_validation(json!([{
            "type": "string_too_short",
            "loc": ["body", "password"],
            "msg": "String should have at least 8 characters",
            "input": "1234567",
            "ctx": {"min_length": 8},
        }]));
        let long = "p".repeat(129);
        let r = app
            .post(path, &json!({"email": EMAIL, "password": long}))
            .await;
        r.assert_validation(json!([{
            "type": "string_too_long",
            "loc": ["body", "password"],
            "msg": "String should have at most 128 characters",
            "input": long,
            "ctx": {"max_length": 128},
        }]));
        // Seven emoji are seven code points (28 bytes): too short.
        let seven = "😀".repeat(7);
        let r = app
            .post(path, &json!({"email": EMAIL, "password": seven}))
            .await;
        assert_eq!(r.validation_items()[0]["type"], "string_too_short");
        // 129 emoji are too long; an empty password too short.
        let r = app
            .post(path, &json!({"email": EMAIL, "password": "😀".repeat(129)}))
            .await;
        assert_eq!(r.validation_items()[0]["type"], "string_too_long");
        let r = app
            .post(path, &json!({"email": EMAIL, "password": ""}))
            .await;
        assert_eq!(r.validation_items()[0]["type"], "string_too_short");
    }
    assert_nothing_written(&app).await;

    // 128 characters is accepted; 8 emoji (32 bytes) are 8 characters.
    let max = "p".repeat(128);
    let r = app.register("max@example.com", &max).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let emoji = "😀".repeat(8);
    app.register_verified("emoji@example.com", &emoji).await;
    app.login_token("emoji@example.com", &emoji).await;
    let emoji_max = "🔒".repeat(128);
    app.register_verified("lock@example.com", &emoji_max).await;
    app.login_token("lock@example.com", &emoji_max).await;
}

#[tokio::test]
async fn full_name_rules() {
    let app = TestApp::start(|_| {}).await;
    let name = "n".repeat(201);
    let r = app
        .post(
            "/register",
            &json!({"email": EMAIL, "password": PASSWORD, "full_name": name}),
        )
        .await;
    r.assert_validation(json!([{
        "type": "string_too_long",
        "loc": ["body", "full_name"],
        "msg": "String should have at most 200 characters",
        "input": name,
        "ctx": {"max_length": 200},
    }]));
    let r = app
        .post(
            "/register",
            &json!({"email": EMAIL, "password": PASSWORD, "full_name": 5}),
        )
        .await;
    assert_eq!(r.validation_items()[0]["type"], "string_type");
    assert_nothing_written(&app).await;

    // 200 code points (multi-byte) is fine, and null is allowed.
    let name = "é".repeat(200);
    let r = app
        .post(
            "/register",
            &json!({"email": EMAIL, "password": PASSWORD, "full_name": name}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/register",
            &json!({"email": "n@example.com", "password": PASSWORD, "full_name": null}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn short_login_password_is_not_a_failed_attempt() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    for _ in 0..6 {
        let r = app.login(EMAIL, "short").await;
        assert_eq!(r.status, 422);
    }
    assert_eq!(app.failures(EMAIL).await, 0);
    app.login(EMAIL, "wrong password")
        .await
        .assert_detail(401, "Invalid email or password. 4 attempt(s) remaining.");
    app.login_token(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn hostile_bodies_are_4xx_never_500() {
    let app = TestApp::start(|_| {}).await;
    let bodies: Vec<Vec<u8>> = vec![
        "[".repeat(10_000).into_bytes(),
        format!("{{\"email\": {}", "[".repeat(200)).into_bytes(),
        format!("{}{}", "{\"a\":".repeat(500), "1").into_bytes(),
        b"{\"email\": \"alice@example.com\", \"password\": \"\xff\xfe12345678\"}".to_vec(),
        b"{\"email\": 1e400, \"password\": \"12345678\"}".to_vec(),
        b"{\"email\": \"\\ud800@example.com\", \"password\": \"12345678\"}".to_vec(),
        b"\x00\x00\x00".to_vec(),
        "\u{feff}{}".as_bytes().to_vec(),
        b"{\"email\": \"alice@example.com\", \"password\": \"correct horse battery\"}garbage"
            .to_vec(),
    ];
    for path in ["/register", "/login"] {
        for body in &bodies {
            let r = app.post_raw(path, body.clone(), None).await;
            assert!(
                (400..500).contains(&r.status),
                "{path} {:?}: {} {}",
                String::from_utf8_lossy(body),
                r.status,
                r.text
            );
            r.json();
        }
    }
    assert_nothing_written(&app).await;
}
