//! Configuration: every setting of regstack 0.9.3's configuration, its defaults, validation
//! and the derived values other modules use (prefixes, email links, route
//! rate limits).
//!
//! Loading ([`RegStackConfig::load`], [`RegStackConfig::load_with`]) merges,
//! highest priority first:
//!
//! 1. programmatic overrides ([`LoadOptions::overrides`]);
//! 2. process environment variables `REGSTACK_*` (names matched
//!    case-insensitively; nested fields use `__`, e.g.
//!    `REGSTACK_EMAIL__SMTP_PASSWORD`; a whole sub-section may be a JSON object,
//!    `REGSTACK_EMAIL='{"backend":"smtp"}'`, with `__` variables merged over it);
//! 3. the secrets file (`regstack.secrets.env`, dotenv-like);
//! 4. the TOML file (explicit path, else `$REGSTACK_CONFIG`, else
//!    `./regstack.toml`), flattened into `REGSTACK_*` keys;
//! 5. the defaults of [`RegStackConfig::default`].
//!
//! The loader merges the sources into one value tree and deserializes the
//! structs below from it: each setting is declared once, as a field with its
//! parser and range (`lax::…`) and its default (after `=`). Unknown keys are
//! logged at WARN and otherwise ignored, as 0.9.3 ignores them.
//!
//! Loading reads files and the process environment; it is the one place in
//! this crate that does, and it only runs when the host asks for it. A host
//! can also build a [`RegStackConfig`] by hand and call
//! [`RegStackConfig::validate`].
//!
//! ```
//! use regstack_core::config::{LoadOptions, RegStackConfig};
//!
//! let config = RegStackConfig::load_with(LoadOptions {
//!     env: Some(vec![("REGSTACK_APP_NAME".into(), "MyApp".into())]),
//!     overrides: vec![("jwt_ttl_seconds".into(), "600".into())],
//!     ..LoadOptions::default()
//! })
//! .unwrap();
//! assert_eq!(config.app_name, "MyApp");
//! assert_eq!(config.jwt_ttl_seconds, 600);
//! assert_eq!(config.verify_url("abc"), "http://localhost:8000/verify?token=abc");
//! ```

mod error;
mod lax;
mod load;
mod network;
mod secret;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use self::error::{ConfigError, env_name};
pub use self::load::LoadOptions;
pub use self::network::IpNetwork;
pub use self::secret::SecretString;

/// Minimum length (in characters) of `jwt_secret` for the service to start.
pub const MIN_JWT_SECRET_CHARS: usize = 32;

/// Maximum length of an http(s) URL setting (`base_url`,
/// `oauth.google_redirect_uri`).
pub const MAX_URL_CHARS: usize = 2083;

/// Declares a setting with a fixed set of literals: the enum, `ALL`, `as_str`, `parse`,
/// `Display`, and (de)serialization as the exact, case-sensitive literal.
macro_rules! literals {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $literal:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every accepted literal, in documentation order.
            pub const ALL: [Self; [$($literal),*].len()] = [$(Self::$variant),*];

            /// The literal.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $literal,)* }
            }

            /// Parses the exact (case-sensitive) literal.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|a| a.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                lax::literal(d, Self::parse, &Self::ALL.map(Self::as_str))
            }
        }
    };
}

literals! {
    /// The JWS algorithm of every regstack-issued JWT (`jwt_algorithm`).
    #[allow(clippy::upper_case_acronyms)]
    #[derive(Default)]
    pub enum JwtAlgorithm {
        /// HMAC-SHA256 (the default).
        #[default]
        HS256 = "HS256",
        /// HMAC-SHA384.
        HS384 = "HS384",
        /// HMAC-SHA512.
        HS512 = "HS512",
    }
}

literals! {
    /// Which mail transport sends the emails (`email.backend`).
    #[derive(Default)]
    pub enum EmailBackend {
        /// Logs the message instead of sending it (the default).
        #[default]
        Console = "console",
        /// SMTP, optionally upgraded with STARTTLS.
        Smtp = "smtp",
        /// Amazon SES.
        Ses = "ses",
    }
}

