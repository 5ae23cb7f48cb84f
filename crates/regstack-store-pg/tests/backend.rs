//! Schema installation (fresh, upgrade, unknown revision, racing installers), connecting by
//! URL, and the concurrency guarantees specific to this backend.

mod common;

use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use regstack_core::domain::{MfaKind, NewPending, NewUser};
use regstack_core::store::{Backend as _, StoreError};
use regstack_store_pg::sqlx::{self, Connection as _};
use regstack_store_pg::{HEAD_REVISION, PgBackend, REVISIONS, SCHEMA_LOCK_KEY};

use common::{TestDb, catalog, data};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::microseconds(123_456)
}

async fn alembic_versions(backend: &PgBackend) -> Vec<String> {
    sqlx::query_scalar("SELECT version_num FROM alembic_version ORDER BY 1")
        .fetch_all(backend.pool())
        .await
        .expect("alembic_version")
}

#[tokio::test]
async fn install_schema_on_a_fresh_database_twice() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let backend = db.backend().await;
    assert_eq!(backend.name(), "postgres");
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current, None);
    assert_eq!(status.head, HEAD_REVISION);
    assert!(!status.is_at_head());

    backend.install_schema().await.expect("install");
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current.as_deref(), Some("0003"));
    assert!(status.is_at_head());
    let schema = catalog(&backend).await;
    let rows = data(&backend).await;
    backend.install_schema().await.expect("install again");
    assert_eq!(catalog(&backend).await, schema);
    assert_eq!(data(&backend).await, rows);
    assert_eq!(alembic_versions(&backend).await, ["0003"]);
    backend.ping().await.expect("ping");
    backend.close().await;
    assert!(backend.ping().await.is_err(), "closed");
}

#[tokio::test]
async fn upgrades_a_database_left_at_0001() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let backend = db.backend().await;
    sqlx::raw_sql(REVISIONS[0].sql)
        .execute(backend.pool())
        .await
        .expect("apply 0001");
    sqlx::query(
        "INSERT INTO users VALUES ('0123456789abcdef0123456789abcdef', 'old@example.com', \
         '$argon2id$x', true, false, false, NULL, NULL, false, \
         '2026-05-01 10:00:00.000001+00', '2026-05-01 10:00:00.000001+00', NULL, NULL)",
    )
    .execute(backend.pool())
    .await
    .expect("insert 0001-era user");
    assert_eq!(
        backend
            .schema_status()
            .await
            .expect("status")
            .current
            .as_deref(),
        Some("0001")
    );

    backend.install_schema().await.expect("upgrade");
    assert!(backend.schema_status().await.expect("status").is_at_head());
    let stores = backend.stores();
    let old = stores
        .users
        .get_by_email("old@example.com")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(old.hashed_password.as_deref(), Some("$argon2id$x"));
    assert_eq!(
        old.created_at,
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::microseconds(1)
    );
    // 0002 made the password nullable.
    stores
        .users
        .create(NewUser::new("oauth@example.com", None, t0()))
        .await
        .expect("oauth-only user");

    // The result is the same schema as a fresh install.
    let fresh_db = TestDb::create().await.expect("server answered");
    let fresh = fresh_db.backend().await;
    fresh.install_schema().await.expect("fresh install");
    assert_eq!(catalog(&backend).await, catalog(&fresh).await);
}

#[tokio::test]
async fn an_unknown_revision_is_a_schema_error() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let backend = db.backend().await;
    backend.install_schema().await.expect("install");
    sqlx::query("UPDATE alembic_version SET version_num = '0004'")
        .execute(backend.pool())
        .await
        .expect("stamp 0004");
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current.as_deref(), Some("0004"));
    assert!(!status.is_at_head());
    let schema = catalog(&backend).await;
    match backend.install_schema().await {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("0004"), "{msg}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert_eq!(catalog(&backend).await, schema);

    sqlx::query("INSERT INTO alembic_version VALUES ('0003')")
        .execute(backend.pool())
        .await
        .expect("second row");
    assert!(matches!(
        backend.schema_status().await,
        Err(StoreError::Schema(_))
    ));
    assert!(matches!(
        backend.install_schema().await,
        Err(StoreError::Schema(_))
    ));
}

/// Several processes starting at once on an empty database: every installer succeeds and the
/// schema is installed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_installers_all_succeed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = db.backend().await;
    let b = db.backend().await;
    let c = PgBackend::connect(&db.url("postgresql+asyncpg"))
        .await
        .expect("third backend");
    let (ra, rb, rc) = tokio::join!(a.install_schema(), b.install_schema(), c.install_schema());
    ra.expect("first installer");
    rb.expect("second installer");
    rc.expect("third installer");
    for backend in [&a, &b, &c] {
        assert!(backend.schema_status().await.expect("status").is_at_head());
    }
    assert_eq!(alembic_versions(&a).await, ["0003"]);
    let reference = TestDb::create().await.expect("server answered");
    let fresh = reference.backend().await;
    fresh.install_schema().await.expect("reference install");
    assert_eq!(catalog(&a).await, catalog(&fresh).await);
    c.close().await;
}

