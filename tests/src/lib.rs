//! End-to-end harness for regstack: a real server on a loopback port, a fresh isolated
//! database per test (SQLite by default; PostgreSQL or MongoDB with `REGSTACK_E2E_BACKEND`, see
//! [`db`]), capturing mail and SMS transports and a [`FrozenClock`], so every test drives the
//! actual HTTP surface and stays deterministic.
//!
//! ```no_run
//! # async fn demo() {
//! use regstack_e2e::{PASSWORD, TestApp};
//! let app = TestApp::start(|cfg| cfg.allow_registration = true).await;
//! let token = app.signup_and_login("alice@example.com", PASSWORD).await;
//! let me = app.get_auth("/me", Some(&format!("Bearer {token}"))).await;
//! assert_eq!(me.status, 200);
//! # }
//! ```

pub mod db;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use regstack::axum::axum;
use regstack_core::{FrozenClock, NewUser, RegStack, RegStackConfig, Stores, User, UserPatch};
use regstack_mail::CapturingMailer;
use regstack_sms::CapturingSms;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use regstack_mail::token_from_text;

pub use crate::db::{DbKind, FreshDb};

/// A password that satisfies the 8–128 rule.
pub const PASSWORD: &str = "correct horse battery";

/// A JWT secret of more than 32 characters.
pub const JWT_SECRET: &str = "e2e-test-jwt-secret-0123456789-abcdefghijklmnop";

/// The twelve keys of `UserPublic`, in spec order (regstack 0.9.3's HTTP API).
pub const USER_PUBLIC_KEYS: [&str; 12] = [
    "id",
    "email",
    "is_active",
    "is_verified",
    "is_superuser",
    "full_name",
    "phone_number",
    "is_mfa_enabled",
    "created_at",
    "updated_at",
    "last_login",
    "tokens_invalidated_after",
];

/// The fixed instant every default test clock starts at: 2026-05-01T10:20:30.123456Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_777_630_830_123_456).expect("valid instant")
}

/// The default test configuration: a long JWT secret and fast Argon2 parameters, everything
/// else at its default.
pub fn test_config() -> RegStackConfig {
    RegStackConfig {
        jwt_secret: JWT_SECRET.into(),
        password_hash_memory_kib: 1024,
        password_hash_iterations: 1,
        password_hash_parallelism: 1,
        ..RegStackConfig::default()
    }
}

/// The regstack 0.9.3 fixture folder.
pub fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/regstack-0.9.3")
}

/// Read a JSON file of the 0.9.3 fixtures.
pub fn fixture_json(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Python `isoformat()` of a UTC instant (`+00:00`, fraction only when non-zero).
pub fn isoformat(t: DateTime<Utc>) -> String {
    regstack_http_axum::wire::isoformat(&t)
}

/// pydantic's rendering of a UTC instant (`Z`, fraction only when non-zero).
pub fn pydantic(t: DateTime<Utc>) -> String {
    regstack_http_axum::wire::pydantic_datetime(&t)
}

/// An answer of the server, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the text when it is not JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    /// A header value as a string.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    /// Assert the status and the exact body `{"detail": detail}` (JSON content type).
    #[track_caller]
    pub fn assert_detail(&self, status: u16, detail: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.json(),
            json!({ "detail": detail }),
            "body: {}",
            self.text
        );
        assert_json_content_type(self);
    }

    /// Assert a 422 with exactly these validation items.
    #[track_caller]
    pub fn assert_validation(&self, items: Value) {
        assert_eq!(self.status, 422, "body: {}", self.text);
        assert_eq!(
            self.json(),
            json!({ "detail": items }),
            "body: {}",
            self.text
        );
        assert_json_content_type(self);
    }

    /// The `detail` list of a 422 (asserting the status).
    #[track_caller]
    pub fn validation_items(&self) -> Vec<Value> {
        assert_eq!(self.status, 422, "body: {}", self.text);
        match self.json().get("detail") {
            Some(Value::Array(items)) => items.clone(),
            other => panic!("no detail list: {other:?}"),
        }
    }
}

/// Assert `Content-Type: application/json`.
#[track_caller]
pub fn assert_json_content_type(resp: &Resp) {
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
}

/// Assert `v` is a `UserPublic` of a user stored by the backend of [`DbKind::from_env`]: see
/// [`assert_user_public_on`].
#[track_caller]
pub fn assert_user_public(v: &Value) {
    assert_user_public_on(v, DbKind::from_env());
}

/// Assert `v` is a `UserPublic`: exactly the twelve keys, in order, with the right types, and
/// an id as `kind` generates them (32 lowercase hex on SQL, 24 on MongoDB).
#[track_caller]
pub fn assert_user_public_on(v: &Value, kind: DbKind) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, USER_PUBLIC_KEYS, "UserPublic keys of {v}");
    let id = obj["id"].as_str().expect("id is a string");
    assert_eq!(id.len(), kind.id_len(), "id {id} on {}", kind.name());
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "id {id}"
    );
    for k in ["is_active", "is_verified", "is_superuser", "is_mfa_enabled"] {
        assert!(obj[k].is_boolean(), "{k} of {v}");
    }
    for k in ["created_at", "updated_at"] {
        let s = obj[k].as_str().unwrap_or_else(|| panic!("{k} of {v}"));
        assert!(s.ends_with('Z'), "{k} = {s}");
    }
    for k in [
        "full_name",
        "phone_number",
        "last_login",
        "tokens_invalidated_after",
    ] {
        assert!(obj[k].is_null() || obj[k].is_string(), "{k} of {v}");
    }
    assert!(!obj.contains_key("hashed_password"));
}

