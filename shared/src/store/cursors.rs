//! `sweep_cursors`: where a periodic sweep got to, so a restarted leader resumes there.
//!
//! `updated_at` is when the sweep last caught up: [`set`] moves the position and stamps it, while
//! [`hold`] moves the position of a sweep that left a failure behind (the position waits at that
//! failure) and keeps the stamp. So [`seconds_since_caught_up`] grows while sweeps fail or a
//! failure holds them back, and not while there is merely nothing new to sweep.

use sqlx::PgExecutor;

use crate::domain::AccountId;

/// The reconciler's position in Stripe's `/v1/events` for the platform (unix seconds).
pub const RECONCILER: &str = "reconciler.checkout_events";

/// Where the reconciler keeps `account`'s position: the platform's under [`RECONCILER`] (as
/// before accounts were swept), each connected account's beside it (`…@acct_…`).
pub fn reconciler(account: Option<&AccountId>) -> String {
    match account {
        None => RECONCILER.to_owned(),
        Some(account) => format!("{RECONCILER}@{account}"),
    }
}

/// The position, `None` before the first sweep.
pub async fn get(executor: impl PgExecutor<'_>, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT position FROM sweep_cursors WHERE name = $1")
        .bind(name)
        .fetch_optional(executor)
        .await
}

/// Moves the position and marks the sweep caught up.
pub async fn set(
    executor: impl PgExecutor<'_>,
    name: &str,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sweep_cursors (name, position) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
    )
    .bind(name)
    .bind(position)
    .execute(executor)
    .await?;
    Ok(())
}

/// Moves the position without marking the sweep caught up (see the module docs).
pub async fn hold(
    executor: impl PgExecutor<'_>,
    name: &str,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sweep_cursors (name, position) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
    )
    .bind(name)
    .bind(position)
    .execute(executor)
    .await?;
    Ok(())
}

/// Seconds since the sweep last caught up, by the database's clock (one clock for every worker);
/// `None` before its first sweep.
pub async fn seconds_since_caught_up(
    executor: impl PgExecutor<'_>,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT floor(extract(epoch FROM now() - updated_at))::bigint \
         FROM sweep_cursors WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(executor)
    .await
}