literals! {
    /// How the SMTP transport protects the connection (`email.smtp_tls`, Rust-only).
    pub enum SmtpTls {
        /// Connect in plaintext, then upgrade with STARTTLS; a server without STARTTLS is refused.
        Starttls = "starttls",
        /// Implicit TLS from the first byte ("SMTPS", usually port 465).
        Tls = "tls",
        /// Plaintext only (a trusted local relay).
        None = "none",
    }
}

literals! {
    /// Which SMS transport sends the codes (`sms.backend`).
    #[derive(Default)]
    pub enum SmsBackend {
        /// Logs instead of sending (the default).
        #[default]
        Null = "null",
        /// Amazon SNS.
        Sns = "sns",
        /// Twilio.
        Twilio = "twilio",
    }
}

/// Declares a section of settings, each field with its documentation, its default after `=`,
/// and after `=>` its parser and range, the `deserialize_with` path of a `lax::` helper
/// (literal enums, secrets and sections parse themselves). Generates the struct, deserialized
/// from the loader's value tree (a missing key keeps its default), and its `Default`.
macro_rules! settings {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* pub $field:ident: $ty:ty = $default:expr $(=> $parser:tt)?,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(#[$fmeta])* $(#[serde(deserialize_with = $parser)])? pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }
    };
}

settings! {
    /// `[email]` (regstack 0.9.3's configuration, env `REGSTACK_EMAIL__*`).
    pub struct EmailConfig {
        /// `console` (default), `smtp` or `ses`.
        pub backend: EmailBackend = EmailBackend::Console,
        /// Sender address (default `noreply@example.com`); must be an email address.
        pub from_address: String = "noreply@example.com".into() => "lax::email_address",
        /// Display name of the sender; `None` means `app_name`.
        pub from_name: Option<String> = None => "lax::opt_string",
        /// SMTP server; required (non-empty) for the `smtp` backend at startup.
        pub smtp_host: Option<String> = None => "lax::opt_string",
        /// SMTP port (default 587).
        pub smtp_port: u16 = 587 => "lax::Int::<0, 65_535>::de",
        /// Upgrade with STARTTLS after connecting (default `true`).
        pub smtp_starttls: bool = true => "lax::bool",
        /// Rust-only: `starttls`, `tls` (implicit) or `none`. `None` derives it from
        /// `smtp_starttls` (`true` → STARTTLS, `false` → plaintext), as 0.9.3 does; see
        /// [`EmailConfig::smtp_tls_mode`].
        pub smtp_tls: Option<SmtpTls> = None,
        /// Rust-only: seconds one SMTP delivery (connect, TLS, AUTH, transfer) may take,
        /// 1 ..= 3600 (default 10).
        pub smtp_timeout_seconds: u64 = 10 => "lax::Int::<1, 3600>::de",
        /// Rust-only: a PEM file of extra root certificates the SMTP client trusts besides the
        /// system store (a private CA, a test certificate).
        pub smtp_ca_file: Option<PathBuf> = None => "lax::opt_path",
        /// SMTP AUTH user; `None` or empty means no AUTH.
        pub smtp_username: Option<String> = None => "lax::opt_string",
        /// SMTP AUTH password.
        pub smtp_password: Option<SecretString> = None,
        /// SES region (default `eu-west-1`).
        pub ses_region: String = "eu-west-1".into() => "lax::string",
        /// Named AWS profile; exclusive with the explicit keys.
        pub ses_profile: Option<String> = None => "lax::opt_string",
        /// Explicit AWS access key id; set together with `ses_secret_access_key`.
        pub ses_access_key_id: Option<SecretString> = None,
        /// Explicit AWS secret key; set together with `ses_access_key_id`.
        pub ses_secret_access_key: Option<SecretString> = None,
        /// Rust-only: send SES requests to this http(s) endpoint instead of AWS's (tests,
        /// VPC endpoints, local emulators).
        pub ses_endpoint_url: Option<String> = None => "lax::opt_url_as_written",
        /// Console backend: log the text body at INFO instead of DEBUG.
        pub log_bodies: bool = false => "lax::bool",
        /// Rust-only: how many deferred messages (forgot-password, resend-verification,
        /// change-email, notices) may wait for delivery (default 1000, 1 ..= 1 000 000). Beyond
        /// it a message is dropped, logged and counted ([`crate::RegStack::mail_stats`]).
        pub queue_capacity: usize = 1000 => "lax::Int::<1, 1_000_000>::de",
        /// Rust-only: how many messages may be in the transport at once, deferred and inline
        /// together (default 4, 1 ..= 1024): the bound on concurrent SMTP sessions or SES calls.
        pub max_concurrent_sends: usize = 4 => "lax::Int::<1, 1024>::de",
        /// Rust-only: at most one verification (register, resend-verification), reset or
        /// change-email message per recipient within this many seconds (default 60, at most
        /// 86 400; 0 turns the cooldown off). Counted per server process.
        pub cooldown_seconds: u64 = 60 => "lax::Int::<0, 86_400>::de",
    }
}

