//! `regstack migrate`: bring a SQL database to head.

use std::path::PathBuf;

use crate::{Failure, load_config};

/// The database URL with any password replaced, for printing.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

pub(crate) async fn migrate(config: Option<PathBuf>, target: String) -> Result<(), Failure> {
    let cfg = load_config(config)?;
    let url = cfg.database_url.expose().to_owned();
    if regstack::backend_kind(&url).map_err(|e| e.to_string())? == regstack::BackendKind::Mongo {
        println!("skip: mongo backends use install_schema() at app start; nothing to migrate.");
        return Ok(());
    }
    if target != "head" {
        return Err(format!("unsupported target `{target}`: only `head` is supported").into());
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
