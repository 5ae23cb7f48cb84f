//! Configuration: every setting of `spec/config.md`, its defaults, validation
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
mod load;
mod network;
mod secret;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

pub use self::error::{ConfigError, env_name};
pub use self::load::LoadOptions;
pub use self::network::IpNetwork;
pub use self::secret::SecretString;

/// Minimum length (in characters) of `jwt_secret` for the service to start.
pub const MIN_JWT_SECRET_CHARS: usize = 32;

/// Maximum length of an http(s) URL setting (`base_url`,
/// `oauth.google_redirect_uri`).
pub const MAX_URL_CHARS: usize = 2083;

/// The JWS algorithm of every regstack-issued JWT (`jwt_algorithm`).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 (the default).
    #[default]
    HS256,
    /// HMAC-SHA384.
    HS384,
    /// HMAC-SHA512.
    HS512,
}

impl JwtAlgorithm {
    /// Every accepted literal, in spec order.
    pub const ALL: [Self; 3] = [Self::HS256, Self::HS384, Self::HS512];

    /// The literal: `HS256`, `HS384` or `HS512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Parses the exact (case-sensitive) literal.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which mail transport sends the emails (`email.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmailBackend {
    /// Logs the message instead of sending it (the default).
    #[default]
    Console,
    /// SMTP, optionally upgraded with STARTTLS.
    Smtp,
    /// Amazon SES.
    Ses,
}

impl EmailBackend {
    /// Every accepted literal, in spec order.
    pub const ALL: [Self; 3] = [Self::Console, Self::Smtp, Self::Ses];

    /// The literal: `console`, `smtp` or `ses`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Smtp => "smtp",
            Self::Ses => "ses",
        }
    }

    /// Parses the exact (case-sensitive) literal.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for EmailBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the SMTP transport protects the connection (`email.smtp_tls`, Rust-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpTls {
    /// Connect in plaintext, then upgrade with STARTTLS; a server without STARTTLS is refused.
    Starttls,
    /// Implicit TLS from the first byte ("SMTPS", usually port 465).
    Tls,
    /// Plaintext only (a trusted local relay).
    None,
}

impl SmtpTls {
    /// Every accepted literal, in documentation order.
    pub const ALL: [Self; 3] = [Self::Starttls, Self::Tls, Self::None];

    /// The literal: `starttls`, `tls` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starttls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// Parses the exact (case-sensitive) literal.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which SMS transport sends the codes (`sms.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SmsBackend {
    /// Logs instead of sending (the default).
    #[default]
    Null,
    /// Amazon SNS.
    Sns,
    /// Twilio.
    Twilio,
}

impl SmsBackend {
    /// Every accepted literal, in spec order.
    pub const ALL: [Self; 3] = [Self::Null, Self::Sns, Self::Twilio];

