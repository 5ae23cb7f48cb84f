//! Reading the sources (regstack 0.9.3's configuration) into one value tree, and the tree into a
//! [`RegStackConfig`].
//!
//! Every source is first reduced to environment-style keys (lower-cased, `regstack_…`, nested
//! with `__`), exactly as 0.9.3 does: TOML is flattened (scalars become text, arrays stay
//! arrays), the secrets file is read verbatim, the process environment is filtered. TOML,
//! secrets file and environment are merged key by key (later wins); the merged keys are then
//! resolved into the tree — a whole section's JSON object first, its `__` keys over it.
//! Programmatic overrides are resolved the same way on their own and merged over the tree
//! (sections key by key). The tree is then deserialized (`serde_path_to_error` names the field
//! a parser refuses) and the rules between fields are checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{ConfigError, RegStackConfig, env_name, lax};

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

/// 0.9.3's legacy keys (ignored there too) and what the notice about them says: whether it is a
/// warning, and why.
const LEGACY: [(&str, bool, &str); 3] = [
    (
        "login_max_per_minute",
        true,
        "no login limit comes from it; set `login_rate_limit`",
    ),
    (
        "login_max_per_hour",
        true,
        "no login limit comes from it; set `login_rate_limit`",
    ),
    ("cookie_domain", false, "regstack sets no cookies"),
];

/// Environment-style keys before they are resolved.
type Overlay = BTreeMap<String, Value>;

/// The value tree: a setting's key to its value, a section to an object of its keys.
type Tree = Map<String, Value>;

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
    let at = |p: &Path| base_dir.map_or_else(|| p.to_path_buf(), |dir| dir.join(p));

    // Merged environment-style keys, lowest priority first.
    let mut overlay = Overlay::new();

    let toml_path = match (&opts.toml_path, config_env_var(&env)) {
        (Some(explicit), _) => at(explicit),
        (None, Some(from_env)) => at(Path::new(from_env)),
        (None, None) => at(Path::new(DEFAULT_TOML)),
    };
    if toml_path.is_file() {
        let table = parse_toml(&read(&toml_path)?, Some(&toml_path))?;
        tracing::debug!(path = %toml_path.display(), "loaded regstack TOML configuration");
        flatten_toml(&table, PREFIX, &mut overlay);
    }

    let secrets_path = at(opts
        .secrets_path
        .as_deref()
        .unwrap_or(Path::new(DEFAULT_SECRETS)));
    if secrets_path.is_file() {
        let text = read(&secrets_path)?;
        tracing::debug!(path = %secrets_path.display(), "loaded regstack secrets file");
        for (key, value) in parse_secrets(&text) {
            overlay.insert(key.to_lowercase(), Value::String(value));
        }
    }

    for (key, value) in env {
        let key = key.to_lowercase();
        if key.starts_with(PREFIX) {
            overlay.insert(key, Value::String(value));
        }
    }

    let known = known();
    let mut tree = resolve(&overlay, &known)?;

    let overrides: Overlay = opts
        .overrides
        .into_iter()
        .map(|(key, value)| {
            let key = key.to_lowercase();
            let key = if key.starts_with(PREFIX) {
                key
            } else {
                format!("{PREFIX}{key}")
            };
            (key, Value::String(value))
        })
        .collect();
    for (key, value) in resolve(&overrides, &known)? {
        match (tree.get_mut(&key), value) {
            // Sections are merged key by key (pydantic-settings' deep update).
            (Some(Value::Object(section)), Value::Object(over)) => section.extend(over),
            (_, value) => {
                tree.insert(key, value);
            }
        }
    }

    from_tree(tree, &known)
}

pub(super) fn from_toml_str(s: &str) -> Result<RegStackConfig, ConfigError> {
    let mut overlay = Overlay::new();
    flatten_toml(&parse_toml(s, None)?, PREFIX, &mut overlay);
    let known = known();
    from_tree(resolve(&overlay, &known)?, &known)
}

