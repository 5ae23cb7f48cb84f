//! A real regstack 0.9.3 PostgreSQL database (its `pg_dump` in
//! `tests/fixtures/regstack-0.9.3/`) keeps working: `install_schema` leaves it untouched, a
//! fresh install has exactly its schema, and every row reads back as 0.9.3 read it
//! (`db.json`).

mod common;

use chrono::{DateTime, Utc};
use regstack_core::domain::MfaKind;
use regstack_core::store::{Backend as _, Stores};
use regstack_store_pg::PgBackend;
use serde_json::Value;

use common::{TestDb, catalog, data, fixtures, load_dump};

fn db_json() -> Value {
    let text = std::fs::read_to_string(fixtures().join("db.json")).expect("db.json");
    serde_json::from_str(&text).expect("db.json parses")
}

fn dt(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("datetime string"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

fn opt_dt(v: &Value) -> Option<DateTime<Utc>> {
    (!v.is_null()).then(|| dt(v))
}

fn s(v: &Value) -> String {
    v.as_str().expect("string").to_owned()
}

fn opt_s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn b(v: &Value) -> bool {
    v.as_bool().expect("bool")
}

/// A fresh database holding 0.9.3's schema and sample rows.
async fn restore() -> Option<(PgBackend, TestDb)> {
    let db = TestDb::create().await?;
    load_dump(&db, "schema-postgres.sql").await;
    load_dump(&db, "postgres-data.sql").await;
    let backend = db.backend().await;
    Some((backend, db))
}

#[tokio::test]
async fn install_schema_leaves_a_093_database_untouched() {
    let Some((backend, _db)) = restore().await else {
        return;
    };
    let status = backend.schema_status().await.expect("status");
    assert_eq!(status.current.as_deref(), Some("0003"));
    assert!(status.is_at_head());

    let schema = catalog(&backend).await;
    let rows = data(&backend).await;
    assert_eq!(
        schema.iter().filter(|l| l.starts_with("relation ")).count(),
        31,
        "8 tables, 3 sequences, 15 unique/primary-key indexes, 5 plain indexes: {schema:#?}"
    );
    assert!(rows.len() > 10, "{rows:#?}");
    backend.install_schema().await.expect("install_schema");
    backend
        .install_schema()
        .await
        .expect("install_schema twice");
    assert_eq!(catalog(&backend).await, schema);
    assert_eq!(data(&backend).await, rows);
    assert!(backend.schema_status().await.expect("status").is_at_head());
    backend.close().await;
}

#[tokio::test]
async fn a_fresh_install_has_the_093_schema() {
    let Some((reference, _ref_db)) = restore().await else {
        return;
    };
    let db = TestDb::create().await.expect("server answered");
    let fresh = db.backend().await;
    fresh.install_schema().await.expect("install");
    let fresh = catalog(&fresh).await;
    let reference = catalog(&reference).await;
    assert_eq!(fresh.len(), reference.len());
    let dump = std::fs::read_to_string(fixtures().join("schema-postgres.sql")).expect("dump");
    for (ours, theirs) in fresh.iter().zip(&reference) {
        if ours == theirs {
            continue;
        }
        // Restoring a dump re-parses CHECK expressions, and PostgreSQL folds
        // `(ARRAY[...])::text[]` into `ARRAY[(...)::text, ...]` on the way; so a check
        // constraint may differ from the restored copy, but then it must read exactly as
        // pg_dump printed 0.9.3's original.
        let name = |line: &str| line.split(" CHECK ").next().map(str::to_owned);
        assert!(
            ours.starts_with("constraint ") && name(ours) == name(theirs),
            "schema differs from 0.9.3's:\n ours:   {ours}\n theirs: {theirs}"
        );
        let def = &ours[ours.find(" CHECK ").expect("a check constraint") + 1..];
        assert!(
            dump.contains(def),
            "{ours} is not what 0.9.3's schema dump shows"
        );
    }
}

#[tokio::test]
async fn users_read_back_as_093_wrote_them() {
    let Some((backend, _db)) = restore().await else {
        return;
    };
    let stores = backend.stores();
    let json = db_json();
    let rows = json["rows"]["users"].as_array().expect("users");
    assert_eq!(
        stores.users.count().await.expect("count"),
        rows.len() as u64
    );
    for row in rows {
        let user = stores
            .users
            .get_by_email(row["email"].as_str().unwrap())
            .await
            .expect("get_by_email")
            .expect("user exists");
        assert_eq!(user.id, s(&row["id"]));
        assert_eq!(user.hashed_password, opt_s(&row["hashed_password"]));
        assert_eq!(user.is_active, b(&row["is_active"]));
        assert_eq!(user.is_verified, b(&row["is_verified"]));
        assert_eq!(user.is_superuser, b(&row["is_superuser"]));
        assert_eq!(user.full_name, opt_s(&row["full_name"]));
        assert_eq!(user.phone_number, opt_s(&row["phone_number"]));
        assert_eq!(user.is_mfa_enabled, b(&row["is_mfa_enabled"]));
        assert_eq!(user.created_at, dt(&row["created_at"]));
        assert_eq!(user.updated_at, dt(&row["updated_at"]));
        assert_eq!(user.last_login, opt_dt(&row["last_login"]));
        assert_eq!(
            user.tokens_invalidated_after,
            opt_dt(&row["tokens_invalidated_after"])
        );
        assert_eq!(
            stores.users.get_by_id(&user.id).await.expect("get_by_id"),
            Some(user)
        );
    }

    let alice = stores
        .users
        .get_by_email("alice@example.com")
        .await
        .expect("alice")
        .expect("alice exists");
    assert_eq!(alice.id, s(&json["alice"]["id"]));
    assert_eq!(
        alice.created_at.to_rfc3339(),
        "2026-05-01T10:00:00.000001+00:00"
    );
    assert_eq!(
        alice.last_login,
        Some(dt(&Value::from("2026-05-01T10:20:30.123456Z")))
    );
    assert_eq!(alice.tokens_invalidated_after, None);
    let counts = stores.users.count_by_flags().await.expect("flags");
    assert_eq!(
        (
            counts.total,
            counts.active,
            counts.verified,
            counts.superusers
        ),
        (3, 2, 3, 1)
    );
    let listed = stores.users.list(0, 10).await.expect("list");
    let emails: Vec<_> = listed.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "admin@example.com",
            "carol.disabled@example.com",
            "alice@example.com"
        ]
    );
}

