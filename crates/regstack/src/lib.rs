#![doc = include_str!("../README.md")]

use std::sync::Arc;

pub use regstack_core as core;
pub use regstack_core::config::{self, LoadOptions, RegStackConfig};
pub use regstack_core::flows;
pub use regstack_core::store::{self, Backend, Stores};
pub use regstack_core::{
    Clock, EmailMessage, Event, FrozenClock, MailComposer, Mailer, RegStack, RegStackBuilder,
    SmsMessage, SmsSender, SystemClock, User,
};
pub use regstack_mail as mail;
pub use regstack_sms as sms;

#[cfg(feature = "axum")]
pub use regstack_http_axum as axum;
#[cfg(feature = "mongo")]
pub use regstack_store_mongo as mongo;
#[cfg(feature = "postgres")]
pub use regstack_store_pg as postgres;
#[cfg(feature = "sqlite")]
pub use regstack_store_sqlite as sqlite;

/// Why an instance could not be assembled from its configuration.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Build(#[from] regstack_core::regstack::BuildError),
    #[error(transparent)]
    Config(#[from] regstack_core::config::ConfigError),
    #[error(transparent)]
    Store(#[from] regstack_core::StoreError),
    #[error(
        "unrecognised database_url scheme `{0}` (expected sqlite://, postgresql:// or mongodb://)"
    )]
    UnknownScheme(String),
    #[error("{0}")]
    RateLimit(String),
    #[error("{what} needs the `{feature}` feature of the regstack crate")]
    MissingFeature {
        what: &'static str,
        feature: &'static str,
    },
    #[error(transparent)]
    Sms(#[from] regstack_sms::Error),
    #[error(transparent)]
    Mail(#[from] regstack_mail::Error),
}

/// The storage backend kinds, as chosen by the `database_url` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
    Mongo,
}

/// Which backend a `database_url` selects (regstack 0.9.3's data model), case-insensitively.
pub fn backend_kind(url: &str) -> Result<BackendKind, Error> {
    let lower = url.to_ascii_lowercase();
    let scheme = lower.split("://").next().unwrap_or_default();
    match scheme {
        "sqlite" | "sqlite+aiosqlite" => Ok(BackendKind::Sqlite),
        "postgresql" | "postgresql+asyncpg" | "postgres" => Ok(BackendKind::Postgres),
        "mongodb" | "mongodb+srv" => Ok(BackendKind::Mongo),
        _ if !lower.contains("://") => Err(Error::UnknownScheme(String::new())),
        other => Err(Error::UnknownScheme(other.to_owned())),
    }
}

/// `url` with its scheme (before `://`) in lower case.
#[cfg(feature = "mongo")]
fn lowercase_scheme(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => url.to_owned(),
    }
}

/// Open the backend named by `database_url`.
pub async fn connect(config: &RegStackConfig) -> Result<Arc<dyn Backend>, Error> {
    let url = config.database_url.expose();
    match backend_kind(url)? {
        #[cfg(feature = "sqlite")]
        BackendKind::Sqlite => Ok(Arc::new(
            regstack_store_sqlite::SqliteBackend::connect(url).await?,
        )),
        #[cfg(not(feature = "sqlite"))]
        BackendKind::Sqlite => Err(Error::MissingFeature {
            what: "a sqlite:// database_url",
            feature: "sqlite",
        }),
        #[cfg(feature = "postgres")]
        BackendKind::Postgres => Ok(Arc::new(regstack_store_pg::PgBackend::connect(url).await?)),
        #[cfg(not(feature = "postgres"))]
        BackendKind::Postgres => Err(Error::MissingFeature {
            what: "a postgresql:// database_url",
            feature: "postgres",
        }),
        // The scheme matched case-insensitively; the driver wants it in lower case.
        #[cfg(feature = "mongo")]
        BackendKind::Mongo => Ok(Arc::new(
            regstack_store_mongo::MongoBackend::connect(&lowercase_scheme(url), config).await?,
        )),
        #[cfg(not(feature = "mongo"))]
        BackendKind::Mongo => Err(Error::MissingFeature {
            what: "a mongodb:// database_url",
            feature: "mongo",
        }),
    }
}

