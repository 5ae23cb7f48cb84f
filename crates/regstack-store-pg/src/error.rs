//! Errors of this crate and the one place where driver errors become [`StoreError`]s.

use regstack_core::store::StoreError;

/// Errors specific to the PostgreSQL backend. They reach callers wrapped in
/// [`StoreError::Backend`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is not one of the accepted PostgreSQL forms. The URL itself is not
    /// repeated (it may hold a password).
    #[error("invalid postgresql url: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::backend(e)
    }
}

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// Whether `e` is a unique-constraint violation (SQLSTATE `23505`).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.code().as_deref() == Some(UNIQUE_VIOLATION))
}

/// Map a driver error: a unique-constraint violation (SQLSTATE `23505`) becomes
/// [`StoreError::Conflict`] naming `what`, a value that cannot be decoded becomes
/// [`StoreError::Corrupt`], anything else [`StoreError::Backend`]. Every query of this crate
/// goes through here.
pub(crate) fn store_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
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
