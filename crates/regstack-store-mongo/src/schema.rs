//! `install_schema` on MongoDB: the indexes of regstack 0.9.3's data model and the `oauth_states`
//! validator. There are no revisions: the "schema" is the set of indexes.

use std::time::Duration;

use futures::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{IndexOptions, ValidationAction, ValidationLevel};
use mongodb::{Database, IndexModel};
use regstack_core::store::{SchemaStatus, StoreResult};

use crate::CollectionNames;
use crate::error::{NAMESPACE_EXISTS, NAMESPACE_NOT_FOUND, server_code, store_err};

/// The only revision of the MongoDB layout: [`SchemaStatus::current`] is this once the indexes
/// that guard uniqueness (`email_unique`, `jti_unique`) exist, and it is always
/// [`SchemaStatus::head`].
pub const SCHEMA_REVISION: &str = "indexes";

/// The target of the schema log lines (the logger name of regstack 0.9.3).
pub const LOG_TARGET: &str = "regstack.backends.mongo.indexes";

const WHAT: &str = "schema";

/// The canonical name of the unique email index of the users collection.
const EMAIL_UNIQUE: &str = "email_unique";
/// The canonical name of the unique `jti` index of the blacklist collection.
const JTI_UNIQUE: &str = "jti_unique";

/// One index of the layout.
struct Spec {
    name: &'static str,
    keys: Document,
    unique: bool,
    ttl: Option<Duration>,
}

impl Spec {
    fn plain(name: &'static str, keys: Document) -> Self {
        Self {
            name,
            keys,
            unique: false,
            ttl: None,
        }
    }

    fn unique(name: &'static str, keys: Document) -> Self {
        Self {
            unique: true,
            ..Self::plain(name, keys)
        }
    }

    fn ttl(name: &'static str, keys: Document, after: Duration) -> Self {
        Self {
            ttl: Some(after),
            ..Self::plain(name, keys)
        }
    }

    fn model(&self) -> IndexModel {
        let options = IndexOptions::builder()
            .name(self.name.to_owned())
            .unique(self.unique.then_some(true))
            .expire_after(self.ttl)
            .build();
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(options)
            .build()
    }
}

/// Every index of §11, per collection name.
fn layout(names: &CollectionNames, attempt_ttl: Duration) -> Vec<(&str, Vec<Spec>)> {
    let zero = Duration::ZERO;
    vec![
        (
            names.users.as_str(),
            vec![Spec::unique(EMAIL_UNIQUE, doc! { "email": 1 })],
        ),
        (
            names.blacklist.as_str(),
            vec![
                Spec::unique(JTI_UNIQUE, doc! { "jti": 1 }),
                Spec::ttl("exp_ttl", doc! { "exp": 1 }, zero),
            ],
        ),
        (
            names.pending.as_str(),
            vec![
                Spec::unique("pending_email_unique", doc! { "email": 1 }),
                Spec::unique("pending_token_unique", doc! { "token_hash": 1 }),
                Spec::ttl("pending_ttl", doc! { "expires_at": 1 }, zero),
            ],
        ),
        (
            names.login_attempts.as_str(),
            vec![
                Spec::plain("email_when", doc! { "email": 1, "when": 1 }),
                Spec::ttl("when_ttl", doc! { "when": 1 }, attempt_ttl),
            ],
        ),
        (
            names.mfa_codes.as_str(),
            vec![
                Spec::unique("user_kind_unique", doc! { "user_id": 1, "kind": 1 }),
                Spec::ttl("mfa_ttl", doc! { "expires_at": 1 }, zero),
            ],
        ),
        (
            names.oauth_identities.as_str(),
            vec![
                Spec::unique(
                    "provider_subject_unique",
                    doc! { "provider": 1, "subject_id": 1 },
                ),
                Spec::unique("user_provider_unique", doc! { "user_id": 1, "provider": 1 }),
            ],
        ),
        (
            names.oauth_states.as_str(),
            vec![Spec::ttl("oauth_state_ttl", doc! { "expires_at": 1 }, zero)],
        ),
    ]
}

