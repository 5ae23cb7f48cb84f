//! Runs the built `regstack` binary against temporary working directories, as a new user would.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_regstack");

struct Server {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    log: Vec<String>,
    base: String,
}

impl Server {
    async fn start(dir: &Path, envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--port", "0"])
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("REGSTACK_EMAIL__LOG_BODIES", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn regstack serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Server {
            child,
            lines: BufReader::new(stdout).lines(),
            log: Vec::new(),
            base: String::new(),
        };
        let line = server
            .wait_for_line(|l| l.contains("regstack serving on http://"))
            .await;
        let start = line.find("http://").unwrap();
        let rest = &line[start..];
        let end = rest.find("/api/auth").unwrap();
        server.base = rest[..end].to_owned();
        server
    }

    async fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.log.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let fut = async {
            while let Some(line) = self.lines.next_line().await.expect("read stdout") {
                self.log.push(line.clone());
                if pred(&line) {
                    return line;
                }
            }
            panic!("server exited; log:\n{}", self.log.join("\n"));
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .expect("timed out waiting for a log line")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

const FAST: &[(&str, &str)] = &[
    ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "1024"),
    ("REGSTACK_PASSWORD_HASH_ITERATIONS", "1"),
    ("REGSTACK_PASSWORD_HASH_PARALLELISM", "1"),
];

async fn post(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let resp = client.post(url).json(&body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn serve_round_trip_with_the_link_from_the_console_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), FAST).await;
    server
        .wait_for_line(|l| l.contains("generated one in ./regstack.secrets.env"))
        .await;
    let secrets = dir.path().join("regstack.secrets.env");
    let text = std::fs::read_to_string(&secrets).unwrap();
    assert!(text.starts_with("REGSTACK_JWT_SECRET="), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(dir.path().join("regstack.db").exists());

    let client = reqwest::Client::new();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let (status, body) = post(
        &client,
        &server.url("/api/auth/register"),
        json!({"email": "alice@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending_verification");

    let link = server.wait_for_line(|l| l.contains("/verify?token=")).await;
    let token = link.trim().rsplit("token=").next().unwrap().to_owned();
    assert_eq!(token.len(), 43, "{link}");

    let (status, user) = post(
        &client,
        &server.url("/api/auth/verify"),
        json!({"token": token}),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["is_verified"], true);

    let (status, login) = post(
        &client,
        &server.url("/api/auth/login"),
        json!({"email": "alice@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let access = login["access_token"].as_str().unwrap().to_owned();

    let me: Value = client
        .get(server.url("/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "alice@example.com");

    server.terminate();
    let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    // A second start reuses the secret (no new one) and the database: the token still works.
    let mut again = Server::start(dir.path(), FAST).await;
    assert!(!again.log.iter().any(|l| l.contains("generated one")));
    assert_eq!(
        std::fs::read_to_string(&secrets).unwrap(),
        text,
        "secret file unchanged"
    );
    let me = client
        .get(again.url("/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    again.terminate();
    let _ = again.child.wait().await;
    let _ = again.wait_for_line(|_| true).await;
}

/// A secrets file the operator wrote (world-readable, no JWT secret, no final newline): the
/// generated secret is appended and the file made 0600 before it holds a secret.
#[cfg(unix)]
#[tokio::test]
async fn serve_makes_an_existing_secrets_file_private_when_it_adds_the_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("regstack.secrets.env");
    let original = "# written by hand\nREGSTACK_APP_NAME=Hand Written";
    std::fs::write(&secrets, original).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mode = || std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(), 0o644);

    let mut server = Server::start(dir.path(), FAST).await;
    server
        .wait_for_line(|l| l.contains("generated one in ./regstack.secrets.env"))
        .await;
    assert_eq!(mode(), 0o600);
    let text = std::fs::read_to_string(&secrets).unwrap();
    let added = text
        .strip_prefix(&format!("{original}\n"))
        .unwrap_or_else(|| panic!("the operator's lines kept, then a newline: {text:?}"));
    let secret = added
        .strip_prefix("REGSTACK_JWT_SECRET=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("one secret line appended: {text:?}"));
    assert_eq!(secret.len(), 86, "{text:?}");
    assert!(!server.log.iter().any(|l| l.contains(secret)), "not logged");

    // The server runs on that secret.
    let client = reqwest::Client::new();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    server.terminate();
    let _ = server.child.wait().await;
    let _ = server.wait_for_line(|_| true).await;
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    // Real 0.9.3 hashing parameters so the login takes a while.
    let mut server = Server::start(dir.path(), &[("REGSTACK_REQUIRE_VERIFICATION", "false")]).await;
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        &server.url("/api/auth/register"),
        json!({"email": "bob@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 201);
    let url = server.url("/api/auth/login");
    let c2 = client.clone();
    let in_flight = tokio::spawn(async move {
        post(
            &c2,
            &url,
            json!({"email": "bob@example.com", "password": "correct horse"}),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.terminate();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let exit = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());
    let _ = server.wait_for_line(|_| true).await;
}

fn migrate(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .arg("migrate")
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_brings_a_database_to_head_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regstack.toml"),
        "database_url = \"sqlite+aiosqlite:///./app.sqlite\"\n",
    )
    .unwrap();
    let (ok, out, err) = migrate(dir.path(), &[]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("upgrading sqlite+aiosqlite:///./app.sqlite from (empty) to head"),
        "{out}"
    );
    assert!(out.contains("now at 0003"), "{out}");
    assert!(dir.path().join("app.sqlite").exists());
    let (ok, out, _) = migrate(dir.path(), &[]);
    assert!(ok);
    assert_eq!(out.trim(), "already at head (0003)");
    let (ok, _, err) = migrate(dir.path(), &["--config", "missing.toml"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    let (ok, _, err) = migrate(dir.path(), &["--target", "0001"]);
    assert!(!ok);
    assert!(err.contains("only `head`"), "{err}");
}

#[test]
fn migrate_skips_mongo_and_refuses_unknown_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("m.toml");
    std::fs::write(&toml, "database_url = \"mongodb://127.0.0.1:1/x\"\n").unwrap();
    let (ok, out, _) = migrate(dir.path(), &["--config", toml.to_str().unwrap()]);
    assert!(ok);
    assert!(
        out.starts_with("skip: mongo backends use install_schema()"),
        "{out}"
    );
    std::fs::write(&toml, "database_url = \"mysql://h/x\"\n").unwrap();
    let (ok, _, err) = migrate(dir.path(), &["--config", toml.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("mysql"), "{err}");
}

#[test]
fn serve_refuses_a_bad_configuration_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("regstack.toml"), "jwt_ttl_seconds = 5\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--port", "0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jwt_ttl_seconds"), "{err}");
}

#[tokio::test]
async fn create_admin_then_list_users_over_http() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regstack.toml"),
        "enable_admin_router = true\n",
    )
    .unwrap();
    let mut server = Server::start(dir.path(), FAST).await;
    let out = std::process::Command::new(BIN)
        .args([
            "create-admin",
            "--email",
            "admin@example.com",
            "--password",
            "admin password",
        ])
        .current_dir(dir.path())
        .envs(FAST.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Admin admin@example.com created"));
    let client = reqwest::Client::new();
    let (status, login) = post(
        &client,
        &server.url("/api/auth/login"),
        json!({"email": "admin@example.com", "password": "admin password"}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap();
    let users: Value = client
        .get(server.url("/api/auth/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["total"], 1);
    assert_eq!(users["items"][0]["email"], "admin@example.com");
    assert_eq!(users["items"][0]["is_superuser"], true);
    server.terminate();
    let _ = server.child.wait().await;
    let _ = server.wait_for_line(|_| true).await;
}
