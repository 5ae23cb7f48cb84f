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

pub(crate) use regstack_store_sql::store_err;
