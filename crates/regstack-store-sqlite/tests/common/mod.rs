// Shared by the integration tests of this crate (included with `mod common;`).
#![allow(dead_code)]

use std::path::PathBuf;

use regstack_store_sqlite::SqliteBackend;
use regstack_store_sqlite::sqlx::{self, Row as _};

/// The regstack 0.9.3 fixture folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/regstack-0.9.3")
}

/// `sqlite_master` as `(type, name, tbl_name, sql)` rows, ordered by name.
pub async fn master(backend: &SqliteBackend) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .fetch_all(backend.reader_pool())
        .await
        .expect("sqlite_master")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// `sqlite_master` including root pages (a rebuilt table gets a new root page).
pub async fn master_with_pages(
    backend: &SqliteBackend,
) -> Vec<(String, String, i64, Option<String>)> {
    sqlx::query("SELECT type, name, rootpage, sql FROM sqlite_master ORDER BY rowid")
        .fetch_all(backend.reader_pool())
        .await
        .expect("sqlite_master")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// A file URL in 0.9.3's absolute form.
pub fn url_for(path: &std::path::Path) -> String {
    format!("sqlite+aiosqlite:///{}", path.display())
}
