//! The framework-level answers of 0.9.3 (regstack 0.9.3's HTTP API) and `GET /healthz`.

use regstack_e2e::TestApp;

#[tokio::test]
async fn unknown_path_is_json_404() {
    let app = TestApp::start(|_| {}).await;
    for path in [
        "/api/auth/nope",
        "/nope",
        "/api/auth",
        "/api/auth/login/extra",
        "/api/auth/forgot-passwordx",
    ] {
        let r = app
            .send(app.client.get(format!("{}{path}", app.base)))
            .await;
        r.assert_detail(404, "Not Found");
        let r = app
            .send(app.client.post(format!("{}{path}", app.base)))
            .await;
        r.assert_detail(404, "Not Found");
    }
}

#[tokio::test]
async fn wrong_method_is_json_405_with_allow() {
    let app = TestApp::start(|_| {}).await;
    let r = app.send(app.client.get(app.url("/login"))).await;
    r.assert_detail(405, "Method Not Allowed");
    let allow = r.header("allow").expect("Allow header");
    assert!(allow.split(',').any(|m| m.trim() == "POST"), "{allow}");
    assert!(!allow.contains("GET"), "{allow}");

    for (method, path) in [
        (reqwest::Method::GET, "/register"),
        (reqwest::Method::PUT, "/verify"),
        (reqwest::Method::DELETE, "/logout"),
        (reqwest::Method::POST, "/me"),
        (reqwest::Method::PUT, "/me"),
    ] {
        let r = app
            .send(app.client.request(method.clone(), app.url(path)))
            .await;
        r.assert_detail(405, "Method Not Allowed");
        assert!(r.header("allow").is_some(), "{method} {path}");
    }
    let r = app.send(app.client.post(app.url("/me"))).await;
    let allow = r.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("PATCH"), "{allow}");
}

#[tokio::test]
async fn trailing_slash_redirects() {
    let app = TestApp::start(|_| {}).await;
    let r = app.send(app.client.post(app.url("/login/"))).await;
    assert_eq!(r.status, 307, "{}", r.text);
    assert_eq!(r.text, "");
    let location = r.header("location").expect("Location");
    assert!(location.ends_with("/api/auth/login"), "{location}");
    assert!(location.starts_with("http://"), "{location}");
    // The query string is kept.
    let r = app
        .send(app.client.get(format!("{}?x=1", app.url("/me/"))))
        .await;
    assert_eq!(r.status, 307);
    assert!(r.header("location").unwrap().ends_with("/api/auth/me?x=1"));
    // Not for unknown paths.
    let r = app.send(app.client.post(app.url("/nope/"))).await;
    r.assert_detail(404, "Not Found");
}

#[tokio::test]
async fn healthz_answers() {
    let app = TestApp::start(|_| {}).await;
    let r = app
        .send(app.client.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn routes_of_a_custom_prefix() {
    let app = TestApp::start(|c| c.api_prefix = "/auth/v1/".into()).await;
    assert!(app.api.ends_with("/auth/v1"), "{}", app.api);
    let r = app
        .register("alice@example.com", regstack_e2e::PASSWORD)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .send(app.client.post(format!("{}/api/auth/register", app.base)))
        .await;
    r.assert_detail(404, "Not Found");
}
