//! `sweep_cursors`: where a periodic sweep got to, so a restarted leader resumes there.

use sqlx::PgExecutor;

pub async fn get(executor: impl PgExecutor<'_>, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT position FROM sweep_cursors WHERE name = $1")
        .bind(name)
        .fetch_optional(executor)
        .await
}

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
