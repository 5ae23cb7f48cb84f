//! Schema installation, connection, document shapes and 0.9.3 compatibility on MongoDB.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use futures::TryStreamExt as _;
use regstack_core::RegStackConfig;
use regstack_core::domain::{MfaCode, MfaKind, NewPending, NewUser, UserPatch};
use regstack_core::store::{Backend as _, StoreError};
use regstack_store_mongo::mongodb::bson::oid::ObjectId;
use regstack_store_mongo::mongodb::bson::{Bson, DateTime as BsonDateTime, Document, doc};
use regstack_store_mongo::mongodb::{Client, IndexModel};
use regstack_store_mongo::{CollectionNames, MongoBackend, SCHEMA_REVISION};
use regstack_store_tests::support::{RACERS, oauth_state, race};

use common::{TestDb, fresh_backend, installed_backend};

/// `t` as a BSON date.
fn millis(t: DateTime<Utc>) -> Bson {
    Bson::DateTime(BsonDateTime::from_millis(t.timestamp_millis()))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::milliseconds(123)
}

/// `name → (keys, unique, expireAfterSeconds)` of a collection's indexes.
type IndexMap = BTreeMap<String, (Document, bool, Option<u64>)>;

async fn indexes(backend: &MongoBackend, coll: &str) -> IndexMap {
    let models: Vec<IndexModel> = backend
        .database()
        .collection::<Document>(coll)
        .list_indexes()
        .await
        .expect("list_indexes")
        .try_collect()
        .await
        .expect("indexes");
    models
        .into_iter()
        .map(|m| {
            let o = m.options.unwrap_or_default();
            (
                o.name.expect("index name"),
                (
                    m.keys,
                    o.unique.unwrap_or(false),
                    o.expire_after.map(|d| d.as_secs()),
                ),
            )
        })
        .collect()
}

async fn all_indexes(backend: &MongoBackend) -> BTreeMap<String, IndexMap> {
    let n = backend.collection_names();
    let mut out = BTreeMap::new();
    for coll in [
        &n.users,
        &n.pending,
        &n.blacklist,
        &n.login_attempts,
        &n.mfa_codes,
        &n.oauth_identities,
        &n.oauth_states,
    ] {
        out.insert(coll.clone(), indexes(backend, coll).await);
    }
    out
}

fn index(keys: Document, unique: bool, ttl: Option<u64>) -> (Document, bool, Option<u64>) {
    (keys, unique, ttl)
}

/// The `options` of a collection from `listCollections`.
async fn collection_options(backend: &MongoBackend, coll: &str) -> Document {
    let specs: Vec<Document> = backend
        .database()
        .run_cursor_command(doc! { "listCollections": 1, "filter": { "name": coll } })
        .await
        .expect("listCollections")
        .try_collect()
        .await
        .expect("collections");
    assert_eq!(specs.len(), 1, "{coll} exists");
    specs[0]
        .get_document("options")
        .cloned()
        .unwrap_or_default()
}

async fn raw(backend: &MongoBackend, coll: &str, filter: Document) -> Document {
    backend
        .database()
        .collection::<Document>(coll)
        .find_one(filter)
        .await
        .expect("find_one")
        .expect("document")
}