settings! {
    /// `[sms]` (regstack 0.9.3's configuration, env `REGSTACK_SMS__*`).
    pub struct SmsConfig {
        /// `null` (default), `sns` or `twilio`.
        pub backend: SmsBackend = SmsBackend::Null,
        /// Sender number; required for `twilio`.
        pub from_number: Option<String> = None => "lax::opt_string",
        /// SNS region (default `eu-west-1`).
        pub sns_region: String = "eu-west-1".into() => "lax::string",
        /// Twilio account SID; required for `twilio`.
        pub twilio_account_sid: Option<String> = None => "lax::opt_string",
        /// Twilio auth token; required for `twilio`.
        pub twilio_auth_token: Option<SecretString> = None,
        /// `null` backend: include the SMS body (with the code) in its INFO log line.
        pub log_bodies: bool = false => "lax::bool",
        /// Rust addition: the SNS endpoint instead of AWS's regional one (a VPC endpoint, a
        /// local stand-in); an http(s) URL, stored normalised. `None` (default) uses AWS's.
        pub sns_endpoint_url: Option<String> = None => "lax::opt_url",
        /// Rust addition: the origin of the Twilio REST API (default `https://api.twilio.com`);
        /// an http(s) URL, stored normalised when loaded.
        pub twilio_base_url: String = "https://api.twilio.com".into() => "lax::url",
        /// Rust addition: the time one `sns` / `twilio` send may take, 1 ..= 300 seconds
        /// (default 10).
        pub timeout_seconds: u32 = 10 => "lax::Int::<1, 300>::de",
    }
}

settings! {
    /// `[oauth]` (regstack 0.9.3's configuration, env `REGSTACK_OAUTH__*`).
    pub struct OAuthConfig {
        /// Google client id; Google is registered only if id and secret are non-empty.
        pub google_client_id: Option<String> = None => "lax::opt_string",
        /// Google client secret.
        pub google_client_secret: Option<SecretString> = None,
        /// Overrides the computed callback URL; an http(s) URL, stored normalised.
        pub google_redirect_uri: Option<String> = None => "lax::opt_url",
        /// Link a Google sign-in to an existing same-email user when Google says
        /// the email is verified (default `false`).
        pub auto_link_verified_emails: bool = false => "lax::bool",
        /// Require the SMS second factor on OAuth sign-in (default `false`).
        pub enforce_mfa_on_oauth_signin: bool = false => "lax::bool",
        /// Lifetime of an OAuth state row before the callback (default 300, unchecked).
        pub state_ttl_seconds: i64 = 300 => "lax::int",
        /// Lifetime of the state row after a successful callback (default 30, unchecked).
        pub completion_ttl_seconds: i64 = 30 => "lax::int",
    }
}