/// `install_schema` waits for the schema advisory lock held by another session (another
/// process mid-migration), then finds the schema installed and does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_schema_waits_for_the_advisory_lock() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let backend = db.backend().await;
    let mut other = db.connection().await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SCHEMA_LOCK_KEY)
        .execute(&mut other)
        .await
        .expect("lock");
    let installer = {
        let backend = backend.clone();
        tokio::spawn(async move { backend.install_schema().await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !installer.is_finished(),
        "install_schema must wait for the lock"
    );
    assert_eq!(backend.schema_status().await.expect("status").current, None);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SCHEMA_LOCK_KEY)
        .execute(&mut other)
        .await
        .expect("unlock");
    tokio::time::timeout(Duration::from_secs(20), installer)
        .await
        .expect("install_schema finishes after the lock is released")
        .expect("task")
        .expect("install");
    assert!(backend.schema_status().await.expect("status").is_at_head());
    let _ = other.close().await;
}

#[tokio::test]
async fn connects_with_every_url_form() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    for scheme in [
        "postgresql",
        "postgres",
        "postgresql+asyncpg",
        "POSTGRESQL+ASYNCPG",
    ] {
        let backend = PgBackend::connect_with(&db.url(scheme), 2)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
        backend.ping().await.expect("ping");
        assert_eq!(backend.pool().options().get_max_connections(), 2);
        backend.close().await;
    }
    let backend = PgBackend::connect(&db.url("postgresql"))
        .await
        .expect("connect");
    assert_eq!(
        backend.pool().options().get_max_connections(),
        regstack_store_pg::DEFAULT_MAX_CONNECTIONS
    );
    backend.close().await;
    assert!(matches!(
        PgBackend::connect("mysql://root@127.0.0.1/x").await,
        Err(StoreError::Backend(_))
    ));
}

/// Without a server the test factory fails at once, naming the variable that points it
/// elsewhere (nothing listens on port 1, so the connection is refused).
#[tokio::test]
async fn the_test_factory_fails_fast_without_a_server() {
    let started = std::time::Instant::now();
    let admin = regstack_store_pg::connect_options("postgresql://postgres@127.0.0.1:1/postgres")
        .expect("options");
    let err = tokio::spawn(TestDb::create_on(admin))
        .await
        .expect_err("no server, no database");
    assert!(started.elapsed() < Duration::from_secs(10));
    let payload = err.into_panic();
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains(common::URL_VAR), "{msg}");
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
}

/// 100 concurrent upserts of one email (half of them with the same digest) all succeed and
/// leave exactly one row, carrying one of the upserted ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_of_one_email_leave_one_row() {
    let Some((stores, guard)) = common::fresh().await else {
        return;
    };
    let backend = guard.0.clone();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let stores = stores.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let seed = if i % 2 == 0 {
                "same".to_owned()
            } else {
                format!("t{i}")
            };
            barrier.wait().await;
            stores
                .pending
                .upsert(NewPending {
                    email: "racer@example.com".to_owned(),
                    hashed_password: "h".to_owned(),
                    full_name: None,
                    token_hash: regstack_core::token::sha256_hex(&seed),
                    created_at: t0(),
                    expires_at: t0() + chrono::Duration::hours(1),
                })
                .await
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = tasks.join_next().await {
        ids.push(done.expect("task").expect("no upsert fails").id);
    }
    let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM pending_registrations")
        .fetch_all(backend.pool())
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert!(ids.contains(&rows[0]));
    let row = stores
        .pending
        .find_by_email("racer@example.com")
        .await
        .expect("find")
        .expect("row");
    assert_eq!(row.id, rows[0]);
    drop(guard);
}

/// Concurrent creates of one email: one wins, the rest are conflicts (SQLSTATE 23505).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_users_conflict() {
    let Some((stores, _guard)) = common::fresh().await else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let stores = stores.clone();
        tasks.spawn(async move {
            stores
                .users
                .create(NewUser::new("dup@example.com", None, t0()))
                .await
        });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(what)) => {
                assert_eq!(what, "user");
                conflicts += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 29));
}

/// Stored forms: 32-hex ids, `TIMESTAMPTZ` instants with microseconds, native booleans, and a
/// replaced MFA code gets a new serial id (as 0.9.3's delete + insert did).
#[tokio::test]
async fn stored_values_are_093s() {
    let Some((stores, (backend, _db))) = common::fresh().await else {
        return;
    };
    let user = stores
        .users
        .create(NewUser::new("fmt@example.com", None, t0()))
        .await
        .expect("create");
    assert_eq!(user.id.len(), 32);
    assert!(
        user.id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    let (created, active): (String, bool) = sqlx::query_as(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), is_active \
         FROM users WHERE id = $1",
    )
    .bind(&user.id)
    .fetch_one(backend.pool())
    .await
    .expect("row");
    assert_eq!(created, "2026-05-01 10:00:00.123456");
    assert!(active);

    let code = regstack_store_tests::support::mfa_code(
        &user.id,
        MfaKind::LoginMfa,
        t0(),
        chrono::Duration::minutes(5),
    );
    stores.mfa_codes.put(code.clone()).await.expect("put");
    let first: i32 = sqlx::query_scalar("SELECT id FROM mfa_codes")
        .fetch_one(backend.pool())
        .await
        .expect("id");
    stores
        .mfa_codes
        .increment_attempts(&user.id, MfaKind::LoginMfa)
        .await
        .expect("increment");
    stores.mfa_codes.put(code.clone()).await.expect("put again");
    let second: i32 = sqlx::query_scalar("SELECT id FROM mfa_codes")
        .fetch_one(backend.pool())
        .await
        .expect("id");
    assert_ne!(first, second);
    assert_eq!(
        stores
            .mfa_codes
            .get(&user.id, MfaKind::LoginMfa)
            .await
            .expect("get"),
        Some(code),
        "the replacement resets attempts"
    );
}
