//! The database URLs regstack 0.9.3 accepts for PostgreSQL.

use std::str::FromStr as _;

use regstack_core::store::StoreResult;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::error::Error;

/// URL schemes (compared case-insensitively) that name PostgreSQL, as in regstack 0.9.3.
pub const SCHEMES: &[&str] = &["postgresql", "postgres", "postgresql+asyncpg"];

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidUrl {
        reason: reason.into(),
    }
}

/// The connect options named by a regstack 0.9.3 PostgreSQL URL.
///
/// Accepts `postgresql://`, `postgres://` and SQLAlchemy's `postgresql+asyncpg://` (the
/// driver suffix is dropped), scheme case-insensitive, with everything libpq-style URLs
/// carry (`user:password@host:port/dbname`, `?sslmode=…`, `?host=/run/postgresql`, …; see
/// [`PgConnectOptions`]). asyncpg's `?ssl=<mode>` (`disable` … `verify-full`, or
/// `true`/`false`) is understood as `sslmode` unless `sslmode` is also given. Errors never
/// repeat the URL (it may hold a password).
pub fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected <scheme>://..."))?;
    if !SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Err(invalid(format!(
            "unsupported scheme {scheme:?} (expected postgresql://, postgres:// or \
             postgresql+asyncpg://)"
        ))
        .into());
    }
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (rest, None),
    };
    let mut kept = Vec::new();
    let mut asyncpg_ssl = None;
    let mut has_sslmode = false;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        match key {
            "ssl" => asyncpg_ssl = Some(pair.split_once('=').map_or("", |(_, v)| v)),
            "sslmode" | "ssl-mode" => {
                has_sslmode = true;
                kept.push(pair);
            }
            "" => {}
            _ => kept.push(pair),
        }
    }
    let mut normalised = format!("postgres://{base}");
    if !kept.is_empty() {
        normalised.push('?');
        normalised.push_str(&kept.join("&"));
    }
    let mut options = PgConnectOptions::from_str(&normalised)
        .map_err(|e| invalid(format!("cannot parse it: {e}")))?;
    if let (Some(ssl), false) = (asyncpg_ssl, has_sslmode) {
        let mode = match ssl.to_ascii_lowercase().as_str() {
            "true" | "1" => PgSslMode::Require,
            "false" | "0" => PgSslMode::Disable,
            other => PgSslMode::from_str(other)
                .map_err(|_| invalid(format!("unknown ssl mode {ssl:?}")))?,
        };
        options = options.ssl_mode(mode);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regstack_core::store::StoreError;

    fn opts(url: &str) -> PgConnectOptions {
        connect_options(url).unwrap_or_else(|e| panic!("{url}: {e:?}"))
    }

    #[test]
    fn accepts_the_three_schemes() {
        for url in [
            "postgresql://app:secret@db.example.com:6543/regstack",
            "postgres://app:secret@db.example.com:6543/regstack",
            "postgresql+asyncpg://app:secret@db.example.com:6543/regstack",
            "PostgreSQL+AsyncPG://app:secret@db.example.com:6543/regstack",
        ] {
            let o = opts(url);
            assert_eq!(o.get_host(), "db.example.com", "{url}");
            assert_eq!(o.get_port(), 6543, "{url}");
            assert_eq!(o.get_username(), "app", "{url}");
            assert_eq!(o.get_database(), Some("regstack"), "{url}");
        }
    }

    #[test]
    fn ssl_parameters() {
        let o = opts("postgresql+asyncpg://u@h/d?ssl=require");
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        let o = opts("postgresql+asyncpg://u@h/d?ssl=true&application_name=x");
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        assert_eq!(o.get_application_name(), Some("x"));
        let o = opts("postgresql://u@h/d?ssl=disable");
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Disable));
        let o = opts("postgresql://u@h/d?sslmode=verify-full&ssl=disable");
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        assert!(connect_options("postgresql://u@h/d?ssl=sometimes").is_err());
    }

    #[test]
    fn rejects_other_urls_without_echoing_them() {
        for url in [
            "mysql://u:hunter2@h/d",
            "sqlite+aiosqlite:///x.db",
            "postgresql+psycopg2://u:hunter2@h/d",
            "u:hunter2@h/d",
        ] {
            match connect_options(url) {
                Err(StoreError::Backend(e)) => {
                    let text = e.to_string();
                    assert!(text.starts_with("invalid postgresql url"), "{text}");
                    assert!(!text.contains("hunter2"), "{text}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