settings! {
    /// Every setting of regstack 0.9.3's configuration, plus a few Rust-only additions
    /// (marked as such).
    ///
    /// Build one with [`RegStackConfig::load`] / [`RegStackConfig::load_with`],
    /// or by hand from [`RegStackConfig::default`] (then call
    /// [`RegStackConfig::validate`]). It serializes to the tree the loader reads,
    /// with every secret masked.
    pub struct RegStackConfig {
        // --- identity and hosting (§2.1)
        /// Used in emails, SMS, page titles (default `RegStack`).
        pub app_name: String = "RegStack".into() => "lax::string",
        /// Absolute http(s) URL, stored normalised (scheme and host lower-cased,
        /// default port dropped, empty path becomes `/`): the default is
        /// `http://localhost:8000/`. Use [`RegStackConfig::base_url_trimmed`] as a prefix.
        pub base_url: String = "http://localhost:8000/".into() => "lax::url",
        /// A reverse proxy connects to this service: the per-route IP limits read the client
        /// address from the `X-Forwarded-For` header of requests whose peer is one of
        /// [`trusted_proxies`](Self::trusted_proxies) (default `false`: the peer address only).
        pub behind_proxy: bool = false => "lax::bool",
        /// **Rust-only addition.** The proxies whose `X-Forwarded-For` is trusted when
        /// `behind_proxy` is true: addresses or CIDR blocks (`["10.0.0.0/8", "127.0.0.1",
        /// "::1/128"]`), default empty. Start-up refuses `behind_proxy = true` with an empty
        /// list. Env `REGSTACK_TRUSTED_PROXIES` (a JSON array).
        pub trusted_proxies: Vec<IpNetwork> = Vec::new() => "lax::networks",

        // --- database (§2.2)
        /// Selects the backend by scheme (default `sqlite+aiosqlite:///./regstack.db`).
        pub database_url: SecretString = "sqlite+aiosqlite:///./regstack.db".into(),
        /// Mongo database name when the URL has no path (default `regstack`).
        pub mongodb_database: String = "regstack".into() => "lax::string",
        /// Mongo collection of users (default `users`).
        pub user_collection: String = "users".into() => "lax::string",
        /// Mongo collection of pending registrations (default `pending_registrations`).
        pub pending_collection: String = "pending_registrations".into() => "lax::string",
        /// Mongo collection of revoked tokens (default `token_blacklist`).
        pub blacklist_collection: String = "token_blacklist".into() => "lax::string",
        /// Mongo collection of login attempts (default `login_attempts`).
        pub login_attempt_collection: String = "login_attempts".into() => "lax::string",
        /// Mongo collection of SMS codes (default `mfa_codes`).
        pub mfa_code_collection: String = "mfa_codes".into() => "lax::string",
        /// Mongo collection of OAuth identities (default `oauth_identities`).
        pub oauth_identity_collection: String = "oauth_identities".into() => "lax::string",
        /// Mongo collection of OAuth states (default `oauth_states`).
        pub oauth_state_collection: String = "oauth_states".into() => "lax::string",

        // --- JWT (§2.3)
        /// Master secret; empty by default; at least 32 characters to start.
        pub jwt_secret: SecretString = SecretString::default(),
        /// `HS256` (default), `HS384` or `HS512`.
        pub jwt_algorithm: JwtAlgorithm = JwtAlgorithm::HS256,
        /// Session token lifetime, 60 ..= 2 592 000 (default 7200).
        pub jwt_ttl_seconds: i64 = 7200 => "lax::Int::<60, 2_592_000>::de",
        /// When set, tokens carry `aud` and decoding requires it.
        pub jwt_audience: Option<String> = None => "lax::opt_string",
        /// Always `bearer`; any other value is a config error.
        pub transport: String = "bearer".into() => "lax::bearer",

        // --- one-time token lifetimes (§2.4)
        /// ≥ 60 (default 86400).
        pub verification_token_ttl_seconds: i64 = 86_400 => "lax::Int::<60>::de",
        /// ≥ 60 (default 1800).
        pub password_reset_token_ttl_seconds: i64 = 1800 => "lax::Int::<60>::de",
        /// ≥ 60 (default 3600).
        pub email_change_token_ttl_seconds: i64 = 3600 => "lax::Int::<60>::de",

        // --- SMS / MFA (§2.5)
        /// Digits per SMS code, 4 ..= 10 (default 6).
        pub sms_code_length: u32 = 6 => "lax::Int::<4, 10>::de",
        /// Code lifetime, 30 ..= 1800 (default 300).
        pub sms_code_ttl_seconds: i64 = 300 => "lax::Int::<30, 1800>::de",
        /// Wrong guesses before the code is destroyed, 1 ..= 20 (default 5).
        pub sms_code_max_attempts: i32 = 5 => "lax::Int::<1, 20>::de",
        /// Lifetime of the pending MFA / phone-setup JWTs, 60 ..= 1800 (default 600).
        pub mfa_pending_token_ttl_seconds: i64 = 600 => "lax::Int::<60, 1800>::de",

        // --- feature flags (§2.6)
        /// Default `true`.
        pub require_verification: bool = true => "lax::bool",
        /// Default `true`.
        pub allow_registration: bool = true => "lax::bool",
        /// Default `true`.
        pub enable_password_reset: bool = true => "lax::bool",
        /// Default `true`.
        pub enable_account_deletion: bool = true => "lax::bool",
        /// Default `false`.
        pub enable_admin_router: bool = false => "lax::bool",
        /// Default `false`.
        pub enable_ui_router: bool = false => "lax::bool",
        /// Default `false`.
        pub enable_sms_2fa: bool = false => "lax::bool",
        /// Default `false`.
        pub enable_oauth: bool = false => "lax::bool",

        // --- login lockout (§2.7)
        /// `true` turns the per-account lockout off entirely.
        pub rate_limit_disabled: bool = false => "lax::bool",
        /// Failures within the window that trigger lockout, ≥ 1 (default 5).
        pub login_lockout_threshold: i64 = 5 => "lax::Int::<1>::de",
        /// Sliding window, ≥ 10 (default 900).
        pub login_lockout_window_seconds: i64 = 900 => "lax::Int::<10>::de",
        /// Rust addition: name the email address in the `regstack.security` log lines (failed
        /// logins, lockouts) at INFO. Default `false`: the lines carry the user id only.
        pub log_security_emails: bool = false => "lax::bool",

        // --- per-route IP rate limits (§2.8): the route of each in `rate_limit_routes!` below
        pub login_rate_limit: Option<String> = None => "lax::opt_string",
        pub login_mfa_confirm_rate_limit: Option<String> = None => "lax::opt_string",
        pub register_rate_limit: Option<String> = None => "lax::opt_string",
        pub forgot_password_rate_limit: Option<String> = None => "lax::opt_string",
        pub reset_password_rate_limit: Option<String> = None => "lax::opt_string",
        pub verify_rate_limit: Option<String> = None => "lax::opt_string",
        pub resend_verification_rate_limit: Option<String> = None => "lax::opt_string",
        pub change_password_rate_limit: Option<String> = None => "lax::opt_string",
        pub change_email_rate_limit: Option<String> = None => "lax::opt_string",
        pub confirm_email_change_rate_limit: Option<String> = None => "lax::opt_string",
        pub delete_account_rate_limit: Option<String> = None => "lax::opt_string",
        pub oauth_exchange_rate_limit: Option<String> = None => "lax::opt_string",
        pub phone_start_rate_limit: Option<String> = None => "lax::opt_string",
        pub phone_confirm_rate_limit: Option<String> = None => "lax::opt_string",
        pub phone_disable_rate_limit: Option<String> = None => "lax::opt_string",

        // --- branding, templates, prefixes (§2.9)
        /// `<img>` in the SSR header.
        pub brand_logo_url: Option<String> = None => "lax::opt_string",
        /// Tagline in the SSR header.
        pub brand_tagline: Option<String> = None => "lax::opt_string",
        /// Override directories for the SSR page templates.
        pub extra_template_dirs: Vec<PathBuf> = Vec::new() => "lax::paths",
        /// Declared but unused (as in 0.9.3).
        pub extra_static_dirs: Vec<PathBuf> = Vec::new() => "lax::paths",
        /// Mount point of the JSON API (default `/api/auth`); see
        /// [`RegStackConfig::api_prefix()`].
        pub api_prefix: String = "/api/auth".into() => "lax::string",
        /// Mount point of the SSR pages (default `/account`); see
        /// [`RegStackConfig::ui_prefix()`].
        pub ui_prefix: String = "/account".into() => "lax::string",
        /// Mount point of bundled CSS/JS (default `/regstack-static`); see
        /// [`RegStackConfig::static_prefix()`].
        pub static_prefix: String = "/regstack-static".into() => "lax::string",
        /// Extra stylesheet emitted after the bundled ones.
        pub theme_css_url: Option<String> = None => "lax::opt_string",

        // --- email links (§2.10)
        /// Path prefix of the email links; `Some("")` is a valid explicit value.
        pub email_link_prefix: Option<String> = None => "lax::opt_string",
        /// Full template of the verification link (`{base_url}`, `{token}`).
        pub verify_url_template: Option<String> = None => "lax::opt_string",
        /// Full template of the password-reset link.
        pub password_reset_url_template: Option<String> = None => "lax::opt_string",
        /// Full template of the email-change link.
        pub email_change_url_template: Option<String> = None => "lax::opt_string",

        // --- sub-sections (§3–§5)
        /// `[email]`.
        pub email: EmailConfig = EmailConfig::default(),
        /// `[sms]`.
        pub sms: SmsConfig = SmsConfig::default(),
        /// `[oauth]`.
        pub oauth: OAuthConfig = OAuthConfig::default(),

        // --- Rust-only additions (not in regstack 0.9.3)
        /// **Rust-only addition.** Argon2id memory cost in KiB (default 65536, the
        /// 0.9.3 parameter). Must be ≥ 8 × `password_hash_parallelism`.
        pub password_hash_memory_kib: u32 = 65_536 => "lax::Int::<8>::de",
        /// **Rust-only addition.** Argon2id time cost (default 3), ≥ 1.
        pub password_hash_iterations: u32 = 3 => "lax::Int::<1>::de",
        /// **Rust-only addition.** Argon2id lanes (default 4), 1 ..= 16 777 215.
        pub password_hash_parallelism: u32 = 4 => "lax::Int::<1, 0x00FF_FFFF>::de",
        /// **Rust-only addition.** How many password hashes may run at once (the
        /// number of hashing threads); `None` (default) means one fewer than the
        /// CPU cores, at least 1 ([`crate::password::default_permits`]); ≥ 1 when
        /// set.
        pub password_hash_concurrency: Option<usize> = None => "lax::Int::<1>::opt",
        /// **Rust-only addition.** Nice value of the hashing threads on Linux
        /// (default 10; 0 = the process's own priority; 0 ..= 19). Idle CPU still
        /// goes to hashing; under contention cheap requests go first.
        pub password_hash_nice: u8 = crate::password::DEFAULT_NICE
            => "lax::Int::<0, { crate::password::MAX_NICE as i64 }>::de",
        /// **Rust-only addition.** How long a request may wait for a free hashing thread, in
        /// milliseconds (default 10000, 1 ..= 3 600 000). A request that would wait longer
        /// answers 503 with `Retry-After` instead of queueing without end.
        pub password_hash_max_wait_ms: u64 = 10_000 => "lax::Int::<1, 3_600_000>::de",
        /// **Rust-only addition.** Largest accepted request body in bytes
        /// (default 65536), ≥ 1024.
        pub max_body_bytes: usize = 65_536 => "lax::Int::<1024>::de",
    }
}

