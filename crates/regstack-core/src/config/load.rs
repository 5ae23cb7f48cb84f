//! Reading the sources (`spec/config.md` §1) and turning their text into a
//! [`RegStackConfig`].
//!
//! Every source is first reduced to environment-style keys (lower-cased,
//! `regstack_…`, nested with `__`), exactly as 0.9.3 does: TOML is flattened,
//! the secrets file is read verbatim, the process environment is filtered.
//! TOML, secrets file and environment are merged key by key (later wins);
//! the merged keys are then resolved into fields — a whole sub-section JSON
//! object first, its `__` keys over it. Programmatic overrides are resolved
//! the same way on their own and deep-merged over the result field by field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::{
    ConfigError, EmailBackend, EmailConfig, IpNetwork, JwtAlgorithm, OAuthConfig, RegStackConfig,
    SecretString, SmsBackend, SmsConfig, SmtpTls, normalize_email_address, normalize_http_url,
    range_reason,
};

/// Where [`RegStackConfig::load_with`] reads from.
///
/// `LoadOptions::default()` is what [`RegStackConfig::load`] uses: TOML from
/// `$REGSTACK_CONFIG` or `./regstack.toml`, secrets from
/// `./regstack.secrets.env`, the process environment, no overrides.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The TOML file. `None`: the path in `REGSTACK_CONFIG`, else
    /// `regstack.toml` in the working directory. A path that is not an
    /// existing file is silently ignored.
    pub toml_path: Option<PathBuf>,
    /// The secrets file. `None`: `regstack.secrets.env` in the working
    /// directory (never next to the TOML file). A missing file is ignored.
    pub secrets_path: Option<PathBuf>,
    /// The environment to read `REGSTACK_*` (and `REGSTACK_CONFIG`) from.
    /// `None`: the process environment.
    pub env: Option<Vec<(String, String)>>,
    /// Programmatic overrides, highest priority. Keys are field paths in
    /// environment form without or with the prefix, any case: `jwt_secret`,
    /// `email__backend`, `REGSTACK_SMS__FROM_NUMBER`. Values are parsed like
    /// environment values (a sub-section such as `email` takes a JSON
    /// object; JSON `null` unsets an optional field).
    pub overrides: Vec<(String, String)>,
}

const PREFIX: &str = "regstack_";
const DEFAULT_TOML: &str = "regstack.toml";
const DEFAULT_SECRETS: &str = "regstack.secrets.env";
const SECTIONS: [&str; 3] = ["email", "sms", "oauth"];

/// One raw value before it is parsed into its field.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    /// Text from the environment, the secrets file, an override, a flattened
    /// TOML scalar or a JSON string.
    Text(String),
    /// A non-string JSON value from a sub-section object (or a nested `__`
    /// key, represented as an object).
    Json(Json),
    /// A TOML array (accepted natively by list fields, comma-joined elsewhere).
    List(Vec<String>),
}

/// Raw values resolved to field paths.
#[derive(Debug, Default)]
struct Layer {
    top: BTreeMap<String, Raw>,
    sections: BTreeMap<&'static str, BTreeMap<String, Raw>>,
}

impl Layer {
    /// Merges `over` on top of `self`: top-level fields are replaced,
    /// sub-sections merged key by key (pydantic-settings' deep update).
    fn merge(&mut self, over: Layer) {
        self.top.extend(over.top);
        for (section, map) in over.sections {
            self.sections.entry(section).or_default().extend(map);
        }
    }
}

