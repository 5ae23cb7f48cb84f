//! Schema revisions: regstack 0.9.3's Alembic chain, tracked in `alembic_version`. Each backend
//! embeds its own SQL and decides how installers serialise; the chain logic is here.

use regstack_core::store::{SchemaStatus, StoreError, StoreResult};

use crate::{Cols, Conn, Dialect, Stmt, store_err};

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

fn head(revisions: &[Revision]) -> &'static str {
    revisions.last().map_or("none", |r| r.id)
}

/// The revision to apply after `current` (`None`: an empty database), `None` at head; a schema
/// error for a revision `revisions` does not hold.
pub fn next_revision(
    revisions: &'static [Revision],
    current: Option<&str>,
) -> StoreResult<Option<&'static Revision>> {
    let Some(current) = current else {
        return Ok(revisions.first());
    };
    let at = revisions
        .iter()
        .position(|r| r.id == current)
        .ok_or_else(|| {
            StoreError::Schema(format!(
                "database schema is at revision {current}, which this build does not know \
                 (its head is {}); upgrade regstack",
                head(revisions)
            ))
        })?;
    Ok(revisions.get(at + 1))
}

/// The revision stored in `alembic_version`, `None` when the table is missing or empty.
pub async fn current_revision<D: Dialect>(conn: &mut Conn<D>) -> StoreResult<Option<String>> {
    let err = store_err("alembic_version");
    let row = Stmt::<D>::new(D::ALEMBIC_VERSION_EXISTS)
        .fetch_one(conn)
        .await
        .map_err(&err)?;
    if !Cols::<D>(&row).get::<bool>("present")? {
        return Ok(None);
    }
    let mut versions =
        Stmt::<D>::new("SELECT version_num FROM alembic_version ORDER BY version_num")
            .fetch_all(conn)
            .await
            .map_err(&err)?
            .iter()
            .map(|row| Cols::<D>(row).get("version_num"))
            .collect::<StoreResult<Vec<String>>>()?;
    match versions.len() {
        0 => Ok(None),
        1 => Ok(versions.pop()),
        _ => Err(StoreError::Schema(format!(
            "alembic_version holds several revisions ({}); branched schemas are not supported",
            versions.join(", ")
        ))),
    }
}

/// Status of the database behind `conn`.
pub async fn status<D: Dialect>(
    conn: &mut Conn<D>,
    revisions: &'static [Revision],
) -> StoreResult<SchemaStatus> {
    Ok(SchemaStatus {
        current: current_revision::<D>(conn).await?,
        head: head(revisions).to_owned(),
    })
}

/// Whether the database behind `conn` is at the head of `revisions`.
pub async fn at_head<D: Dialect>(
    conn: &mut Conn<D>,
    revisions: &'static [Revision],
) -> StoreResult<bool> {
    let current = current_revision::<D>(conn).await?;
    Ok(next_revision(revisions, current.as_deref())?.is_none())
}

/// Apply the revision after the current one on `conn` (in the caller's transaction) and check
/// that it stamped `alembic_version`; `false` when the database is at head already.
pub async fn apply_next<D: Dialect>(
    conn: &mut Conn<D>,
    revisions: &'static [Revision],
) -> StoreResult<bool> {
    let current = current_revision::<D>(conn).await?;
    let Some(next) = next_revision(revisions, current.as_deref())? else {
        return Ok(false);
    };
    debug_assert_eq!(next.down, current.as_deref());
    tracing::info!(
        database = <D::Db as sqlx::Database>::NAME,
        from = current.as_deref().unwrap_or("empty"),
        to = next.id,
        "applying schema revision"
    );
    sqlx::raw_sql(next.sql)
        .execute(crate::Exec::ex(conn))
        .await
        .map_err(store_err("schema revision"))?;
    let after = current_revision::<D>(conn).await?;
    if after.as_deref() != Some(next.id) {
        return Err(StoreError::Schema(format!(
            "revision {} left alembic_version at {after:?}",
            next.id
        )));
    }
    Ok(true)
}

/// The problems of a revision chain: each revision must apply on top of the one before it and
/// stamp its own id into `alembic_version`, and the chain must end at `head` (the backends'
/// tests check their chains with this).
pub fn chain_problems(revisions: &[Revision], head: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut down = None;
    for r in revisions {
        if r.down != down {
            problems.push(format!("{} applies on {:?}, not on {down:?}", r.id, r.down));
        }
        if !(r.sql.contains(&format!("version_num='{}'", r.id))
            || r.sql.contains(&format!("VALUES ('{}')", r.id)))
        {
            problems.push(format!("{} must stamp alembic_version", r.id));
        }
        down = Some(r.id);
    }
    if down != Some(head) {
        problems.push(format!("the chain ends at {down:?}, not at head {head}"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &[Revision] = &[
        Revision {
            id: "0001",
            down: None,
            sql: "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); \
                  INSERT INTO alembic_version (version_num) VALUES ('0001');",
        },
        Revision {
            id: "0002",
            down: Some("0001"),
            sql: "UPDATE alembic_version SET version_num='0002' WHERE version_num = '0001';",
        },
    ];

    #[test]
    fn next_revision_walks_the_chain() {
        assert_eq!(next_revision(CHAIN, None).unwrap().unwrap().id, "0001");
        assert_eq!(
            next_revision(CHAIN, Some("0001")).unwrap().unwrap().id,
            "0002"
        );
        assert_eq!(next_revision(CHAIN, Some("0002")).unwrap(), None);
    }

    #[test]
    fn unknown_revision_is_a_schema_error() {
        let Err(StoreError::Schema(msg)) = next_revision(CHAIN, Some("0003")) else {
            panic!("an unknown revision must be a schema error");
        };
        assert!(
            msg.contains("0003") && msg.contains("its head is 0002"),
            "{msg}"
        );
    }

    #[test]
    fn chain_problems_are_named() {
        assert_eq!(chain_problems(CHAIN, "0002"), Vec::<String>::new());
        assert_eq!(chain_problems(CHAIN, "0003").len(), 1);
        let unstamped = [Revision {
            sql: "SELECT 1",
            ..CHAIN[0]
        }];
        assert_eq!(
            chain_problems(&unstamped, "0001"),
            ["0001 must stamp alembic_version"]
        );
        assert_eq!(chain_problems(&CHAIN[1..], "0002").len(), 1);
    }
}
