//! The bundled migrations (`migrations/sqlite`, the Alembic revisions of regstack 0.9.3) and
//! the runner that brings a database to head.

use regstack_core::store::{SchemaStatus, StoreError, StoreResult};
use sqlx::SqliteConnection;

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

/// The revision stored in `alembic_version`, `None` when the table is missing or empty.
pub(crate) async fn current_revision(conn: &mut SqliteConnection) -> StoreResult<Option<String>> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(store_err("alembic_version"))?;
    if exists == 0 {
        return Ok(None);
    }
    let mut versions: Vec<String> = sqlx::query_scalar("SELECT version_num FROM alembic_version")
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
pub(crate) async fn status(conn: &mut SqliteConnection) -> StoreResult<SchemaStatus> {
    Ok(SchemaStatus {
        current: current_revision(conn).await?,
        head: HEAD_REVISION.to_owned(),
    })
}

/// Apply the missing revisions in order, each in its own `BEGIN IMMEDIATE` transaction that
/// re-reads the current revision first (so concurrent installers serialise and the loser
/// finds nothing to do). A database already at head is not written to.
pub(crate) async fn install(writer: &sqlx::SqlitePool) -> StoreResult<()> {
    {
        let mut conn = writer
            .acquire()
            .await
            .map_err(store_err("alembic_version"))?;
        if next_revision(current_revision(&mut conn).await?.as_deref())?.is_none() {
            return Ok(());
        }
    }
    loop {
        let mut tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("alembic_version"))?;
        let current = current_revision(&mut tx).await?;
        let Some(next) = next_revision(current.as_deref())? else {
            tx.rollback().await.map_err(store_err("alembic_version"))?;
            return Ok(());
        };
        debug_assert_eq!(next.down, current.as_deref());
        tracing::info!(
            from = current.as_deref().unwrap_or("empty"),
            to = next.id,
            "applying sqlite schema revision"
        );
        sqlx::raw_sql(next.sql)
            .execute(&mut *tx)
            .await
            .map_err(store_err("schema revision"))?;
        let after = current_revision(&mut tx).await?;
        if after.as_deref() != Some(next.id) {
            return Err(StoreError::Schema(format!(
                "revision {} left alembic_version at {after:?}",
                next.id
            )));
        }
        tx.commit().await.map_err(store_err("schema revision"))?;
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
}