/// The mail transport named by `[email] backend`: `console` always, `smtp` and `ses` with the
/// features of the same names (otherwise [`Error::MissingFeature`]). A setting the transport
/// cannot honour (no `smtp_host`, an unreadable `smtp_ca_file`) is an [`Error::Mail`] naming
/// the field; building connects to nothing.
pub fn mailer_from_config(config: &RegStackConfig) -> Result<Arc<dyn Mailer>, Error> {
    use regstack_core::config::EmailBackend;
    match config.email.backend {
        EmailBackend::Console => Ok(Arc::new(mail::ConsoleMailer::from_config(&config.email))),
        #[cfg(feature = "smtp")]
        EmailBackend::Smtp => Ok(Arc::new(mail::SmtpMailer::from_config(&config.email)?)),
        #[cfg(not(feature = "smtp"))]
        EmailBackend::Smtp => Err(Error::MissingFeature {
            what: "email backend `smtp`",
            feature: "smtp",
        }),
        #[cfg(feature = "ses")]
        EmailBackend::Ses => Ok(Arc::new(mail::SesMailer::from_config(&config.email))),
        #[cfg(not(feature = "ses"))]
        EmailBackend::Ses => Err(Error::MissingFeature {
            what: "email backend `ses`",
            feature: "ses",
        }),
    }
}

/// The SMS transport named by `[sms] backend`: `null` always, `sns` and `twilio` with the
/// features of the same names (otherwise [`Error::MissingFeature`]). An incomplete `twilio`
/// section is an [`Error::Sms`] naming the field; building does no network I/O.
pub fn sms_from_config(config: &RegStackConfig) -> Result<Arc<dyn SmsSender>, Error> {
    use regstack_core::config::SmsBackend;
    match config.sms.backend {
        SmsBackend::Null => Ok(Arc::new(sms::NullSms::from_config(&config.sms))),
        #[cfg(feature = "sns")]
        SmsBackend::Sns => Ok(Arc::new(sms::SnsSms::from_config(&config.sms))),
        #[cfg(not(feature = "sns"))]
        SmsBackend::Sns => Err(Error::MissingFeature {
            what: "sms backend `sns`",
            feature: "sns",
        }),
        #[cfg(feature = "twilio")]
        SmsBackend::Twilio => Ok(Arc::new(sms::TwilioSms::from_config(&config.sms)?)),
        #[cfg(not(feature = "twilio"))]
        SmsBackend::Twilio => Err(Error::MissingFeature {
            what: "sms backend `twilio`",
            feature: "twilio",
        }),
    }
}

/// Per-route IP limits are enforced by the HTTP router: without it they cannot be, and a
/// configured limit that cannot be enforced refuses to start.
#[cfg(feature = "axum")]
fn check_rate_limits(config: &RegStackConfig) -> Result<(), Error> {
    regstack_http_axum::ratelimit::RouteLimits::from_config(config)
        .map(|_| ())
        .map_err(|e| Error::RateLimit(e.to_string()))
}

#[cfg(not(feature = "axum"))]
fn check_rate_limits(config: &RegStackConfig) -> Result<(), Error> {
    if config.rate_limits().is_empty() {
        Ok(())
    } else {
        Err(Error::MissingFeature {
            what: "per-route rate limits (*_rate_limit)",
            feature: "axum",
        })
    }
}

/// Complete a builder with whatever the host did not supply, as the configuration names it:
/// the backend from `database_url`, the mail and SMS transports from `[email]` / `[sms]`, and
/// the askama mail composer themed from the configuration. Fails closed: a configuration that cannot be honoured is an error, never a silent default.
pub async fn build(mut builder: RegStackBuilder) -> Result<RegStack, Error> {
    let config = builder.config().clone();
    config.validate()?;
    config.check_startup()?;
    check_rate_limits(&config)?;
    if !builder.has_mailer() {
        builder = builder.mailer(mailer_from_config(&config)?);
    }
    if !builder.has_composer() {
        builder = builder.composer(Arc::new(mail::AskamaComposer::from_config(&config)));
    }
    if !builder.has_sms() {
        builder = builder.sms(sms_from_config(&config)?);
    }
    if !builder.has_stores() {
        builder = builder.backend(connect(&config).await?);
    }
    Ok(builder.build()?)
}

