//! The server `cargo xtask bench` measures: what `regstack serve` runs (the configuration from
//! the environment, `regstack::axum::app`, `regstack::axum::serve`), plus `GET /bench/noop`, a
//! constant JSON answer touching neither the database nor regstack, so the framework's ceiling
//! on this machine is measured in the same process (`docs/benchmarks.md`). Not shipped: the
//! noop route has no place in the `regstack` binary.
//!
//! Usage: `regstack-bench-server --port N` (listens on 127.0.0.1), run in a directory of its
//! own with `REGSTACK_*` set; `regstack-bench-server create-admin --email E --password P` seeds
//! a verified user through `RegStack::create_admin`, the path `regstack create-admin` takes.

use std::net::SocketAddr;
use std::process::ExitCode;

use regstack::axum::axum;

async fn noop() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        r#"{"ok":true}"#,
    )
}

/// The value after `--name` in the arguments.
fn arg(name: &str) -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next().ok_or(format!("{name} needs a value"));
        }
    }
    Err(format!(
        "usage: regstack-bench-server --port N | create-admin --email E --password P (no {name})"
    ))
}

async fn create_admin() -> Result<(), String> {
    let email = regstack::core::EmailAddress::try_from(arg("--email")?.as_str())
        .map_err(|e| e.to_string())?;
    let password =
        regstack::core::NewPassword::try_from(arg("--password")?).map_err(|e| e.to_string())?;
    let config = regstack::RegStackConfig::load().map_err(|e| e.to_string())?;
    let rs = regstack::from_config(config)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    rs.install_schema().await.map_err(|e| e.to_string())?;
    let created = rs.create_admin(&email, &password).await;
    rs.close().await;
    match created.map_err(|e| e.to_string())? {
        regstack::core::admin::AdminCreation::Created(_) => Ok(()),
        regstack::core::admin::AdminCreation::Exists(_) => Err(format!("{email} exists")),
    }
}

async fn run() -> Result<(), String> {
    if std::env::args().nth(1).as_deref() == Some("create-admin") {
        return create_admin().await;
    }
    let port: u16 = arg("--port")?.parse().map_err(|e| format!("--port: {e}"))?;
    let config = regstack::RegStackConfig::load().map_err(|e| e.to_string())?;
    let rs = regstack::from_config(config)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    rs.install_schema()
        .await
        .map_err(|e| format!("cannot bring the schema to head: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let app = regstack::axum::app(rs.clone()).route("/bench/noop", axum::routing::get(noop));
    regstack::axum::serve(listener, app, rs)
        .await
        .map_err(|e| format!("server error: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("regstack-bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}