/// The `$jsonSchema` validator of the OAuth states collection.
pub fn oauth_state_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "properties": { "mode": { "enum": ["signin", "link"] } },
    } }
}

/// An index as `listIndexes` reports it (read leniently: a host's own indexes may carry any
/// options).
struct Existing {
    name: String,
    keys: Document,
    unique: bool,
    ttl_seconds: Option<i64>,
}

fn integer(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

/// The indexes of a collection; none when the collection does not exist.
async fn existing_indexes(db: &Database, coll: &str) -> StoreResult<Vec<Existing>> {
    let specs: Vec<Document> = match db.run_cursor_command(doc! { "listIndexes": coll }).await {
        Ok(cursor) => cursor.try_collect().await.map_err(store_err(WHAT))?,
        Err(e) if server_code(&e) == Some(NAMESPACE_NOT_FOUND) => return Ok(Vec::new()),
        Err(e) => return Err(store_err(WHAT)(e)),
    };
    Ok(specs
        .into_iter()
        .map(|spec| Existing {
            name: spec.get_str("name").unwrap_or_default().to_owned(),
            keys: spec.get_document("key").cloned().unwrap_or_default(),
            unique: spec.get_bool("unique").unwrap_or(false),
            ttl_seconds: spec.get("expireAfterSeconds").and_then(integer),
        })
        .collect())
}

/// Whether an index key document is exactly `{<field>: 1}` (whatever the number type).
fn is_ascending_on(keys: &Document, field: &str) -> bool {
    let mut iter = keys.iter();
    let ascending = matches!(iter.next(), Some((k, v)) if k == field && integer(v) == Some(1));
    ascending && iter.next().is_none()
}

/// Drop every unique index on exactly `{email: 1}` of the users collection that is not
/// `email_unique` (e.g. an auto-named `email_1` made by hand), so the canonical one can be
/// created.
async fn drop_legacy_email_indexes(db: &Database, users: &str) -> StoreResult<()> {
    for index in existing_indexes(db, users).await? {
        let name = index.name.as_str();
        if name != EMAIL_UNIQUE && index.unique && is_ascending_on(&index.keys, "email") {
            tracing::warn!(
                target: LOG_TARGET,
                collection = users,
                index = name,
                "dropping legacy unique index {name} on {users} to create {EMAIL_UNIQUE}"
            );
            db.collection::<Document>(users)
                .drop_index(name)
                .await
                .map_err(store_err(WHAT))?;
        }
    }
    Ok(())
}

/// Apply the `mode` validator to the OAuth states collection: `collMod` when it exists, else
/// create it with the validator (and `collMod` after all if it was created meanwhile).
async fn apply_state_validator(db: &Database, states: &str) -> StoreResult<()> {
    let coll_mod = doc! {
        "collMod": states,
        "validator": oauth_state_validator(),
        "validationLevel": "moderate",
        "validationAction": "error",
    };
    match db.run_command(coll_mod.clone()).await {
        Ok(_) => return Ok(()),
        Err(e) if server_code(&e) == Some(NAMESPACE_NOT_FOUND) => {}
        Err(e) => return Err(store_err(WHAT)(e)),
    }
    let created = db
        .create_collection(states)
        .validator(oauth_state_validator())
        .validation_level(ValidationLevel::Moderate)
        .validation_action(ValidationAction::Error)
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if server_code(&e) == Some(NAMESPACE_EXISTS) => {
            db.run_command(coll_mod).await.map_err(store_err(WHAT))?;
            Ok(())
        }
        Err(e) => Err(store_err(WHAT)(e)),
    }
}