/// Build an instance entirely from its configuration.
pub async fn from_config(config: RegStackConfig) -> Result<RegStack, Error> {
    build(RegStack::builder(config)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_backends_follow_the_features() {
        use regstack_core::config::EmailBackend;
        let mut cfg = RegStackConfig::default();
        assert!(format!("{:?}", mailer_from_config(&cfg).unwrap()).contains("ConsoleMailer"));

        cfg.email.backend = EmailBackend::Smtp;
        cfg.email.smtp_host = Some("127.0.0.1".into());
        let smtp = mailer_from_config(&cfg);
        #[cfg(feature = "smtp")]
        assert!(format!("{:?}", smtp.unwrap()).contains("SmtpMailer"));
        #[cfg(not(feature = "smtp"))]
        assert!(matches!(
            smtp,
            Err(Error::MissingFeature {
                feature: "smtp",
                ..
            })
        ));

        cfg.email.backend = EmailBackend::Ses;
        let ses = mailer_from_config(&cfg);
        #[cfg(feature = "ses")]
        assert!(format!("{:?}", ses.unwrap()).contains("SesMailer"));
        #[cfg(not(feature = "ses"))]
        assert!(matches!(
            ses,
            Err(Error::MissingFeature { feature: "ses", .. })
        ));
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn smtp_settings_errors_name_the_field() {
        use regstack_core::config::EmailBackend;
        let mut cfg = RegStackConfig::default();
        cfg.email.backend = EmailBackend::Smtp;
        cfg.email.smtp_host = Some("127.0.0.1".into());
        cfg.email.smtp_ca_file = Some("/nonexistent/ca.pem".into());
        let err = mailer_from_config(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("`email.smtp_ca_file` (REGSTACK_EMAIL__SMTP_CA_FILE)"),
            "{err}"
        );
    }

    #[test]
    fn schemes_pick_backends() {
        for (url, kind) in [
            ("sqlite+aiosqlite:///./x.db", BackendKind::Sqlite),
            ("SQLITE:///:memory:", BackendKind::Sqlite),
            ("postgresql+asyncpg://u@h/db", BackendKind::Postgres),
            ("postgres://h/db", BackendKind::Postgres),
            ("mongodb+srv://h/db", BackendKind::Mongo),
        ] {
            assert_eq!(backend_kind(url).unwrap(), kind, "{url}");
        }
        assert!(
            matches!(backend_kind("mysql://h/db"), Err(Error::UnknownScheme(s)) if s == "mysql")
        );
        assert!(backend_kind("nonsense").is_err());
    }

    #[test]
    fn sms_backends_follow_features() {
        use regstack_core::config::SmsBackend;
        let mut config = RegStackConfig::default();
        let name = |c: &RegStackConfig| match sms_from_config(c) {
            Ok(sms) => format!("{sms:?}"),
            Err(e) => e.to_string(),
        };
        assert!(name(&config).starts_with("NullSms"));

        config.sms.backend = SmsBackend::Sns;
        if cfg!(feature = "sns") {
            assert!(name(&config).starts_with("SnsSms"), "{}", name(&config));
        } else {
            assert_eq!(
                name(&config),
                "sms backend `sns` needs the `sns` feature of the regstack crate"
            );
        }

        config.sms.backend = SmsBackend::Twilio;
        if cfg!(feature = "twilio") {
            assert_eq!(
                name(&config),
                "`sms.twilio_account_sid` is required for the twilio sms backend"
            );
            config.sms.twilio_account_sid = Some("AC1".into());
            config.sms.twilio_auth_token = Some("token".into());
            config.sms.from_number = Some("+15550001".into());
            assert!(name(&config).starts_with("TwilioSms"), "{}", name(&config));
        } else {
            assert_eq!(
                name(&config),
                "sms backend `twilio` needs the `twilio` feature of the regstack crate"
            );
        }
    }
}
