//! The database under an end-to-end test: SQLite (a file in a temporary directory), or a fresh
//! database of its own on the PostgreSQL or MongoDB test server, dropped when the guard is.
//!
//! `REGSTACK_E2E_BACKEND` (`sqlite`, the default, `postgres` or `mongo`) picks the backend of
//! [`TestApp::start`](crate::TestApp::start); the servers come from `REGSTACK_TEST_PG_URL` /
//! `REGSTACK_TEST_MONGO_URL` (see [`regstack_store_tests::servers`]). A backend chosen by name
//! whose server does not answer is a failure naming the variable, never a silent fallback.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use regstack_core::RegStackConfig;
use regstack_store_tests::servers::{Server, redact};

/// The variable choosing the backend of the end-to-end suite.
pub const BACKEND_VAR: &str = "REGSTACK_E2E_BACKEND";

/// The prefix of every database this module creates (and so may drop).
pub const TEST_DB_PREFIX: &str = "regstack_test_";

/// A storage backend the end-to-end suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbKind {
    Sqlite,
    Postgres,
    Mongo,
}

impl DbKind {
    /// Every backend, in report order.
    pub const ALL: [DbKind; 3] = [DbKind::Sqlite, DbKind::Postgres, DbKind::Mongo];

    /// The backend named by [`BACKEND_VAR`] (SQLite when unset or empty). Panics on any other
    /// value.
    pub fn from_env() -> Self {
        match std::env::var(BACKEND_VAR) {
            Err(_) => DbKind::Sqlite,
            Ok(v) => Self::from_name(v.trim()).unwrap_or_else(|| {
                panic!("{BACKEND_VAR}={v:?}: expected sqlite, postgres or mongo")
            }),
        }
    }

    /// `sqlite`, `postgres` / `postgresql` / `pg`, `mongo` / `mongodb`; empty means SQLite.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "" | "sqlite" => Some(DbKind::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(DbKind::Postgres),
            "mongo" | "mongodb" => Some(DbKind::Mongo),
            _ => None,
        }
    }

    /// `sqlite`, `postgres` or `mongo`.
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
            DbKind::Mongo => "mongo",
        }
    }

    /// The server this backend needs (none for SQLite).
    pub fn server(self) -> Option<Server> {
        match self {
            DbKind::Sqlite => None,
            DbKind::Postgres => Some(Server::Postgres),
            DbKind::Mongo => Some(Server::Mongo),
        }
    }

    /// Length of the ids this backend generates: 32 lowercase hex (UUID4 without dashes) on
    /// the SQL backends, 24 lowercase hex (an `ObjectId`) on MongoDB (regstack 0.9.3's data model).
    pub fn id_len(self) -> usize {
        match self {
            DbKind::Sqlite | DbKind::Postgres => 32,
            DbKind::Mongo => 24,
        }
    }

    /// The finest time step the backend stores: a microsecond on SQL, a millisecond in BSON.
    pub fn tick(self) -> TimeDelta {
        match self {
            DbKind::Sqlite | DbKind::Postgres => TimeDelta::microseconds(1),
            DbKind::Mongo => TimeDelta::milliseconds(1),
        }
    }

    /// `t` as the backend gives it back (truncated to [`DbKind::tick`]).
    pub fn stored(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let keep = u32::try_from(self.tick().num_nanoseconds().expect("small")).expect("small");
        t - TimeDelta::nanoseconds(i64::from(t.timestamp_subsec_nanos() % keep))
    }
}

/// A fresh, empty, isolated database; its [`url`](FreshDb::url) is what `database_url` gets.
/// PostgreSQL and MongoDB databases are dropped when this is (also while a failing test
/// unwinds), from a thread and runtime of their own.
#[derive(Debug)]
pub struct FreshDb {
    kind: DbKind,
    url: String,
    dir: tempfile::TempDir,
    server: Option<ServerDb>,
}

#[derive(Debug)]
struct ServerDb {
    server: Server,
    /// The server URL (maintenance database for PostgreSQL) used to drop it.
    admin_url: String,
    name: String,
}

/// How long creating a database may take before the test fails.
const CREATE_TIMEOUT: Duration = Duration::from_secs(20);

impl FreshDb {
    /// A fresh database of the kind [`DbKind::from_env`] names.
    pub async fn from_env() -> Self {
        Self::create(DbKind::from_env()).await
    }