/// [`RegStackConfig::validate`]: the configuration's own tree goes through the parsers again.
pub(super) fn validate(config: &RegStackConfig) -> Result<(), ConfigError> {
    let tree = serde_path_to_error::serialize(config, serde_json::value::Serializer)
        .map_err(|e| ConfigError::invalid(&e.path().to_string(), e.inner().to_string()))?;
    let Value::Object(tree) = tree else {
        unreachable!("a struct serializes to an object")
    };
    deserialize(tree).map(drop)
}

/// The keys of every setting, sections as objects of their keys: the tree of the defaults.
fn known() -> Tree {
    match serde_json::to_value(RegStackConfig::default()) {
        Ok(Value::Object(map)) => map,
        other => unreachable!("the defaults serialize to an object: {other:?}"),
    }
}

/// Notes the keys that are not settings, then deserializes the tree.
fn from_tree(tree: Tree, known: &Tree) -> Result<RegStackConfig, ConfigError> {
    for key in unknown_keys(&tree, known) {
        match LEGACY.iter().find(|(legacy, ..)| *legacy == key) {
            Some((_, true, why)) => tracing::warn!("legacy setting `{key}` ignored: {why}"),
            Some((_, false, why)) => tracing::info!("legacy setting `{key}` ignored: {why}"),
            None => tracing::warn!("unknown setting `{key}` ({}) ignored", env_name(&key)),
        }
    }
    deserialize(tree)
}

fn deserialize(tree: Tree) -> Result<RegStackConfig, ConfigError> {
    let config: RegStackConfig = serde_path_to_error::deserialize(Value::Object(tree)).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let field = e.path().to_string();
            let reason = e.into_inner().to_string();
            match reason.strip_prefix(lax::NOT_JSON) {
                Some(why) => ConfigError::json(&field, serde::de::Error::custom(why)),
                None => ConfigError::invalid(&field, reason),
            }
        },
    )?;
    config.check_relations()?;
    Ok(config)
}

/// The paths of the tree's keys that are not settings (`email.nope`), `REGSTACK_CONFIG` aside.
/// A key that cannot be a setting's name is not repeated (a malformed secrets-file line may
/// hold a secret in it).
pub(super) fn unknown_keys(tree: &Tree, known: &Tree) -> Vec<String> {
    let mut unknown = Vec::new();
    for (key, value) in tree {
        match (known.get(key), value) {
            (Some(Value::Object(fields)), Value::Object(section)) => unknown.extend(
                section
                    .keys()
                    .filter(|k| !fields.contains_key(*k))
                    .map(|k| format!("{key}.{k}")),
            ),
            (Some(_), _) => {}
            (None, _) if key == "config" => {}
            (None, _) => unknown.push(key.replace("__", ".")),
        }
    }
    let name_like = |k: &String| {
        k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b))
    };
    for key in unknown.iter_mut().filter(|k| !name_like(k)) {
        *key = "(a key that is not a setting name)".to_owned();
    }
    unknown
}

/// `REGSTACK_CONFIG`: the exact name first, else any spelling.
fn config_env_var(env: &[(String, String)]) -> Option<&str> {
    let exact = env.iter().find(|(k, _)| k == "REGSTACK_CONFIG");
    exact
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

fn parse_toml(text: &str, path: Option<&Path>) -> Result<toml::Table, ConfigError> {
    text.parse().map_err(|source| ConfigError::Toml {
        path: path.map(Path::to_path_buf),
        source,
    })
}

/// Flattens a TOML table into environment-style keys (regstack 0.9.3's configuration): `k` →
/// `regstack_k`, `[t] k` → `regstack_t__k`; booleans `true`/`false`, numbers their decimal
/// text, strings unchanged, arrays kept as arrays of such text.
fn flatten_toml(table: &toml::Table, prefix: &str, out: &mut Overlay) {
    for (key, value) in table {
        let full = format!("{prefix}{}", key.to_lowercase());
        let text = |v: &toml::Value| {
            Value::String(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                // `{:?}` keeps a fractional part (`1.0`), like Python's `str(float)`.
                toml::Value::Float(f) => format!("{f:?}"),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                // An array or table inside an array: no setting takes one.
                nested => format!("{nested:?}"),
            })
        };
        match value {
            toml::Value::Table(inner) => flatten_toml(inner, &format!("{full}__"), out),
            toml::Value::Array(items) => {
                out.insert(full, items.iter().map(text).collect());
            }
            scalar => {
                out.insert(full, text(scalar));
            }
        }
    }
}