/// Bring a TTL index that exists under its canonical name to the configured expiry with
/// `collMod` (the login-attempt TTL follows `login_lockout_window_seconds`, which may change
/// between runs; `createIndexes` would refuse the changed definition).
async fn update_ttls(db: &Database, coll: &str, specs: &[Spec]) -> StoreResult<()> {
    if !specs.iter().any(|s| s.ttl.is_some()) {
        return Ok(());
    }
    let existing = existing_indexes(db, coll).await?;
    for spec in specs {
        let Some(want) = spec.ttl else { continue };
        let want = i64::try_from(want.as_secs()).unwrap_or(i64::MAX);
        let have = existing
            .iter()
            .find(|i| i.name == spec.name)
            .and_then(|i| i.ttl_seconds);
        if let Some(have) = have.filter(|have| *have != want) {
            tracing::info!(
                target: LOG_TARGET,
                collection = coll,
                index = spec.name,
                "changing expireAfterSeconds of {} on {coll} from {have} to {want}",
                spec.name
            );
            db.run_command(doc! {
                "collMod": coll,
                "index": { "name": spec.name, "expireAfterSeconds": want },
            })
            .await
            .map_err(store_err(WHAT))?;
        }
    }
    Ok(())
}

/// Create (idempotently) every index and the validator.
pub(crate) async fn install(
    db: &Database,
    names: &CollectionNames,
    attempt_ttl: Duration,
) -> StoreResult<()> {
    drop_legacy_email_indexes(db, &names.users).await?;
    apply_state_validator(db, &names.oauth_states).await?;
    for (coll, specs) in layout(names, attempt_ttl) {
        update_ttls(db, coll, &specs).await?;
        db.collection::<Document>(coll)
            .create_indexes(specs.iter().map(Spec::model))
            .await
            .map_err(store_err(WHAT))?;
    }
    tracing::info!(
        target: LOG_TARGET,
        database = db.name(),
        "regstack indexes installed on database {}",
        db.name()
    );
    Ok(())
}

/// [`SCHEMA_REVISION`] when the uniqueness-guarding indexes exist.
pub(crate) async fn status(db: &Database, names: &CollectionNames) -> StoreResult<SchemaStatus> {
    let has = |indexes: &[Existing], name: &str| indexes.iter().any(|i| i.name == name);
    let users = existing_indexes(db, &names.users).await?;
    let blacklist = existing_indexes(db, &names.blacklist).await?;
    let installed = has(&users, EMAIL_UNIQUE) && has(&blacklist, JTI_UNIQUE);
    Ok(SchemaStatus {
        current: installed.then(|| SCHEMA_REVISION.to_owned()),
        head: SCHEMA_REVISION.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_key_shape() {
        assert!(is_ascending_on(&doc! { "email": 1 }, "email"));
        assert!(is_ascending_on(&doc! { "email": 1_i64 }, "email"));
        assert!(is_ascending_on(&doc! { "email": 1.0 }, "email"));
        assert!(!is_ascending_on(&doc! { "email": -1 }, "email"));
        assert!(!is_ascending_on(&doc! { "email": "hashed" }, "email"));
        assert!(!is_ascending_on(&doc! { "email": 1, "x": 1 }, "email"));
        assert!(!is_ascending_on(&doc! { "mail": 1 }, "email"));
        assert!(!is_ascending_on(&doc! {}, "email"));
    }

    #[test]
    fn layout_names() {
        let names: Vec<&str> = layout(&CollectionNames::default(), Duration::from_secs(900))
            .iter()
            .flat_map(|(_, specs)| specs.iter().map(|s| s.name))
            .collect();
        assert_eq!(
            names,
            [
                "email_unique",
                "jti_unique",
                "exp_ttl",
                "pending_email_unique",
                "pending_token_unique",
                "pending_ttl",
                "email_when",
                "when_ttl",
                "user_kind_unique",
                "mfa_ttl",
                "provider_subject_unique",
                "user_provider_unique",
                "oauth_state_ttl",
            ]
        );
    }
}
