//! [`Error`]: why a transport could not be built from its settings.

use regstack_core::config::env_name;

/// A transport cannot be built from the `[email]` settings. Always names the field (and its
/// environment variable); never echoes a secret.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or cannot be honoured (an unreadable CA file, a bad endpoint).
    #[error("cannot start with `{field}` ({env}): {reason}")]
    Setting {
        /// Field path, e.g. `email.smtp_ca_file`.
        field: &'static str,
        /// Its environment variable, e.g. `REGSTACK_EMAIL__SMTP_CA_FILE`.
        env: String,
        /// What is wrong.
        reason: String,
        /// The underlying failure, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

impl Error {
    /// The field path the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Setting { field, .. } => field,
        }
    }

    #[cfg_attr(not(feature = "smtp"), allow(dead_code))]
    pub(crate) fn setting(
        field: &'static str,
        reason: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Setting {
            field,
            env: env_name(field),
            reason: reason.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
