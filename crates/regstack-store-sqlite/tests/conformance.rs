//! The shared conformance suite on SQLite: each test on a fresh temporary database file, and
//! once more on `:memory:`.

use regstack_core::store::{Backend as _, Stores};
use regstack_store_sqlite::SqliteBackend;

async fn fresh_file() -> (Stores, (SqliteBackend, tempfile::TempDir)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite+aiosqlite:///{}",
        dir.path().join("conformance.db").display()
    );
    let backend = SqliteBackend::connect(&url).await.expect("connect");
    backend.install_schema().await.expect("install_schema");
    (backend.stores(), (backend, dir))
}

async fn fresh_memory() -> (Stores, SqliteBackend) {
    let backend = SqliteBackend::connect("sqlite+aiosqlite:///:memory:")
        .await
        .expect("connect");
    backend.install_schema().await.expect("install_schema");
    (backend.stores(), backend)
}

mod file {
    use super::*;
    regstack_store_tests::conformance_tests!(fresh_file());
}

mod memory {
    use super::*;
    regstack_store_tests::conformance_tests!(fresh_memory());
}
