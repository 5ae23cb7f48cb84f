#![doc = include_str!("../README.md")]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use regstack_core::config::RegStackConfig;
use regstack_core::store::{Backend, SchemaStatus, StoreResult, Stores};

pub use mongodb;

mod error;
mod fields;
mod repos;
mod schema;

pub use crate::error::Error;
pub use crate::repos::{
    MongoLoginAttempts, MongoMfaCodes, MongoOAuthIdentities, MongoOAuthStates, MongoPending,
    MongoRevocations, MongoUsers,
};
pub use crate::schema::{LOG_TARGET, SCHEMA_REVISION, oauth_state_validator};

/// The TTL of login-attempt documents when none is configured: the default
/// `login_lockout_window_seconds` (900 s).
pub const DEFAULT_LOGIN_ATTEMPT_TTL: Duration = Duration::from_secs(900);

/// The names of the seven collections (regstack 0.9.3's configuration); the defaults are regstack's.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CollectionNames {
    /// `user_collection` (default `users`).
    pub users: String,
    /// `pending_collection` (default `pending_registrations`).
    pub pending: String,
    /// `blacklist_collection` (default `token_blacklist`).
    pub blacklist: String,
    /// `login_attempt_collection` (default `login_attempts`).
    pub login_attempts: String,
    /// `mfa_code_collection` (default `mfa_codes`).
    pub mfa_codes: String,
    /// `oauth_identity_collection` (default `oauth_identities`).
    pub oauth_identities: String,
    /// `oauth_state_collection` (default `oauth_states`).
    pub oauth_states: String,
}

impl Default for CollectionNames {
    fn default() -> Self {
        Self {
            users: "users".to_owned(),
            pending: "pending_registrations".to_owned(),
            blacklist: "token_blacklist".to_owned(),
            login_attempts: "login_attempts".to_owned(),
            mfa_codes: "mfa_codes".to_owned(),
            oauth_identities: "oauth_identities".to_owned(),
            oauth_states: "oauth_states".to_owned(),
        }
    }
}

impl CollectionNames {
    /// The seven `*_collection` settings of a configuration.
    pub fn from_config(config: &RegStackConfig) -> Self {
        Self {
            users: config.user_collection.clone(),
            pending: config.pending_collection.clone(),
            blacklist: config.blacklist_collection.clone(),
            login_attempts: config.login_attempt_collection.clone(),
            mfa_codes: config.mfa_code_collection.clone(),
            oauth_identities: config.oauth_identity_collection.clone(),
            oauth_states: config.oauth_state_collection.clone(),
        }
    }
}

/// The MongoDB backend: every regstack repository on one database, document-compatible with
/// regstack 0.9.3.
///
/// Cloning is cheap (the driver's [`Client`] is a handle to a shared pool).
#[derive(Debug, Clone)]
pub struct MongoBackend {
    db: Database,
    names: Arc<CollectionNames>,
    login_attempt_ttl: Duration,
    /// Whether [`Backend::close`] shuts the client down (only a client this crate created).
    owns_client: bool,
}

impl MongoBackend {
    /// Connect to the database named by a `mongodb://` / `mongodb+srv://` URL: its path (e.g.
    /// `mongodb://h:27017/app` → `app`), else `config.mongodb_database`. Collection names and
    /// the login-attempt TTL (`login_lockout_window_seconds`) come from `config`.
    ///
    /// The driver connects lazily: an unreachable server shows on the first operation (e.g.
    /// [`Backend::ping`]), after the URL's `serverSelectionTimeoutMS` (30 s by default).
    pub async fn connect(url: &str, config: &RegStackConfig) -> StoreResult<Self> {
        let options = ClientOptions::parse(url).await.map_err(|e| {
            if matches!(
                e.kind.as_ref(),
                mongodb::error::ErrorKind::InvalidArgument { .. }
            ) {
                Error::InvalidUrl(e).into()
            } else {
                error::store_err("database")(e)
            }
        })?;
        Self::from_client_options(options, config)
    }

    /// Like [`MongoBackend::connect`] with options the host parsed and adjusted (timeouts,
    /// TLS, credentials, ...): the database is `options.default_database`, else
    /// `config.mongodb_database`.
    pub fn from_client_options(
        mut options: ClientOptions,
        config: &RegStackConfig,
    ) -> StoreResult<Self> {
        options
            .app_name
            .get_or_insert_with(|| "regstack".to_owned());
        let name = options
            .default_database
            .clone()
            .unwrap_or_else(|| config.mongodb_database.clone());
        let client = Client::with_options(options).map_err(error::store_err("database"))?;
        let ttl = u64::try_from(config.login_lockout_window_seconds)
            .map_or(DEFAULT_LOGIN_ATTEMPT_TTL, Duration::from_secs);
        Ok(Self {
            db: client.database(&name),
            names: Arc::new(CollectionNames::from_config(config)),
            login_attempt_ttl: ttl,
            owns_client: true,
        })
    }

