//! `database_url` picks the backend by its scheme exactly as regstack 0.9.3 does
//! (regstack 0.9.3's data model), and a URL that cannot be served is a start-up error: an unknown
//! scheme names itself, a backend compiled out names the feature to enable.
//!
//! Connecting to real PostgreSQL and MongoDB servers through `regstack::connect` is tested in
//! the end-to-end crate (`tests/tests/facade.rs`), which has fresh databases to connect to.

use regstack::{BackendKind, Error, RegStackConfig, backend_kind};

#[test]
fn every_093_url_form_picks_its_backend() {
    for (url, kind) in [
        // MongoDB
        ("mongodb://localhost:27017/app", BackendKind::Mongo),
        (
            "mongodb://user:pw@h1:27017,h2:27017/app?replicaSet=rs0",
            BackendKind::Mongo,
        ),
        ("mongodb+srv://cluster0.example.net/app", BackendKind::Mongo),
        ("MongoDB://localhost/app", BackendKind::Mongo),
        ("MONGODB+SRV://cluster0.example.net", BackendKind::Mongo),
        // PostgreSQL
        ("postgresql://postgres@localhost/app", BackendKind::Postgres),
        (
            "postgresql+asyncpg://app:secret@db:5432/app",
            BackendKind::Postgres,
        ),
        ("postgres://localhost/app", BackendKind::Postgres),
        ("PostgreSQL+AsyncPG://localhost/app", BackendKind::Postgres),
        ("POSTGRES://localhost/app", BackendKind::Postgres),
        // SQLite
        ("sqlite+aiosqlite:///./regstack.db", BackendKind::Sqlite),
        ("sqlite+aiosqlite:////var/lib/app.db", BackendKind::Sqlite),
        ("sqlite+aiosqlite:///:memory:", BackendKind::Sqlite),
        ("sqlite:///./regstack.db", BackendKind::Sqlite),
        ("SQLite+AioSQLite:///x.db", BackendKind::Sqlite),
    ] {
        assert_eq!(backend_kind(url).unwrap(), kind, "{url}");
    }
}

#[test]
fn other_schemes_are_refused_naming_the_scheme() {
    for (url, scheme) in [
        ("mysql://root@localhost/app", "mysql"),
        ("postgresql+psycopg2://localhost/app", "postgresql+psycopg2"),
        ("sqlite+pysqlite:///x.db", "sqlite+pysqlite"),
        ("mongo://localhost/app", "mongo"),
        ("redis://localhost", "redis"),
        ("HTTP://example.com", "http"),
    ] {
        match backend_kind(url) {
            Err(Error::UnknownScheme(s)) => assert_eq!(s, scheme, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
        let message = backend_kind(url).unwrap_err().to_string();
        assert!(
            message.contains(&format!("unrecognised database_url scheme `{scheme}`")),
            "{message}"
        );
    }
    for url in [
        "",
        "regstack.db",
        "sqlite:regstack.db",
        "localhost:5432/app",
    ] {
        assert!(
            matches!(backend_kind(url), Err(Error::UnknownScheme(_))),
            "{url:?}"
        );
    }
}

#[tokio::test]
async fn connect_refuses_an_unknown_scheme_before_any_io() {
    let config = RegStackConfig {
        database_url: "mysql://root@127.0.0.1:1/app".to_owned().into(),
        ..RegStackConfig::default()
    };
    let err = regstack::connect(&config).await.expect_err("refused");
    assert!(
        matches!(err, Error::UnknownScheme(ref s) if s == "mysql"),
        "{err}"
    );
}

/// Built without a backend's feature, its URLs are refused at start-up naming the feature
/// (`cargo xtask ci` runs this file with `--no-default-features --features sqlite,axum`).
#[tokio::test]
async fn a_backend_compiled_out_names_its_feature() {
    let cases: &[(&str, &str, bool)] = &[
        (
            "postgresql+asyncpg://postgres@127.0.0.1:1/app",
            "postgres",
            cfg!(feature = "postgres"),
        ),
        (
            "mongodb://127.0.0.1:1/app",
            "mongo",
            cfg!(feature = "mongo"),
        ),
        (
            "sqlite+aiosqlite:///:memory:",
            "sqlite",
            cfg!(feature = "sqlite"),
        ),
    ];
    for &(url, feature, enabled) in cases {
        if enabled {
            continue;
        }
        let config = RegStackConfig {
            database_url: url.to_owned().into(),
            ..RegStackConfig::default()
        };
        let err = regstack::connect(&config).await.expect_err("refused");
        match &err {
            Error::MissingFeature { feature: f, .. } => assert_eq!(*f, feature, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
        assert!(
            err.to_string().contains(&format!(
                "needs the `{feature}` feature of the regstack crate"
            )),
            "{err}"
        );
    }
}
