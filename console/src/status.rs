//! What the overview says about the machinery: who leads the reconciler (the session holding its
//! advisory lock, as Postgres reports it) and how far behind each of its cursors is.

use chrono::{DateTime, Utc};
use shared::store::cursors::RECONCILER;
use sqlx::PgPool;
use worker::reconciler::LEADER_LOCK_KEY;

/// The connection holding the reconciler's leadership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Leader {
    pub pid: i32,
    pub client: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One sweep cursor: the platform's, or a connected account's.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Cursor {
    pub name: String,
    /// Unix seconds the sweep has listed up to.
    pub position: i64,
    /// When it last caught up.
    pub caught_up_at: DateTime<Utc>,
}

impl Cursor {
    /// `platform`, or the connected account the cursor is for.
    pub fn scope(&self) -> &str {
        match self.name.strip_prefix(RECONCILER) {
            Some("") => "platform",
            Some(rest) => rest.trim_start_matches('@'),
            None => &self.name,
        }
    }
}

/// The leader, if any worker holds the lock now. A bigint advisory key shows in `pg_locks` as
/// its high half in `classid` and its low half in `objid`, with `objsubid` 1.
pub async fn leader(pool: &PgPool) -> Result<Option<Leader>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.pid, host(a.client_addr) AS client, a.backend_start AS since \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
         LIMIT 1",
    )
    .bind(LEADER_LOCK_KEY)
    .fetch_optional(pool)
    .await
}

/// Every reconciler cursor, the platform's first.
pub async fn cursors(pool: &PgPool) -> Result<Vec<Cursor>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, position, updated_at AS caught_up_at FROM sweep_cursors \
         WHERE name = $1 OR name LIKE $1 || '@%' ORDER BY name <> $1, name",
    )
    .bind(RECONCILER)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_its_scope() {
        let cursor = |name: &str| Cursor {
            name: name.into(),
            position: 0,
            caught_up_at: Utc::now(),
        };
        assert_eq!(cursor(RECONCILER).scope(), "platform");
        assert_eq!(cursor(&format!("{RECONCILER}@acct_1")).scope(), "acct_1");
    }
}