/// Log lines written while `f` runs (this thread only; the tests run on a current-thread
/// runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start(&self) -> tracing::subscriber::DefaultGuard {
        // A global subscriber that wants INFO and up (and writes nowhere): without it, the
        // global level hint and a callsite's cached interest are computed, racing with the
        // other tests' threads, as if nobody listened, and this thread's subscriber misses the
        // event now and then.
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_writer(std::io::sink)
                    .with_max_level(tracing::Level::INFO)
                    .finish(),
            );
        });
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn install_schema_creates_every_index_twice() {
    let Some((backend, db)) = fresh_backend().await else {
        return;
    };
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current, None);
    assert_eq!(status.head, SCHEMA_REVISION);
    assert!(!status.is_at_head());

    let logs = Captured::default();
    {
        let _log = logs.start();
        backend.install_schema().await.expect("install");
    }
    let text = logs.text();
    assert!(
        text.contains(" INFO regstack.backends.mongo.indexes: ")
            && text.contains(&format!(
                "regstack indexes installed on database {}",
                db.name()
            )),
        "{text}"
    );

    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current.as_deref(), Some("indexes"));
    assert!(status.is_at_head());

    let id = || index(doc! { "_id": 1 }, false, None);
    let expected: BTreeMap<String, IndexMap> = [
        (
            "users",
            vec![
                ("_id_", id()),
                ("email_unique", index(doc! { "email": 1 }, true, None)),
            ],
        ),
        (
            "token_blacklist",
            vec![
                ("_id_", id()),
                ("jti_unique", index(doc! { "jti": 1 }, true, None)),
                ("exp_ttl", index(doc! { "exp": 1 }, false, Some(0))),
            ],
        ),
        (
            "pending_registrations",
            vec![
                ("_id_", id()),
                (
                    "pending_email_unique",
                    index(doc! { "email": 1 }, true, None),
                ),
                (
                    "pending_token_unique",
                    index(doc! { "token_hash": 1 }, true, None),
                ),
                (
                    "pending_ttl",
                    index(doc! { "expires_at": 1 }, false, Some(0)),
                ),
            ],
        ),
        (
            "login_attempts",
            vec![
                ("_id_", id()),
                (
                    "email_when",
                    index(doc! { "email": 1, "when": 1 }, false, None),
                ),
                ("when_ttl", index(doc! { "when": 1 }, false, Some(900))),
            ],
        ),
        (
            "mfa_codes",
            vec![
                ("_id_", id()),
                (
                    "user_kind_unique",
                    index(doc! { "user_id": 1, "kind": 1 }, true, None),
                ),
                ("mfa_ttl", index(doc! { "expires_at": 1 }, false, Some(0))),
            ],
        ),
        (
            "oauth_identities",
            vec![
                ("_id_", id()),
                (
                    "provider_subject_unique",
                    index(doc! { "provider": 1, "subject_id": 1 }, true, None),
                ),
                (
                    "user_provider_unique",
                    index(doc! { "user_id": 1, "provider": 1 }, true, None),
                ),
            ],
        ),
        (
            "oauth_states",
            vec![
                ("_id_", id()),
                (
                    "oauth_state_ttl",
                    index(doc! { "expires_at": 1 }, false, Some(0)),
                ),
            ],
        ),
    ]
    .into_iter()
    .map(|(coll, idx)| {
        (
            coll.to_owned(),
            idx.into_iter().map(|(n, i)| (n.to_owned(), i)).collect(),
        )
    })
    .collect();
    let first = all_indexes(&backend).await;
    assert_eq!(first, expected);

    let validator = doc! {
        "validator": { "$jsonSchema": {
            "bsonType": "object",
            "properties": { "mode": { "enum": ["signin", "link"] } },
        } },
        "validationLevel": "moderate",
        "validationAction": "error",
    };
    let options = collection_options(&backend, "oauth_states").await;
    for (k, v) in &validator {
        assert_eq!(options.get(k), Some(v), "{k} in {options}");
    }

    // Idempotent.
    backend.install_schema().await.expect("install again");
    assert_eq!(all_indexes(&backend).await, first);
    let options = collection_options(&backend, "oauth_states").await;
    for (k, v) in &validator {
        assert_eq!(options.get(k), Some(v), "{k} in {options}");
    }
    backend.ping().await.expect("ping");
}

