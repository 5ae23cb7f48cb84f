//! `cargo xtask bench [--quick] [--only sqlite|postgres] [--filter TEXT] [--permits N]`: build
//! `regstack` (its default features) and the load generator (`crates/regstack-bench`) in
//! release mode, then run the generator against the binary: SQLite always, PostgreSQL when a
//! server answers on 127.0.0.1:5432 (reported as skipped when the binary lacks the backend).
//! The generator prints the table and exits non-zero when a bar fails (`docs/benchmarks.md`).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{cargo, root, run};

/// The admin URL the generator creates (and drops) its PostgreSQL database through.
const PG_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn postgres_reachable() -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], 5432));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

pub fn bench(extra: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "--package", "regstack-cli"]);
    run("cargo build --release -p regstack-cli", build)?;
    let mut build = cargo();
    build.args(["build", "--release", "--package", "regstack-bench"]);
    run("cargo build --release -p regstack-bench", build)?;
    let release = target_dir().join("release");
    let mut cmd = Command::new(release.join("regstack-bench"));
    cmd.current_dir(root())
        .arg("--server")
        .arg(release.join("regstack"));
    if postgres_reachable() {
        cmd.args(["--postgres", PG_ADMIN_URL]);
    }
    cmd.args(extra);
    run("regstack-bench", cmd)
}
