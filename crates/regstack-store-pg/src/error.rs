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

/// Driver errors become [`StoreError`]s in the shared SQL layer: sqlx reports SQLSTATE `23505`
/// as a unique violation, which becomes [`StoreError::Conflict`].
pub(crate) use regstack_store_sql::store_err;