/// Declares the per-route IP rate limits: [`RATE_LIMIT_ROUTES`] and
/// [`RegStackConfig::rate_limit`] from one list of (router-relative path, field).
macro_rules! rate_limit_routes {
    ($($path:literal => $field:ident,)*) => {
        /// Router-relative path and field name of every per-route IP rate limit
        /// (regstack 0.9.3's HTTP API), in spec order.
        pub const RATE_LIMIT_ROUTES: [(&str, &str); [$($path),*].len()] =
            [$(($path, stringify!($field))),*];

        impl RegStackConfig {
            /// The value of one `*_rate_limit` field by name (`None` when unset or
            /// not a rate-limit field).
            pub fn rate_limit(&self, field: &str) -> Option<&str> {
                match field {
                    $(stringify!($field) => self.$field.as_deref(),)*
                    _ => None,
                }
            }
        }
    };
}

rate_limit_routes! {
    "/login" => login_rate_limit,
    "/login/mfa-confirm" => login_mfa_confirm_rate_limit,
    "/register" => register_rate_limit,
    "/forgot-password" => forgot_password_rate_limit,
    "/reset-password" => reset_password_rate_limit,
    "/verify" => verify_rate_limit,
    "/resend-verification" => resend_verification_rate_limit,
    "/change-password" => change_password_rate_limit,
    "/change-email" => change_email_rate_limit,
    "/confirm-email-change" => confirm_email_change_rate_limit,
    "/account" => delete_account_rate_limit,
    "/oauth/exchange" => oauth_exchange_rate_limit,
    "/phone/start" => phone_start_rate_limit,
    "/phone/confirm" => phone_confirm_rate_limit,
    "/phone" => phone_disable_rate_limit,
}