#[tokio::test]
async fn install_schema_drops_a_legacy_unique_email_index() {
    let Some((backend, _db)) = fresh_backend().await else {
        return;
    };
    let users = backend.database().collection::<Document>("users");
    let legacy = IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(
            regstack_store_mongo::mongodb::options::IndexOptions::builder()
                .unique(true)
                .build(),
        )
        .build();
    let name = users
        .create_index(legacy)
        .await
        .expect("legacy index")
        .index_name;
    assert_eq!(name, "email_1");
    users
        .insert_one(
            doc! { "email": "old@example.com", "created_at": millis(t0()),
            "updated_at": millis(t0()) },
        )
        .await
        .expect("legacy user");
    // The legacy index alone does not count as installed.
    assert_eq!(backend.schema_status().await.expect("status").current, None);

    let logs = Captured::default();
    {
        let _log = logs.start();
        backend.install_schema().await.expect("install");
    }
    let text = logs.text();
    assert!(
        text.contains(" WARN regstack.backends.mongo.indexes: ")
            && text.contains("dropping legacy unique index email_1 on users"),
        "{text}"
    );
    let names: Vec<String> = indexes(&backend, "users").await.into_keys().collect();
    assert_eq!(names, ["_id_", "email_unique"]);
    assert!(backend.schema_status().await.expect("status").is_at_head());
    // Uniqueness still holds, and the legacy user is intact.
    let dup = backend
        .stores()
        .users
        .create(NewUser::new("old@example.com", None, t0()))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // A second install has nothing to drop and logs no warning.
    let logs = Captured::default();
    {
        let _log = logs.start();
        backend.install_schema().await.expect("install again");
    }
    assert!(!logs.text().contains("WARN"), "{}", logs.text());
}

#[tokio::test]
async fn validator_rejects_an_unknown_mode() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let stores = backend.stores();
    let mut other = oauth_state("bad-mode", t0(), chrono::Duration::seconds(60));
    other.mode = "other".to_owned();
    match stores.oauth_states.create(other).await {
        Err(StoreError::Backend(e)) => {
            let text = common::chain(e.as_ref());
            assert!(text.contains("Document failed validation"), "{text}");
        }
        res => panic!("expected a validation failure, got {res:?}"),
    }
    assert!(
        stores
            .oauth_states
            .get("bad-mode")
            .await
            .expect("get")
            .is_none()
    );
    for mode in ["signin", "link"] {
        let mut state = oauth_state(mode, t0(), chrono::Duration::seconds(60));
        state.mode = mode.to_owned();
        stores.oauth_states.create(state).await.expect(mode);
    }
}

#[tokio::test]
async fn validator_is_added_to_an_existing_collection() {
    let Some((backend, _db)) = fresh_backend().await else {
        return;
    };
    backend
        .database()
        .collection::<Document>("oauth_states")
        .insert_one(doc! { "_id": "pre-existing", "mode": "signin" })
        .await
        .expect("seed");
    assert!(
        !collection_options(&backend, "oauth_states")
            .await
            .contains_key("validator")
    );
    backend.install_schema().await.expect("install");
    let options = collection_options(&backend, "oauth_states").await;
    assert_eq!(
        options.get_document("validator").expect("validator"),
        &regstack_store_mongo::oauth_state_validator()
    );
    let res = backend
        .database()
        .collection::<Document>("oauth_states")
        .insert_one(doc! { "_id": "x", "mode": "other" })
        .await;
    assert!(res.is_err(), "the validator applies");
}

#[tokio::test]
async fn changed_login_attempt_ttl_is_applied() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    assert_eq!(
        indexes(&backend, "login_attempts").await["when_ttl"].2,
        Some(900)
    );
    let backend = backend.with_login_attempt_ttl(Duration::from_secs(600));
    backend
        .install_schema()
        .await
        .expect("install with a new ttl");
    assert_eq!(
        indexes(&backend, "login_attempts").await["when_ttl"].2,
        Some(600)
    );
}

