//! The database URL forms regstack 0.9.3 (SQLAlchemy) accepts for SQLite.

use std::path::PathBuf;

use crate::error::Error;

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A private in-memory database (`sqlite+aiosqlite:///:memory:`).
    Memory,
    /// A database file (created when missing); a relative path is relative to the current
    /// directory.
    File(PathBuf),
}

const SCHEMES: [&str; 2] = ["sqlite+aiosqlite:", "sqlite:"];

/// Parse a 0.9.3-style SQLite URL.
///
/// | URL | location |
/// |---|---|
/// | `sqlite+aiosqlite:///./app.db`, `sqlite:///app.db` | `app.db` relative to the current directory |
/// | `sqlite+aiosqlite:////var/lib/app.db` | the absolute path `/var/lib/app.db` |
/// | `sqlite+aiosqlite:///:memory:`, `sqlite://`, `sqlite::memory:` | in memory |
///
/// The scheme is matched case-insensitively. A non-empty host (`sqlite://app.db`) and query
/// parameters are refused rather than guessed at.
pub fn parse_url(url: &str) -> Result<Location, Error> {
    let invalid = |reason: &'static str| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = SCHEMES
        .iter()
        .find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|head| head.eq_ignore_ascii_case(scheme))
                .map(|_| &url[scheme.len()..])
        })
        .ok_or_else(|| invalid("the scheme must be sqlite:// or sqlite+aiosqlite://"))?;
    if rest == ":memory:" {
        return Ok(Location::Memory);
    }
    let rest = rest
        .strip_prefix("//")
        .ok_or_else(|| invalid("expected // after the scheme"))?;
    if rest.contains('?') {
        return Err(invalid("query parameters are not supported"));
    }
    if rest.is_empty() {
        return Ok(Location::Memory);
    }
    let path = rest.strip_prefix('/').ok_or_else(|| {
        invalid("the host must be empty: use sqlite:///relative.db or sqlite:////absolute.db")
    })?;
    match path {
        "" | ":memory:" => Ok(Location::Memory),
        path => Ok(Location::File(PathBuf::from(path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Location {
        Location::File(PathBuf::from(p))
    }

    #[test]
    fn sqlalchemy_forms() {
        assert_eq!(
            parse_url("sqlite+aiosqlite:///./regstack.db").unwrap(),
            file("./regstack.db")
        );
        assert_eq!(
            parse_url("sqlite:///regstack.db").unwrap(),
            file("regstack.db")
        );
        assert_eq!(
            parse_url("sqlite+aiosqlite:////var/lib/app/regstack.db").unwrap(),
            file("/var/lib/app/regstack.db")
        );
        assert_eq!(parse_url("sqlite:////tmp/x.db").unwrap(), file("/tmp/x.db"));
        assert_eq!(
            parse_url("SQLite+AioSQLite:///data/x.db").unwrap(),
            file("data/x.db")
        );
    }

    #[test]
    fn memory_forms() {
        for url in [
            "sqlite+aiosqlite:///:memory:",
            "sqlite:///:memory:",
            "sqlite://",
            "sqlite+aiosqlite://",
            "sqlite:///",
            "sqlite::memory:",
        ] {
            assert_eq!(parse_url(url).unwrap(), Location::Memory, "{url}");
        }
    }

    #[test]
    fn refused_forms() {
        for url in [
            "postgresql://localhost/x",
            "sqlite://host/x.db",
            "sqlite:x.db",
            "sqlite:///x.db?mode=ro",
            "sqlit:///x.db",
            "",
        ] {
            let err = parse_url(url).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid sqlite url"),
                "{url}: {err}"
            );
        }
    }
}
