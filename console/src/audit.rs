//! The audit trail (`console_audit`): every operator action with who, when, what and what came
//! of it, written whether the action worked or not. Rows are only ever added.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One recorded action.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub operator: String,
    pub action: String,
    pub session_id: Option<String>,
    pub account: String,
    pub detail: String,
    pub outcome: String,
}

/// What an action was about, for [`record`].
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub operator: &'a str,
    /// `fulfill`, `redrive`…
    pub action: &'a str,
    pub session_id: Option<&'a str>,
    /// `acct_…`, or empty for the platform.
    pub account: &'a str,
    pub detail: &'a str,
}

pub async fn record(pool: &PgPool, action: Action<'_>, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO console_audit (operator, action, session_id, account, detail, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(action.operator)
    .bind(action.action)
    .bind(action.session_id)
    .bind(action.account)
    .bind(action.detail)
    .bind(outcome)
    .execute(pool)
    .await?;
    Ok(())
}

const COLUMNS: &str = "at, operator, action, session_id, account, detail, outcome";

/// The latest `limit` actions, newest first.
pub async fn recent(pool: &PgPool, limit: u32) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM console_audit ORDER BY at DESC, id DESC LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}

/// Every action on one session, oldest first.
pub async fn of_session(
    pool: &PgPool,
    session_id: &str,
    account: &str,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM console_audit WHERE session_id = $1 AND account = $2 \
         ORDER BY at, id"
    ))
    .bind(session_id)
    .bind(account)
    .fetch_all(pool)
    .await
}