    /// The literal: `null`, `sns` or `twilio`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Sns => "sns",
            Self::Twilio => "twilio",
        }
    }

    /// Parses the exact (case-sensitive) literal.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for SmsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[email]` (`spec/config.md` §3, env `REGSTACK_EMAIL__*`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// `console` (default), `smtp` or `ses`.
    pub backend: EmailBackend,
    /// Sender address (default `noreply@example.com`); must be an email address.
    pub from_address: String,
    /// Display name of the sender; `None` means `app_name`.
    pub from_name: Option<String>,
    /// SMTP server; required (non-empty) for the `smtp` backend at startup.
    pub smtp_host: Option<String>,
    /// SMTP port (default 587).
    pub smtp_port: u16,
    /// Upgrade with STARTTLS after connecting (default `true`).
    pub smtp_starttls: bool,
    /// Rust-only: `starttls`, `tls` (implicit) or `none`. `None` derives it from
    /// `smtp_starttls` (`true` → STARTTLS, `false` → plaintext), as 0.9.3 does; see
    /// [`EmailConfig::smtp_tls_mode`].
    pub smtp_tls: Option<SmtpTls>,
    /// Rust-only: seconds one SMTP delivery (connect, TLS, AUTH, transfer) may take (default 10).
    pub smtp_timeout_seconds: u64,
    /// Rust-only: a PEM file of extra root certificates the SMTP client trusts besides the
    /// system store (a private CA, a test certificate).
    pub smtp_ca_file: Option<PathBuf>,
    /// SMTP AUTH user; `None` or empty means no AUTH.
    pub smtp_username: Option<String>,
    /// SMTP AUTH password.
    pub smtp_password: Option<SecretString>,
    /// SES region (default `eu-west-1`).
    pub ses_region: String,
    /// Named AWS profile; exclusive with the explicit keys.
    pub ses_profile: Option<String>,
    /// Explicit AWS access key id; set together with `ses_secret_access_key`.
    pub ses_access_key_id: Option<SecretString>,
    /// Explicit AWS secret key; set together with `ses_access_key_id`.
    pub ses_secret_access_key: Option<SecretString>,
    /// Rust-only: send SES requests to this http(s) endpoint instead of AWS's (tests,
    /// VPC endpoints, local emulators).
    pub ses_endpoint_url: Option<String>,
    /// Console backend: log the text body at INFO instead of DEBUG.
    pub log_bodies: bool,
    /// Rust-only: how many deferred messages (forgot-password, resend-verification,
    /// change-email, notices) may wait for delivery (default 1000, ≥ 1). Beyond it a message
    /// is dropped, logged and counted ([`crate::RegStack::mail_stats`]).
    pub queue_capacity: usize,
    /// Rust-only: how many messages may be in the transport at once, deferred and inline
    /// together (default 4, ≥ 1): the bound on concurrent SMTP sessions or SES calls.
    pub max_concurrent_sends: usize,
    /// Rust-only: at most one verification (register, resend-verification), reset or
    /// change-email message per recipient within this many seconds (default 60; 0 turns the
    /// cooldown off). Counted per server process.
    pub cooldown_seconds: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            backend: EmailBackend::Console,
            from_address: "noreply@example.com".to_owned(),
            from_name: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_starttls: true,
            smtp_tls: None,
            smtp_timeout_seconds: 10,
            smtp_ca_file: None,
            smtp_username: None,
            smtp_password: None,
            ses_region: "eu-west-1".to_owned(),
            ses_profile: None,
            ses_access_key_id: None,
            ses_secret_access_key: None,
            ses_endpoint_url: None,
            log_bodies: false,
            queue_capacity: 1000,
            max_concurrent_sends: 4,
            cooldown_seconds: 60,
        }
    }
}

/// `[sms]` (`spec/config.md` §4, env `REGSTACK_SMS__*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsConfig {
    /// `null` (default), `sns` or `twilio`.
    pub backend: SmsBackend,
    /// Sender number; required for `twilio`.
    pub from_number: Option<String>,
    /// SNS region (default `eu-west-1`).
    pub sns_region: String,
    /// Twilio account SID; required for `twilio`.
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token; required for `twilio`.
    pub twilio_auth_token: Option<SecretString>,
    /// `null` backend: include the SMS body (with the code) in its INFO log line.
    pub log_bodies: bool,
    /// Rust addition: the SNS endpoint instead of AWS's regional one (a VPC endpoint, a local
    /// stand-in); an http(s) URL, stored normalised. `None` (default) uses AWS's.
    pub sns_endpoint_url: Option<String>,
    /// Rust addition: the origin of the Twilio REST API (default `https://api.twilio.com`); an
    /// http(s) URL, stored normalised when loaded.
    pub twilio_base_url: String,
    /// Rust addition: the time one `sns` / `twilio` send may take, 1 ..= 300 seconds
    /// (default 10).
    pub timeout_seconds: u32,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            backend: SmsBackend::Null,
            from_number: None,
            sns_region: "eu-west-1".to_owned(),
            twilio_account_sid: None,
            twilio_auth_token: None,
            log_bodies: false,
            sns_endpoint_url: None,
            twilio_base_url: "https://api.twilio.com".to_owned(),
            timeout_seconds: 10,
        }
    }
}

/// `[oauth]` (`spec/config.md` §5, env `REGSTACK_OAUTH__*`).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthConfig {
    /// Google client id; Google is registered only if id and secret are non-empty.
    pub google_client_id: Option<String>,
    /// Google client secret.
    pub google_client_secret: Option<SecretString>,
    /// Overrides the computed callback URL; an http(s) URL, stored normalised.
    pub google_redirect_uri: Option<String>,
    /// Link a Google sign-in to an existing same-email user when Google says
    /// the email is verified (default `false`).
    pub auto_link_verified_emails: bool,
    /// Require the SMS second factor on OAuth sign-in (default `false`).
    pub enforce_mfa_on_oauth_signin: bool,
    /// Lifetime of an OAuth state row before the callback (default 300, unchecked).
    pub state_ttl_seconds: i64,
    /// Lifetime of the state row after a successful callback (default 30, unchecked).
    pub completion_ttl_seconds: i64,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            google_client_id: None,
            google_client_secret: None,
            google_redirect_uri: None,
            auto_link_verified_emails: false,
            enforce_mfa_on_oauth_signin: false,
            state_ttl_seconds: 300,
            completion_ttl_seconds: 30,
        }
    }
}

