//! Errors of this crate and the one place where driver errors become [`StoreError`]s.

use regstack_core::store::StoreError;

/// Errors specific to the SQLite backend. They reach callers wrapped in
/// [`StoreError::Backend`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is not one of the accepted SQLite forms.
    #[error("invalid sqlite url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::backend(e)
    }
}

/// Map a driver error: a unique-constraint violation becomes [`StoreError::Conflict`] naming
/// `what`, a value that cannot be decoded becomes [`StoreError::Corrupt`], anything else
/// [`StoreError::Backend`]. Every query of this crate goes through here.
pub(crate) fn store_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return StoreError::Conflict(what);
        }
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(format!("{what}: {e}"))
            }
            e => StoreError::backend(e),
        }
    }
}
