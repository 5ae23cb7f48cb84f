//! The bundled migrations (`migrations/postgres`, the Alembic revisions of regstack 0.9.3) and
//! the runner that brings a database to head.

use regstack_core::store::{SchemaStatus, StoreResult};
pub use regstack_store_sql::schema::Revision;
use regstack_store_sql::schema::{apply_next, at_head};
use sqlx::{PgConnection, PgPool};

use crate::PgBackend;
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

/// The key of the transaction-level advisory lock (`pg_advisory_xact_lock(bigint)`) that
/// serialises schema installation across processes: the ASCII bytes of `regstack`. It is per
/// database, so installers on different databases never wait for each other.
pub const SCHEMA_LOCK_KEY: i64 = i64::from_be_bytes(*b"regstack");

/// Status of the database behind `conn`.
pub(crate) async fn status(conn: &mut PgConnection) -> StoreResult<SchemaStatus> {
    regstack_store_sql::schema::status::<PgBackend>(conn, REVISIONS).await
}

/// Apply the missing revisions in order, all in one transaction that first takes
/// `pg_advisory_xact_lock(SCHEMA_LOCK_KEY)` and then re-reads the current revision, so
/// concurrent installers (other processes included) serialise and the later ones find nothing
/// to do. A database already at head is only read, never written to.
pub(crate) async fn install(pool: &PgPool) -> StoreResult<()> {
    let err = store_err("schema revision");
    {
        let mut conn = pool.acquire().await.map_err(&err)?;
        if at_head::<PgBackend>(&mut conn, REVISIONS).await? {
            return Ok(());
        }
    }
    let mut tx = pool.begin().await.map_err(&err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
    let mut applied = false;
    while apply_next::<PgBackend>(&mut tx, REVISIONS).await? {
        applied = true;
    }
    if applied {
        tx.commit().await.map_err(&err)
    } else {
        // Another installer got there first.
        tx.rollback().await.map_err(&err)
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

    #[test]
    fn lock_key_spells_regstack() {
        assert_eq!(SCHEMA_LOCK_KEY.to_be_bytes(), *b"regstack");
        const { assert!(SCHEMA_LOCK_KEY > 0) };
    }
}