#[tokio::test]
async fn connect_names_the_database_and_collections() {
    let Some(()) = common::require_server() else {
        return;
    };
    let url = common::server_url();
    let by_path = common::fresh_name();
    let by_config = common::fresh_name();
    let _guards = (TestDb::new(&by_path), TestDb::new(&by_config));

    let config = RegStackConfig {
        mongodb_database: by_config.clone(),
        user_collection: "app_users".to_owned(),
        pending_collection: "app_pending".to_owned(),
        blacklist_collection: "app_blacklist".to_owned(),
        login_attempt_collection: "app_attempts".to_owned(),
        mfa_code_collection: "app_mfa".to_owned(),
        oauth_identity_collection: "app_identities".to_owned(),
        oauth_state_collection: "app_states".to_owned(),
        login_lockout_window_seconds: 60,
        ..RegStackConfig::default()
    };

    // The URL path wins over `mongodb_database`.
    let backend = MongoBackend::connect(&common::url_with_database(&url, &by_path), &config)
        .await
        .expect("connect");
    if let Err(e) = backend.ping().await {
        common::unreachable(&e);
    }
    assert_eq!(backend.name(), "mongo");
    assert_eq!(backend.database().name(), by_path);
    assert_eq!(backend.login_attempt_ttl(), Duration::from_secs(60));
    backend.install_schema().await.expect("install");
    let stores = backend.stores();
    stores
        .revocations
        .revoke("jti", t0())
        .await
        .expect("revoke");
    let mut collections = backend
        .database()
        .list_collection_names()
        .await
        .expect("collections");
    collections.sort();
    assert_eq!(
        collections,
        [
            "app_attempts",
            "app_blacklist",
            "app_identities",
            "app_mfa",
            "app_pending",
            "app_states",
            "app_users"
        ]
    );
    assert_eq!(
        indexes(&backend, "app_attempts").await["when_ttl"].2,
        Some(60)
    );
    assert!(backend.schema_status().await.expect("status").is_at_head());
    backend.close().await;

    // Without a path, `mongodb_database`.
    let backend = MongoBackend::connect(&common::url_with_database(&url, ""), &config)
        .await
        .expect("connect");
    assert_eq!(backend.database().name(), by_config);
    backend.ping().await.expect("ping");
    assert!(!backend.schema_status().await.expect("status").is_at_head());
    backend.close().await;
}

