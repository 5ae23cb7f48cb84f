//! The `deserialize_with` parsers of the settings: 0.9.3's loose forms (pydantic's lax mode:
//! `"yes"` as a boolean, `"1_200"` as an integer, numbers and booleans from TOML as text), the
//! ranges, and the messages naming what was expected. Each parser reads the field's value from
//! the loader's tree (a `serde_json::Value`) and answers with the reason of a refusal;
//! `serde_path_to_error` adds the field.

use std::path::PathBuf;

use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::Value;

use super::{IpNetwork, MAX_URL_CHARS};

/// The start of a list setting's refusal when its text is not JSON; the loader turns such a
/// refusal into [`ConfigError::Json`](super::ConfigError::Json).
pub(super) const NOT_JSON: &str = "not valid JSON: ";

/// Reads the field's value and parses it, a refusal becoming the deserializer's error.
fn with<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(Value) -> Result<T, String>,
) -> Result<T, D::Error> {
    parse(Value::deserialize(d)?).map_err(D::Error::custom)
}

/// A string, or a TOML array joined with commas (0.9.3 flattens TOML that way); `None` for null.
fn text(value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            Ok(Some(items.join(",")))
        }
        other => Err(format!("expected a string, got {}", kind(&other))),
    }
}

fn required<T>(value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| "must not be null".to_owned())
}

/// The value as a refusal quotes it: text as written, anything else as JSON.
fn got(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// pydantic's lax boolean: `true/false 1/0 yes/no on/off t/f y/n` in any case (no surrounding
/// whitespace), a JSON boolean, or JSON 0/1.
fn boolean(v: Value) -> Result<bool, String> {
    let parsed = match &v {
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => None,
        },
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        _ => None,
    };
    let expected = "expected a boolean (true/false, 1/0, yes/no, on/off, t/f, y/n)";
    parsed.ok_or_else(|| format!("{expected}, got {}", got(&v)))
}

/// An integer setting within `MIN ..= MAX` (`i64::MIN` / `i64::MAX`: no bound), range-checked
/// before it is narrowed to the field's type: `#[serde(deserialize_with =
/// "lax::Int::<60, 2_592_000>::de")]`.
#[derive(Debug)]
pub struct Int<const MIN: i64 = { i64::MIN }, const MAX: i64 = { i64::MAX }>;

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    /// The integer.
    pub fn de<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        with(d, Self::parse)
    }

    /// An optional integer (`None` for JSON `null`).
    pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        with(d, |v| (!v.is_null()).then(|| Self::parse(v)).transpose())
    }

    fn parse<T: TryFrom<i128>>(value: Value) -> Result<T, String> {
        let expected = || format!("expected an integer, got {}", got(&value));
        let n = integer(&value).ok_or_else(expected)?;
        let (min, max) = (MIN > i64::MIN, MAX < i64::MAX);
        let in_range = (!min || n >= i128::from(MIN)) && (!max || n <= i128::from(MAX));
        Err(match (in_range, min, max) {
            (true, ..) => return T::try_from(n).map_err(|_| format!("is out of range, got {n}")),
            (_, true, true) => format!("must be between {MIN} and {MAX}, got {n}"),
            (_, true, false) => format!("must be at least {MIN}, got {n}"),
            (_, false, _) => format!("must be at most {MAX}, got {n}"),
        })
    }
}

/// An integer setting without a range.
pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    Int::<{ i64::MIN }, { i64::MAX }>::de(d)
}

/// An integer from text (see [`parse_int`]), a JSON number without a fraction, or a JSON
/// boolean (0/1, as pydantic does).
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::String(s) => parse_int(s),
        Value::Array(_) => parse_int(&text(value.clone()).ok()??),
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| {
            n.as_u64().map(i128::from).or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                    .map(|f| f as i128)
            })
        }),
        Value::Bool(b) => Some(i128::from(*b)),
        _ => None,
    }
}

/// pydantic's lax integer from text: surrounding whitespace, an optional sign, digits with
/// single `_` between them, and an optional fraction of zeros (`"120.0"`).
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
    let value: i128 = digits
        .replace('_', "")
        .parse()
        .ok()
        .filter(|_| well_formed)?;
    Some(if negative { -value } else { value })
}

/// One of a setting's literals, exactly (case-sensitive).
fn one_of<T>(v: Value, parse: impl FnOnce(&str) -> Option<T>, all: &[&str]) -> Result<T, String> {
    if let Some(t) = v.as_str().and_then(parse) {
        return Ok(t);
    }
    let choices: Vec<String> = all.iter().map(|s| format!("{s:?}")).collect();
    let rule = if all.len() == 1 {
        "must be"
    } else {
        "must be one of"
    };
    Err(format!("{rule} {}, got {}", choices.join(", "), got(&v)))
}

