//! `regstack`: run the JSON API of an embedded-style configuration, or bring a database to head.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use regstack::config::{LoadOptions, RegStackConfig};

#[derive(Debug, Parser)]
#[command(
    name = "regstack",
    version,
    about = "User accounts for Rust web applications"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the JSON API (under `api_prefix`) and `GET /healthz`.
    Serve {
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
    },
    /// Bring the database schema to head.
    Migrate {
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Target revision (only `head` is supported).
        #[arg(long, default_value = "head")]
        target: String,
    },
}

/// The name of the secrets file, always in the working directory.
const SECRETS_FILE: &str = "regstack.secrets.env";

fn resolve_config_path(path: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    let Some(p) = path else { return Ok(None) };
    if p.is_dir() {
        return Ok(Some(p.join("regstack.toml")));
    }
    if p.is_file() {
        return Ok(Some(p));
    }
    Err(format!("config path {} does not exist", p.display()))
}

fn load_config(path: Option<PathBuf>) -> Result<RegStackConfig, String> {
    let toml_path = resolve_config_path(path)?;
    RegStackConfig::load_with(LoadOptions {
        toml_path,
        ..LoadOptions::default()
    })
    .map_err(|e| format!("configuration error: {e}"))
}

/// Append a fresh `REGSTACK_JWT_SECRET` to the secrets file (created with mode 0600).
fn create_jwt_secret(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let secret = regstack::core::token::random_urlsafe(64);
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    if !existing.is_empty() && !existing.ends_with('\n') {
        writeln!(file)?;
    }
    writeln!(file, "REGSTACK_JWT_SECRET={secret}")?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .init();
}

async fn serve(config: Option<PathBuf>, host: String, port: u16) -> Result<(), String> {
    let mut cfg = load_config(config.clone())?;
    if cfg.jwt_secret.expose().is_empty() {
        create_jwt_secret(Path::new(SECRETS_FILE))
            .map_err(|e| format!("could not write {SECRETS_FILE}: {e}"))?;
        tracing::info!(
            target: "regstack.cli",
            "no jwt_secret configured: generated one in ./{SECRETS_FILE} (mode 0600)"
        );
        cfg = load_config(config)?;
    }
    let rs = regstack::from_config(cfg)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    rs.install_schema()
        .await
        .map_err(|e| format!("cannot bring the schema to head: {e}"))?;
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|()| format!("invalid listen address {host}:{port}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        target: "regstack.cli",
        "regstack serving on http://{local}{} (healthz: http://{local}/healthz)",
        rs.config().api_prefix()
    );
    let app = regstack::axum::app(rs.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server error: {e}"))?;
    tracing::info!(target: "regstack.cli", "shutting down: finishing background work");
    rs.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The database URL with any password replaced, for printing.
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

async fn migrate(config: Option<PathBuf>, target: String) -> Result<(), String> {
    let cfg = load_config(config)?;
    let url = cfg.database_url.expose().to_owned();
    if regstack::backend_kind(&url).map_err(|e| e.to_string())? == regstack::BackendKind::Mongo {
        println!("skip: mongo backends use install_schema() at app start; nothing to migrate.");
        return Ok(());
    }
    if target != "head" {
        return Err(format!(
            "unsupported target `{target}`: only `head` is supported"
        ));
    }
    let backend = regstack::connect(&cfg).await.map_err(|e| e.to_string())?;
    let status = backend.schema_status().await.map_err(|e| e.to_string())?;
    if status.is_at_head() {
        println!("already at {target} ({})", status.head);
        backend.close().await;
        return Ok(());
    }
    println!(
        "upgrading {} from {} to {target}…",
        redact_url(&url),
        status.current.as_deref().unwrap_or("(empty)")
    );
    let result = backend.install_schema().await;
    let after = backend.schema_status().await;
    backend.close().await;
    result.map_err(|e| format!("upgrade failed: {e}"))?;
    let after = after.map_err(|e| format!("upgrade failed: {e}"))?;
    println!("now at {}", after.current.unwrap_or_default());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, host, port } => {
            init_logging();
            serve(config, host, port).await
        }
        Command::Migrate { config, target } => migrate(config, target).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgresql://u:secret@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite:///./x.db"), "sqlite:///./x.db");
    }
}
