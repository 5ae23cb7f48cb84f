//! The bundled migrations (`migrations/postgres`, the Alembic revisions of regstack 0.9.3) and
//! the runner that brings a database to head.

use regstack_core::store::{SchemaStatus, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::error::store_err;

/// One schema revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// The Alembic revision id stored in `alembic_version`.
    pub id: &'static str,
    /// The revision this one applies on top of.
    pub down: Option<&'static str>,
    /// The SQL of the revision; it also updates `alembic_version`.
    pub sql: &'static str,
}

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

/// The revision stored in `alembic_version` (looked up through the `search_path`, where the
/// revisions create their tables), `None` when the table is missing or empty.
///
/// Whether the table exists is read from `pg_class` with the statement's snapshot, not with
/// `to_regclass`, which answers from the server process's catalog caches; nothing in a wait
/// for an advisory lock refreshes those (a relation lock would). CI once saw an installer that
/// had waited for the schema lock apply `0001` after another had committed it (`relation
/// "users" already exists`); not reproduced on demand, but a query on `pg_class` sees every
/// commit before it started either way.
pub(crate) async fn current_revision(conn: &mut PgConnection) -> StoreResult<Option<String>> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = 'alembic_version' AND n.nspname = ANY (current_schemas(false)))",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(store_err("alembic_version"))?;
    if !exists {
        return Ok(None);
    }
    let mut versions: Vec<String> =
        sqlx::query_scalar("SELECT version_num FROM alembic_version ORDER BY version_num")
            .fetch_all(&mut *conn)
            .await
            .map_err(store_err("alembic_version"))?;
    match versions.len() {
        0 => Ok(None),
        1 => Ok(versions.pop()),
        _ => Err(StoreError::Schema(format!(
            "alembic_version holds several revisions ({}); branched schemas are not supported",
            versions.join(", ")
        ))),
    }
}

/// The index in [`REVISIONS`] of `current`, or a schema error for an unknown revision.
fn position(current: &str) -> StoreResult<usize> {
    REVISIONS
        .iter()
        .position(|r| r.id == current)
        .ok_or_else(|| {
            StoreError::Schema(format!(
                "database schema is at revision {current}, which this build does not know \
                 (its head is {HEAD_REVISION}); upgrade regstack"
            ))
        })
}

/// The revision to apply next, `None` at head.
fn next_revision(current: Option<&str>) -> StoreResult<Option<&'static Revision>> {
    match current {
        None => Ok(REVISIONS.first()),
        Some(id) => Ok(REVISIONS.get(position(id)? + 1)),
    }
}

/// Status of the database behind `conn`.
pub(crate) async fn status(conn: &mut PgConnection) -> StoreResult<SchemaStatus> {
    Ok(SchemaStatus {
        current: current_revision(conn).await?,
        head: HEAD_REVISION.to_owned(),
    })
}

/// Apply the missing revisions in order, all in one transaction that first takes
/// `pg_advisory_xact_lock(SCHEMA_LOCK_KEY)` and then re-reads the current revision, so
/// concurrent installers (other processes included) serialise and the later ones find nothing
/// to do. A database already at head is only read, never written to.
pub(crate) async fn install(pool: &PgPool) -> StoreResult<()> {
    let err = store_err("schema revision");
    {
        let mut conn = pool.acquire().await.map_err(&err)?;
        if next_revision(current_revision(&mut conn).await?.as_deref())?.is_none() {
            return Ok(());
        }
    }
    let mut tx = pool.begin().await.map_err(&err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
    let mut current = current_revision(&mut tx).await?;
    let mut applied = false;
    while let Some(next) = next_revision(current.as_deref())? {
        debug_assert_eq!(next.down, current.as_deref());
        tracing::info!(
            from = current.as_deref().unwrap_or("empty"),
            to = next.id,
            "applying postgres schema revision"
        );
        sqlx::raw_sql(next.sql)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        let after = current_revision(&mut tx).await?;
        if after.as_deref() != Some(next.id) {
            return Err(StoreError::Schema(format!(
                "revision {} left alembic_version at {after:?}",
                next.id
            )));
        }
        current = after;
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
        let mut down = None;
        for r in REVISIONS {
            assert_eq!(r.down, down, "{}", r.id);
            assert!(
                r.sql.contains(&format!("version_num='{}'", r.id))
                    || r.sql.contains(&format!("VALUES ('{}')", r.id)),
                "{} must stamp alembic_version",
                r.id
            );
            down = Some(r.id);
        }
        assert_eq!(down, Some(HEAD_REVISION));
    }

    #[test]
    fn unknown_revision_is_a_schema_error() {
        assert!(matches!(
            next_revision(Some("0004")),
            Err(StoreError::Schema(_))
        ));
        assert_eq!(next_revision(Some(HEAD_REVISION)).unwrap(), None);
        assert_eq!(next_revision(None).unwrap().unwrap().id, "0001");
    }

    #[test]
    fn lock_key_spells_regstack() {
        assert_eq!(SCHEMA_LOCK_KEY.to_be_bytes(), *b"regstack");
        const { assert!(SCHEMA_LOCK_KEY > 0) };
    }
}
