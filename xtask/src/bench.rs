//! `cargo xtask bench [--quick] [--only sqlite|postgres] [--filter TEXT] [--permits N]
//! [--nice N]`: build `regstack` with the backends it measures (SQLite, PostgreSQL; no
//! MongoDB, mail or SMS transports, which the scenarios never reach and which would double a
//! cold build) and the load generator (`crates/regstack-bench`) with release settings into
//! `target/bench-server/`, then run the generator against the binary: SQLite always,
//! PostgreSQL when a server answers on 127.0.0.1:5432. The generator prints the table and exits
//! non-zero when a bar fails (`docs/benchmarks.md`).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{cargo, root, run};

/// The cargo profile of the benchmark build (`Cargo.toml`: release settings).
const PROFILE: &str = "bench-server";

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
    build.args(["build", "--profile", PROFILE, "--package", "regstack-bench"]);
    run("cargo build (bench-server profile)", build)?;
    let bin = target_dir().join(PROFILE);
    let mut cmd = Command::new(bin.join("regstack-bench"));
    cmd.current_dir(root())
        .arg("--server")
        .arg(bin.join("regstack-bench-server"));
    if postgres_reachable() {
        cmd.args(["--postgres", PG_ADMIN_URL]);
    }
    cmd.args(extra);
    run("regstack-bench", cmd)
}
