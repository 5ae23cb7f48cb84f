//! One visible line for `cargo test`: which storage backends the suites ran on and which were
//! skipped because their server did not answer (the PostgreSQL and MongoDB tests skip then,
//! see `regstack_store_tests::servers`). Under `CI=true` a missing server is a failure: this
//! exits 1 naming the variable (the tests themselves fail too).
//!
//! A `harness = false` test target, so the line is printed, not captured.

use std::process::ExitCode;

use regstack_e2e::DbKind;
use regstack_store_tests::servers::{self, Server};

fn main() -> ExitCode {
    // `cargo test -- --list` (and test runners that enumerate tests): nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let mut tested = vec!["sqlite"];
    let mut skipped = Vec::new();
    for server in Server::ALL {
        if server.is_reachable() {
            tested.push(server.name());
        } else {
            skipped.push(server);
        }
    }
    let e2e = DbKind::from_env();
    let mut line = format!("regstack: backends tested: {}", tested.join(", "));
    if !skipped.is_empty() {
        let names: Vec<&str> = skipped.iter().map(|s| s.name()).collect();
        line.push_str(&format!(
            "; skipped (no server): {} — run `cargo xtask ci` to start them",
            names.join(", ")
        ));
    }
    if e2e != DbKind::Sqlite {
        line.push_str(&format!(" (end-to-end suite on {})", e2e.name()));
    }
    println!("{line}");
    if !skipped.is_empty() && servers::strict() {
        for s in &skipped {
            eprintln!(
                "error: CI=true and no {} server answers at {} (set {})",
                s.name(),
                servers::redact(&s.url()),
                s.url_var()
            );
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
