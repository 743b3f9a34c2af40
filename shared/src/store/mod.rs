//! The Postgres store: connection pool, migrations, and one small module per table group.
//!
//! Functions that belong to a transaction take `&mut PgConnection` (pass `&mut *tx`); one-query
//! reads take any executor. Every query is a runtime query, so building needs no database.

pub mod cursors;
pub mod events;
pub mod orders;
pub mod outbox;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::settings::DatabaseSettings;

/// The migrations in `shared/migrations`, embedded so every binary can apply them
/// (`worker migrate`) and every test database gets them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    settings.url.expose_secret().parse()
}

/// A lazily connecting pool: services start (and report not-ready) while Postgres is down, and
/// recover by themselves when it returns.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(connect_options(settings)?))
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether Postgres answers, for `/readyz`.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
