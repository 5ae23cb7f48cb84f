//! Project automation: `cargo xtask ci | test | tidy | deny`.
//!
//! `ci` is what `.ci/run` runs: format check, the tidy checks, cargo-deny (licenses, bans and
//! sources; installed when missing), clippy with `-D warnings` and every test of the workspace
//! (unit, integration, end-to-end and doc tests).

mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
    run("cargo clippy -D warnings", c)
}

fn test() -> Result<(), String> {
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    run("cargo test --workspace", c)
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
        _ => {
            eprintln!("usage: cargo xtask <ci|test|tidy|deny>");
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
