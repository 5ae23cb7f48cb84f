// Shared by the integration tests of this crate (included with `mod common;`).
#![allow(dead_code)]

//! Every test runs on a database of its own: [`TestDb::create`] connects to the maintenance
//! database named by `REGSTACK_TEST_PG_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/postgres`), creates `regstack_test_<32 hex>` and
//! drops it (`WITH (FORCE)`) when the guard is dropped, so tests run in parallel without
//! seeing each other's rows or locks.
//!
//! Without a server the tests skip (return early), except under `CI=true`, where they fail
//! naming the variable: the shared policy of `regstack_store_tests::servers`.

use std::path::PathBuf;
use std::time::Duration;

use regstack_core::store::{Backend as _, Stores};
use regstack_store_pg::sqlx::postgres::PgConnectOptions;
use regstack_store_pg::sqlx::{self, AssertSqlSafe, Connection as _, PgConnection};
use regstack_store_pg::{PgBackend, connect_options};
use regstack_store_tests::servers::Server;

/// The environment variable naming the maintenance database of the test server.
pub const URL_VAR: &str = "REGSTACK_TEST_PG_URL";

/// The maintenance database used when [`URL_VAR`] is unset.
pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// How long connecting to the server may take before the test fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool size of a test backend (kept small: tests run in parallel and PostgreSQL allows 100
/// connections by default; the concurrency cases still race 50 tasks over it).
pub const TEST_POOL_SIZE: u32 = 5;

/// The regstack 0.9.3 fixture folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/regstack-0.9.3")
}

/// The maintenance URL (from [`URL_VAR`] or [`DEFAULT_URL`]).
pub fn maintenance_url() -> String {
    Server::Postgres.url()
}

fn maintenance_options() -> PgConnectOptions {
    connect_options(&maintenance_url()).unwrap_or_else(|e| {
        panic!(
            "{URL_VAR} is not a postgresql:// URL of the test server's maintenance database: {e}"
        )
    })
}

/// Open one connection, failing within [`CONNECT_TIMEOUT`].
async fn connect(options: &PgConnectOptions) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Whether `name` is a database name this module made (and so safe to quote and drop).
fn is_test_db_name(name: &str) -> bool {
    name.strip_prefix("regstack_test_")
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh, empty database on the test server; dropped with the guard.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    admin: PgConnectOptions,
}

impl TestDb {
    /// Create `regstack_test_<random>`; `None` (skip the test) when no server answers and
    /// `CI` is not `true` ([`Server::require`], which panics naming [`URL_VAR`] under
    /// `CI=true`).
    pub async fn create() -> Option<Self> {
        Server::Postgres.require()?;
        Some(Self::create_on(maintenance_options()).await)
    }

    /// [`TestDb::create`] through the maintenance database at `admin`.
    pub async fn create_on(admin: PgConnectOptions) -> Self {
        let mut conn = connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server: cannot connect to {}:{} as {:?} ({e}). \
                 Start one or point {URL_VAR} at a maintenance database \
                 (default {DEFAULT_URL}) of a user allowed to CREATE DATABASE.",
                admin.get_host(),
                admin.get_port(),
                admin.get_username(),
            )
        });
        let name = format!("regstack_test_{}", regstack_core::token::new_uuid_hex());
        assert!(is_test_db_name(&name));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        Self { name, admin }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connect options for this database.
    pub fn options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.name)
    }

    /// A single connection to this database (for raw setup such as loading a dump).
    pub async fn connection(&self) -> PgConnection {
        connect(&self.options())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }

    /// A backend on this database with a pool of [`TEST_POOL_SIZE`]; no schema installed.
    pub async fn backend(&self) -> PgBackend {
        let pool = PgBackend::pool_options()
            .max_connections(TEST_POOL_SIZE)
            .acquire_timeout(Duration::from_secs(20))
            .connect_with(self.options())
            .await
            .unwrap_or_else(|e| panic!("pool on {}: {e}", self.name));
        PgBackend::from_pool(pool)
    }

    /// The URL of this database, in `scheme` (for the URL-form tests).
    pub fn url(&self, scheme: &str) -> String {
        let o = self.options();
        format!(
            "{scheme}://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            self.name
        )
    }
}

