//! The server under test: a `regstack serve` child process on a loopback port, its memory as
//! `/proc/<pid>/status` reports it, the users seeded into it, and the throw-away PostgreSQL
//! database it may run on.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::Method;

use crate::load;

/// The Argon2 parameters of regstack 0.9.3, used for every scenario.
pub const MEMORY_KIB: u32 = 65_536;
pub const ITERATIONS: u32 = 3;
pub const PARALLELISM: u32 = 4;

/// The password of every seeded user.
pub const PASSWORD: &str = "correct horse battery staple";

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub enum Database {
    /// A fresh file in the run's directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of this admin URL (created, then dropped).
    Postgres { admin_url: String, name: String },
}

/// A running `regstack serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    binary: PathBuf,
    /// From `spawn` to the first `200` of `GET /healthz`.
    pub start_to_first_200: Duration,
}

/// Why a server did not come up.
#[derive(Debug)]
pub enum StartError {
    /// The binary refused the database URL because its backend is not compiled in.
    BackendNotBuilt(String),
    Other(String),
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

impl Server {
    /// Start `binary --port N` (`regstack-bench-server`) on a free loopback port with a fresh
    /// database, and
    /// wait for its first `200` on `/healthz` (polled every millisecond from the spawn).
    pub async fn start(
        binary: &Path,
        dir: &Path,
        db: &Database,
        hashing: crate::Hashing,
    ) -> Result<Server, StartError> {
        let other = StartError::Other;
        std::fs::create_dir_all(dir).map_err(|e| other(format!("{}: {e}", dir.display())))?;
        let url = match db {
            Database::Sqlite => "sqlite+aiosqlite:///./bench.db".to_owned(),
            Database::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        };
        let secret = regstack_core::token::random_urlsafe(48);
        let env: Vec<(String, String)> = [
            ("REGSTACK_DATABASE_URL", url.as_str()),
            ("REGSTACK_JWT_SECRET", secret.as_str()),
            ("REGSTACK_RATE_LIMIT_DISABLED", "true"),
            ("REGSTACK_REQUIRE_VERIFICATION", "true"),
            ("REGSTACK_ALLOW_REGISTRATION", "true"),
            ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", &MEMORY_KIB.to_string()),
            ("REGSTACK_PASSWORD_HASH_ITERATIONS", &ITERATIONS.to_string()),
            (
                "REGSTACK_PASSWORD_HASH_PARALLELISM",
                &PARALLELISM.to_string(),
            ),
            (
                "REGSTACK_PASSWORD_HASH_CONCURRENCY",
                &hashing.permits.to_string(),
            ),
            ("REGSTACK_PASSWORD_HASH_NICE", &hashing.nice.to_string()),
            ("RUST_LOG", "warn,regstack.cli=info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let port = free_port().map_err(other)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| other(e.to_string()))?;
        let log2 = log.try_clone().map_err(|e| other(e.to_string()))?;
        let mut cmd = clean_command(binary, dir, &env);
        cmd.args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| other(format!("cannot start {}: {e}", binary.display())))?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = log_tail(&log_path);
                return Err(if tail.contains("feature") && tail.contains("postgres") {
                    StartError::BackendNotBuilt(tail)
                } else {
                    other(format!("server exited ({status}):\n{tail}"))
                });
            }
            if spawned.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!(
                    "no 200 on /healthz within 30 s:\n{}",
                    log_tail(&log_path)
                )));
            }
            if let Ok(mut s) = load::connect(addr).await {
                let req = load::request(Method::GET, "/healthz", None, None);
                if let Ok((200, _)) = load::send(&mut s, req).await {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let start_to_first_200 = spawned.elapsed();
        Ok(Server {
            child,
            addr,
            dir: dir.to_owned(),
            env,
            binary: binary.to_owned(),
            start_to_first_200,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Create verified users `bench-user-<i>@example.com` with [`PASSWORD`] through
    /// the server binary's `create-admin` (`RegStack::create_admin`, the path of `regstack
    /// create-admin`, against the same database).
    pub fn seed(&self, users: usize) -> Result<Vec<String>, String> {
        let emails: Vec<String> = (0..users)
            .map(|i| format!("bench-user-{i}@example.com"))
            .collect();
        // Two at a time: each one is an Argon2 hash in its own process.
        for pair in emails.chunks(2) {
            let children: Vec<_> = pair
                .iter()
                .map(|email| {
                    clean_command(&self.binary, &self.dir, &self.env)
                        .args(["create-admin", "--email", email, "--password", PASSWORD])
                        .env("RUST_LOG", "error")
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .map_err(|e| format!("cannot run create-admin: {e}"))
                })
                .collect::<Result<_, _>>()?;
            for c in children {
                let out = c
                    .wait_with_output()
                    .map_err(|e| format!("create-admin: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "create-admin failed ({}): {}{}",
                        out.status,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
        Ok(emails)
    }

    /// Stop with SIGTERM (graceful shutdown), SIGKILL after 10 s.
    pub fn stop(mut self) {
        let pid = self.pid().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A command in `dir` with none of the caller's `REGSTACK_*` settings, only `env`.
fn clean_command(binary: &Path, dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("REGSTACK_")
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            admin_url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Create a fresh database `name` on the server of `admin_url`.
pub fn create_pg_database(admin_url: &str, name: &str) -> Result<(), String> {
    psql(admin_url, &format!("DROP DATABASE IF EXISTS {name}"))?;
    psql(admin_url, &format!("CREATE DATABASE {name}"))
}

/// Drop the database `name` (connections still open are terminated).
pub fn drop_pg_database(admin_url: &str, name: &str) -> Result<(), String> {
    psql(
        admin_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
}
