//! Errors of this crate and the one place where driver errors become [`StoreError`]s.

use mongodb::error::{ErrorKind, WriteFailure};
use regstack_core::store::StoreError;

/// Server error codes of a unique-index violation (`E11000`, and the legacy `E11001`).
pub(crate) const DUPLICATE_KEY: [i32; 2] = [11_000, 11_001];
/// `NamespaceNotFound`: the collection does not exist.
pub(crate) const NAMESPACE_NOT_FOUND: i32 = 26;
/// `NamespaceExists`: the collection was created meanwhile.
pub(crate) const NAMESPACE_EXISTS: i32 = 48;

/// Errors specific to the MongoDB backend. They reach callers wrapped in
/// [`StoreError::Backend`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection string could not be parsed (the URL itself is not repeated: it may hold
    /// a password).
    #[error("invalid mongodb url")]
    InvalidUrl(#[source] mongodb::error::Error),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::backend(e)
    }
}

/// The server error code carried by a driver error (command error, single write error, or the
/// first write error of a batch), if any.
pub(crate) fn server_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|errs| errs.first())
            .map(|w| w.code),
        _ => None,
    }
}

/// Whether a driver error is a unique-index violation.
pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    server_code(e).is_some_and(|code| DUPLICATE_KEY.contains(&code))
}

/// Map a driver error: a unique-index violation becomes [`StoreError::Conflict`] naming
/// `what`, a reply that cannot be decoded becomes [`StoreError::Corrupt`], anything else
/// [`StoreError::Backend`]. Every operation of this crate goes through here.
pub(crate) fn store_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> StoreError {
    move |e| {
        if is_duplicate_key(&e) {
            return StoreError::Conflict(what);
        }
        match e.kind.as_ref() {
            ErrorKind::BsonDeserialization(_) => StoreError::Corrupt(format!("{what}: {e}")),
            _ => StoreError::backend(e),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use mongodb::bson::{self, doc};
    use mongodb::error::{CommandError, ErrorKind};

    use super::*;

    /// A driver error as the server reports a failed command with `code`.
    pub(crate) fn command_error(code: i32) -> mongodb::error::Error {
        let e: CommandError = bson::deserialize_from_document(doc! {
            "code": code,
            "codeName": "Test",
            "errmsg": format!("E{code} test"),
        })
        .expect("command error");
        ErrorKind::Command(e).into()
    }

    #[test]
    fn one_mapping() {
        for code in DUPLICATE_KEY {
            assert!(matches!(
                store_err("user")(command_error(code)),
                StoreError::Conflict("user")
            ));
        }
        assert_eq!(server_code(&command_error(26)), Some(NAMESPACE_NOT_FOUND));
        assert!(matches!(
            store_err("user")(command_error(121)),
            StoreError::Backend(_)
        ));
        let decode: mongodb::error::Error = ErrorKind::BsonDeserialization(
            bson::deserialize_from_document::<CommandError>(doc! {}).unwrap_err(),
        )
        .into();
        assert!(matches!(store_err("user")(decode), StoreError::Corrupt(_)));
    }
}
