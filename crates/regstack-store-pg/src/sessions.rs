//! The session look-up of bearer authentication, batched, on connections of its own.

use std::sync::Arc;

use regstack_core::batch::InKeyOrder;
use regstack_core::store::{
    BatchedSessions, RevocationStore, SessionLookup, StoreError, StoreResult, UserStore,
};
use regstack_store_sql::{is_connection_failure, user_from_row};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;

use crate::PgBackend;
use crate::dialect::get;
use crate::error::store_err;

/// Bearer authentication's look-up: `token_blacklist` and `users` in one statement, and the
/// look-ups of concurrent requests in one statement too, on a connection of its own: through
/// the pool every statement would cost three round trips (sqlx `ping`s a connection before
/// handing it out and again when it comes back), each waking a server process
/// (`docs/benchmarks.md`).
pub(crate) fn sessions(
    pool: PgPool,
    users: Arc<dyn UserStore>,
    revocations: Arc<dyn RevocationStore>,
) -> BatchedSessions {
    let conn = Arc::new(SessionConnections {
        pool,
        idle: std::sync::Mutex::new(Vec::new()),
    });
    BatchedSessions::new(users, revocations, move |keys| {
        let conn = conn.clone();
        Box::pin(async move { conn.lookup(keys).await })
    })
}

/// The session look-up's connections, at most one per batch in flight
/// ([`BatchedSessions::BATCHES`]): each taken from the
/// pool once (so the pool's `after_connect` set-up, such as a `search_path`, applies) and
/// detached from it, so it is neither pinged nor counted against the pool's size. A connection
/// that fails in the driver (the server closed it, a network error) is dropped, and a statement
/// that failed on a connection kept from before is retried once on a fresh one: it only reads.
#[derive(Debug)]
struct SessionConnections {
    pool: PgPool,
    idle: std::sync::Mutex<Vec<PgConnection>>,
}

impl SessionConnections {
    fn take_idle(&self) -> Option<PgConnection> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }

    async fn lookup(&self, keys: Vec<(String, String)>) -> StoreResult<Vec<SessionLookup>> {
        let (jtis, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        let mut kept = self.take_idle();
        let (rows, conn) = loop {
            let reused = kept.is_some();
            let mut conn = match kept.take() {
                Some(conn) => conn,
                None => self.connect().await?,
            };
            // Unordered: the rows are put back in the keys' order by `ord` below (an
            // `ORDER BY` cost PostgreSQL a sort per batch, a quarter of its executor time).
            let result = sqlx::query(concat!(
                "SELECT q.ord, EXISTS (SELECT 1 FROM token_blacklist \
                 WHERE token_blacklist.jti = q.jti) AS revoked, ",
                regstack_store_sql::user_cols!(),
                " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q (jti, uid, ord) \
                 LEFT JOIN users ON users.id = q.uid"
            ))
            .bind(&jtis)
            .bind(&ids)
            .fetch_all(&mut conn)
            .await;
            match result {
                Ok(rows) => break (rows, conn),
                // Dropped: sqlx closes it. Retried only when it had served before.
                Err(e) if is_connection_failure(&e) && reused => {}
                Err(e) if is_connection_failure(&e) => return Err(store_err("session")(e)),
                Err(e) => {
                    self.put_back(conn);
                    return Err(store_err("session")(e));
                }
            }
        };
        self.put_back(conn);
        let mut answers = InKeyOrder::new(jtis.len());
        for row in &rows {
            let ord: i64 = get(row, "ord")?;
            let index = usize::try_from(ord - 1)
                .map_err(|_| StoreError::Corrupt(format!("session look-up: row {ord}")))?;
            let found: Option<String> = get(row, "id")?;
            answers.put(
                index,
                SessionLookup {
                    revoked: get(row, "revoked")?,
                    user: found.map(|_| user_from_row::<PgBackend>(row)).transpose()?,
                },
            )?;
        }
        answers.finish()
    }

    /// A connection of the pool, detached, planning the look-up once: with the server's
    /// default `plan_cache_mode` every execution of the prepared statement is planned anew
    /// (its array arguments make each custom plan look cheaper than a generic one), and
    /// planning costs more than running it. The generic plan follows the tables' statistics:
    /// PostgreSQL drops it when `ANALYZE` (autovacuum's, as a table grows) updates them, so a
    /// connection that planned on a tiny `users` table (sequential scans) plans index scans
    /// once the table is large (checked by hand on PostgreSQL 15 with 200 000 users and
    /// revocations).
    async fn connect(&self) -> StoreResult<PgConnection> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(store_err("session"))?
            .detach();
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&mut conn)
            .await
            .map_err(store_err("session"))?;
        Ok(conn)
    }

    fn put_back(&self, conn: PgConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}