impl RegStackConfig {
    /// Loads from the default sources: `./regstack.toml` (or
    /// `$REGSTACK_CONFIG`), `./regstack.secrets.env` and the process
    /// environment; then [`validate`](Self::validate)s.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_with(LoadOptions::default())
    }

    /// Loads with explicit paths, environment and overrides; see
    /// [`LoadOptions`] and the module documentation for the precedence.
    pub fn load_with(opts: LoadOptions) -> Result<Self, ConfigError> {
        load::load(opts, None)
    }

    /// Builds a configuration from a TOML document alone (no environment, no
    /// secrets file), through the same flattening and parsing as
    /// [`load`](Self::load), then validates it.
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        load::from_toml_str(s)
    }

    /// Checks every rule a loaded configuration satisfies: types, ranges,
    /// literals, URL and email syntax (through the very parsers the loader
    /// uses), the SES credential pairing and Argon2's memory per lane.
    /// [`load`](Self::load) applies them; call it yourself on a configuration
    /// built by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        load::validate(self)
    }

    /// The rules between settings, checked after each setting is parsed.
    fn check_relations(&self) -> Result<(), ConfigError> {
        let (memory, lanes) = (
            self.password_hash_memory_kib,
            self.password_hash_parallelism,
        );
        if u64::from(memory) < 8 * u64::from(lanes) {
            return Err(ConfigError::invalid(
                "password_hash_memory_kib",
                format!("must be at least {}, got {memory}", 8 * u64::from(lanes)),
            ));
        }
        let e = &self.email;
        let (field, reason) = match (&e.ses_access_key_id, &e.ses_secret_access_key) {
            (Some(_), None) => (
                "email.ses_secret_access_key",
                "must be set together with `email.ses_access_key_id` \
                 (or both left unset to use the default AWS credential chain)",
            ),
            (None, Some(_)) => (
                "email.ses_access_key_id",
                "must be set together with `email.ses_secret_access_key` \
                 (or both left unset to use the default AWS credential chain)",
            ),
            (Some(_), Some(_)) if e.ses_profile.is_some() => (
                "email.ses_profile",
                "must not be set together with explicit \
                 `email.ses_access_key_id`/`email.ses_secret_access_key`; pick one",
            ),
            _ => return Ok(()),
        };
        Err(ConfigError::invalid(field, reason))
    }

    /// The startup checks of regstack 0.9.3's configuration that belong to the
    /// configuration: everything [`validate`](Self::validate) checks, then a
    /// `jwt_secret` of at least [`MIN_JWT_SECRET_CHARS`] characters, a
    /// non-empty `email.smtp_host` for the `smtp` backend, a non-empty
    /// SID, token and `from_number` for the `twilio` SMS backend, and a
    /// non-empty `trusted_proxies` when `behind_proxy` is true.
    ///
    /// The library-availability checks (SES/SNS/Twilio clients, a rate
    /// limiter, a database driver for the URL scheme) are done where those
    /// are built.
    pub fn check_startup(&self) -> Result<(), ConfigError> {
        self.validate()?;
        let secret_chars = self.jwt_secret.expose().chars().count();
        if secret_chars < MIN_JWT_SECRET_CHARS {
            let reason = if secret_chars == 0 {
                format!(
                    "must be set to a random string of at least {MIN_JWT_SECRET_CHARS} \
                     characters (`regstack init` generates one)"
                )
            } else {
                format!(
                    "must be at least {MIN_JWT_SECRET_CHARS} characters long, got {secret_chars}"
                )
            };
            return Err(ConfigError::startup("jwt_secret", reason));
        }
        let (email, sms) = (&self.email, &self.sms);
        let twilio_lacks = |v: Option<&str>| sms.backend == SmsBackend::Twilio && is_blank(v);
        let twilio = "is required when `sms.backend` is \"twilio\"";
        let refusals = [
            (
                email.backend == EmailBackend::Smtp && is_blank(email.smtp_host.as_deref()),
                "email.smtp_host",
                "is required when `email.backend` is \"smtp\"",
            ),
            (
                self.behind_proxy && self.trusted_proxies.is_empty(),
                "trusted_proxies",
                "must list the reverse proxies (addresses or CIDR blocks, e.g. \
                 [\"127.0.0.1\"]) whose `X-Forwarded-For` is trusted when `behind_proxy` is true",
            ),
            (
                twilio_lacks(sms.twilio_account_sid.as_deref()),
                "sms.twilio_account_sid",
                twilio,
            ),
            (
                twilio_lacks(sms.twilio_auth_token.as_ref().map(SecretString::expose)),
                "sms.twilio_auth_token",
                twilio,
            ),
            (
                twilio_lacks(sms.from_number.as_deref()),
                "sms.from_number",
                twilio,
            ),
        ];
        match refusals.into_iter().find(|(refused, ..)| *refused) {
            Some((_, field, reason)) => Err(ConfigError::startup(field, reason)),
            None => Ok(()),
        }
    }

    /// `api_prefix` with any trailing `/` removed.
    pub fn api_prefix(&self) -> &str {
        self.api_prefix.trim_end_matches('/')
    }

    /// `ui_prefix` with any trailing `/` removed.
    pub fn ui_prefix(&self) -> &str {
        self.ui_prefix.trim_end_matches('/')
    }

    /// `static_prefix` with any trailing `/` removed.
    pub fn static_prefix(&self) -> &str {
        self.static_prefix.trim_end_matches('/')
    }

    /// `base_url` with any trailing `/` removed: the origin (plus path, if
    /// any) that prefixes every absolute link.
    pub fn base_url_trimmed(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The path prefix of the email links when no template is set
    /// (regstack 0.9.3's configuration step 3).
    pub fn email_link_prefix(&self) -> &str {
        match &self.email_link_prefix {
            Some(prefix) => prefix.trim_end_matches('/'),
            None if self.enable_ui_router => self.ui_prefix(),
            None => "",
        }
    }

    /// The link of the verification email for a raw token.
    pub fn verify_url(&self, token: &str) -> String {
        self.email_url(self.verify_url_template.as_deref(), "/verify", token)
    }

    /// The link of the password-reset email for a raw token.
    pub fn password_reset_url(&self, token: &str) -> String {
        let template = self.password_reset_url_template.as_deref();
        self.email_url(template, "/reset-password", token)
    }

    /// The link of the email-change confirmation email for a raw token.
    pub fn email_change_url(&self, token: &str) -> String {
        let template = self.email_change_url_template.as_deref();
        self.email_url(template, "/confirm-email-change", token)
    }

    fn email_url(&self, template: Option<&str>, path: &str, token: &str) -> String {
        let base = self.base_url_trimmed();
        match template {
            Some(template) => template
                .replace("{base_url}", base)
                .replace("{token}", token),
            None => format!("{base}{}{path}?token={token}", self.email_link_prefix()),
        }
    }

    /// The configured per-route IP rate limits as `(router-relative path,
    /// field name, limit string)`, in the order of [`RATE_LIMIT_ROUTES`];
    /// unset limits are left out.
    pub fn rate_limits(&self) -> Vec<(&'static str, &'static str, &str)> {
        RATE_LIMIT_ROUTES
            .iter()
            .filter_map(|&(path, field)| self.rate_limit(field).map(|limit| (path, field, limit)))
            .collect()
    }
}

impl EmailConfig {
    /// The display name of the sender: `from_name`, else `app_name`.
    pub fn display_name<'a>(&'a self, app_name: &'a str) -> &'a str {
        self.from_name.as_deref().unwrap_or(app_name)
    }

    /// The effective SMTP protection: `smtp_tls` when set, else derived from 0.9.3's
    /// `smtp_starttls` (`true` → [`SmtpTls::Starttls`], `false` → [`SmtpTls::None`]).
    pub fn smtp_tls_mode(&self) -> SmtpTls {
        self.smtp_tls.unwrap_or(if self.smtp_starttls {
            SmtpTls::Starttls
        } else {
            SmtpTls::None
        })
    }
}

fn is_blank(value: Option<&str>) -> bool {
    value.is_none_or(str::is_empty)
}