/// Every setting of `spec/config.md` §2–§5, plus a few Rust-only additions
/// (marked as such).
///
/// Build one with [`RegStackConfig::load`] / [`RegStackConfig::load_with`],
/// or by hand from [`RegStackConfig::default`] (then call
/// [`RegStackConfig::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RegStackConfig {
    // --- identity and hosting (§2.1)
    /// Used in emails, SMS, page titles (default `RegStack`).
    pub app_name: String,
    /// Absolute http(s) URL, stored normalised (scheme and host lower-cased,
    /// default port dropped, empty path becomes `/`): the default is
    /// `http://localhost:8000/`. Use [`RegStackConfig::base_url_trimmed`] as a prefix.
    pub base_url: String,
    /// A reverse proxy connects to this service: the per-route IP limits read the client
    /// address from the `X-Forwarded-For` header of requests whose peer is one of
    /// [`trusted_proxies`](Self::trusted_proxies) (default `false`: the peer address only).
    pub behind_proxy: bool,
    /// **Rust-only addition.** The proxies whose `X-Forwarded-For` is trusted when
    /// `behind_proxy` is true: addresses or CIDR blocks (`["10.0.0.0/8", "127.0.0.1",
    /// "::1/128"]`), default empty. Start-up refuses `behind_proxy = true` with an empty list.
    /// Env `REGSTACK_TRUSTED_PROXIES` (a JSON array).
    pub trusted_proxies: Vec<IpNetwork>,

    // --- database (§2.2)
    /// Selects the backend by scheme (default `sqlite+aiosqlite:///./regstack.db`).
    pub database_url: SecretString,
    /// Mongo database name when the URL has no path (default `regstack`).
    pub mongodb_database: String,
    /// Mongo collection of users (default `users`).
    pub user_collection: String,
    /// Mongo collection of pending registrations (default `pending_registrations`).
    pub pending_collection: String,
    /// Mongo collection of revoked tokens (default `token_blacklist`).
    pub blacklist_collection: String,
    /// Mongo collection of login attempts (default `login_attempts`).
    pub login_attempt_collection: String,
    /// Mongo collection of SMS codes (default `mfa_codes`).
    pub mfa_code_collection: String,
    /// Mongo collection of OAuth identities (default `oauth_identities`).
    pub oauth_identity_collection: String,
    /// Mongo collection of OAuth states (default `oauth_states`).
    pub oauth_state_collection: String,

    // --- JWT (§2.3)
    /// Master secret; empty by default; at least 32 characters to start.
    pub jwt_secret: SecretString,
    /// `HS256` (default), `HS384` or `HS512`.
    pub jwt_algorithm: JwtAlgorithm,
    /// Session token lifetime, 60 ..= 2 592 000 (default 7200).
    pub jwt_ttl_seconds: i64,
    /// When set, tokens carry `aud` and decoding requires it.
    pub jwt_audience: Option<String>,
    /// Always `bearer`; any other value is a config error.
    pub transport: String,

    // --- one-time token lifetimes (§2.4)
    /// ≥ 60 (default 86400).
    pub verification_token_ttl_seconds: i64,
    /// ≥ 60 (default 1800).
    pub password_reset_token_ttl_seconds: i64,
    /// ≥ 60 (default 3600).
    pub email_change_token_ttl_seconds: i64,

    // --- SMS / MFA (§2.5)
    /// Digits per SMS code, 4 ..= 10 (default 6).
    pub sms_code_length: u32,
    /// Code lifetime, 30 ..= 1800 (default 300).
    pub sms_code_ttl_seconds: i64,
    /// Wrong guesses before the code is destroyed, 1 ..= 20 (default 5).
    pub sms_code_max_attempts: i32,
    /// Lifetime of the pending MFA / phone-setup JWTs, 60 ..= 1800 (default 600).
    pub mfa_pending_token_ttl_seconds: i64,

    // --- feature flags (§2.6)
    /// Default `true`.
    pub require_verification: bool,
    /// Default `true`.
    pub allow_registration: bool,
    /// Default `true`.
    pub enable_password_reset: bool,
    /// Default `true`.
    pub enable_account_deletion: bool,
    /// Default `false`.
    pub enable_admin_router: bool,
    /// Default `false`.
    pub enable_ui_router: bool,
    /// Default `false`.
    pub enable_sms_2fa: bool,
    /// Default `false`.
    pub enable_oauth: bool,

    // --- login lockout (§2.7)
    /// `true` turns the per-account lockout off entirely.
    pub rate_limit_disabled: bool,
    /// Failures within the window that trigger lockout, ≥ 1 (default 5).
    pub login_lockout_threshold: i64,
    /// Sliding window, ≥ 10 (default 900).
    pub login_lockout_window_seconds: i64,
    /// Rust addition: name the email address in the `regstack.security` log lines (failed
    /// logins, lockouts) at INFO. Default `false`: the lines carry the user id only.
    pub log_security_emails: bool,

    // --- per-route IP rate limits (§2.8); see [`RegStackConfig::rate_limits`]
    /// `/login`.
    pub login_rate_limit: Option<String>,
    /// `/login/mfa-confirm`.
    pub login_mfa_confirm_rate_limit: Option<String>,
    /// `/register`.
    pub register_rate_limit: Option<String>,
    /// `/forgot-password`.
    pub forgot_password_rate_limit: Option<String>,
    /// `/reset-password`.
    pub reset_password_rate_limit: Option<String>,
    /// `/verify`.
    pub verify_rate_limit: Option<String>,
    /// `/resend-verification`.
    pub resend_verification_rate_limit: Option<String>,
    /// `/change-password`.
    pub change_password_rate_limit: Option<String>,
    /// `/change-email`.
    pub change_email_rate_limit: Option<String>,
    /// `/confirm-email-change`.
    pub confirm_email_change_rate_limit: Option<String>,
    /// `/account` (DELETE).
    pub delete_account_rate_limit: Option<String>,
    /// `/oauth/exchange`.
    pub oauth_exchange_rate_limit: Option<String>,
    /// `/phone/start`.
    pub phone_start_rate_limit: Option<String>,
    /// `/phone/confirm`.
    pub phone_confirm_rate_limit: Option<String>,
    /// `/phone` (DELETE).
    pub phone_disable_rate_limit: Option<String>,

    // --- branding, templates, prefixes (§2.9)
    /// `<img>` in the SSR header.
    pub brand_logo_url: Option<String>,
    /// Tagline in the SSR header.
    pub brand_tagline: Option<String>,
    /// Override directories for the SSR page templates.
    pub extra_template_dirs: Vec<PathBuf>,
    /// Declared but unused (as in 0.9.3).
    pub extra_static_dirs: Vec<PathBuf>,
    /// Mount point of the JSON API (default `/api/auth`); see [`RegStackConfig::api_prefix()`].
    pub api_prefix: String,
    /// Mount point of the SSR pages (default `/account`); see [`RegStackConfig::ui_prefix()`].
    pub ui_prefix: String,
    /// Mount point of bundled CSS/JS (default `/regstack-static`); see
    /// [`RegStackConfig::static_prefix()`].
    pub static_prefix: String,
    /// Extra stylesheet emitted after the bundled ones.
    pub theme_css_url: Option<String>,

    // --- email links (§2.10)
    /// Path prefix of the email links; `Some("")` is a valid explicit value.
    pub email_link_prefix: Option<String>,
    /// Full template of the verification link (`{base_url}`, `{token}`).
    pub verify_url_template: Option<String>,
    /// Full template of the password-reset link.
    pub password_reset_url_template: Option<String>,
    /// Full template of the email-change link.
    pub email_change_url_template: Option<String>,

    // --- sub-sections (§3–§5)
    /// `[email]`.
    pub email: EmailConfig,
    /// `[sms]`.
    pub sms: SmsConfig,
    /// `[oauth]`.
    pub oauth: OAuthConfig,

    // --- Rust-only additions (not in regstack 0.9.3)
    /// **Rust-only addition.** Argon2id memory cost in KiB (default 65536, the
    /// 0.9.3 parameter). Must be ≥ 8 × `password_hash_parallelism`.
    /// Env `REGSTACK_PASSWORD_HASH_MEMORY_KIB`.
    pub password_hash_memory_kib: u32,
    /// **Rust-only addition.** Argon2id time cost (default 3), ≥ 1.
    /// Env `REGSTACK_PASSWORD_HASH_ITERATIONS`.
    pub password_hash_iterations: u32,
    /// **Rust-only addition.** Argon2id lanes (default 4), 1 ..= 16 777 215.
    /// Env `REGSTACK_PASSWORD_HASH_PARALLELISM`.
    pub password_hash_parallelism: u32,
    /// **Rust-only addition.** How many password hashes may run at once (the
    /// number of hashing threads); `None` (default) means one fewer than the
    /// CPU cores, at least 1 ([`crate::password::default_permits`]); ≥ 1 when
    /// set. Env `REGSTACK_PASSWORD_HASH_CONCURRENCY`.
    pub password_hash_concurrency: Option<usize>,
    /// **Rust-only addition.** Nice value of the hashing threads on Linux
    /// (default 10; 0 = the process's own priority; 0 ..= 19). Idle CPU still
    /// goes to hashing; under contention cheap requests go first.
    /// Env `REGSTACK_PASSWORD_HASH_NICE`.
    pub password_hash_nice: u8,
    /// **Rust-only addition.** How long a request may wait for a free hashing thread, in
    /// milliseconds (default 10000, ≥ 1). A request that would wait longer answers 503 with
    /// `Retry-After` instead of queueing without end. Env `REGSTACK_PASSWORD_HASH_MAX_WAIT_MS`.
    pub password_hash_max_wait_ms: u64,
    /// **Rust-only addition.** Largest accepted request body in bytes
    /// (default 65536), ≥ 1024. Env `REGSTACK_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
}