pub(super) fn load(
    opts: LoadOptions,
    base_dir: Option<&Path>,
) -> Result<RegStackConfig, ConfigError> {
    let env: Vec<(String, String)> = match opts.env {
        Some(env) => env,
        None => std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
    };
    let at = |p: &Path| match base_dir {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    };

    // Merged environment-style keys, lowest priority first.
    let mut overlay: BTreeMap<String, Raw> = BTreeMap::new();

    let toml_path = match (&opts.toml_path, config_env_var(&env)) {
        (Some(explicit), _) => at(explicit),
        (None, Some(from_env)) => at(Path::new(from_env)),
        (None, None) => at(Path::new(DEFAULT_TOML)),
    };
    if toml_path.is_file() {
        let text = read(&toml_path)?;
        let table: toml::Table = text.parse().map_err(|source| ConfigError::Toml {
            path: Some(toml_path.clone()),
            source,
        })?;
        tracing::debug!(path = %toml_path.display(), "loaded regstack TOML configuration");
        let mut flat = Vec::new();
        flatten_toml(&table, PREFIX, &mut flat);
        overlay.extend(flat);
    }

    let secrets_path = at(opts
        .secrets_path
        .as_deref()
        .unwrap_or(Path::new(DEFAULT_SECRETS)));
    if secrets_path.is_file() {
        let text = read(&secrets_path)?;
        tracing::debug!(path = %secrets_path.display(), "loaded regstack secrets file");
        for (key, value) in parse_secrets(&text) {
            overlay.insert(key.to_lowercase(), Raw::Text(value));
        }
    }

    for (key, value) in env {
        let key = key.to_lowercase();
        if key.starts_with(PREFIX) {
            overlay.insert(key, Raw::Text(value));
        }
    }

    let mut layer = resolve(&overlay)?;

    let overrides: BTreeMap<String, Raw> = opts
        .overrides
        .into_iter()
        .map(|(key, value)| {
            let key = key.to_lowercase();
            let key = if key.starts_with(PREFIX) {
                key
            } else {
                format!("{PREFIX}{key}")
            };
            (key, Raw::Text(value))
        })
        .collect();
    layer.merge(resolve(&overrides)?);

    build(layer)
}

pub(super) fn from_toml_str(s: &str) -> Result<RegStackConfig, ConfigError> {
    let table: toml::Table = s
        .parse()
        .map_err(|source| ConfigError::Toml { path: None, source })?;
    let mut flat = Vec::new();
    flatten_toml(&table, PREFIX, &mut flat);
    build(resolve(&flat.into_iter().collect())?)
}

/// `REGSTACK_CONFIG`: the exact name first, else any spelling.
fn config_env_var(env: &[(String, String)]) -> Option<&str> {
    env.iter()
        .find(|(k, _)| k == "REGSTACK_CONFIG")
        .or_else(|| {
            env.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("REGSTACK_CONFIG"))
        })
        .map(|(_, v)| v.as_str())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Flattens a TOML table into environment-style keys (`spec/config.md` §1.2):