#[tokio::test]
async fn other_rows_read_back_as_093_wrote_them() {
    let Some((backend, _db)) = restore().await else {
        return;
    };
    let stores: Stores = backend.stores();
    let json = db_json();
    let rows = &json["rows"];

    // Dave's pending registration, found by the digest of the raw token 0.9.3 emailed.
    let dave = &json["credentials"]["dave.pending@example.com"];
    let raw = dave["raw_verification_token"].as_str().unwrap();
    let hash = regstack_core::token::sha256_hex(raw);
    assert_eq!(hash, s(&dave["token_hash"]));
    let pending = stores
        .pending
        .find_by_token_hash(&hash)
        .await
        .expect("find")
        .expect("dave's row");
    let want = &rows["pending_registrations"][0];
    assert_eq!(pending.id, s(&want["id"]));
    assert_eq!(pending.email, s(&want["email"]));
    assert_eq!(pending.hashed_password, s(&want["hashed_password"]));
    assert_eq!(pending.full_name, opt_s(&want["full_name"]));
    assert_eq!(pending.created_at, dt(&want["created_at"]));
    assert_eq!(pending.expires_at, dt(&want["expires_at"]));
    assert_eq!(
        stores
            .pending
            .count_unexpired(dt(&want["created_at"]))
            .await
            .expect("count"),
        1
    );

    // The revoked jti; revoking it again reports it as already revoked.
    let jti = json["blacklist"][0]["jti"].as_str().unwrap();
    assert!(
        stores
            .revocations
            .is_revoked(jti)
            .await
            .expect("is_revoked")
    );
    assert!(
        !stores
            .revocations
            .is_revoked("not-revoked")
            .await
            .expect("is_revoked")
    );
    assert!(
        !stores
            .revocations
            .revoke(jti, dt(&json["blacklist"][0]["exp"]))
            .await
            .expect("revoke again")
    );
    // The serial keeps counting after 0.9.3's row (the dump restored the sequence).
    assert!(
        stores
            .revocations
            .revoke("fresh-jti", dt(&json["blacklist"][0]["exp"]))
            .await
            .expect("revoke new")
    );

    // Mallory's failed login.
    let attempt = &json["login_attempts"][0];
    let when = dt(&attempt["when"]);
    let failures = stores
        .login_attempts
        .failures_since(attempt["email"].as_str().unwrap(), when)
        .await
        .expect("failures_since");
    assert_eq!(failures, vec![when]);

    // Alice's phone-setup code.
    let want = &rows["mfa_codes"][0];
    let code = stores
        .mfa_codes
        .get(want["user_id"].as_str().unwrap(), MfaKind::PhoneSetup)
        .await
        .expect("get")
        .expect("code");
    assert_eq!(code.code_hash, regstack_core::token::sha256_hex("123456"));
    assert_eq!(code.code_hash, s(&want["code_hash"]));
    assert_eq!(code.expires_at, dt(&want["expires_at"]));
    assert_eq!(code.created_at, dt(&want["created_at"]));
    assert_eq!(i64::from(code.attempts), want["attempts"].as_i64().unwrap());
    assert_eq!(
        i64::from(code.max_attempts),
        want["max_attempts"].as_i64().unwrap()
    );
    let again = stores
        .mfa_codes
        .increment_attempts(&code.user_id, code.kind)
        .await;
    assert_eq!(again.expect("increment"), Some(1));

    // Alice's Google identity.
    let want = &rows["oauth_identities"][0];
    let identity = stores
        .oauth_identities
        .find("google", want["subject_id"].as_str().unwrap())
        .await
        .expect("find")
        .expect("identity");
    assert_eq!(identity.id, s(&want["id"]));
    assert_eq!(identity.user_id, s(&want["user_id"]));
    assert_eq!(identity.email, opt_s(&want["email"]));
    assert_eq!(identity.linked_at, dt(&want["linked_at"]));
    assert_eq!(identity.last_used_at, opt_dt(&want["last_used_at"]));
    let listed = stores
        .oauth_identities
        .list_for_user(&identity.user_id)
        .await
        .expect("list");
    assert_eq!(listed, vec![identity]);

    // Both OAuth states, then consume the finished one.
    for want in rows["oauth_states"].as_array().unwrap() {
        let state = stores
            .oauth_states
            .get(want["id"].as_str().unwrap())
            .await
            .expect("get")
            .expect("state");
        assert_eq!(state.provider, s(&want["provider"]));
        assert_eq!(state.code_verifier, s(&want["code_verifier"]));
        assert_eq!(state.nonce, s(&want["nonce"]));
        assert_eq!(state.redirect_to, s(&want["redirect_to"]));
        assert_eq!(state.mode, s(&want["mode"]));
        assert_eq!(state.linking_user_id, opt_s(&want["linking_user_id"]));
        assert_eq!(state.created_at, dt(&want["created_at"]));
        assert_eq!(state.expires_at, dt(&want["expires_at"]));
        assert_eq!(state.result_token, opt_s(&want["result_token"]));
        assert_eq!(state.result_was_new, b(&want["result_was_new"]));
    }
    let signin = s(&rows["oauth_states"][0]["id"]);
    let consumed = stores
        .oauth_states
        .consume(&signin)
        .await
        .expect("consume")
        .expect("row");
    assert_eq!(consumed.result_token, Some(s(&json["oauth_result_token"])));
    assert!(
        stores
            .oauth_states
            .get(&signin)
            .await
            .expect("get")
            .is_none()
    );
}
