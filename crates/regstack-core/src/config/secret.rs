//! [`SecretString`]: a string that never prints itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret setting (`jwt_secret`, `database_url`, passwords, tokens).
///
/// `Debug`, `Display` and `Serialize` print `**********` so a secret cannot
/// leak through a log line, an error message or a serialized configuration;
/// [`SecretString::expose`] is the one way to read it. It deserializes from
/// text like any string setting.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

const MASK: &str = "**********";

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::lax::string(d).map(Self)
    }
}