/// `k` → `regstack_k`, `[t] k` → `regstack_t__k`; booleans `true`/`false`,
/// numbers their decimal text, strings unchanged, arrays kept as lists.
fn flatten_toml(table: &toml::Table, prefix: &str, out: &mut Vec<(String, Raw)>) {
    for (key, value) in table {
        let full = format!("{prefix}{}", key.to_lowercase());
        match value {
            toml::Value::Table(inner) => flatten_toml(inner, &format!("{full}__"), out),
            toml::Value::Array(items) => {
                out.push((full, Raw::List(items.iter().map(toml_text).collect())));
            }
            scalar => out.push((full, Raw::Text(toml_text(scalar)))),
        }
    }
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        // `{:?}` keeps a fractional part (`1.0`), like Python's `str(float)`.
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        // Only reachable inside an array (Python would print its repr);
        // no setting takes such a value.
        toml::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(toml_text).collect::<Vec<_>>().join(", ")
            )
        }
        toml::Value::Table(table) => format!(
            "{{{}}}",
            table
                .iter()
                .map(|(k, v)| format!("{k}: {}", toml_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Parses the secrets file (`spec/config.md` §1.4): one `KEY=value` per line;
/// line, key and value stripped; blank, `#` and `=`-less lines skipped; split
/// at the first `=`; one pair of matching surrounding quotes removed. A
/// leading byte-order mark is ignored.
pub(super) fn parse_secrets(text: &str) -> Vec<(String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The line boundaries of Python's `str.splitlines`.
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut out = Vec::new();
    for line in text.split(is_break) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let mut value = value.trim();
        for quote in ['"', '\''] {
            if value.starts_with(quote) && value.ends_with(quote) {
                // A lone quote character becomes empty, like Python's `v[1:-1]`.
                value = value.get(1..value.len() - 1).unwrap_or("");
                break;
            }
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    out
}

/// Resolves merged environment-style keys into field paths.
fn resolve(overlay: &BTreeMap<String, Raw>) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    // Whole values first: top-level fields and sub-section JSON objects.
    for (key, raw) in overlay {
        let Some(rest) = key.strip_prefix(PREFIX) else {
            continue;
        };
        if rest.contains("__") {
            continue;
        }
        if let Some(section) = SECTIONS.iter().find(|s| **s == rest) {
            let base = section_json(section, raw)?;
            layer.sections.entry(section).or_default().extend(base);
        } else {
            layer.top.insert(rest.to_owned(), raw.clone());
        }
    }
    // Then the `__` keys, merged over the JSON objects.
    for (key, raw) in overlay {
        let Some((head, sub)) = key.strip_prefix(PREFIX).and_then(|r| r.split_once("__")) else {
            continue;
        };
        let Some(section) = SECTIONS.iter().find(|s| **s == head) else {
            // `__` under a scalar field: not a setting (pydantic ignores it).
            continue;
        };
        let map = layer.sections.entry(section).or_default();
        match sub.split_once("__") {
            None => {
                map.insert(sub.to_owned(), raw.clone());
            }
            Some((field, deeper)) => {
                // Deeper nesting under a scalar field: the field gets an
                // object (a type error if the field exists), unless it also
                // has a plain value.
                let text = match raw {
                    Raw::Text(s) => Json::String(s.clone()),
                    Raw::Json(j) => j.clone(),
                    Raw::List(items) => Json::String(items.join(",")),
                };
                let mut object = serde_json::Map::new();
                object.insert(deeper.to_owned(), text);
                map.entry(field.to_owned())
                    .or_insert(Raw::Json(Json::Object(object)));
            }
        }
    }
    Ok(layer)
}

/// The JSON object of a whole sub-section (`REGSTACK_EMAIL='{...}'`), keys
/// lower-cased, string values as text.
fn section_json(section: &str, raw: &Raw) -> Result<BTreeMap<String, Raw>, ConfigError> {
    let value = match raw {
        Raw::Text(text) => {
            serde_json::from_str::<Json>(text.trim()).map_err(|e| ConfigError::json(section, e))?
        }
        Raw::Json(value) => value.clone(),
        Raw::List(_) => {
            return Err(ConfigError::invalid(
                section,
                "expected a JSON object, got a list",
            ));
        }
    };
    match value {
        // `null` contributes nothing; the `__` keys still apply.
        Json::Null => Ok(BTreeMap::new()),
        Json::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| {
                let raw = match v {
                    Json::String(s) => Raw::Text(s),
                    other => Raw::Json(other),
                };
                (k.to_lowercase(), raw)
            })
            .collect()),
        other => Err(ConfigError::invalid(
            section,
            format!("expected a JSON object, got {}", json_kind(&other)),
        )),
    }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A field being parsed: its path (for messages) and whether its value may be
/// echoed in them.
struct Field {
    name: String,
    secret: bool,
}

impl Field {
    fn new(name: String) -> Self {
        Self {
            name,
            secret: false,
        }
    }

    fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    fn err(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(&self.name, reason)
    }

    /// ", got <value>" unless the field is secret.
    fn got(&self, raw: &Raw) -> String {
        if self.secret {
            return String::new();
        }
        match raw {
            Raw::Text(s) => format!(", got {s:?}"),
            Raw::Json(j) => format!(", got {j}"),
            Raw::List(items) => format!(", got {items:?}"),
        }
    }

    fn text(&self, raw: Raw) -> Result<Option<String>, ConfigError> {
        match raw {
            Raw::Text(s) => Ok(Some(s)),
            Raw::List(items) => Ok(Some(items.join(","))),
            Raw::Json(Json::Null) => Ok(None),
            Raw::Json(ref j) => Err(self.err(format!("expected a string, got {}", json_kind(j)))),
        }
    }

    fn string(&self, raw: Raw) -> Result<String, ConfigError> {
        self.text(raw)?.ok_or_else(|| self.err("must not be null"))
    }

    fn opt_string(&self, raw: Raw) -> Result<Option<String>, ConfigError> {
        self.text(raw)
    }

    fn secret_string(self, raw: Raw) -> Result<SecretString, ConfigError> {
        self.secret().string(raw).map(SecretString::from)
    }

    fn opt_secret(self, raw: Raw) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.secret().text(raw)?.map(SecretString::from))
    }

    /// pydantic's lax boolean: `true/false 1/0 yes/no on/off t/f y/n` in any
    /// case (no surrounding whitespace), or a JSON boolean, or JSON 0/1.
    fn bool(&self, raw: Raw) -> Result<bool, ConfigError> {
        let parsed = match &raw {
            Raw::Text(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
                _ => None,
            },
            Raw::Json(Json::Bool(b)) => Some(*b),
            Raw::Json(Json::Number(n)) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.err(format!(
                "expected a boolean (true/false, 1/0, yes/no, on/off, t/f, y/n){}",
                self.got(&raw)
            ))
        })
    }

    /// An integer within `min ..= max` (either bound optional), converted to
    /// the field's type.
    fn int<T: TryFrom<i128>>(
        &self,
        raw: Raw,
        min: Option<i128>,
        max: Option<i128>,
    ) -> Result<T, ConfigError> {
        let parsed = match &raw {
            Raw::Text(s) => parse_int(s),
            Raw::List(items) => parse_int(&items.join(",")),
            Raw::Json(Json::Number(n)) => n.as_i64().map(i128::from).or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                    .map(|f| f as i128)
            }),
            Raw::Json(Json::Bool(b)) => Some(i128::from(*b)),
            Raw::Json(_) => None,
        };
        let Some(value) = parsed else {
            return Err(self.err(format!("expected an integer{}", self.got(&raw))));
        };
        if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
            return Err(self.err(range_reason(min, max, value)));
        }
        T::try_from(value).map_err(|_| self.err(format!("is out of range, got {value}")))
    }

    fn literal<T>(
        &self,
        raw: Raw,
        parse: fn(&str) -> Option<T>,
        all: &[&str],
    ) -> Result<T, ConfigError> {
        if let Some(v) = match &raw {
            Raw::Text(s) => parse(s),
            _ => None,
        } {
            return Ok(v);
        }
        let choices = all
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rule = if all.len() == 1 {
            "must be"
        } else {
            "must be one of"
        };
        Err(self.err(format!("{rule} {choices}{}", self.got(&raw))))
    }

    fn http_url(&self, raw: Raw) -> Result<Option<String>, ConfigError> {
        match self.text(raw)? {
            Some(s) => normalize_http_url(&s)
                .map(Some)
                .map_err(|reason| self.err(reason)),
            None => Ok(None),
        }
    }

    /// A list of paths: a TOML array, or a JSON array of strings.
    fn paths(&self, raw: Raw) -> Result<Vec<PathBuf>, ConfigError> {
        let items = self.list(raw, "paths")?;
        Ok(items
            .into_iter()
            // Python's `Path("")` is `.`.
            .map(|s| PathBuf::from(if s.is_empty() { "." } else { s.as_str() }))
            .collect())
    }

    /// A list of IP networks (`trusted_proxies`): a TOML array, or a JSON array of strings,
    /// each an address or a CIDR block.
    fn networks(&self, raw: Raw) -> Result<Vec<IpNetwork>, ConfigError> {
        self.list(raw, "addresses")?
            .iter()
            .map(|item| item.parse().map_err(|reason: String| self.err(reason)))
            .collect()
    }

    /// The strings of a list setting: a TOML array, or a JSON array of strings (`what` names
    /// its elements in messages).
    fn list(&self, raw: Raw, what: &str) -> Result<Vec<String>, ConfigError> {
        match raw {
            Raw::List(items) => Ok(items),
            Raw::Text(text) => {
                let value: Json = serde_json::from_str(text.trim())
                    .map_err(|e| ConfigError::json(&self.name, e))?;
                self.json_strings(value, what)
            }
            Raw::Json(value) => self.json_strings(value, what),
        }
    }

    fn json_strings(&self, value: Json, what: &str) -> Result<Vec<String>, ConfigError> {
        let Json::Array(items) = value else {
            return Err(self.err(format!(
                "expected a JSON array of {what}, got {}",
                json_kind(&value)
            )));
        };
        items
            .into_iter()
            .map(|item| match item {
                Json::String(s) => Ok(s),
                other => Err(self.err(format!(
                    "expected a JSON array of {what}, got an element {other}"
                ))),
            })
            .collect()
    }
}