#[tokio::test]
async fn invalid_urls_are_refused() {
    let config = RegStackConfig::default();
    for url in [
        "sqlite+aiosqlite:///./x.db",
        "mongodb://",
        "mongodb://h:notaport/db",
    ] {
        match MongoBackend::connect(url, &config).await {
            Err(StoreError::Backend(e)) => {
                let e = e
                    .downcast_ref::<regstack_store_mongo::Error>()
                    .unwrap_or_else(|| panic!("{url}: {e:?}"));
                assert_eq!(e.to_string(), "invalid mongodb url");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_fast() {
    let backend = MongoBackend::connect(
        "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300",
        &RegStackConfig::default(),
    )
    .await
    .expect("connect is lazy");
    let started = std::time::Instant::now();
    assert!(matches!(backend.ping().await, Err(StoreError::Backend(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn close_leaves_a_host_client_open() {
    let Some((_owned, db)) = fresh_backend().await else {
        return;
    };
    let client = Client::with_options(common::test_options().await).expect("client");
    let hosted =
        MongoBackend::from_database(client.database(db.name()), CollectionNames::default());
    assert_eq!(hosted.login_attempt_ttl(), Duration::from_secs(900));
    hosted.ping().await.expect("ping");
    hosted.close().await;
    hosted.ping().await.expect("the host's client still works");
    client
        .database(db.name())
        .collection::<Document>("x")
        .insert_one(doc! {})
        .await
        .expect("insert");
}

#[tokio::test]
async fn user_documents_keep_host_fields() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let users = backend.stores().users;
    let created = users
        .create(NewUser::new("host@example.com", None, t0()))
        .await
        .expect("create");
    let oid = ObjectId::parse_str(&created.id).expect("an ObjectId hex id");
    let coll = backend.database().collection::<Document>("users");
    coll.update_one(
        doc! { "_id": oid },
        doc! { "$set": { "tenant": "acme", "prefs": { "theme": "dark" }, "roles": ["a", "b"] } },
    )
    .await
    .expect("host fields");

    // Reads ignore them.
    let read = users
        .get_by_id(&created.id)
        .await
        .expect("get")
        .expect("user");
    assert_eq!(read, created);

    // Updates keep them.
    let patch = UserPatch {
        full_name: Some(Some("Host Person".to_owned())),
        is_verified: Some(true),
        ..UserPatch::default()
    };
    let now = t0() + chrono::Duration::seconds(5);
    let updated = users
        .update(&created.id, &patch, now)
        .await
        .expect("update")
        .expect("user");
    assert_eq!(updated.full_name.as_deref(), Some("Host Person"));
    let doc = raw(&backend, "users", doc! { "_id": oid }).await;
    assert_eq!(doc.get_str("tenant").unwrap(), "acme");
    assert_eq!(
        doc.get_document("prefs").unwrap(),
        &doc! { "theme": "dark" }
    );
    assert_eq!(doc.get_array("roles").unwrap().len(), 2);
    assert_eq!(doc.get_str("full_name").unwrap(), "Host Person");
    assert!(doc.get_bool("is_verified").unwrap());
    assert_eq!(doc.get("updated_at"), Some(&millis(now)));

    // A password change (and every other patch) still keeps them.
    let patch = UserPatch {
        email: Some("host2@example.com".to_owned()),
        ..UserPatch::default()
    };
    users
        .update(&created.id, &patch, now)
        .await
        .expect("update")
        .expect("user");
    let doc = raw(&backend, "users", doc! { "_id": oid }).await;
    assert_eq!(doc.get_str("tenant").unwrap(), "acme");
    assert_eq!(doc.get_str("email").unwrap(), "host2@example.com");
}

#[tokio::test]
async fn document_shapes() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let stores = backend.stores();
    let micro = t0() + chrono::Duration::microseconds(456);

    // users: ObjectId _id, null fields omitted on insert, BSON dates truncated to millis.
    let created = stores
        .users
        .create(NewUser::new("shape@example.com", None, micro))
        .await
        .expect("create");
    assert_eq!(created.id.len(), 24);
    assert_eq!(created.created_at, t0(), "returned truncated to millis");
    let oid = ObjectId::parse_str(&created.id).unwrap();
    let doc = raw(&backend, "users", doc! { "_id": oid }).await;
    let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "_id",
            "email",
            "is_active",
            "is_verified",
            "is_superuser",
            "is_mfa_enabled",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        doc.get_datetime("created_at").unwrap().timestamp_millis(),
        t0().timestamp_millis()
    );

    // Explicit nulls on update.
    let clear = UserPatch {
        hashed_password: Some(None),
        full_name: Some(None),
        last_login: Some(None),
        ..UserPatch::default()
    };
    stores
        .users
        .update(&created.id, &clear, micro)
        .await
        .expect("update");
    let doc = raw(&backend, "users", doc! { "_id": oid }).await;
    for k in ["hashed_password", "full_name", "last_login"] {
        assert_eq!(doc.get(k), Some(&Bson::Null), "{k}");
    }
    assert!(
        doc.get("phone_number").is_none(),
        "unpatched fields stay absent"
    );

    // pending: an upsert keeps the _id of the replaced document.
    let pending = |hash: &str| NewPending {
        email: "p@example.com".to_owned(),
        hashed_password: "$argon2id$p".to_owned(),
        full_name: None,
        token_hash: hash.to_owned(),
        created_at: micro,
        expires_at: micro + chrono::Duration::hours(1),
    };
    let first = stores.pending.upsert(pending("a")).await.expect("upsert");
    let second = stores.pending.upsert(pending("b")).await.expect("upsert");
    assert_eq!(first.id, second.id);
    assert_eq!(second.created_at, t0());
    let doc = raw(
        &backend,
        "pending_registrations",
        doc! { "email": "p@example.com" },
    )
    .await;
    assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
    assert!(doc.get("full_name").is_none());

    // token_blacklist, login_attempts.
    stores
        .revocations
        .revoke("jti-1", micro)
        .await
        .expect("revoke");
    let doc = raw(&backend, "token_blacklist", doc! { "jti": "jti-1" }).await;
    assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
    assert!(matches!(doc.get("exp"), Some(Bson::DateTime(_))));
    stores
        .login_attempts
        .record("a@example.com", micro, None)
        .await
        .expect("record");
    let doc = raw(
        &backend,
        "login_attempts",
        doc! { "email": "a@example.com" },
    )
    .await;
    let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(keys, ["_id", "email", "when"], "ip omitted when absent");

    // mfa_codes: string user_id, int32 counters.
    let code = MfaCode {
        user_id: created.id.clone(),
        kind: MfaKind::LoginMfa,
        code_hash: "h".repeat(64),
        expires_at: micro,
        attempts: 0,
        max_attempts: 5,
        created_at: micro,
    };
    stores.mfa_codes.put(code).await.expect("put");
    stores
        .mfa_codes
        .increment_attempts(&created.id, MfaKind::LoginMfa)
        .await
        .expect("inc");
    let doc = raw(&backend, "mfa_codes", doc! { "user_id": &created.id }).await;
    assert_eq!(doc.get("user_id"), Some(&Bson::String(created.id.clone())));
    assert_eq!(doc.get("kind"), Some(&Bson::String("login_mfa".to_owned())));
    assert_eq!(doc.get("attempts"), Some(&Bson::Int32(1)));
    assert_eq!(doc.get("max_attempts"), Some(&Bson::Int32(5)));

    // oauth_identities: string user_id, email omitted when absent.
    let mut identity = regstack_store_tests::support::identity(&created.id, "google", "sub", micro);
    identity.email = None;
    let linked = stores
        .oauth_identities
        .create(identity)
        .await
        .expect("link");
    assert_eq!(linked.linked_at, t0());
    let doc = raw(&backend, "oauth_identities", doc! { "subject_id": "sub" }).await;
    assert_eq!(doc.get("user_id"), Some(&Bson::String(created.id.clone())));
    assert!(doc.get("email").is_none() && doc.get("last_used_at").is_none());
    // A foreign id format is a no-op.
    stores
        .oauth_identities
        .touch_last_used("not-an-object-id", micro)
        .await
        .expect("touch");

    // oauth_states: the state string is the _id; null fields omitted.
    let state = oauth_state("state-string", micro, chrono::Duration::seconds(60));
    stores.oauth_states.create(state).await.expect("state");
    let doc = raw(&backend, "oauth_states", doc! { "_id": "state-string" }).await;
    assert!(doc.get("linking_user_id").is_none() && doc.get("result_token").is_none());
    assert_eq!(doc.get("result_was_new"), Some(&Bson::Boolean(false)));
    assert_eq!(doc.get("mode"), Some(&Bson::String("signin".to_owned())));
}

#[tokio::test]
async fn reads_documents_written_by_regstack_093() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let db = backend.database();
    let date = |ms: i64| Bson::DateTime(BsonDateTime::from_millis(ms));
    let oid = ObjectId::new();
    // As pymongo stores a 0.9.3 user: no null fields, plus a host field, ints as int64 where
    // Python chose so.
    db.collection::<Document>("users")
        .insert_one(doc! {
            "_id": oid,
            "email": "py@example.com",
            "hashed_password": "$argon2id$v=19$...",
            "is_active": true,
            "is_verified": true,
            "is_superuser": false,
            "is_mfa_enabled": false,
            "created_at": date(1_777_629_600_123),
            "updated_at": date(1_777_629_600_124),
            "login_count": 3_i64,
        })
        .await
        .expect("user");
    let user = backend
        .stores()
        .users
        .get_by_email("py@example.com")
        .await
        .expect("get")
        .expect("user");
    assert_eq!(user.id, oid.to_hex());
    assert_eq!(
        (user.full_name, user.phone_number, user.last_login),
        (None, None, None)
    );
    assert_eq!(user.created_at.timestamp_millis(), 1_777_629_600_123);

    // A state from before `result_was_new` existed; MFA counters stored as int64.
    db.collection::<Document>("oauth_states")
        .insert_one(doc! {
            "_id": "old-state", "provider": "google", "code_verifier": "v", "nonce": "n",
            "redirect_to": "/", "mode": "link", "linking_user_id": oid.to_hex(),
            "created_at": date(0), "expires_at": date(1),
        })
        .await
        .expect("state");
    let state = backend
        .stores()
        .oauth_states
        .consume("old-state")
        .await
        .expect("consume")
        .expect("state");
    assert!(!state.result_was_new);
    assert_eq!(state.linking_user_id, Some(oid.to_hex()));
    db.collection::<Document>("mfa_codes")
        .insert_one(doc! {
            "user_id": "u", "kind": "phone_setup", "code_hash": "h", "expires_at": date(0),
            "attempts": 2_i64, "max_attempts": 5_i64, "created_at": date(0),
        })
        .await
        .expect("mfa");
    let inc = backend
        .stores()
        .mfa_codes
        .increment_attempts("u", MfaKind::PhoneSetup)
        .await
        .expect("inc");
    assert_eq!(inc, Some(3));

    // A document of the wrong shape is reported as corrupt, naming the field.
    db.collection::<Document>("users")
        .insert_one(doc! { "email": "bad@example.com", "created_at": "yesterday" })
        .await
        .expect("bad user");
    match backend.stores().users.get_by_email("bad@example.com").await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("created_at"), "{msg}"),
        other => panic!("expected corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_of_a_new_key_all_succeed() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let stores = backend.stores();
    let results = race(RACERS, |i| {
        let pending = stores.pending.clone();
        async move {
            pending
                .upsert(NewPending {
                    email: "race@example.com".to_owned(),
                    hashed_password: "$argon2id$p".to_owned(),
                    full_name: None,
                    token_hash: format!("hash-{i}"),
                    created_at: t0(),
                    expires_at: t0() + chrono::Duration::hours(1),
                })
                .await
        }
    })
    .await;
    let ids: Vec<String> = results
        .into_iter()
        .map(|r| r.expect("every upsert succeeds").id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one document: {ids:?}");
    assert_eq!(
        stores.pending.count_unexpired(t0()).await.expect("count"),
        1
    );

    let results = race(RACERS, |i| {
        let mfa = stores.mfa_codes.clone();
        async move {
            mfa.put(MfaCode {
                user_id: "racer".to_owned(),
                kind: MfaKind::PhoneSetup,
                code_hash: format!("{i:064}"),
                expires_at: t0(),
                attempts: 0,
                max_attempts: 5,
                created_at: t0(),
            })
            .await
        }
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        backend
            .database()
            .collection::<Document>("mfa_codes")
            .count_documents(doc! {})
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn user_ids_in_foreign_formats_are_not_found() {
    let Some((backend, _db)) = installed_backend().await else {
        return;
    };
    let users = backend.stores().users;
    let created = users
        .create(NewUser::new("id@example.com", None, t0()))
        .await
        .expect("create");
    let patch = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    for id in [
        "0123456789abcdef0123456789abcdef",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "",
    ] {
        assert!(users.get_by_id(id).await.expect("get").is_none());
        assert!(
            users
                .update(id, &patch, t0())
                .await
                .expect("update")
                .is_none()
        );
        assert!(!users.delete(id).await.expect("delete"));
    }
    assert!(
        users
            .get_by_id(&created.id)
            .await
            .expect("get")
            .unwrap()
            .is_active
    );
}
