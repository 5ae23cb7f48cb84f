//! The database servers that backend tests need, and the one skip policy for them.
//!
//! A test that needs PostgreSQL or MongoDB asks [`Server::require`] first:
//!
//! * the server answers (a TCP connection to the host of [`Server::url`] opens within
//!   [`CONNECT_TIMEOUT`]) → `Some(url)`, run the test;
//! * it does not, and the environment is not strict → `None`, the test returns early (skips);
//! * it does not, and the environment is strict ([`strict`]: `CI=true`) → the test panics with
//!   a message naming the variable ([`Server::url_var`]), so a missing backend in CI is a
//!   failure, never a silent skip.
//!
//! `cargo xtask ci` starts the servers, exports the variables and sets `CI=true`.
//!
//! ```no_run
//! use regstack_store_tests::servers::Server;
//!
//! # async fn demo() {
//! let Some(url) = Server::Postgres.require() else { return };
//! // ... create a fresh database on `url` and test against it
//! # let _ = url;
//! # }
//! ```

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::OnceLock;
use std::time::Duration;

/// How long [`Server::is_reachable`] waits for a TCP connection to each address.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The variable that makes a missing server a failure when it is `true`.
pub const STRICT_VAR: &str = "CI";

/// A database server the backend tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    /// PostgreSQL: a maintenance database of a user allowed to `CREATE DATABASE`.
    Postgres,
    /// A MongoDB-wire server (MongoDB or `secantusd-py`).
    Mongo,
}

impl Server {
    /// Every server, in report order.
    pub const ALL: [Server; 2] = [Server::Postgres, Server::Mongo];

    /// The backend name (`postgres`, `mongo`), as `REGSTACK_E2E_BACKEND` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::Mongo => "mongo",
        }
    }

    /// The environment variable naming the server: `REGSTACK_TEST_PG_URL`,
    /// `REGSTACK_TEST_MONGO_URL`.
    pub fn url_var(self) -> &'static str {
        match self {
            Server::Postgres => "REGSTACK_TEST_PG_URL",
            Server::Mongo => "REGSTACK_TEST_MONGO_URL",
        }
    }

    /// The URL used when [`Server::url_var`] is unset.
    pub fn default_url(self) -> &'static str {
        match self {
            Server::Postgres => "postgresql://postgres@127.0.0.1:5432/postgres",
            Server::Mongo => "mongodb://127.0.0.1:27017",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Server::Postgres => 5432,
            Server::Mongo => 27017,
        }
    }

    /// The server's URL: [`Server::url_var`] when set and not empty, else
    /// [`Server::default_url`].
    pub fn url(self) -> String {
        std::env::var(self.url_var())
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| self.default_url().to_owned())
    }

    /// Whether the server answers: a TCP connection to the (first) host of [`Server::url`]
    /// opens within [`CONNECT_TIMEOUT`]. Asked once per process. A URL whose host cannot be
    /// checked that way (a Unix socket, `mongodb+srv://`) counts as reachable, so the driver
    /// reports the real error.
    pub fn is_reachable(self) -> bool {
        static CACHE: [OnceLock<bool>; 2] = [OnceLock::new(), OnceLock::new()];
        let slot = match self {
            Server::Postgres => &CACHE[0],
            Server::Mongo => &CACHE[1],
        };
        *slot.get_or_init(|| match tcp_target(&self.url(), self.default_port()) {
            Some((host, port)) => tcp_answers(&host, port),
            None => true,
        })
    }

    /// The skip policy: `Some(url)` when the server answers; `None` (skip) when it does not
    /// and the environment is not [`strict`]; a panic naming [`Server::url_var`] when it is.
    #[track_caller]
    pub fn require(self) -> Option<String> {
        if self.is_reachable() {
            return Some(self.url());
        }
        if strict() {
            panic!(
                "{STRICT_VAR}=true and no {} test server answers at {} ({}): set {} to a \
                 running server or run `cargo xtask ci`, which starts one",
                self.name(),
                redact(&self.url()),
                if std::env::var_os(self.url_var()).is_some() {
                    format!("from {}", self.url_var())
                } else {
                    format!("the default; {} is unset", self.url_var())
                },
                self.url_var(),
            );
        }
        eprintln!(
            "skipped: no {} test server at {} (set {} or run `cargo xtask ci`)",
            self.name(),
            redact(&self.url()),
            self.url_var()
        );
        None
    }
}

/// Whether a missing server is a failure: `CI` is `true` (any case) or `1`.
pub fn strict() -> bool {
    std::env::var(STRICT_VAR)
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{shown}@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The first `host:port` of a `scheme://[user[:pw]@]host[:port][,host…][/…][?…]` URL; `None`
/// when there is no TCP host to try.
fn tcp_target(url: &str, default_port: u16) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.to_ascii_lowercase().ends_with("+srv") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let first = hosts.split(',').next()?.trim();
    if first.is_empty() || first.starts_with('%') {
        return None;
    }
    let (host, port) = if let Some(v6) = first.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

fn tcp_answers(host: &str, port: u16) -> bool {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return false,
    };
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_urls() {
        let t = |u: &str, p| tcp_target(u, p);
        assert_eq!(
            t("postgresql://postgres@127.0.0.1:5432/postgres", 5432),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(
            t("postgresql+asyncpg://u:p@db.local/x?ssl=require", 5432),
            Some(("db.local".into(), 5432))
        );
        assert_eq!(
            t(
                "mongodb://127.0.0.1:27018,127.0.0.1:27019/?replicaSet=x",
                27017
            ),
            Some(("127.0.0.1".into(), 27018))
        );
        assert_eq!(
            t("mongodb://[::1]:27020", 27017),
            Some(("::1".into(), 27020))
        );
        assert_eq!(t("mongodb://[::1]", 27017), Some(("::1".into(), 27017)));
        assert_eq!(t("mongodb+srv://cluster.example/db", 27017), None);
        assert_eq!(t("postgresql:///db?host=/var/run/postgresql", 5432), None);
        assert_eq!(t("nonsense", 1), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql://app:s3cret@h:5432/db?x=1"),
            "postgresql://app:***@h:5432/db?x=1"
        );
        assert_eq!(
            redact("mongodb://127.0.0.1:27017"),
            "mongodb://127.0.0.1:27017"
        );
        assert_eq!(redact("postgresql://app@h/db"), "postgresql://app@h/db");
    }

    #[test]
    fn closed_port_does_not_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp_answers("127.0.0.1", port));
        drop(listener);
        assert!(!tcp_answers("127.0.0.1", port));
    }
}