/// A running regstack server with its collaborators.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `base` + `api_prefix`.
    pub api: String,
    pub client: reqwest::Client,
    pub rs: RegStack,
    pub mailer: Arc<CapturingMailer>,
    pub sms: Arc<CapturingSms>,
    pub clock: Arc<FrozenClock>,
    server: JoinHandle<()>,
    /// Last: dropped after the server and its pool.
    db: FreshDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// Start a server on a fresh database of the backend `REGSTACK_E2E_BACKEND` names
    /// ([`DbKind::from_env`], SQLite by default), with the clock frozen at [`t0`];
    /// `configure` edits the [`test_config`].
    pub async fn start(configure: impl FnOnce(&mut RegStackConfig)) -> Self {
        Self::start_with_clock(Arc::new(FrozenClock::new(t0())), configure).await
    }

    /// [`start`](Self::start) with a given clock.
    pub async fn start_with_clock(
        clock: Arc<FrozenClock>,
        configure: impl FnOnce(&mut RegStackConfig),
    ) -> Self {
        Self::start_on(FreshDb::from_env().await, clock, configure).await
    }

    /// Start a server on a COPY of the SQLite file `seed` (the original is never touched):
    /// always SQLite, whatever `REGSTACK_E2E_BACKEND` says.
    pub async fn start_with_database(
        seed: &Path,
        clock: Arc<FrozenClock>,
        configure: impl FnOnce(&mut RegStackConfig),
    ) -> Self {
        let db = FreshDb::create(DbKind::Sqlite).await;
        let file = db
            .url()
            .strip_prefix("sqlite:///")
            .expect("a sqlite url")
            .to_owned();
        std::fs::copy(seed, file).expect("copy seed database");
        Self::start_on(db, clock, configure).await
    }

    /// Start a server on `db` (its URL becomes `database_url`, the backend is opened through
    /// `regstack::connect` as a host's would be).
    pub async fn start_on(
        db: FreshDb,
        clock: Arc<FrozenClock>,
        configure: impl FnOnce(&mut RegStackConfig),
    ) -> Self {
        Self::start_on_with_stores(db, clock, configure, |_| {}).await
    }

    /// [`start`](Self::start) with repositories replaced as a host replaces them: `replace`
    /// gets the backend's [`Stores`] before the instance is built (to put in, say, a wrapper
    /// that delegates to them and pauses where the test needs it).
    pub async fn start_with_stores(
        configure: impl FnOnce(&mut RegStackConfig),
        replace: impl FnOnce(&mut Stores),
    ) -> Self {
        let clock = Arc::new(FrozenClock::new(t0()));
        Self::start_on_with_stores(FreshDb::from_env().await, clock, configure, replace).await
    }

    /// [`start_on`](Self::start_on) with the backend's repositories passed through `replace`.
    pub async fn start_on_with_stores(
        db: FreshDb,
        clock: Arc<FrozenClock>,
        configure: impl FnOnce(&mut RegStackConfig),
        replace: impl FnOnce(&mut Stores),
    ) -> Self {
        let mut cfg = test_config();
        cfg.database_url = db.url().to_owned().into();
        configure(&mut cfg);

        let backend = db.connect(&cfg).await;
        let mut stores = backend.stores();
        replace(&mut stores);
        let mailer = Arc::new(CapturingMailer::new());
        let sms = Arc::new(CapturingSms::new());
        let rs = RegStack::builder(cfg)
            .backend(backend)
            .stores(stores)
            .mailer(mailer.clone())
            .sms(sms.clone())
            .clock(clock.clone())
            .build()
            .expect("build regstack");
        rs.install_schema().await.expect("install schema");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let app = regstack_http_axum::app(rs.clone());
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client");
        let base = format!("http://{addr}");
        let api = format!("{base}{}", rs.config().api_prefix());
        Self {
            base,
            api,
            client,
            rs,
            mailer,
            sms,
            clock,
            server,
            db,
        }
    }

    /// A temporary directory of this app (holding the database file on SQLite).
    pub fn dir(&self) -> &Path {
        self.db.dir()
    }

    /// The backend under this app.
    pub fn kind(&self) -> DbKind {
        self.db.kind()
    }

    /// The database under this app.
    pub fn db(&self) -> &FreshDb {
        &self.db
    }

    /// `t` as this app's backend stores it (to the microsecond on SQL, the millisecond on
    /// MongoDB).
    pub fn stored(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.kind().stored(t)
    }

    /// The clock's current instant.
    pub fn now(&self) -> DateTime<Utc> {
        regstack_core::Clock::now(&*self.clock)
    }

    /// Move the clock.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// `api` + a router-relative path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Send a request and read the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("response body");
        Resp {
            status,
            headers,
            text,
        }
    }

    /// `POST` a JSON body to an API path.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// `POST` raw bytes to an API path with an optional content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Resp {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req).await
    }

    /// `GET` an API path with an optional raw `Authorization` header value.
    pub async fn get_auth(&self, path: &str, authorization: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.send(req).await
    }

    /// `GET /me` with a bearer token.
    pub async fn me(&self, token: &str) -> Resp {
        self.get_auth("/me", Some(&format!("Bearer {token}"))).await
    }

    /// `PATCH /me` with an optional bearer token and an optional raw JSON body.
    pub async fn patch_me(&self, token: Option<&str>, body: Option<&str>) -> Resp {
        let mut req = self.client.patch(self.url("/me"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        self.send(req).await
    }

    /// `POST /logout` with a bearer token.
    pub async fn logout(&self, token: &str) -> Resp {
        self.send(
            self.client
                .post(self.url("/logout"))
                .header("authorization", format!("Bearer {token}")),
        )
        .await
    }

    /// `POST /register`.
    pub async fn register(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/register",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// `POST /login`.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post("/login", &json!({ "email": email, "password": password }))
            .await
    }

    /// `POST /verify`.
    pub async fn verify(&self, token: &str) -> Resp {
        self.post("/verify", &json!({ "token": token })).await
    }

    /// The raw token of the newest captured mail sent to `to`.
    #[track_caller]
    pub fn last_token_for(&self, to: &str) -> String {
        let msg = self
            .mailer
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no mail to {to}"));
        token_from_text(&msg.text).unwrap_or_else(|| panic!("no token link in {:?}", msg.text))
    }

    /// Register, follow the verification link; returns the verified `UserPublic`.
    pub async fn register_verified(&self, email: &str, password: &str) -> Value {
        let r = self.register(email, password).await;
        assert_eq!(r.status, 201, "register: {}", r.text);
        let normalised = r.json()["email"].as_str().expect("email").to_owned();
        let token = self.last_token_for(&normalised);
        let v = self.verify(&token).await;
        assert_eq!(v.status, 200, "verify: {}", v.text);
        v.json()
    }

    /// Log in and return the access token (asserting a 200 token answer).
    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await;
        assert_eq!(r.status, 200, "login: {}", r.text);
        r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Register, verify and log in; returns a session token.
    pub async fn signup_and_login(&self, email: &str, password: &str) -> String {
        self.register_verified(email, password).await;
        self.login_token(email, password).await
    }

    /// Insert a user directly through the store (hashing `password` with the configured
    /// hasher when given); `edit` adjusts the row before insertion.
    pub async fn create_user(
        &self,
        email: &str,
        password: Option<&str>,
        edit: impl FnOnce(&mut NewUser),
    ) -> User {
        let hash = match password {
            Some(p) => Some(self.rs.hasher().hash(p).await.expect("hash")),
            None => None,
        };
        let mut new = NewUser::new(email, hash, self.now());
        new.is_verified = true;
        edit(&mut new);
        self.rs
            .stores()
            .users
            .create(new)
            .await
            .expect("create user")
    }

    /// Apply a patch to a user row through the store.
    pub async fn update_user(&self, id: &str, patch: UserPatch) -> User {
        self.rs
            .stores()
            .users
            .update(id, &patch, self.now())
            .await
            .expect("update user")
            .expect("user exists")
    }

    /// The stored user with this email.
    pub async fn user_by_email(&self, email: &str) -> Option<User> {
        self.rs
            .stores()
            .users
            .get_by_email(email)
            .await
            .expect("get user")
    }

    /// Number of user rows.
    pub async fn user_count(&self) -> u64 {
        self.rs.stores().users.count().await.expect("count users")
    }

    /// Number of unexpired pending registrations now.
    pub async fn pending_count(&self) -> u64 {
        self.rs
            .stores()
            .pending
            .count_unexpired(self.now())
            .await
            .expect("count pending")
    }

    /// Whether a pending row (expired or not) exists for this email.
    pub async fn has_pending(&self, email: &str) -> bool {
        self.rs
            .stores()
            .pending
            .find_by_email(email)
            .await
            .expect("find pending")
            .is_some()
    }

    /// Recorded login failures for `email` (ever).
    pub async fn failures(&self, email: &str) -> usize {
        self.rs
            .stores()
            .login_attempts
            .failures_since(email, DateTime::<Utc>::UNIX_EPOCH)
            .await
            .expect("failures")
            .len()
    }

    /// Wait (bounded) for background work such as deferred mail.
    pub async fn settle(&self) {
        assert!(
            self.rs.wait_background(Duration::from_secs(30)).await,
            "background work did not finish"
        );
    }

    /// The hasher's verification count.
    pub fn verifications(&self) -> u64 {
        self.rs.hasher().verification_count()
    }
}