    /// Use a database handle of the host's own client. [`Backend::close`] then leaves the
    /// client alone. The login-attempt TTL is [`DEFAULT_LOGIN_ATTEMPT_TTL`] unless set with
    /// [`MongoBackend::with_login_attempt_ttl`].
    pub fn from_database(db: Database, names: CollectionNames) -> Self {
        Self {
            db,
            names: Arc::new(names),
            login_attempt_ttl: DEFAULT_LOGIN_ATTEMPT_TTL,
            owns_client: false,
        }
    }

    /// Set the `expireAfterSeconds` of the login-attempt TTL index (`when_ttl`) that
    /// [`Backend::install_schema`] creates; it should be `login_lockout_window_seconds`.
    #[must_use]
    pub fn with_login_attempt_ttl(mut self, ttl: Duration) -> Self {
        self.login_attempt_ttl = ttl;
        self
    }

    /// The database in use.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The collection names in use.
    pub fn collection_names(&self) -> &CollectionNames {
        &self.names
    }

    /// The TTL of login-attempt documents.
    pub fn login_attempt_ttl(&self) -> Duration {
        self.login_attempt_ttl
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// The users repository.
    pub fn users(&self) -> MongoUsers {
        MongoUsers {
            coll: self.coll(&self.names.users),
        }
    }

    /// The pending registrations repository.
    pub fn pending(&self) -> MongoPending {
        MongoPending {
            coll: self.coll(&self.names.pending),
        }
    }

    /// The token blacklist repository.
    pub fn revocations(&self) -> MongoRevocations {
        MongoRevocations {
            coll: self.coll(&self.names.blacklist),
        }
    }

    /// The login attempts repository.
    pub fn login_attempts(&self) -> MongoLoginAttempts {
        MongoLoginAttempts {
            coll: self.coll(&self.names.login_attempts),
        }
    }

    /// The MFA codes repository.
    pub fn mfa_codes(&self) -> MongoMfaCodes {
        MongoMfaCodes {
            coll: self.coll(&self.names.mfa_codes),
        }
    }

    /// The OAuth identities repository.
    pub fn oauth_identities(&self) -> MongoOAuthIdentities {
        MongoOAuthIdentities {
            coll: self.coll(&self.names.oauth_identities),
        }
    }

    /// The OAuth states repository.
    pub fn oauth_states(&self) -> MongoOAuthStates {
        MongoOAuthStates {
            coll: self.coll(&self.names.oauth_states),
        }
    }
}

#[async_trait]
impl Backend for MongoBackend {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn stores(&self) -> Stores {
        Stores {
            users: Arc::new(self.users()),
            pending: Arc::new(self.pending()),
            revocations: Arc::new(self.revocations()),
            login_attempts: Arc::new(self.login_attempts()),
            mfa_codes: Arc::new(self.mfa_codes()),
            oauth_identities: Arc::new(self.oauth_identities()),
            oauth_states: Arc::new(self.oauth_states()),
            sessions: None,
        }
    }

    /// Create every index of regstack 0.9.3's data model under its canonical name (dropping a legacy
    /// unique `{email: 1}` index of another name first, with a warning), and the
    /// `oauth_states` validator. Idempotent; a changed login-attempt TTL is applied with
    /// `collMod`.
    async fn install_schema(&self) -> StoreResult<()> {
        schema::install(&self.db, &self.names, self.login_attempt_ttl).await
    }

    /// `current` is [`SCHEMA_REVISION`] when `email_unique` and `jti_unique` exist, `None`
    /// otherwise; `head` is always [`SCHEMA_REVISION`].
    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        schema::status(&self.db, &self.names).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(error::store_err("database"))?;
        Ok(())
    }

    /// Shut the client down when this backend created it ([`MongoBackend::connect`],
    /// [`MongoBackend::from_client_options`]); a host's client ([`MongoBackend::from_database`])
    /// is left open.
    async fn close(&self) {
        if self.owns_client {
            self.db.client().clone().shutdown().await;
        }
    }
}