/// pydantic's lax integer from text: surrounding whitespace, an optional
/// sign, digits with single `_` between them, and an optional fraction of
/// zeros (`"120.0"`).
fn parse_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = match body.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => body,
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return None;
    }
    let value: i128 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -value } else { value })
}

fn build(layer: Layer) -> Result<RegStackConfig, ConfigError> {
    let mut config = RegStackConfig::default();
    for (key, raw) in layer.top {
        apply_top(&mut config, &key, raw)?;
    }
    for (section, map) in layer.sections {
        for (key, raw) in map {
            let field = Field::new(format!("{section}.{key}"));
            match section {
                "email" => apply_email(&mut config.email, &key, field, raw)?,
                "sms" => apply_sms(&mut config.sms, &key, field, raw)?,
                _ => apply_oauth(&mut config.oauth, &key, field, raw)?,
            }
        }
    }
    config.validate()?;
    Ok(config)
}

fn apply_top(c: &mut RegStackConfig, key: &str, raw: Raw) -> Result<(), ConfigError> {
    let f = Field::new(key.to_owned());
    match key {
        "app_name" => c.app_name = f.string(raw)?,
        "base_url" => c.base_url = f.http_url(raw)?.ok_or_else(|| f.err("must not be null"))?,
        "behind_proxy" => c.behind_proxy = f.bool(raw)?,
        "trusted_proxies" => c.trusted_proxies = f.networks(raw)?,

        "database_url" => c.database_url = f.secret_string(raw)?,
        "mongodb_database" => c.mongodb_database = f.string(raw)?,
        "user_collection" => c.user_collection = f.string(raw)?,
        "pending_collection" => c.pending_collection = f.string(raw)?,
        "blacklist_collection" => c.blacklist_collection = f.string(raw)?,
        "login_attempt_collection" => c.login_attempt_collection = f.string(raw)?,
        "mfa_code_collection" => c.mfa_code_collection = f.string(raw)?,
        "oauth_identity_collection" => c.oauth_identity_collection = f.string(raw)?,
        "oauth_state_collection" => c.oauth_state_collection = f.string(raw)?,

        "jwt_secret" => c.jwt_secret = f.secret_string(raw)?,
        "jwt_algorithm" => {
            c.jwt_algorithm = f.literal(raw, JwtAlgorithm::parse, &["HS256", "HS384", "HS512"])?;
        }
        "jwt_ttl_seconds" => c.jwt_ttl_seconds = f.int(raw, Some(60), Some(2_592_000))?,
        "jwt_audience" => c.jwt_audience = f.opt_string(raw)?,
        "transport" => {
            c.transport = f.literal(raw, |s| (s == "bearer").then(|| s.to_owned()), &["bearer"])?;
        }

        "verification_token_ttl_seconds" => {
            c.verification_token_ttl_seconds = f.int(raw, Some(60), None)?
        }
        "password_reset_token_ttl_seconds" => {
            c.password_reset_token_ttl_seconds = f.int(raw, Some(60), None)?;
        }
        "email_change_token_ttl_seconds" => {
            c.email_change_token_ttl_seconds = f.int(raw, Some(60), None)?
        }

        "sms_code_length" => c.sms_code_length = f.int(raw, Some(4), Some(10))?,
        "sms_code_ttl_seconds" => c.sms_code_ttl_seconds = f.int(raw, Some(30), Some(1800))?,
        "sms_code_max_attempts" => c.sms_code_max_attempts = f.int(raw, Some(1), Some(20))?,
        "mfa_pending_token_ttl_seconds" => {
            c.mfa_pending_token_ttl_seconds = f.int(raw, Some(60), Some(1800))?
        }

        "require_verification" => c.require_verification = f.bool(raw)?,
        "allow_registration" => c.allow_registration = f.bool(raw)?,
        "enable_password_reset" => c.enable_password_reset = f.bool(raw)?,
        "enable_account_deletion" => c.enable_account_deletion = f.bool(raw)?,
        "enable_admin_router" => c.enable_admin_router = f.bool(raw)?,
        "enable_ui_router" => c.enable_ui_router = f.bool(raw)?,
        "enable_sms_2fa" => c.enable_sms_2fa = f.bool(raw)?,
        "enable_oauth" => c.enable_oauth = f.bool(raw)?,

        "rate_limit_disabled" => c.rate_limit_disabled = f.bool(raw)?,
        "log_security_emails" => c.log_security_emails = f.bool(raw)?,
        "login_lockout_threshold" => c.login_lockout_threshold = f.int(raw, Some(1), None)?,
        "login_lockout_window_seconds" => {
            c.login_lockout_window_seconds = f.int(raw, Some(10), None)?
        }

        "login_rate_limit" => c.login_rate_limit = f.opt_string(raw)?,
        "login_mfa_confirm_rate_limit" => c.login_mfa_confirm_rate_limit = f.opt_string(raw)?,
        "register_rate_limit" => c.register_rate_limit = f.opt_string(raw)?,
        "forgot_password_rate_limit" => c.forgot_password_rate_limit = f.opt_string(raw)?,
        "reset_password_rate_limit" => c.reset_password_rate_limit = f.opt_string(raw)?,
        "verify_rate_limit" => c.verify_rate_limit = f.opt_string(raw)?,
        "resend_verification_rate_limit" => c.resend_verification_rate_limit = f.opt_string(raw)?,
        "change_password_rate_limit" => c.change_password_rate_limit = f.opt_string(raw)?,
        "change_email_rate_limit" => c.change_email_rate_limit = f.opt_string(raw)?,
        "confirm_email_change_rate_limit" => {
            c.confirm_email_change_rate_limit = f.opt_string(raw)?
        }
        "delete_account_rate_limit" => c.delete_account_rate_limit = f.opt_string(raw)?,
        "oauth_exchange_rate_limit" => c.oauth_exchange_rate_limit = f.opt_string(raw)?,
        "phone_start_rate_limit" => c.phone_start_rate_limit = f.opt_string(raw)?,
        "phone_confirm_rate_limit" => c.phone_confirm_rate_limit = f.opt_string(raw)?,
        "phone_disable_rate_limit" => c.phone_disable_rate_limit = f.opt_string(raw)?,

        "brand_logo_url" => c.brand_logo_url = f.opt_string(raw)?,
        "brand_tagline" => c.brand_tagline = f.opt_string(raw)?,
        "extra_template_dirs" => c.extra_template_dirs = f.paths(raw)?,
        "extra_static_dirs" => c.extra_static_dirs = f.paths(raw)?,
        "api_prefix" => c.api_prefix = f.string(raw)?,
        "ui_prefix" => c.ui_prefix = f.string(raw)?,
        "static_prefix" => c.static_prefix = f.string(raw)?,
        "theme_css_url" => c.theme_css_url = f.opt_string(raw)?,

        "email_link_prefix" => c.email_link_prefix = f.opt_string(raw)?,
        "verify_url_template" => c.verify_url_template = f.opt_string(raw)?,
        "password_reset_url_template" => c.password_reset_url_template = f.opt_string(raw)?,
        "email_change_url_template" => c.email_change_url_template = f.opt_string(raw)?,

        "password_hash_memory_kib" => c.password_hash_memory_kib = f.int(raw, Some(8), None)?,
        "password_hash_iterations" => c.password_hash_iterations = f.int(raw, Some(1), None)?,
        "password_hash_parallelism" => {
            c.password_hash_parallelism = f.int(raw, Some(1), Some(0x00FF_FFFF))?
        }
        "password_hash_concurrency" => {
            c.password_hash_concurrency = Some(f.int(raw, Some(1), None)?)
        }
        "password_hash_nice" => {
            c.password_hash_nice =
                f.int(raw, Some(0), Some(i128::from(crate::password::MAX_NICE)))?
        }
        "password_hash_max_wait_ms" => {
            c.password_hash_max_wait_ms = f.int(raw, Some(1), Some(3_600_000))?
        }
        "max_body_bytes" => c.max_body_bytes = f.int(raw, Some(1024), None)?,

        // Unknown keys (legacy `login_max_per_minute`, `cookie_domain`, …) are ignored.
        _ => {}
    }
    Ok(())
}

