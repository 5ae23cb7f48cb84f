//! Two `regstack serve` processes on one database share every piece of account state: a token
//! revoked through one is refused by the other, a password changed through one invalidates
//! sessions issued by the other, and failed logins through both count toward one lockout.
//!
//! Run on a fresh PostgreSQL database and a fresh MongoDB database of their own (dropped
//! afterwards). Without a server the test skips, except under `CI=true`
//! (`regstack_store_tests::servers`, through `regstack_e2e::FreshDb::try_create`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use regstack_e2e::{DbKind, FreshDb};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_regstack");

const SECRET: &str = "two-processes-jwt-secret-0123456789-abcdefghijklmnop";
const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "battery staple horse";

/// One `regstack serve --port 0` process.
struct Server {
    name: &'static str,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    log: Vec<String>,
    base: String,
}

impl Server {
    /// Start `serve` in `dir` on `database_url`, with the shared secret and fast hashing; waits
    /// for the "serving on" line (the schema is installed by then).
    async fn start(name: &'static str, dir: &Path, database_url: &str) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("REGSTACK_DATABASE_URL", database_url)
            .env("REGSTACK_JWT_SECRET", SECRET)
            .env("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "1024")
            .env("REGSTACK_PASSWORD_HASH_ITERATIONS", "1")
            .env("REGSTACK_PASSWORD_HASH_PARALLELISM", "1")
            .env("REGSTACK_REQUIRE_VERIFICATION", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn regstack serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Server {
            name,
            child,
            lines: BufReader::new(stdout).lines(),
            log: Vec::new(),
            base: String::new(),
        };
        let line = server.wait_for_line("regstack serving on http://").await;
        let start = line.find("http://").expect("url in the line");
        let rest = &line[start..];
        let end = rest.find("/api/auth").expect("api prefix in the line");
        server.base = rest[..end].to_owned();
        server
    }

    async fn wait_for_line(&mut self, needle: &str) -> String {
        let fut = async {
            while let Some(line) = self.lines.next_line().await.expect("read stdout") {
                self.log.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            let status = self.child.wait().await;
            panic!(
                "server {} exited ({status:?}); log:\n{}",
                self.name,
                self.log.join("\n")
            );
        };
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .unwrap_or_else(|_| panic!("server {} did not start in time", self.name))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/auth{path}", self.base)
    }
}

/// The two servers and an HTTP client.
struct Pair {
    a: Server,
    b: Server,
    http: reqwest::Client,
}

async fn call(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

impl Pair {
    async fn login(&self, server: &Server, password: &str) -> (u16, Value) {
        call(
            &self.http,
            server,
            reqwest::Method::POST,
            "/login",
            None,
            Some(json!({"email": EMAIL, "password": password})),
        )
        .await
    }

    async fn token(&self, server: &Server, password: &str) -> String {
        let (status, body) = self.login(server, password).await;
        assert_eq!(status, 200, "login through {}: {body}", server.name);
        body["access_token"].as_str().expect("token").to_owned()
    }

    async fn me(&self, server: &Server, token: &str) -> (u16, Value) {
        call(
            &self.http,
            server,
            reqwest::Method::GET,
            "/me",
            Some(token),
            None,
        )
        .await
    }
}

#[track_caller]
fn assert_refused(answer: (u16, Value), detail: &str) {
    assert_eq!(answer.0, 401, "{}", answer.1);
    assert_eq!(answer.1, json!({ "detail": detail }));
}

async fn two_servers_share_state(kind: DbKind) {
    let Some(db) = FreshDb::try_create(kind).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both start at once: their schema installations race on the empty database.
    let (a, b) = tokio::join!(
        Server::start("A", dir_a.path(), db.url()),
        Server::start("B", dir_b.path(), db.url()),
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = Pair { a, b, http };

    // An account made through A exists for B.
    let (status, body) = call(
        &p.http,
        &p.a,
        reqwest::Method::POST,
        "/register",
        None,
        Some(json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), kind.id_len(), "{id}");

    // 1. A token issued by A, revoked by logging out through A, is refused by B.
    let token_a = p.token(&p.a, PASSWORD).await;
    let (status, me) = p.me(&p.b, &token_a).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], id.as_str());
    let (status, body) = call(
        &p.http,
        &p.a,
        reqwest::Method::POST,
        "/logout",
        Some(&token_a),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_refused(p.me(&p.b, &token_a).await, "Token has been revoked.");
    assert_refused(p.me(&p.a, &token_a).await, "Token has been revoked.");

    // 2. A password changed through A invalidates a session B issued.
    let token_b = p.token(&p.b, PASSWORD).await;
    assert_eq!(p.me(&p.a, &token_b).await.0, 200);
    let token_a = p.token(&p.a, PASSWORD).await;
    let (status, body) = call(
        &p.http,
        &p.a,
        reqwest::Method::POST,
        "/change-password",
        Some(&token_a),
        Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let invalidated = "Session was invalidated; please sign in again.";
    assert_refused(p.me(&p.b, &token_b).await, invalidated);
    assert_refused(p.me(&p.a, &token_b).await, invalidated);
    // The old password is gone on both; the new one works on both.
    assert_eq!(p.login(&p.b, PASSWORD).await.0, 401);
    let fresh = p.token(&p.b, NEW_PASSWORD).await;
    assert_eq!(p.me(&p.a, &fresh).await.0, 200);

    // 3. Failed logins through A and B, alternating, count toward one lockout (threshold 5;
    // the successful login above cleared the earlier failure).
    let servers = [&p.a, &p.b];
    for (i, remaining) in [4, 3, 2, 1, 0].into_iter().enumerate() {
        let server = servers[i % 2];
        let (status, body) = p.login(server, "wrong password").await;
        assert_eq!(status, 401, "failure {i} through {}: {body}", server.name);
        let expected = if remaining == 0 {
            "Invalid email or password.".to_owned()
        } else {
            format!("Invalid email or password. {remaining} attempt(s) remaining.")
        };
        assert_eq!(
            body,
            json!({ "detail": expected }),
            "through {}",
            server.name
        );
    }
    for server in servers {
        let (status, body) = p.login(server, NEW_PASSWORD).await;
        assert_eq!(status, 429, "locked through {}: {body}", server.name);
        let detail = body["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with("Too many failed attempts. Try again in "),
            "{detail}"
        );
    }

    drop(p);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database() {
    two_servers_share_state(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_mongo_database() {
    two_servers_share_state(DbKind::Mongo).await;
}

#[test]
fn serve_refuses_an_unknown_database_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--port", "0"])
        .current_dir(dir.path())
        .env("REGSTACK_DATABASE_URL", "mysql://root@127.0.0.1/app")
        .env("REGSTACK_JWT_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unrecognised database_url scheme `mysql`"),
        "{err}"
    );
    // Nothing was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn serve_is_built_with_the_server_backends() {
    // With the `postgres` and `mongo` features (default) these URLs reach their backend, which
    // refuses the port; without them the error would name the feature to enable instead.
    for url in [
        "postgresql+asyncpg://postgres@127.0.0.1:notaport/app",
        "mongodb://127.0.0.1:notaport/app",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(BIN)
            .args(["serve", "--port", "0"])
            .current_dir(dir.path())
            .env("REGSTACK_DATABASE_URL", url)
            .env("REGSTACK_JWT_SECRET", SECRET)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot start"), "{url}: {err}");
        assert!(!err.contains("feature"), "{url}: {err}");
    }
}
