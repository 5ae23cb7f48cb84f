//! `regstack serve`: the JSON API of a configuration, with graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{Failure, SECRETS_FILE, load_config};

/// Append a fresh `REGSTACK_JWT_SECRET` to the secrets file. On unix the file is mode 0600
/// before the secret is written, whether it is created here or already existed.
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
    // `mode` only applies to a file created here: an existing one is narrowed through the open
    // handle (the very file written below, whatever the path names by now).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot make it mode 0600: {e}")))?;
    }
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    if !existing.is_empty() && !existing.ends_with('\n') {
        writeln!(file)?;
    }
    writeln!(file, "REGSTACK_JWT_SECRET={secret}")?;
    Ok(())
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .init();
}

pub(crate) async fn serve(config: Option<PathBuf>, host: String, port: u16) -> Result<(), Failure> {
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
    regstack::axum::serve(listener, regstack::axum::app(rs.clone()), rs)
        .await
        .map_err(|e| format!("server error: {e}"))?;
    Ok(())
}
