// Shared by the integration tests of this crate (included with `mod common;`).
#![allow(dead_code)]

use std::time::Duration;

use regstack_core::RegStackConfig;
use regstack_core::store::Backend as _;
use regstack_store_mongo::MongoBackend;
use regstack_store_mongo::mongodb::bson::oid::ObjectId;
use regstack_store_mongo::mongodb::options::ClientOptions;
use regstack_store_mongo::mongodb::{self, Client};
use regstack_store_tests::servers::Server;

/// The variable naming the test server.
pub const URL_VAR: &str = "REGSTACK_TEST_MONGO_URL";
/// How long a test waits for the server before failing.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(2);

/// The test server's URL (`REGSTACK_TEST_MONGO_URL`, default `mongodb://127.0.0.1:27017`).
pub fn server_url() -> String {
    Server::Mongo.url()
}

/// The shared skip policy (`regstack_store_tests::servers`): `Some(())` when the test server
/// answers; `None` (the test returns early) when it does not, unless `CI=true`, where this
/// panics naming [`URL_VAR`].
pub fn require_server() -> Option<()> {
    Server::Mongo.require().map(drop)
}

/// The URL for printing (without credentials).
fn shown(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(s, rest)| Some((s, rest.split_once('@')?.1)))
    {
        Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
        None => url.to_owned(),
    }
}

/// An error with its sources, for panic messages.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `url` with its path set to `/<database>` (none when empty) and a short server selection
/// timeout, keeping the authority and the other query options.
pub fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (scheme, rest) = base.split_once("://").expect("a mongodb url");
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut query: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            !kv.is_empty()
                && !kv
                    .to_ascii_lowercase()
                    .starts_with("serverselectiontimeoutms=")
        })
        .collect();
    query.push("serverSelectionTimeoutMS=2000");
    format!("{scheme}://{authority}/{database}?{}", query.join("&"))
}

/// A fresh database name.
pub fn fresh_name() -> String {
    format!("regstack_test_{}", ObjectId::new().to_hex())
}

/// Drops its database when dropped (on a client of its own, from a thread of its own, so it
/// works whatever runtime the test ran on).
#[derive(Debug)]
pub struct TestDb {
    name: String,
}

impl TestDb {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = test_client().await?;
                client.database(&name).drop().await?;
                client.shutdown().await;
                Ok::<_, mongodb::error::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// Client options for the test server, failing fast.
pub async fn test_options() -> ClientOptions {
    let url = server_url();
    let mut options = ClientOptions::parse(&url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR}={} is not a usable MongoDB URL: {e}", shown(&url)));
    options.server_selection_timeout = Some(SERVER_TIMEOUT);
    options
}

async fn test_client() -> mongodb::error::Result<Client> {
    Client::with_options(test_options().await)
}

/// Panic with a clear message when the test server does not answer.
pub fn unreachable(e: &dyn std::error::Error) -> ! {
    panic!(
        "no MongoDB test server at {} ({}); start one or point {URL_VAR} at one \
         (e.g. `secantusd-py --port 27017 --storage-path :memory:` from the `secantusdb` \
         PyPI package)",
        shown(&server_url()),
        chain(e)
    )
}

/// A backend on a fresh, empty database (schema not installed) and the guard that drops it;
/// `None` (skip) when there is no server ([`require_server`]).
pub async fn fresh_backend_with(config: &RegStackConfig) -> Option<(MongoBackend, TestDb)> {
    require_server()?;
    let name = fresh_name();
    let mut options = test_options().await;
    options.default_database = Some(name.clone());
    let backend = MongoBackend::from_client_options(options, config).expect("client");
    if let Err(e) = backend.ping().await {
        unreachable(&e);
    }
    Some((backend, TestDb::new(name)))
}

/// [`fresh_backend_with`] the default configuration.
pub async fn fresh_backend() -> Option<(MongoBackend, TestDb)> {
    fresh_backend_with(&RegStackConfig::default()).await
}

/// [`fresh_backend`] with the schema installed.
pub async fn installed_backend() -> Option<(MongoBackend, TestDb)> {
    let (backend, db) = fresh_backend().await?;
    backend.install_schema().await.expect("install_schema");
    Some((backend, db))
}
