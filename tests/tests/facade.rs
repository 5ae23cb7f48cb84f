//! `regstack::connect` / `regstack::from_config` reach the real servers through every URL form
//! regstack 0.9.3 accepts for them, each on a fresh database of its own. Without a server these
//! skip, except under `CI=true` (`regstack_store_tests::servers`).

use regstack::flows::RegisterInput;
use regstack::{Backend, RegStackConfig};
use regstack_e2e::{DbKind, FreshDb, PASSWORD, test_config};

/// `url` with its scheme replaced by `scheme`.
fn with_scheme(url: &str, scheme: &str) -> String {
    let (_, rest) = url.split_once("://").expect("a url");
    format!("{scheme}://{rest}")
}

async fn connect(url: &str) -> std::sync::Arc<dyn Backend> {
    let config = RegStackConfig {
        database_url: url.to_owned().into(),
        ..test_config()
    };
    regstack::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

#[tokio::test]
async fn every_postgres_url_form_reaches_the_server() {
    let Some(db) = FreshDb::try_create(DbKind::Postgres).await else {
        return;
    };
    for scheme in [
        "postgresql+asyncpg",
        "postgresql",
        "postgres",
        "PostgreSQL+AsyncPG",
    ] {
        let url = with_scheme(db.url(), scheme);
        let backend = connect(&url).await;
        assert_eq!(backend.name(), "postgres", "{url}");
        backend.ping().await.expect("ping");
        backend.install_schema().await.expect("install_schema");
        assert!(backend.schema_status().await.unwrap().is_at_head());
        backend.close().await;
    }
}

#[tokio::test]
async fn mongodb_urls_reach_the_server() {
    let Some(db) = FreshDb::try_create(DbKind::Mongo).await else {
        return;
    };
    for scheme in ["mongodb", "MongoDB"] {
        let url = with_scheme(db.url(), scheme);
        let backend = connect(&url).await;
        assert_eq!(backend.name(), "mongo", "{url}");
        backend.ping().await.expect("ping");
        backend.install_schema().await.expect("install_schema");
        assert!(backend.schema_status().await.unwrap().is_at_head());
        backend.close().await;
    }
}

/// A whole instance from configuration alone, as `regstack serve` builds it: an account made
/// through it is stored on the server.
#[tokio::test]
async fn from_config_runs_on_each_server() {
    for kind in [DbKind::Postgres, DbKind::Mongo] {
        let Some(db) = FreshDb::try_create(kind).await else {
            continue;
        };
        let url = match kind {
            DbKind::Postgres => with_scheme(db.url(), "postgresql+asyncpg"),
            _ => db.url().to_owned(),
        };
        let config = RegStackConfig {
            database_url: url.into(),
            require_verification: false,
            ..test_config()
        };
        let rs = regstack::from_config(config).await.expect("from_config");
        rs.install_schema().await.expect("install_schema");
        assert_eq!(rs.backend().map(|b| b.name()), Some(kind.name()));
        rs.register(RegisterInput {
            email: "carol@example.com".try_into().unwrap(),
            password: PASSWORD.try_into().unwrap(),
            full_name: None,
        })
        .await
        .expect("register");
        let stored = rs
            .stores()
            .users
            .get_by_email("carol@example.com")
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.id.len(), kind.id_len());
    }
}
