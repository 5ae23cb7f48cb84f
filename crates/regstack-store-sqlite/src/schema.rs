//! The bundled migrations (`migrations/sqlite`, the Alembic revisions of regstack 0.9.3) and
//! the runner that brings a database to head.

use regstack_core::store::{SchemaStatus, StoreResult};
pub use regstack_store_sql::schema::Revision;
use regstack_store_sql::schema::{apply_next, at_head};
use sqlx::{SqliteConnection, SqlitePool};

use crate::SqliteBackend;
use crate::dialect::BEGIN_IMMEDIATE;
use crate::error::store_err;

/// Every revision, oldest first (`0001` → `0002` → `0003`).
pub const REVISIONS: &[Revision] = &[
    Revision {
        id: "0001",
        down: None,
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Revision {
        id: "0002",
        down: Some("0001"),
        sql: include_str!("../migrations/0002_oauth.sql"),
    },
    Revision {
        id: "0003",
        down: Some("0002"),
        sql: include_str!("../migrations/0003_oauth_state_result_was_new.sql"),
    },
];

/// The revision this build brings a database to.
pub const HEAD_REVISION: &str = "0003";

/// Status of the database behind `conn`.
pub(crate) async fn status(conn: &mut SqliteConnection) -> StoreResult<SchemaStatus> {
    regstack_store_sql::schema::status::<SqliteBackend>(conn, REVISIONS).await
}

/// Apply the missing revisions in order, each in its own `BEGIN IMMEDIATE` transaction that
/// re-reads the current revision first (so concurrent installers serialise and the loser
/// finds nothing to do). A database already at head is not written to.
pub(crate) async fn install(writer: &SqlitePool) -> StoreResult<()> {
    let err = store_err("alembic_version");
    {
        let mut conn = writer.acquire().await.map_err(&err)?;
        if at_head::<SqliteBackend>(&mut conn, REVISIONS).await? {
            return Ok(());
        }
    }
    loop {
        let mut tx = writer.begin_with(BEGIN_IMMEDIATE).await.map_err(&err)?;
        if !apply_next::<SqliteBackend>(&mut tx, REVISIONS).await? {
            return tx.rollback().await.map_err(&err);
        }
        tx.commit().await.map_err(store_err("schema revision"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_linear_and_ends_at_head() {
        let problems = regstack_store_sql::schema::chain_problems(REVISIONS, HEAD_REVISION);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
