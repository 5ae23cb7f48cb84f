//! [`ConfigError`]: every way loading or checking the configuration can fail.

use std::path::PathBuf;

/// Why a configuration could not be loaded, validated or started with.
///
/// Every variant about a setting names it twice: as a field path
/// (`email.smtp_port`) and as its environment variable
/// (`REGSTACK_EMAIL__SMTP_PORT`). Secret values are never echoed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value of the wrong type, outside its range, not one of its literals,
    /// or breaking a pairing rule (regstack 0.9.3's configuration).
    #[error("invalid value for `{field}` ({env}): {reason}")]
    Invalid {
        /// Field path, e.g. `jwt_ttl_seconds` or `email.backend`.
        field: String,
        /// The environment variable of the field, e.g. `REGSTACK_JWT_TTL_SECONDS`.
        env: String,
        /// What is wrong, ending with the offending value where it is not secret.
        reason: String,
    },
    /// A whole sub-section (`REGSTACK_EMAIL`) or a list setting holds text
    /// that is not JSON.
    #[error("invalid value for `{field}` ({env}): not valid JSON: {source}")]
    Json {
        /// Field path.
        field: String,
        /// The environment variable of the field.
        env: String,
        /// The JSON parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration loads but the service must refuse to start with it
    /// (regstack 0.9.3's configuration).
    #[error("cannot start with `{field}` ({env}): {reason}")]
    Startup {
        /// Field path.
        field: String,
        /// The environment variable of the field.
        env: String,
        /// What is missing or too weak.
        reason: String,
    },
    /// The TOML or secrets file exists but could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The TOML document does not parse.
    #[error(
        "invalid TOML in {}: {source}",
        path.as_ref().map_or_else(|| "configuration string".to_owned(), |p| p.display().to_string())
    )]
    Toml {
        /// The file, `None` for [`RegStackConfig::from_toml_str`](super::RegStackConfig::from_toml_str).
        path: Option<PathBuf>,
        /// The TOML parser's complaint.
        #[source]
        source: toml::de::Error,
    },
}

impl ConfigError {
    /// The field path the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. }
            | Self::Json { field, .. }
            | Self::Startup { field, .. } => Some(field),
            Self::Read { .. } | Self::Toml { .. } => None,
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            env: env_name(field),
            reason: reason.into(),
        }
    }

    pub(crate) fn startup(field: &str, reason: impl Into<String>) -> Self {
        Self::Startup {
            field: field.to_owned(),
            env: env_name(field),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(field: &str, source: serde_json::Error) -> Self {
        Self::Json {
            field: field.to_owned(),
            env: env_name(field),
            source,
        }
    }
}

/// The environment variable of a field path: `email.smtp_port` →
/// `REGSTACK_EMAIL__SMTP_PORT`.
pub fn env_name(field: &str) -> String {
    format!("REGSTACK_{}", field.replace('.', "__").to_ascii_uppercase())
}
