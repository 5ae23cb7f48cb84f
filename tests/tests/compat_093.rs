//! Databases, password hashes and tokens written by regstack 0.9.3 keep working
//! (`tests/fixtures/regstack-0.9.3/`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use regstack_core::config::JwtAlgorithm;
use regstack_core::jwt::{JwtCodec, Purpose, derive_key};
use regstack_core::password::{HashParams, PasswordHasher, Verification};
use regstack_core::{FrozenClock, RegStackConfig};
use regstack_e2e::{
    DbKind, PASSWORD, Resp, TestApp, assert_user_public_on, fixture_json, fixtures_dir, test_config,
};
use serde_json::Value;

/// Shortly after the fixture's T0 (2026-05-01T10:20:30.123456Z), before its tokens expire.
fn after_t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T10:21:30Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn secret() -> String {
    fixture_json("jwt.json")["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn fixture_app() -> TestApp {
    let seed = fixtures_dir().join("regstack-0.9.3.db");
    let secret = secret();
    TestApp::start_with_database(&seed, Arc::new(FrozenClock::new(after_t0())), move |c| {
        c.jwt_secret = secret.into();
    })
    .await
}

/// The fixture row of a user as `UserPublic` (the same keys minus the hash).
fn expected_public(email: &str) -> Value {
    let db = fixture_json("db.json");
    let mut row = db["rows"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("no fixture row for {email}"))
        .clone();
    row.as_object_mut().unwrap().shift_remove("hashed_password");
    row
}

#[track_caller]
fn assert_revoked(r: &Resp) {
    r.assert_detail(401, "Token has been revoked.");
    assert_eq!(r.header("www-authenticate"), None);
}

#[tokio::test]
async fn session_token_of_093_reads_the_093_row() {
    let app = fixture_app().await;
    let jwt = fixture_json("jwt.json");
    let token = jwt["token"].as_str().unwrap();
    let r = app.me(token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_user_public_on(&u, DbKind::Sqlite);
    assert_eq!(u, expected_public("alice@example.com"));
    assert_eq!(u["id"], jwt["sub"]);
    assert_eq!(u["last_login"], "2026-05-01T10:20:30.123456Z");

    // The token alice logged out of in 0.9.3 stays revoked.
    let db = fixture_json("db.json");
    let revoked = db["blacklist"][0]["token"].as_str().unwrap();
    assert_revoked(&app.me(revoked).await);

    // HS384 / HS512 / audience variants do not pass an HS256 server without an audience.
    for other in jwt["others"].as_array().unwrap() {
        if other["purpose"] == "session" {
            let r = app.me(other["token"].as_str().unwrap()).await;
            r.assert_detail(401, "Invalid or expired token.");
        }
    }

    // Logging the 0.9.3 token out works like any other.
    assert_eq!(app.logout(token).await.status, 200);
    assert_revoked(&app.me(token).await);
}

#[tokio::test]
async fn session_token_of_093_expires_at_its_exp() {
    let app = fixture_app().await;
    let jwt = fixture_json("jwt.json");
    let token = jwt["token"].as_str().unwrap();
    let exp = jwt["exp"].as_i64().unwrap();
    app.clock
        .set(DateTime::from_timestamp(exp - 1, 999_999_000).unwrap());
    assert_eq!(app.me(token).await.status, 200);
    app.clock.set(DateTime::from_timestamp(exp, 0).unwrap());
    app.me(token)
        .await
        .assert_detail(401, "Invalid or expired token.");
}

#[tokio::test]
async fn login_with_a_093_hash_rehashes_it() {
    let app = fixture_app().await;
    let db = fixture_json("db.json");
    let password = db["alice"]["password"].as_str().unwrap();
    let old_hash = app
        .user_by_email("alice@example.com")
        .await
        .unwrap()
        .hashed_password
        .unwrap();
    assert!(old_hash.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));

    let before = app.verifications();
    let token = app.login_token("alice@example.com", password).await;
    assert_eq!(app.verifications() - before, 1);
    assert!(app.rs.wait_background(Duration::from_secs(60)).await);
    let new_hash = app
        .user_by_email("alice@example.com")
        .await
        .unwrap()
        .hashed_password
        .unwrap();
    assert_ne!(new_hash, old_hash);
    assert!(
        new_hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{new_hash}"
    );

    // Both the new session and the 0.9.3 one work; the password still does, and no rehash
    // is needed any more.
    assert_eq!(app.me(&token).await.status, 200);
    let old_token = fixture_json("jwt.json")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.me(&old_token).await.status, 200);
    let hashes = app.rs.hasher().hash_count();
    app.login_token("alice@example.com", password).await;
    assert!(app.rs.wait_background(Duration::from_secs(60)).await);
    assert_eq!(app.rs.hasher().hash_count(), hashes, "no second rehash");
    assert_eq!(
        app.user_by_email("alice@example.com")
            .await
            .unwrap()
            .hashed_password
            .unwrap(),
        new_hash
    );
    // A wrong password against the new hash.
    app.login("alice@example.com", PASSWORD)
        .await
        .assert_detail(401, "Invalid email or password. 4 attempt(s) remaining.");
}

