//! Project automation: `cargo xtask ci | test | tidy | deny | bench` (`bench`: see
//! `docs/benchmarks.md`).
//!
//! `ci` is what `.ci/run` runs: format check, the tidy checks, cargo-deny (licenses, bans and
//! sources; installed when missing), clippy with `-D warnings` and every test of the workspace
//! (unit, integration, end-to-end and doc tests) on every backend.
//!
//! `test` (the last step of `ci`) finds or starts the test servers (`services.rs`: PostgreSQL
//! on 127.0.0.1:5432, the MongoDB-wire `secantusd-py` in `.venv`), runs `cargo test
//! --workspace` (the end-to-end suite on SQLite) and the end-to-end suite again on PostgreSQL
//! and on MongoDB, all with `CI=true` so a missing server fails instead of skipping, and stops
//! the servers it started, whether the tests pass or not. `REGSTACK_TEST_PG_URL` /
//! `REGSTACK_TEST_MONGO_URL`, when set, name servers to use instead.

mod bench;
mod services;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The workspace root: the parent of xtask's manifest directory as `cargo run` reports it when
/// the task starts, not as it was when the binary was compiled. Two checkouts sharing one
/// `CARGO_TARGET_DIR` (as `.ci/run` allows) can run one xtask binary, and a path baked in at
/// compile time would point the task at the other checkout.
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, mut cmd: Command) -> Result<(), String> {
    let start = Instant::now();
    println!("==> {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot run: {e}"))?;
    println!("<== {step}: {:.1}s", start.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

fn fmt_check() -> Result<(), String> {
    let mut c = cargo();
    c.args(["fmt", "--all", "--", "--check"]);
    run("cargo fmt --check", c)
}

fn clippy() -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy -D warnings", c)?;
    // The AWS transports stay out of default builds; lint them with every feature on.
    let mut c = cargo();
    c.args([
        "clippy",
        "-p",
        "regstack-mail",
        "-p",
        "regstack-sms",
        "-p",
        "regstack",
        "--all-features",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(
        "cargo clippy (mail, sms, facade: all features) -D warnings",
        c,
    )
}

/// A server URL from `var` when set, else from `start`.
fn server_url(var: &str, start: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => {
            println!("{var} is set: using that server");
            Ok(url)
        }
        _ => start(),
    }
}

fn test() -> Result<(), String> {
    // Dropped at the end of this function, on success and on failure: stops what it started.
    let mut services = services::Services::default();
    let pg = server_url("REGSTACK_TEST_PG_URL", || services.postgres())?;
    let venv = root().join(".venv");
    let mongo = server_url("REGSTACK_TEST_MONGO_URL", || services.mongo(&venv))?;
    let env = [
        ("REGSTACK_TEST_PG_URL", pg.as_str()),
        ("REGSTACK_TEST_MONGO_URL", mongo.as_str()),
        // A missing backend is a failure, never a silent skip.
        ("CI", "true"),
    ];

    let mut c = cargo();
    c.args(["test", "--workspace"]).envs(env);
    run("cargo test --workspace (end-to-end on sqlite)", c)?;
    for backend in ["postgres", "mongo"] {
        let mut c = cargo();
        c.args(["test", "-p", "regstack-e2e"])
            .envs(env)
            .env("REGSTACK_E2E_BACKEND", backend);
        run(&format!("cargo test -p regstack-e2e on {backend}"), c)?;
    }
    // The workspace build unifies the facade's features (every backend on); built alone
    // without the server backends, their URLs must be refused naming the feature.
    let mut c = cargo();
    c.args([
        "test",
        "-p",
        "regstack",
        "--no-default-features",
        "--features",
        "sqlite,axum",
        "--test",
        "backend_by_url",
    ]);
    run("cargo test -p regstack without postgres and mongo", c)?;
    // SES and SNS against local stand-ins for the AWS endpoints.
    let mut c = cargo();
    c.args([
        "test",
        "-p",
        "regstack-mail",
        "-p",
        "regstack-sms",
        "--all-features",
    ]);
    run(
        "cargo test -p regstack-mail -p regstack-sms --all-features",
        c,
    )?;
    drop(services);
    Ok(())
}

fn tidy_step() -> Result<(), String> {
    println!("==> tidy");
    let problems = tidy::check(&root());
    if problems.is_empty() {
        println!("<== tidy: ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("tidy found {} problem(s)", problems.len()))
    }
}

fn deny() -> Result<(), String> {
    let available = cargo()
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        let mut install = cargo();
        install.args(["install", "cargo-deny", "--locked"]);
        run("cargo install cargo-deny", install)?;
    }
    let mut c = cargo();
    c.args([
        "deny",
        "--all-features",
        "check",
        "licenses",
        "bans",
        "sources",
    ]);
    run("cargo deny (licenses, bans, sources)", c)
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_else(|| "help".into());
    let result = match task.as_str() {
        "ci" => fmt_check()
            .and_then(|()| tidy_step())
            .and_then(|()| deny())
            .and_then(|()| clippy())
            .and_then(|()| test()),
        "test" => test(),
        "tidy" => tidy_step(),
        "deny" => deny(),
        "bench" => bench::bench(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!("usage: cargo xtask <ci|test|tidy|deny|bench>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
