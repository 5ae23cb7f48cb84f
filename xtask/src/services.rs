//! Test servers for `cargo xtask ci`: finds or starts PostgreSQL on 127.0.0.1:5432 and the
//! MongoDB-wire server `secantusd-py` (PyPI `secantusdb`, in a virtualenv this creates), and
//! stops what it started (on drop, so also when a step fails).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL maintenance database the tests create their databases through.
pub const PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
/// The MongoDB-wire server the tests use.
pub const MONGO_URL: &str = "mongodb://127.0.0.1:27017";

const PG_ADDR: &str = "127.0.0.1:5432";
const MONGO_ADDR: &str = "127.0.0.1:27017";

/// `secantusd-py` settings for the tests: no TTL sweeper. The tests run frozen clocks in the
/// past, so a sweeper deleting "expired" documents mid-test would make them flaky (with a real
/// mongod, the equivalent is `--setParameter ttlMonitorEnabled=false`).
const SECANTUS_CONFIG: &str = "\
# Written by `cargo xtask ci` for the regstack tests.
[storage]
ttl_sweep_seconds = 0
";

/// Servers started by this process, stopped on drop.
#[derive(Debug, Default)]
pub struct Services {
    started: Vec<(String, Child)>,
    pg_started_cluster: Option<String>,
}

fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

fn wait_for(addr: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if reachable(addr) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Run `cmd` with its output captured; on failure the error carries the output's tail.
fn run_captured(what: &str, cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    Err(format!("{what} failed ({}):\n{tail}", out.status))
}

fn pg_version() -> Option<String> {
    let dir = std::fs::read_dir("/etc/postgresql").ok()?;
    let mut versions: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|v| Path::new("/etc/postgresql").join(v).join("main").is_dir())
        .collect();
    versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
    versions.pop()
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    println!("installing {} from Debian's packages", packages.join(" "));
    run_captured("apt-get update", Command::new("apt-get").arg("update"))?;
    run_captured(
        &format!("apt-get install {}", packages.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Wait until PostgreSQL accepts connections (not just TCP: it refuses them while starting up).
fn wait_for_postgres(timeout: Duration) -> bool {
    if !wait_for(PG_ADDR, timeout) {
        return false;
    }
    let start = Instant::now();
    while start.elapsed() < timeout {
        let ready = Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
            .status();
        match ready {
            Ok(s) if s.success() => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(200)),
            // No pg_isready on PATH: TCP must do.
            Err(_) => return true,
        }
    }
    false
}

impl Services {
    /// Make PostgreSQL answer on 127.0.0.1:5432: use a running one, else start the Debian
    /// cluster with `pg_ctlcluster`, else install it from Debian's packages and start it.
    /// Returns the maintenance URL.
    pub fn postgres(&mut self) -> Result<String, String> {
        if reachable(PG_ADDR) {
            println!("postgres: already running on {PG_ADDR}");
            return Ok(PG_URL.to_owned());
        }
        if pg_version().is_none() {
            println!("postgres: not installed");
            apt_install(&["postgresql"])?;
            // The package may have started its cluster already.
            if wait_for_postgres(Duration::from_secs(5)) {
                println!("postgres: the package started it on {PG_ADDR}");
                self.pg_started_cluster = pg_version();
                self.trust_loopback_and_reload();
                return Ok(PG_URL.to_owned());
            }
        }
        let version = pg_version().ok_or("no PostgreSQL cluster found in /etc/postgresql")?;
        self.trust_loopback(&version);
        println!("postgres: starting cluster {version}/main");
        let started = run_captured(
            "pg_ctlcluster start",
            Command::new("pg_ctlcluster").args([
                "--skip-systemctl-redirect",
                &version,
                "main",
                "start",
            ]),
        );
        if let Err(e) = started
            && !reachable(PG_ADDR)
        {
            return Err(e);
        }
        self.pg_started_cluster = Some(version);
        if !wait_for_postgres(Duration::from_secs(30)) {
            return Err(format!("postgres did not come up on {PG_ADDR}"));
        }
        Ok(PG_URL.to_owned())
    }

    /// Trust auth on loopback for the cluster this process manages: the tests connect as
    /// `postgres` without a password. Only ever applied to a cluster this process starts.
    fn trust_loopback(&self, version: &str) {
        let hba = format!("/etc/postgresql/{version}/main/pg_hba.conf");
        if let Ok(text) = std::fs::read_to_string(&hba)
            && !text.contains("regstack-ci")
        {
            let trust = "# regstack-ci: the test suite connects without a password\n\
                         host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n\
                         local all all trust\n";
            if let Err(e) = std::fs::write(&hba, format!("{trust}{text}")) {
                println!("postgres: could not edit {hba}: {e}");
            }
        }
    }

    fn trust_loopback_and_reload(&self) {
        if let Some(version) = &self.pg_started_cluster {
            self.trust_loopback(version);
            let _ = run_captured(
                "pg_ctlcluster reload",
                Command::new("pg_ctlcluster").args([
                    "--skip-systemctl-redirect",
                    version,
                    "main",
                    "reload",
                ]),
            );
        }
    }

    /// Make a MongoDB-wire server answer on 127.0.0.1:27017: use a running one, else start
    /// `secantusd-py --storage-path :memory:` (TTL sweeper off) from the virtualenv
    /// `venv_dir`, creating it and installing `secantusdb` from PyPI when needed. Returns the
    /// server URL.
    pub fn mongo(&mut self, venv_dir: &Path) -> Result<String, String> {
        if reachable(MONGO_ADDR) {
            println!("mongo: already running on {MONGO_ADDR}");
            return Ok(MONGO_URL.to_owned());
        }
        let bin = venv_dir.join("bin").join("secantusd-py");
        if !bin.exists() {
            println!("mongo: installing secantusdb into {}", venv_dir.display());
            let mut venv = Command::new("python3");
            venv.args(["-m", "venv"]).arg(venv_dir);
            if run_captured("python3 -m venv", &mut venv).is_err() {
                // Debian ships ensurepip separately.
                apt_install(&["python3-venv"])?;
                let mut venv = Command::new("python3");
                venv.args(["-m", "venv", "--clear"]).arg(venv_dir);
                run_captured("python3 -m venv", &mut venv)?;
            }
            let pip = venv_dir.join("bin").join("pip");
            run_captured(
                "pip install secantusdb",
                Command::new(&pip).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--pre",
                    "secantusdb",
                ]),
            )?;
        }
        let config = venv_dir.join("regstack-secantusd.toml");
        std::fs::write(&config, SECANTUS_CONFIG)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        println!("mongo: starting secantusd-py on {MONGO_ADDR}");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "27017",
                "--storage-path",
                ":memory:",
                "--log-level",
                "WARNING",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        self.started.push(("secantusd-py".into(), child));
        if !wait_for(MONGO_ADDR, Duration::from_secs(60)) {
            return Err(format!("secantusd-py did not come up on {MONGO_ADDR}"));
        }
        Ok(MONGO_URL.to_owned())
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for (name, child) in &mut self.started {
            println!("stopping {name} (pid {})", child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(version) = &self.pg_started_cluster {
            println!("postgres: stopping cluster {version}/main");
            let _ = run_captured(
                "pg_ctlcluster stop",
                Command::new("pg_ctlcluster").args([
                    "--skip-systemctl-redirect",
                    version,
                    "main",
                    "stop",
                ]),
            );
        }
    }
}