#[tokio::test]
async fn disabled_093_user_stays_disabled() {
    let app = fixture_app().await;
    let db = fixture_json("db.json");
    let password = db["credentials"]["carol.disabled@example.com"]["password"]
        .as_str()
        .unwrap();
    app.login("carol.disabled@example.com", password)
        .await
        .assert_detail(403, "Account is disabled.");
}

#[tokio::test]
async fn pending_093_registration_verifies() {
    let app = fixture_app().await;
    let db = fixture_json("db.json");
    let dave = &db["credentials"]["dave.pending@example.com"];
    let r = app
        .verify(dave["raw_verification_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_user_public_on(&u, DbKind::Sqlite);
    assert_eq!(u["email"], "dave.pending@example.com");
    assert_eq!(u["full_name"], "Dave Pending");
    assert_eq!(u["is_verified"], true);
    assert_eq!(app.user_count().await, 4);
    assert!(!app.has_pending("dave.pending@example.com").await);
    // The 0.9.3 hash came along.
    let token = app
        .login_token(
            "dave.pending@example.com",
            dave["password"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        app.me(&token).await.json()["email"],
        "dave.pending@example.com"
    );
}

#[tokio::test]
async fn argon2_fixture_hashes_verify() {
    let fixture = fixture_json("argon2.json");
    let fast = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .unwrap();
    let same = PasswordHasher::new(HashParams::default(), 1).unwrap();
    let entries = fixture["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .any(|e| !e["password"].as_str().unwrap().is_ascii())
    );
    for e in entries {
        let password = e["password"].as_str().unwrap();
        let hash = e["hash"].as_str().unwrap();
        let utf8_hex: String = password.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(utf8_hex, e["password_utf8_hex"].as_str().unwrap());
        assert_eq!(
            fast.verify(password, hash).await,
            Verification::Valid { needs_rehash: true },
            "{password}"
        );
        assert_eq!(
            same.verify(password, hash).await,
            Verification::Valid {
                needs_rehash: false
            },
            "{password}"
        );
        assert_eq!(
            fast.verify(&format!("{password}x"), hash).await,
            Verification::Invalid
        );
    }
}

fn codec_for(token: &Value, clock: Arc<FrozenClock>) -> JwtCodec {
    let cfg = RegStackConfig {
        jwt_secret: secret().into(),
        jwt_algorithm: JwtAlgorithm::parse(token["algorithm"].as_str().unwrap_or("HS256")).unwrap(),
        jwt_audience: token["audience"].as_str().map(str::to_owned),
        ..test_config()
    };
    JwtCodec::new(&cfg, clock)
}

fn purpose_of(name: &str) -> Purpose {
    *Purpose::ALL
        .iter()
        .find(|p| p.as_str() == name)
        .unwrap_or_else(|| panic!("unknown purpose {name}"))
}

#[tokio::test]
async fn jwt_fixture_tokens_decode_for_their_purposes() {
    let jwt = fixture_json("jwt.json");
    let now = DateTime::parse_from_rfc3339(jwt["clock_now"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(FrozenClock::new(now));
    let mut all = vec![jwt.clone()];
    all.extend(jwt["others"].as_array().unwrap().iter().cloned());
    assert_eq!(all.len(), 8);
    for t in &all {
        let purpose = purpose_of(t["purpose"].as_str().unwrap());
        let codec = codec_for(t, clock.clone());
        let token = t["token"].as_str().unwrap();
        let claims = codec
            .decode(token, purpose)
            .unwrap_or_else(|_| panic!("{} {} does not decode", t["purpose"], t["algorithm"]));
        assert_eq!(claims.sub, t["sub"].as_str().unwrap());
        assert_eq!(claims.jti, t["jti"].as_str().unwrap());
        let iat = (t["iat"].as_f64().unwrap() * 1e6).round() as i64;
        assert_eq!(claims.iat.timestamp_micros(), iat);
        assert_eq!(claims.exp.timestamp(), t["exp"].as_i64().unwrap());
        assert_eq!(claims.new_email.as_deref(), t["new_email"].as_str());
        assert_eq!(claims.phone.as_deref(), t["phone"].as_str());
        let key: String = derive_key(&secret(), purpose)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key, t["signing_key_hex"].as_str().unwrap());
        // Never for another purpose.
        for other in Purpose::ALL.into_iter().filter(|p| *p != purpose) {
            assert!(
                codec.decode(token, other).is_err(),
                "{purpose:?} as {other:?}"
            );
        }
        // And a token minted now by this codec decodes with the same rules.
        let (fresh, _) = codec.issue(purpose, "someone", Default::default());
        if !matches!(purpose, Purpose::EmailChange | Purpose::PhoneSetup) {
            assert!(codec.decode(&fresh, purpose).is_ok());
        }
    }
    // Expired by the codec's clock.
    clock.set(DateTime::from_timestamp(jwt["exp"].as_i64().unwrap(), 0).unwrap());
    assert!(
        codec_for(&jwt, clock.clone())
            .decode(jwt["token"].as_str().unwrap(), Purpose::Session)
            .is_err()
    );
}