impl Default for RegStackConfig {
    fn default() -> Self {
        Self {
            app_name: "RegStack".to_owned(),
            base_url: "http://localhost:8000/".to_owned(),
            behind_proxy: false,
            trusted_proxies: Vec::new(),
            database_url: SecretString::new("sqlite+aiosqlite:///./regstack.db"),
            mongodb_database: "regstack".to_owned(),
            user_collection: "users".to_owned(),
            pending_collection: "pending_registrations".to_owned(),
            blacklist_collection: "token_blacklist".to_owned(),
            login_attempt_collection: "login_attempts".to_owned(),
            mfa_code_collection: "mfa_codes".to_owned(),
            oauth_identity_collection: "oauth_identities".to_owned(),
            oauth_state_collection: "oauth_states".to_owned(),
            jwt_secret: SecretString::default(),
            jwt_algorithm: JwtAlgorithm::HS256,
            jwt_ttl_seconds: 7200,
            jwt_audience: None,
            transport: "bearer".to_owned(),
            verification_token_ttl_seconds: 86_400,
            password_reset_token_ttl_seconds: 1800,
            email_change_token_ttl_seconds: 3600,
            sms_code_length: 6,
            sms_code_ttl_seconds: 300,
            sms_code_max_attempts: 5,
            mfa_pending_token_ttl_seconds: 600,
            require_verification: true,
            allow_registration: true,
            enable_password_reset: true,
            enable_account_deletion: true,
            enable_admin_router: false,
            enable_ui_router: false,
            enable_sms_2fa: false,
            enable_oauth: false,
            rate_limit_disabled: false,
            login_lockout_threshold: 5,
            login_lockout_window_seconds: 900,
            log_security_emails: false,
            login_rate_limit: None,
            login_mfa_confirm_rate_limit: None,
            register_rate_limit: None,
            forgot_password_rate_limit: None,
            reset_password_rate_limit: None,
            verify_rate_limit: None,
            resend_verification_rate_limit: None,
            change_password_rate_limit: None,
            change_email_rate_limit: None,
            confirm_email_change_rate_limit: None,
            delete_account_rate_limit: None,
            oauth_exchange_rate_limit: None,
            phone_start_rate_limit: None,
            phone_confirm_rate_limit: None,
            phone_disable_rate_limit: None,
            brand_logo_url: None,
            brand_tagline: None,
            extra_template_dirs: Vec::new(),
            extra_static_dirs: Vec::new(),
            api_prefix: "/api/auth".to_owned(),
            ui_prefix: "/account".to_owned(),
            static_prefix: "/regstack-static".to_owned(),
            theme_css_url: None,
            email_link_prefix: None,
            verify_url_template: None,
            password_reset_url_template: None,
            email_change_url_template: None,
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            oauth: OAuthConfig::default(),
            password_hash_memory_kib: 65_536,
            password_hash_iterations: 3,
            password_hash_parallelism: 4,
            password_hash_concurrency: None,
            password_hash_nice: crate::password::DEFAULT_NICE,
            password_hash_max_wait_ms: 10_000,
            max_body_bytes: 65_536,
        }
    }
}

