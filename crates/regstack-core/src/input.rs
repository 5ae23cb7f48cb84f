//! Validated input: values a flow cannot be called without, each of which can only exist
//! within its rule. A front end builds them with `TryFrom` and turns the typed reason into its
//! own answer (the HTTP layer: a 422 item); the CLI and hosts get the same rule for free.

use std::fmt;

use crate::email_address::{self, InvalidEmail};
use crate::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};

/// An email address, syntax-checked and normalised as regstack 0.9.3 does it (Unicode NFC,
/// lower-cased domain, IDNA; [`email_address::normalize`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<&str> for EmailAddress {
    type Error = InvalidEmail;

    fn try_from(input: &str) -> Result<Self, Self::Error> {
        email_address::normalize(input).map(EmailAddress)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidEmail;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::try_from(input.as_str())
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for EmailAddress {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.0).finish()
    }
}

/// Why a password was refused: its length in code points is outside
/// [`PASSWORD_MIN_CHARS`]`..=`[`PASSWORD_MAX_CHARS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordLength {
    #[error("password must have at least {min} characters")]
    TooShort { min: usize },
    #[error("password must have at most {max} characters")]
    TooLong { max: usize },
}

/// A password a flow may set or check: within the length rule of every new password and of
/// the login form. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The rule: `PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS` code points.
    pub fn check(password: &str) -> Result<(), PasswordLength> {
        let n = password.chars().count();
        if n < PASSWORD_MIN_CHARS {
            Err(PasswordLength::TooShort {
                min: PASSWORD_MIN_CHARS,
            })
        } else if n > PASSWORD_MAX_CHARS {
            Err(PasswordLength::TooLong {
                max: PASSWORD_MAX_CHARS,
            })
        } else {
            Ok(())
        }
    }
}

impl TryFrom<String> for NewPassword {
    type Error = PasswordLength;

    fn try_from(password: String) -> Result<Self, Self::Error> {
        Self::check(&password)?;
        Ok(NewPassword(password))
    }
}

impl TryFrom<&str> for NewPassword {
    type Error = PasswordLength;

    fn try_from(password: &str) -> Result<Self, Self::Error> {
        Self::check(password)?;
        Ok(NewPassword(password.to_owned()))
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_address_exists_only_normalised() {
        let e = EmailAddress::try_from("Alice@EXAMPLE.com").unwrap();
        assert_eq!(e.as_str(), "Alice@example.com");
        assert_eq!(format!("{e}"), "Alice@example.com");
        assert!(EmailAddress::try_from("not-an-email").is_err());
        assert!(EmailAddress::try_from("a@b..c".to_owned()).is_err());
    }

    #[test]
    fn a_password_exists_only_within_its_length() {
        assert_eq!(
            NewPassword::try_from("seven77"),
            Err(PasswordLength::TooShort { min: 8 })
        );
        assert!(NewPassword::try_from("eight888").is_ok());
        assert!(NewPassword::try_from("é".repeat(128)).is_ok());
        assert_eq!(
            NewPassword::try_from("é".repeat(129)),
            Err(PasswordLength::TooLong { max: 128 })
        );
        let p = NewPassword::try_from("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(..)");
        assert_eq!(p.expose(), "correct horse");
    }
}