impl Drop for TestDb {
    /// Drop the database from a thread of its own with a private runtime (the test's runtime
    /// may be shutting down or this may run while unwinding), `WITH (FORCE)` so connections a
    /// pool still holds do not block it. Failures are reported, never panicked on.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        if !is_test_db_name(&name) {
            return;
        }
        let admin = self.admin.clone();
        let dropper = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut conn = connect(&admin).await?;
                let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(drop)
                .map_err(|e| e.to_string());
                let _ = conn.close().await;
                dropped
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database: {e}"),
            Err(_) => eprintln!("warning: the thread dropping a test database panicked"),
        }
    }
}

/// The conformance factory: a fresh database with the schema installed (`None`: skip).
pub async fn fresh() -> Option<(Stores, (PgBackend, TestDb))> {
    let db = TestDb::create().await?;
    let backend = db.backend().await;
    backend.install_schema().await.expect("install_schema");
    Some((backend.stores(), (backend, db)))
}

/// A readable listing of everything the schema defines in `public`: relations, columns (type,
/// nullability, default), constraints, indexes and sequences (not their current values).
pub async fn catalog(backend: &PgBackend) -> Vec<String> {
    sqlx::query_scalar(
        r#"
        SELECT format('relation %s kind %s', c.relname, c.relkind)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
        UNION ALL
        SELECT format('column %s.%s #%s %s%s%s', c.relname, a.attname, a.attnum,
                      format_type(a.atttypid, a.atttypmod),
                      CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                      COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('constraint %s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
          FROM pg_constraint con
          JOIN pg_class c ON c.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
        UNION ALL
        SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL
        SELECT format('sequence %s %s start %s min %s max %s inc %s cycle %s cache %s',
                      sequencename, data_type, start_value, min_value, max_value,
                      increment_by, cycle, cache_size)
          FROM pg_sequences WHERE schemaname = 'public'
        UNION ALL
        SELECT format('owned %s by %s.%s', s.relname, t.relname, a.attname)
          FROM pg_depend d
          JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
          JOIN pg_namespace n ON n.oid = s.relnamespace
         WHERE n.nspname = 'public' AND d.deptype = 'a'
        ORDER BY 1
        "#,
    )
    .fetch_all(backend.pool())
    .await
    .expect("catalog listing")
}

/// Every row of every regstack table (as JSON text, sorted), the sequences' positions and the
/// physical location of each row (`ctid`, which an `UPDATE` changes), to prove that something
/// left the data alone.
pub async fn data(backend: &PgBackend) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "alembic_version",
        "users",
        "pending_registrations",
        "token_blacklist",
        "login_attempts",
        "mfa_codes",
        "oauth_identities",
        "oauth_states",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT format('{table} %s %s', t.ctid, row_to_json(t)) FROM {table} t ORDER BY 1"
        )))
        .fetch_all(backend.pool())
        .await
        .unwrap_or_else(|e| panic!("rows of {table}: {e}"));
        out.extend(rows);
    }
    let seqs: Vec<String> = sqlx::query_scalar(
        "SELECT format('sequence %s at %s', sequencename, last_value) FROM pg_sequences \
         WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(backend.pool())
    .await
    .expect("sequences");
    out.extend(seqs);
    out
}

/// Load a `pg_dump` file into `db` on a connection of its own (the dumps set `search_path`
/// for their session); psql meta-commands (`\restrict`, …) are skipped.
pub async fn load_dump(db: &TestDb, file: &str) {
    let text = std::fs::read_to_string(fixtures().join(file)).expect("dump file");
    let sql: String = text
        .lines()
        .filter(|l| !l.starts_with('\\'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut conn = db.connection().await;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("load {file}: {e}"));
    let _ = conn.close().await;
}