/// Router-relative path and field name of every per-route IP rate limit
/// (`spec/http-api.md` §1.9), in spec order.
pub const RATE_LIMIT_ROUTES: [(&str, &str); 15] = [
    ("/login", "login_rate_limit"),
    ("/login/mfa-confirm", "login_mfa_confirm_rate_limit"),
    ("/register", "register_rate_limit"),
    ("/forgot-password", "forgot_password_rate_limit"),
    ("/reset-password", "reset_password_rate_limit"),
    ("/verify", "verify_rate_limit"),
    ("/resend-verification", "resend_verification_rate_limit"),
    ("/change-password", "change_password_rate_limit"),
    ("/change-email", "change_email_rate_limit"),
    ("/confirm-email-change", "confirm_email_change_rate_limit"),
    ("/account", "delete_account_rate_limit"),
    ("/oauth/exchange", "oauth_exchange_rate_limit"),
    ("/phone/start", "phone_start_rate_limit"),
    ("/phone/confirm", "phone_confirm_rate_limit"),
    ("/phone", "phone_disable_rate_limit"),
];

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

    /// Checks every type-independent rule: ranges, literals, URL and email
    /// syntax, SES credential pairing. [`load`](Self::load) calls it; call it
    /// yourself on a configuration built by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_http_url("base_url", &self.base_url)?;
        check_range(
            "jwt_ttl_seconds",
            self.jwt_ttl_seconds,
            Some(60),
            Some(2_592_000),
        )?;
        if self.transport != "bearer" {
            return Err(ConfigError::invalid(
                "transport",
                format!("must be \"bearer\", got {:?}", self.transport),
            ));
        }
        check_range(
            "verification_token_ttl_seconds",
            self.verification_token_ttl_seconds,
            Some(60),
            None,
        )?;
        check_range(
            "password_reset_token_ttl_seconds",
            self.password_reset_token_ttl_seconds,
            Some(60),
            None,
        )?;
        check_range(
            "email_change_token_ttl_seconds",
            self.email_change_token_ttl_seconds,
            Some(60),
            None,
        )?;
        check_range("sms_code_length", self.sms_code_length, Some(4), Some(10))?;
        check_range(
            "sms_code_ttl_seconds",
            self.sms_code_ttl_seconds,
            Some(30),
            Some(1800),
        )?;
        check_range(
            "sms_code_max_attempts",
            self.sms_code_max_attempts,
            Some(1),
            Some(20),
        )?;
        check_range(
            "mfa_pending_token_ttl_seconds",
            self.mfa_pending_token_ttl_seconds,
            Some(60),
            Some(1800),
        )?;
        check_range(
            "login_lockout_threshold",
            self.login_lockout_threshold,
            Some(1),
            None,
        )?;
        check_range(
            "login_lockout_window_seconds",
            self.login_lockout_window_seconds,
            Some(10),
            None,
        )?;

        check_email_address("email.from_address", &self.email.from_address)?;
        self.email.check_ses_credentials()?;
        check_range(
            "email.smtp_timeout_seconds",
            self.email.smtp_timeout_seconds,
            Some(1),
            Some(3600),
        )?;
        if let Some(url) = &self.email.ses_endpoint_url {
            check_http_url("email.ses_endpoint_url", url)?;
        }
        if let Some(uri) = &self.oauth.google_redirect_uri {
            check_http_url("oauth.google_redirect_uri", uri)?;
        }
        if let Some(url) = &self.sms.sns_endpoint_url {
            check_http_url("sms.sns_endpoint_url", url)?;
        }
        check_http_url("sms.twilio_base_url", &self.sms.twilio_base_url)?;
        check_range(
            "sms.timeout_seconds",
            self.sms.timeout_seconds,
            Some(1),
            Some(300),
        )?;

        check_range(
            "password_hash_iterations",
            self.password_hash_iterations,
            Some(1),
            None,
        )?;
        check_range(
            "password_hash_parallelism",
            self.password_hash_parallelism,
            Some(1),
            Some(0x00FF_FFFF),
        )?;
        let min_memory = 8 * i128::from(self.password_hash_parallelism);
        check_range(
            "password_hash_memory_kib",
            self.password_hash_memory_kib,
            Some(min_memory),
            None,
        )?;
        if let Some(n) = self.password_hash_concurrency {
            check_range("password_hash_concurrency", n, Some(1), None)?;
        }
        check_range(
            "password_hash_nice",
            self.password_hash_nice,
            Some(0),
            Some(i128::from(crate::password::MAX_NICE)),
        )?;
        check_range(
            "password_hash_max_wait_ms",
            self.password_hash_max_wait_ms,
            Some(1),
            Some(3_600_000),
        )?;
        check_range(
            "email.queue_capacity",
            self.email.queue_capacity,
            Some(1),
            Some(1_000_000),
        )?;
        check_range(
            "email.max_concurrent_sends",
            self.email.max_concurrent_sends,
            Some(1),
            Some(1024),
        )?;
        check_range(
            "email.cooldown_seconds",
            self.email.cooldown_seconds,
            Some(0),
            Some(86_400),
        )?;
        check_range("max_body_bytes", self.max_body_bytes, Some(1024), None)?;
        Ok(())
    }

    /// The startup checks of `spec/config.md` §6 that belong to the
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
        if secret_chars == 0 {
            return Err(ConfigError::startup(
                "jwt_secret",
                format!(
                    "must be set to a random string of at least {MIN_JWT_SECRET_CHARS} characters \
                     (`regstack init` generates one)"
                ),
            ));
        }
        if secret_chars < MIN_JWT_SECRET_CHARS {
            return Err(ConfigError::startup(
                "jwt_secret",
                format!(
                    "must be at least {MIN_JWT_SECRET_CHARS} characters long, got {secret_chars}"
                ),
            ));
        }
        if self.email.backend == EmailBackend::Smtp && is_blank(self.email.smtp_host.as_deref()) {
            return Err(ConfigError::startup(
                "email.smtp_host",
                "is required when `email.backend` is \"smtp\"",
            ));
        }
        if self.behind_proxy && self.trusted_proxies.is_empty() {
            return Err(ConfigError::startup(
                "trusted_proxies",
                "must list the reverse proxies (addresses or CIDR blocks, e.g. \
                 [\"127.0.0.1\"]) whose `X-Forwarded-For` is trusted when `behind_proxy` is true",
            ));
        }
        if self.sms.backend == SmsBackend::Twilio {
            let required = [
                (
                    "sms.twilio_account_sid",
                    self.sms.twilio_account_sid.as_deref(),
                ),
                (
                    "sms.twilio_auth_token",
                    self.sms
                        .twilio_auth_token
                        .as_ref()
                        .map(SecretString::expose),
                ),
                ("sms.from_number", self.sms.from_number.as_deref()),
            ];
            if let Some((field, _)) = required.into_iter().find(|(_, v)| is_blank(*v)) {
                return Err(ConfigError::startup(
                    field,
                    "is required when `sms.backend` is \"twilio\"",
                ));
            }
        }
        Ok(())
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
    /// (`spec/config.md` §2.10 step 3).
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
        self.email_url(
            self.password_reset_url_template.as_deref(),
            "/reset-password",
            token,
        )
    }

    /// The link of the email-change confirmation email for a raw token.
    pub fn email_change_url(&self, token: &str) -> String {
        self.email_url(
            self.email_change_url_template.as_deref(),
            "/confirm-email-change",
            token,
        )
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

    /// The value of one `*_rate_limit` field by name (`None` when unset or
    /// not a rate-limit field).
    pub fn rate_limit(&self, field: &str) -> Option<&str> {
        let value = match field {
            "login_rate_limit" => &self.login_rate_limit,
            "login_mfa_confirm_rate_limit" => &self.login_mfa_confirm_rate_limit,
            "register_rate_limit" => &self.register_rate_limit,
            "forgot_password_rate_limit" => &self.forgot_password_rate_limit,
            "reset_password_rate_limit" => &self.reset_password_rate_limit,
            "verify_rate_limit" => &self.verify_rate_limit,
            "resend_verification_rate_limit" => &self.resend_verification_rate_limit,
            "change_password_rate_limit" => &self.change_password_rate_limit,
            "change_email_rate_limit" => &self.change_email_rate_limit,
            "confirm_email_change_rate_limit" => &self.confirm_email_change_rate_limit,
            "delete_account_rate_limit" => &self.delete_account_rate_limit,
            "oauth_exchange_rate_limit" => &self.oauth_exchange_rate_limit,
            "phone_start_rate_limit" => &self.phone_start_rate_limit,
            "phone_confirm_rate_limit" => &self.phone_confirm_rate_limit,
            "phone_disable_rate_limit" => &self.phone_disable_rate_limit,
            _ => return None,
        };
        value.as_deref()
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

    fn check_ses_credentials(&self) -> Result<(), ConfigError> {
        match (&self.ses_access_key_id, &self.ses_secret_access_key) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "email.ses_secret_access_key",
                    "must be set together with `email.ses_access_key_id` \
                     (or both left unset to use the default AWS credential chain)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "email.ses_access_key_id",
                    "must be set together with `email.ses_secret_access_key` \
                     (or both left unset to use the default AWS credential chain)",
                ));
            }
            (Some(_), Some(_)) if self.ses_profile.is_some() => {
                return Err(ConfigError::invalid(
                    "email.ses_profile",
                    "must not be set together with explicit \
                     `email.ses_access_key_id`/`email.ses_secret_access_key`; pick one",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_blank(value: Option<&str>) -> bool {
    value.is_none_or(str::is_empty)
}

/// The reason text of a range rule: "must be between 60 and 2592000, got 5".
fn range_reason(min: Option<i128>, max: Option<i128>, got: impl fmt::Display) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("must be between {min} and {max}, got {got}"),
        (Some(min), None) => format!("must be at least {min}, got {got}"),
        (None, Some(max)) => format!("must be at most {max}, got {got}"),
        (None, None) => format!("is out of range, got {got}"),
    }
}

fn check_range<T>(
    field: &str,
    value: T,
    min: Option<i128>,
    max: Option<i128>,
) -> Result<(), ConfigError>
where
    T: Copy + fmt::Display + TryInto<i128>,
{
    // Every integer type used here fits in i128.
    let v: i128 = value.try_into().unwrap_or(i128::MAX);
    if min.is_some_and(|min| v < min) || max.is_some_and(|max| v > max) {
        return Err(ConfigError::invalid(field, range_reason(min, max, value)));
    }
    Ok(())
}

/// Validates and normalises an absolute http(s) URL with a host, the way
/// pydantic's `AnyHttpUrl` does (WHATWG parsing: scheme and host lower-cased,
/// IDNA host, default port dropped, empty path → `/`, dot segments resolved,
/// surrounding whitespace removed).
pub(crate) fn normalize_http_url(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let chars = trimmed.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(format!(
            "must be at most {MAX_URL_CHARS} characters, got {chars}"
        ));
    }
    let url = url::Url::parse(trimmed)
        .map_err(|e| format!("must be an absolute http(s) URL ({e}), got {input:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "URL scheme must be \"http\" or \"https\", got {input:?}"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL must have a host, got {input:?}"));
    }
    Ok(url.into())
}

fn check_http_url(field: &str, value: &str) -> Result<(), ConfigError> {
    normalize_http_url(value)
        .map(drop)
        .map_err(|reason| ConfigError::invalid(field, reason))
}

/// A deliberately simple address check (the full request-email validator
/// lives in [`crate::email_address`]): an optional `Name <addr>` wrapper, one
/// `@`, a non-empty local part without whitespace, a domain with a dot and
/// no empty label. Returns the address with its domain lower-cased.
pub(crate) fn normalize_email_address(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let addr = match (trimmed.rfind('<'), trimmed.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => trimmed,
    };
    let invalid = |why: &str| {
        Err(format!(
            "is not a valid email address ({why}), got {input:?}"
        ))
    };
    let Some((local, domain)) = addr.split_once('@') else {
        return invalid("it must have an @-sign");
    };
    if domain.contains('@') {
        return invalid("it must have exactly one @-sign");
    }
    if local.is_empty() {
        return invalid("nothing before the @-sign");
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("it contains whitespace");
    }
    if !domain.contains('.') {
        return invalid("the part after the @-sign must have a period");
    }
    if domain.split('.').any(str::is_empty) {
        return invalid("the part after the @-sign has an empty label");
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

fn check_email_address(field: &str, value: &str) -> Result<(), ConfigError> {
    normalize_email_address(value)
        .map(drop)
        .map_err(|reason| ConfigError::invalid(field, reason))
}