/// Parses the secrets file (regstack 0.9.3's configuration): one `KEY=value` per line; line, key and
/// value stripped; blank, `#` and `=`-less lines skipped; split at the first `=`; one pair of
/// matching surrounding quotes removed. A leading byte-order mark is ignored.
pub(super) fn parse_secrets(text: &str) -> Vec<(String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The line boundaries of Python's `str.splitlines`.
    let breaks = [
        '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}',
    ];
    let mut out = Vec::new();
    for line in text.split(breaks).map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let mut value = value.trim();
        for quote in ['"', '\''] {
            if value.starts_with(quote) && value.ends_with(quote) {
                // A lone quote character becomes empty, like Python's `v[1:-1]`.
                value = value.get(1..value.len() - 1).unwrap_or("");
                break;
            }
        }
        out.push((key.trim().to_owned(), value.to_owned()));
    }
    out
}

/// Resolves merged environment-style keys into the tree: `regstack_k` → `k`; a section's value
/// (`regstack_email`, a JSON object) first, then its `__` keys over it. `__` under anything but
/// a section stays one (unknown) key.
fn resolve(overlay: &Overlay, known: &Tree) -> Result<Tree, ConfigError> {
    let is_section = |name: &str| known.get(name).is_some_and(Value::is_object);
    let keys = overlay
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?, v)));
    let mut tree = Map::new();
    for (key, value) in keys.clone() {
        match key.split_once("__") {
            None if is_section(key) => {
                let object = section_object(key, value)?;
                section(&mut tree, key).extend(object);
            }
            Some((head, _)) if is_section(head) => {}
            _ => {
                tree.insert(key.to_owned(), value.clone());
            }
        }
    }
    for (key, value) in keys {
        let Some((head, sub)) = key.split_once("__").filter(|(head, _)| is_section(head)) else {
            continue;
        };
        let section = section(&mut tree, head);
        match sub.split_once("__") {
            None => {
                section.insert(sub.to_owned(), value.clone());
            }
            // Deeper nesting: the field gets an object (a type error if the field exists),
            // unless it also has a plain value (`email__backend` sorts before
            // `email__backend__x`).
            Some((field, deeper)) => {
                let object = Map::from_iter([(deeper.to_owned(), value.clone())]);
                section.entry(field).or_insert(Value::Object(object));
            }
        }
    }
    Ok(tree)
}

fn section<'a>(tree: &'a mut Tree, name: &str) -> &'a mut Tree {
    let slot = tree
        .entry(name)
        .or_insert_with(|| Value::Object(Map::new()));
    slot.as_object_mut()
        .expect("a section is only ever an object")
}

/// The JSON object of a whole section (`REGSTACK_EMAIL='{...}'`), keys lower-cased.
fn section_object(name: &str, value: &Value) -> Result<Tree, ConfigError> {
    let value = match value {
        Value::String(text) => {
            serde_json::from_str(text.trim()).map_err(|e| ConfigError::json(name, e))?
        }
        toml_array => toml_array.clone(),
    };
    match value {
        // `null` contributes nothing; the `__` keys still apply.
        Value::Null => Ok(Tree::new()),
        Value::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect()),
        other => Err(ConfigError::invalid(
            name,
            format!("expected a JSON object, got {}", lax::kind(&other)),
        )),
    }
}

#[cfg(test)]
pub(super) fn load_in(opts: LoadOptions, dir: &Path) -> Result<RegStackConfig, ConfigError> {
    load(opts, Some(dir))
}
