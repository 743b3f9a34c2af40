//! The Postgres store: connection pool, migrations, and one small module per table group.
//!
//! Functions that belong to a transaction take `&mut PgConnection` (pass `&mut *tx`); one-query
//! reads take any executor. Every query is a runtime query, so building needs no database.
//!
//! Every connection carries Postgres-side bounds ([`connect_options`]): a lock wait, a statement
//! and an idle transaction each end with an error past their `database.*_timeout_ms`, which
//! [`transient`] classifies as a retry. No caller can be blocked for longer by someone else's
//! lock, whoever holds it.

pub mod access;
pub mod claims;
pub mod cursors;
mod event_outcome;
pub mod events;
pub mod fulfilled;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod transient;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::settings::DatabaseSettings;

/// The migrations in `shared/migrations`, embedded so every binary can apply them
/// (`worker migrate`) and every test database gets them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub use transient::{expired_bound, is_transient};

/// Where to connect, and the bounds every session runs under. They are connection options
/// (`-c name=value` at start-up), not `SET`s after connecting, so no pooled connection can
/// ever be without them and a `RESET ALL` cannot drop them.
///
/// TLS comes from the URL as libpq spells it: `?sslmode=verify-full&sslrootcert=/path/ca.pem`
/// (rustls; `require` encrypts without checking who answers, `verify-ca` checks the CA,
/// `verify-full` the CA and the host name). A percent-encoded password in the URL is decoded;
/// `database.password`, when set, replaces it as it is.
pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    let mut options: PgConnectOptions = settings.url.expose_secret().parse()?;
    let password = settings.password.expose_secret();
    if !password.is_empty() {
        options = options.password(password);
    }
    // Postgres reads a bare number as milliseconds; 0 turns a bound off.
    Ok(options.options([
        ("lock_timeout", settings.lock_timeout_ms),
        ("statement_timeout", settings.statement_timeout_ms),
        (
            "idle_in_transaction_session_timeout",
            settings.idle_in_transaction_timeout_ms,
        ),
    ]))
}

/// The pool size of a service that does not size its own (landing, the one-shot commands) when
/// `database.max_connections` is 0. A success page holds a connection for milliseconds.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// A lazily connecting pool: services start (and report not-ready) while Postgres is down, and
/// recover by themselves when it returns. Size: `database.max_connections`, or
/// [`DEFAULT_POOL_SIZE`] when that is 0 (the worker passes its own, see
/// [`crate::Settings::worker_database`]).
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let size = match settings.max_connections {
        0 => DEFAULT_POOL_SIZE,
        size => size,
    };
    crate::metrics::DATABASE_POOL_CONNECTIONS.set(f64::from(size));
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(settings.acquire_timeout())
        .connect_lazy_with(connect_options(settings)?))
}

/// A pool for applying migrations: without `statement_timeout` (building an index on a large
/// table may rightly take minutes) but with `lock_timeout`, so that a migration waiting for a
/// busy table fails and can be run again, instead of queueing every webhook's statements behind
/// its own lock request.
pub fn migration_pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    pool(&DatabaseSettings {
        statement_timeout_ms: 0,
        ..settings.clone()
    })
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether Postgres answers, for `/readyz` and every scrape. The answer is the server's
/// `max_connections`, so the connection budget (every pool against that limit) is checked
/// against the server as it runs, not as it was configured.
pub async fn ping(pool: &PgPool) -> bool {
    match sqlx::query_scalar::<_, i32>("SELECT current_setting('max_connections')::int4")
        .fetch_one(pool)
        .await
    {
        Ok(limit) => {
            crate::metrics::DATABASE_SERVER_CONNECTIONS.set(f64::from(limit));
            true
        }
        Err(_) => false,
    }
}