    /// A fresh database on `kind`. Panics, naming the server's variable, when its server does
    /// not answer: the backend was asked for by name.
    pub async fn create(kind: DbKind) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let Some(server) = kind.server() else {
            let url = format!("sqlite:///{}", dir.path().join("t.db").display());
            return Self {
                kind,
                url,
                dir,
                server: None,
            };
        };
        if !server.is_reachable() {
            panic!(
                "the {} backend was chosen but no server answers at {}: set {} or run \
                 `cargo xtask ci`, which starts one",
                kind.name(),
                redact(&server.url()),
                server.url_var()
            );
        }
        Self::create_on_server(kind, server, dir).await
    }

    /// [`FreshDb::create`] with the shared skip policy: `None` when the server does not
    /// answer and `CI` is not `true` (see [`Server::require`]).
    pub async fn try_create(kind: DbKind) -> Option<Self> {
        if let Some(server) = kind.server() {
            server.require()?;
        }
        Some(Self::create(kind).await)
    }

    async fn create_on_server(kind: DbKind, server: Server, dir: tempfile::TempDir) -> Self {
        let admin_url = server.url();
        let name = format!("{TEST_DB_PREFIX}{}", regstack_core::token::new_uuid_hex());
        let created = tokio::time::timeout(CREATE_TIMEOUT, async {
            match server {
                Server::Postgres => pg::create(&admin_url, &name).await,
                // MongoDB creates a database on first write.
                Server::Mongo => Ok(()),
            }
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CREATE_TIMEOUT:?}")));
        if let Err(e) = created {
            panic!(
                "cannot create test database {name} on {} ({}): {e}",
                redact(&admin_url),
                server.url_var()
            );
        }
        let url = with_database(&admin_url, &name);
        Self {
            kind,
            url,
            dir,
            server: Some(ServerDb {
                server,
                admin_url,
                name,
            }),
        }
    }

    /// The backend.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// The `database_url` of this database (`sqlite:///…/t.db`,
    /// `postgresql://…/regstack_test_…`, `mongodb://…/regstack_test_…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A temporary directory that lives as long as this (holds the SQLite file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database name on the server (none for SQLite).
    pub fn name(&self) -> Option<&str> {
        self.server.as_ref().map(|s| s.name.as_str())
    }

    /// Open the backend through the facade, as `regstack serve` does: `database_url` is set
    /// to [`FreshDb::url`] in a copy of `config`.
    pub async fn connect(
        &self,
        config: &RegStackConfig,
    ) -> std::sync::Arc<dyn regstack_core::store::Backend> {
        let mut config = config.clone();
        config.database_url = self.url.clone().into();
        regstack::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("connect {} test database: {e}", self.kind.name()))
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let Some(db) = self.server.take() else {
            return;
        };
        if !db.name.starts_with(TEST_DB_PREFIX) {
            return;
        }
        let dropper = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                tokio::time::timeout(CREATE_TIMEOUT, async {
                    match db.server {
                        Server::Postgres => pg::drop(&db.admin_url, &db.name).await,
                        Server::Mongo => mongo::drop(&db.admin_url, &db.name).await,
                    }
                })
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {CREATE_TIMEOUT:?}")))
            })
            .map_err(|e| format!("{}: {e}", db.name))
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {e}"),
            Err(_) => eprintln!("warning: the thread dropping a test database panicked"),
        }
    }
}

/// `url` with its path (the database) set to `/<database>`, keeping scheme, authority and
/// query.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

mod pg {
    use regstack_store_pg::sqlx::{self, AssertSqlSafe, Connection as _, PgConnection};

    /// Run one statement on a connection of its own to the admin database.
    async fn admin_exec(url: &str, sql: String) -> Result<(), String> {
        let options = regstack_store_pg::connect_options(url).map_err(|e| e.to_string())?;
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| e.to_string())?;
        let done = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map(std::mem::drop)
            .map_err(|e| e.to_string());
        let _ = conn.close().await;
        done
    }

    pub(super) async fn create(url: &str, name: &str) -> Result<(), String> {
        admin_exec(url, format!("CREATE DATABASE \"{name}\"")).await
    }

    pub(super) async fn drop(url: &str, name: &str) -> Result<(), String> {
        admin_exec(
            url,
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await
    }
}

mod mongo {
    use std::time::Duration;

    use regstack_store_mongo::mongodb::Client;
    use regstack_store_mongo::mongodb::options::ClientOptions;

    pub(super) async fn drop(url: &str, name: &str) -> Result<(), String> {
        let mut options = ClientOptions::parse(url).await.map_err(|e| e.to_string())?;
        options.server_selection_timeout = Some(Duration::from_secs(5));
        let client = Client::with_options(options).map_err(|e| e.to_string())?;
        let done = client
            .database(name)
            .drop()
            .await
            .map_err(|e| e.to_string());
        client.shutdown().await;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_in_url() {
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mongodb://127.0.0.1:27017", "x"),
            "mongodb://127.0.0.1:27017/x"
        );
        assert_eq!(
            with_database("mongodb://a:1,b:2/?replicaSet=r", "x"),
            "mongodb://a:1,b:2/x?replicaSet=r"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
    }

    #[test]
    fn stored_precision() {
        let t = DateTime::from_timestamp_micros(1_777_630_830_123_456).unwrap();
        assert_eq!(DbKind::Sqlite.stored(t), t);
        assert_eq!(
            DbKind::Mongo.stored(t),
            DateTime::from_timestamp_micros(1_777_630_830_123_000).unwrap()
        );
    }

    #[test]
    fn names() {
        for k in DbKind::ALL {
            assert_eq!(DbKind::from_name(k.name()), Some(k));
        }
        assert_eq!(DbKind::from_name("mysql"), None);
    }
}