/// The parser of the literal enums.
pub(super) fn literal<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Option<T>,
    all: &[&str],
) -> Result<T, D::Error> {
    with(d, |v| one_of(v, parse, all))
}

/// Declares the parsers a field names after `=>`: `name -> field type = parse`, `parse`
/// turning the field's value into the field or a refusal.
macro_rules! parsers {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty = $parse:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            with(d, $parse)
        }
    )*};
}

parsers! {
    /// A string.
    string -> String = |v| required(text(v)?);
    /// An optional string; JSON `null` unsets it (the text `null` is a string).
    opt_string -> Option<String> = text;
    /// A boolean.
    bool -> bool = boolean;
    /// `transport`: only `bearer`.
    bearer -> String = |v| one_of(v, |s| (s == "bearer").then(|| s.to_owned()), &["bearer"]);
    /// An http(s) URL, stored normalised.
    url -> String = |v| normalize_http_url(&required(text(v)?)?);
    /// An optional http(s) URL, stored normalised.
    opt_url -> Option<String> = |v| text(v)?.map(|s| normalize_http_url(&s)).transpose();
    /// An optional http(s) URL, checked but stored as written (trimmed).
    opt_url_as_written -> Option<String> = |v| {
        let checked = |s: String| normalize_http_url(&s).map(|_| s.trim().to_owned());
        text(v)?.map(checked).transpose()
    };
    /// An email address, stored with its domain lower-cased.
    email_address -> String = |v| normalize_email_address(&required(text(v)?)?);
    /// An optional file; blank text means none.
    opt_path -> Option<PathBuf> =
        |v| Ok(text(v)?.filter(|s| !s.trim().is_empty()).map(PathBuf::from));
    /// A list of paths: a TOML array, or a JSON array of strings (`""` is `.`, as Python's
    /// `Path`).
    paths -> Vec<PathBuf> = |v| {
        let path = |s: String| PathBuf::from(if s.is_empty() { "." } else { s.as_str() });
        Ok(list(v, "paths")?.into_iter().map(path).collect())
    };
    /// A list of IP networks (`trusted_proxies`), each an address or a CIDR block.
    networks -> Vec<IpNetwork> = |v| list(v, "addresses")?.iter().map(|s| s.parse()).collect();
}

/// The strings of a list setting: a TOML array, or a JSON array of strings (`what` names its
/// elements in messages).
fn list(value: Value, what: &str) -> Result<Vec<String>, String> {
    let value = match value {
        Value::String(s) => serde_json::from_str(s.trim()).map_err(|e| format!("{NOT_JSON}{e}"))?,
        other => other,
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "expected a JSON array of {what}, got {}",
            kind(&value)
        ));
    };
    let item = |item| match item {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "expected a JSON array of {what}, got an element {other}"
        )),
    };
    items.into_iter().map(item).collect()
}

/// Validates and normalises an absolute http(s) URL with a host, the way pydantic's
/// `AnyHttpUrl` does (WHATWG parsing: scheme and host lower-cased, IDNA host, default port
/// dropped, empty path → `/`, dot segments resolved, surrounding whitespace removed).
pub(crate) fn normalize_http_url(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let chars = trimmed.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(format!(
            "must be at most {MAX_URL_CHARS} characters, got {chars}"
        ));
    }
    let why = match url::Url::parse(trimmed) {
        Err(e) => format!("must be an absolute http(s) URL ({e})"),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            "URL scheme must be \"http\" or \"https\"".to_owned()
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => "URL must have a host".to_owned(),
        Ok(url) => return Ok(url.into()),
    };
    Err(format!("{why}, got {input:?}"))
}

/// A deliberately simple address check (the full request-email validator lives in
/// [`crate::email_address`]): an optional `Name <addr>` wrapper, one `@`, a non-empty local
/// part without whitespace, a domain with a dot and no empty label. Returns the address with
/// its domain lower-cased.
pub(crate) fn normalize_email_address(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let addr = match (trimmed.rfind('<'), trimmed.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => trimmed,
    };
    let why = match addr.split_once('@') {
        None => "it must have an @-sign",
        Some((_, domain)) if domain.contains('@') => "it must have exactly one @-sign",
        Some(("", _)) => "nothing before the @-sign",
        _ if addr.chars().any(|c| c.is_whitespace() || c.is_control()) => "it contains whitespace",
        Some((_, domain)) if !domain.contains('.') => {
            "the part after the @-sign must have a period"
        }
        Some((_, domain)) if domain.split('.').any(str::is_empty) => {
            "the part after the @-sign has an empty label"
        }
        Some((local, domain)) => return Ok(format!("{local}@{}", domain.to_lowercase())),
    };
    Err(format!(
        "is not a valid email address ({why}), got {input:?}"
    ))
}