fn apply_email(e: &mut EmailConfig, key: &str, f: Field, raw: Raw) -> Result<(), ConfigError> {
    match key {
        "backend" => {
            e.backend = f.literal(raw, EmailBackend::parse, &["console", "smtp", "ses"])?
        }
        "from_address" => {
            let text = f.string(raw)?;
            e.from_address = normalize_email_address(&text).map_err(|reason| f.err(reason))?;
        }
        "from_name" => e.from_name = f.opt_string(raw)?,
        "smtp_host" => e.smtp_host = f.opt_string(raw)?,
        "smtp_port" => e.smtp_port = f.int(raw, Some(0), Some(i128::from(u16::MAX)))?,
        "smtp_starttls" => e.smtp_starttls = f.bool(raw)?,
        "smtp_tls" => {
            e.smtp_tls = match raw {
                Raw::Json(Json::Null) => None,
                raw => Some(f.literal(raw, SmtpTls::parse, &["starttls", "tls", "none"])?),
            }
        }
        "smtp_timeout_seconds" => e.smtp_timeout_seconds = f.int(raw, Some(1), Some(3600))?,
        "smtp_ca_file" => {
            e.smtp_ca_file = f
                .opt_string(raw)?
                .filter(|s| !s.trim().is_empty())
                .map(PathBuf::from)
        }
        "smtp_username" => e.smtp_username = f.opt_string(raw)?,
        "smtp_password" => e.smtp_password = f.opt_secret(raw)?,
        "ses_region" => e.ses_region = f.string(raw)?,
        "ses_profile" => e.ses_profile = f.opt_string(raw)?,
        "ses_access_key_id" => e.ses_access_key_id = f.opt_secret(raw)?,
        "ses_secret_access_key" => e.ses_secret_access_key = f.opt_secret(raw)?,
        "ses_endpoint_url" => e.ses_endpoint_url = f.opt_string(raw)?.map(|s| s.trim().to_owned()),
        "log_bodies" => e.log_bodies = f.bool(raw)?,
        "queue_capacity" => e.queue_capacity = f.int(raw, Some(1), Some(1_000_000))?,
        "max_concurrent_sends" => e.max_concurrent_sends = f.int(raw, Some(1), Some(1024))?,
        "cooldown_seconds" => e.cooldown_seconds = f.int(raw, Some(0), Some(86_400))?,
        _ => {}
    }
    Ok(())
}

