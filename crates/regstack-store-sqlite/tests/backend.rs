//! Schema installation, stored value formats, URL forms and write serialisation.

mod common;

use chrono::{Duration, TimeZone as _, Utc};
use regstack_core::domain::{NewPending, NewUser};
use regstack_core::store::{Backend as _, StoreError};
use regstack_store_sqlite::sqlx::{self, Row as _};
use regstack_store_sqlite::{HEAD_REVISION, REVISIONS, SqliteBackend};

use common::{master, master_with_pages, url_for};

#[tokio::test]
async fn install_schema_on_a_fresh_file_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub-dir-less.db");
    assert!(!path.exists());
    let backend = SqliteBackend::connect(&url_for(&path))
        .await
        .expect("connect");
    assert!(path.exists(), "the file is created");
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current, None);
    assert_eq!(status.head, HEAD_REVISION);
    assert!(!status.is_at_head());

    backend.install_schema().await.expect("install");
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current.as_deref(), Some("0003"));
    assert!(status.is_at_head());
    let first = master_with_pages(&backend).await;
    backend.install_schema().await.expect("install again");
    assert_eq!(master_with_pages(&backend).await, first);
    let versions: Vec<String> = sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_all(backend.reader_pool())
        .await
        .expect("alembic_version");
    assert_eq!(versions, ["0003"]);
    backend.ping().await.expect("ping");
    backend.close().await;

    // Re-opening finds it at head.
    let reopened = SqliteBackend::connect(&url_for(&path))
        .await
        .expect("reopen");
    assert!(reopened.schema_status().await.expect("status").is_at_head());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(reopened.writer_pool())
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn upgrades_a_database_left_at_0001() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = SqliteBackend::connect(&url_for(&dir.path().join("old.db")))
        .await
        .expect("connect");
    sqlx::raw_sql(REVISIONS[0].sql)
        .execute(backend.writer_pool())
        .await
        .expect("apply 0001");
    sqlx::query(
        "INSERT INTO users VALUES ('0123456789abcdef0123456789abcdef', 'old@example.com', \
         '$argon2id$x', 1, 0, 0, NULL, NULL, 0, '2026-05-01 10:00:00.000001', \
         '2026-05-01 10:00:00.000001', NULL, NULL)",
    )
    .execute(backend.writer_pool())
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
    // 0002 made the password nullable.
    let mut oauth_only = NewUser::new("oauth@example.com", None, old.created_at);
    oauth_only.is_verified = true;
    stores
        .users
        .create(oauth_only)
        .await
        .expect("oauth-only user");

    // The result is the same schema as a fresh install.
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh = SqliteBackend::connect(&url_for(&fresh_dir.path().join("f.db")))
        .await
        .expect("connect");
    fresh.install_schema().await.expect("install");
    assert_eq!(master(&backend).await, master(&fresh).await);
}

#[tokio::test]
async fn a_newer_revision_is_a_schema_error() {
    let backend = SqliteBackend::connect("sqlite:///:memory:")
        .await
        .expect("connect");
    backend.install_schema().await.expect("install");
    sqlx::query("UPDATE alembic_version SET version_num = '0004'")
        .execute(backend.writer_pool())
        .await
        .expect("pretend a newer regstack migrated it");
    let err = backend.install_schema().await.expect_err("refused");
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("0004"), "{err}");
    let status = backend.schema_status().await.expect("status still works");
    assert_eq!(status.current.as_deref(), Some("0004"));
    assert!(!status.is_at_head());
}

