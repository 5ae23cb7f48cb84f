//! `sqlite+aiosqlite:///./rel.db` is relative to the current directory. Alone in its test
//! binary because it changes the process's current directory.

use regstack_core::store::Backend as _;
use regstack_store_sqlite::SqliteBackend;

#[tokio::test]
async fn relative_url_is_relative_to_the_current_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_current_dir(dir.path()).expect("chdir");
    for (url, file) in [
        ("sqlite+aiosqlite:///./rel.db", "rel.db"),
        ("sqlite:///plain.db", "plain.db"),
    ] {
        let backend = SqliteBackend::connect(url).await.expect(url);
        backend.install_schema().await.expect("install");
        backend.close().await;
        assert!(dir.path().join(file).is_file(), "{url} created {file}");
    }
}