fn apply_sms(s: &mut SmsConfig, key: &str, f: Field, raw: Raw) -> Result<(), ConfigError> {
    match key {
        "backend" => s.backend = f.literal(raw, SmsBackend::parse, &["null", "sns", "twilio"])?,
        "from_number" => s.from_number = f.opt_string(raw)?,
        "sns_region" => s.sns_region = f.string(raw)?,
        "twilio_account_sid" => s.twilio_account_sid = f.opt_string(raw)?,
        "twilio_auth_token" => s.twilio_auth_token = f.opt_secret(raw)?,
        "log_bodies" => s.log_bodies = f.bool(raw)?,
        "sns_endpoint_url" => s.sns_endpoint_url = f.http_url(raw)?,
        "twilio_base_url" => {
            s.twilio_base_url = f.http_url(raw)?.ok_or_else(|| f.err("must not be null"))?
        }
        "timeout_seconds" => s.timeout_seconds = f.int(raw, Some(1), Some(300))?,
        _ => {}
    }
    Ok(())
}

fn apply_oauth(o: &mut OAuthConfig, key: &str, f: Field, raw: Raw) -> Result<(), ConfigError> {
    match key {
        "google_client_id" => o.google_client_id = f.opt_string(raw)?,
        "google_client_secret" => o.google_client_secret = f.opt_secret(raw)?,
        "google_redirect_uri" => o.google_redirect_uri = f.http_url(raw)?,
        "auto_link_verified_emails" => o.auto_link_verified_emails = f.bool(raw)?,
        "enforce_mfa_on_oauth_signin" => o.enforce_mfa_on_oauth_signin = f.bool(raw)?,
        "state_ttl_seconds" => o.state_ttl_seconds = f.int(raw, None, None)?,
        "completion_ttl_seconds" => o.completion_ttl_seconds = f.int(raw, None, None)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
pub(super) fn load_in(opts: LoadOptions, dir: &Path) -> Result<RegStackConfig, ConfigError> {
    load(opts, Some(dir))
}