#[tokio::test]
async fn stored_values_use_093_formats() {
    let backend = SqliteBackend::connect("sqlite+aiosqlite:///:memory:")
        .await
        .expect("connect");
    backend.install_schema().await.expect("install");
    let stores = backend.stores();
    let t = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let user = stores
        .users
        .create(NewUser::new(
            "fmt@example.com",
            None,
            t + Duration::nanoseconds(1_500),
        ))
        .await
        .expect("create");
    assert_eq!(user.id.len(), 32);
    assert!(
        user.id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    let row = sqlx::query(
        "SELECT created_at, typeof(created_at), is_active, typeof(is_active), \
         typeof(last_login) FROM users",
    )
    .fetch_one(backend.reader_pool())
    .await
    .expect("raw row");
    assert_eq!(row.get::<String, _>(0), "2026-05-01 10:00:00.000001");
    assert_eq!(row.get::<String, _>(1), "text");
    assert_eq!(row.get::<i64, _>(2), 1);
    assert_eq!(row.get::<String, _>(3), "integer");
    assert_eq!(row.get::<String, _>(4), "null");

    stores.revocations.revoke("j", t).await.expect("revoke");
    let id: (i64, String) = sqlx::query_as("SELECT id, exp FROM token_blacklist")
        .fetch_one(backend.reader_pool())
        .await
        .expect("blacklist row");
    assert_eq!(id, (1, "2026-05-01 10:00:00.000000".to_owned()));
}

#[tokio::test]
async fn datetimes_written_by_others_are_read_tolerantly() {
    let backend = SqliteBackend::connect("sqlite://").await.expect("connect");
    backend.install_schema().await.expect("install");
    for (i, stored) in [
        "2026-05-01 10:00:00",
        "2026-05-01T10:00:00",
        "2026-05-01T10:00:00.000000+00:00",
        "2026-05-01T12:00:00+02:00",
        "2026-05-01 10:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        sqlx::query("INSERT INTO token_blacklist (jti, exp) VALUES (?, ?)")
            .bind(format!("j{i}"))
            .bind(*stored)
            .execute(backend.writer_pool())
            .await
            .expect("insert");
        sqlx::query(r#"INSERT INTO login_attempts (email, "when", ip) VALUES (?, ?, NULL)"#)
            .bind(format!("e{i}@example.com"))
            .bind(*stored)
            .execute(backend.writer_pool())
            .await
            .expect("insert");
        let when = backend
            .stores()
            .login_attempts
            .failures_since(
                &format!("e{i}@example.com"),
                Utc.timestamp_opt(0, 0).unwrap(),
            )
            .await
            .expect("read");
        assert_eq!(
            when,
            vec![Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()],
            "{stored}"
        );
    }
    sqlx::query(r#"INSERT INTO login_attempts (email, "when") VALUES ('bad@example.com', 'soon')"#)
        .execute(backend.writer_pool())
        .await
        .expect("insert");
    let err = backend
        .stores()
        .login_attempts
        .failures_since("bad@example.com", Utc.timestamp_opt(0, 0).unwrap())
        .await
        .expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn bad_urls_are_refused() {
    for url in ["sqlite://host/x.db", "mysql://x", "sqlite:///x.db?mode=ro"] {
        let err = SqliteBackend::connect(url).await.expect_err(url);
        assert!(matches!(err, StoreError::Backend(_)), "{url}: {err:?}");
    }
    // A missing parent directory is a driver error, not a panic.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url_for(&dir.path().join("missing/dir/x.db"));
    assert!(SqliteBackend::connect(&url).await.is_err());
}

#[tokio::test]
async fn memory_databases_are_isolated_and_persistent() {
    let a = SqliteBackend::connect("sqlite+aiosqlite:///:memory:")
        .await
        .expect("a");
    let b = SqliteBackend::connect("sqlite:///:memory:")
        .await
        .expect("b");
    a.install_schema().await.expect("install a");
    assert_eq!(b.schema_status().await.expect("b").current, None);
    let now = Utc::now();
    a.stores()
        .users
        .create(NewUser::new("m@example.com", None, now))
        .await
        .expect("create");
    // Idle for a moment: the single connection (and so the data) must stay.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(a.stores().users.count().await.expect("count"), 1);
}

/// Two backends on one file behave like two server processes: each has its own writer
/// connection, so their writes contend on SQLite's lock. `BEGIN IMMEDIATE` plus the busy
/// timeout must absorb that: no "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_backends_on_one_file_never_see_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url_for(&dir.path().join("shared.db"));
    let first = SqliteBackend::connect(&url).await.expect("first");
    first.install_schema().await.expect("install");
    let second = SqliteBackend::connect(&url).await.expect("second");
    second
        .install_schema()
        .await
        .expect("install again (no-op)");
    let t = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..120u32 {
        let stores = if i % 2 == 0 {
            first.stores()
        } else {
            second.stores()
        };
        tasks.spawn(async move {
            let email = format!("user{}@example.com", i % 30);
            stores
                .pending
                .upsert(NewPending {
                    email: email.clone(),
                    hashed_password: "h".to_owned(),
                    full_name: None,
                    token_hash: regstack_core::token::sha256_hex(&format!("t{i}")),
                    created_at: t,
                    expires_at: t + Duration::hours(1),
                })
                .await?;
            stores
                .revocations
                .revoke(&format!("jti{}", i % 40), t)
                .await?;
            stores.login_attempts.record(&email, t, None).await?;
            stores.pending.find_by_email(&email).await?;
            stores.login_attempts.failures_since(&email, t).await?;
            Ok::<_, StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("no store error");
    }
    assert_eq!(
        first
            .stores()
            .pending
            .count_unexpired(t)
            .await
            .expect("count"),
        30
    );
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts")
        .fetch_one(second.reader_pool())
        .await
        .expect("count");
    assert_eq!(attempts, 120);
    first.close().await;
    second.close().await;
}
