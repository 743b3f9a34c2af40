//! The reconciler: a safety net for webhooks that never arrived. One leader among all workers
//! lists Stripe's checkout events since a persisted cursor and sends each through the same
//! processing step as the queue (`Trigger::Reconciler`).
//!
//! **Leadership.** `pg_try_advisory_lock` on a dedicated connection, not a pooled one: a
//! session-level lock lives exactly as long as its connection, so leadership ends when the
//! leader stops, crashes or loses Postgres, and a pooled connection would carry it off into
//! unrelated work. The leader pings that connection before every sweep and steps down when the
//! ping fails; standbys try to take over every interval. During a network partition two leaders
//! may briefly overlap; that only costs duplicate Stripe calls, since processing is idempotent.
//!
//! **Sweep** ([`sweep`]): the checkout events since the cursor, a page at a time, each through
//! the processing step; then the cursor moves, on Stripe's clock.

mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shared::domain::AccountId;
use shared::errors::error_chain;
use shared::settings::WorkerSettings;
use shared::{Fulfiller, Settings};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::process::Processor;

pub use sweep::{SweepError, SweepReport};

/// The advisory lock key of reconciler leadership: "reconcil" in ASCII, far from the session
/// keys (hashes) in practice and fixed forever, so every version of the worker contends for it.
pub const LEADER_LOCK_KEY: i64 = 0x7265_636f_6e63_696c;

/// Stripe lists events for 30 days.
pub const EVENT_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// How long the leader waits for its lock connection to answer before stepping down.
const LEADER_PING_TIMEOUT: Duration = Duration::from_secs(5);

/// `worker.reconcile_accounts` as ids (the settings check refuses any that does not parse).
fn configured_accounts(worker: &WorkerSettings) -> Vec<AccountId> {
    worker
        .reconcile_accounts
        .iter()
        .filter_map(|a| AccountId::parse(a).ok())
        .collect()
}

#[derive(Clone)]
pub struct ReconcilerOptions {
    /// Where the dedicated leader connection goes.
    pub database: PgConnectOptions,
    /// Between sweeps; also how often a standby tries to take over.
    pub interval: Duration,
    /// How far before the cursor each sweep starts again.
    pub overlap: Duration,
    /// Events processed at once within a sweep (Stripe's rate limit applies regardless).
    pub concurrency: usize,
    /// Connected accounts swept even before they have an order here.
    pub accounts: Vec<AccountId>,
}

impl ReconcilerOptions {
    /// The reconciler the worker's settings describe: `worker.reconcile_*` and a dedicated
    /// connection to the database.
    pub fn from_settings(settings: &Settings) -> Result<Self, sqlx::Error> {
        let worker = &settings.worker;
        Ok(Self {
            database: shared::store::connect_options(&settings.database)?,
            interval: worker.reconcile_interval(),
            overlap: worker.reconcile_overlap(),
            concurrency: worker.reconcile_concurrency as usize,
            accounts: configured_accounts(worker),
        })
    }
}

/// By hand: sqlx's connection options print their password.
impl std::fmt::Debug for ReconcilerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconcilerOptions")
            .field(
                "database",
                &format_args!(
                    "{}:{}/{}",
                    self.database.get_host(),
                    self.database.get_port(),
                    self.database.get_database().unwrap_or_default()
                ),
            )
            .field("interval", &self.interval)
            .field("overlap", &self.overlap)
            .field("concurrency", &self.concurrency)
            .field("accounts", &self.accounts)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Reconciler {
    processor: Processor,
    options: ReconcilerOptions,
    leader: Arc<AtomicBool>,
}

impl Reconciler {
    pub fn new(processor: Processor, options: ReconcilerOptions) -> Self {
        Self {
            processor,
            options,
            leader: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A reconciler for one-shot ranges (`worker reconcile`, the console's "reconcile a time
    /// range"): no leader election, since an operator runs it deliberately and processing is
    /// idempotent, so overlapping a leader's sweep is harmless.
    pub fn one_shot(fulfiller: Fulfiller, settings: &Settings) -> Result<Self, sqlx::Error> {
        let processor = Processor::new(fulfiller, settings.broker.retry_tiers_ms.len());
        let mut options = ReconcilerOptions::from_settings(settings)?;
        // Not a loop's period here, but a reconciler with none is refused by nothing else.
        options.interval = options.interval.max(Duration::from_secs(1));
        Ok(Self::new(processor, options))
    }

    /// True while this process leads.
    pub fn leader_flag(&self) -> Arc<AtomicBool> {
        self.leader.clone()
    }

    /// Takes part in the leader election until `shutdown`, sweeping while leader.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.try_lead().await {
                Ok(Some(connection)) => {
                    self.set_leader(true);
                    tracing::info!("became the reconciler leader");
                    self.lead(connection, &shutdown).await;
                    self.set_leader(false);
                }
                Ok(None) => tracing::debug!("another worker leads the reconciler"),
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "cannot take part in the leader election")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // The sweep interval (or the standby's retry of the leader lock).
                _ = tokio::time::sleep(self.options.interval) => {}
            }
        }
        tracing::info!("reconciler stopped");
    }

    fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Release);
        metrics::RECONCILER_LEADER.set(i64::from(leading));
    }

    /// A new connection holding the leader lock, or `None` when another process holds it.
    async fn try_lead(&self) -> Result<Option<PgConnection>, sqlx::Error> {
        let mut connection = self.options.database.connect().await?;
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut connection)
            .await?;
        if acquired {
            Ok(Some(connection))
        } else {
            let _ = sqlx::Connection::close(connection).await;
            Ok(None)
        }
    }

    /// One sweep of the platform's events, then of each connected account's. One account's
    /// failure (its cursor stays) does not keep the others from being swept.
    async fn sweep_everyone(&self) {
        let accounts = match self.connected_accounts().await {
            Ok(accounts) => accounts,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "cannot read the connected accounts; sweeping the platform only");
                Vec::new()
            }
        };
        for account in std::iter::once(None).chain(accounts.iter().map(Some)) {
            let on = account.map_or("platform", AccountId::as_str);
            match self.sweep_on(account).await {
                Ok(report) => tracing::info!(%report, account = on, "reconciler sweep done"),
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), account = on, "reconciler sweep failed")
                }
            }
        }
    }

    /// Sweeps every interval while the lock connection answers.
    async fn lead(&self, mut connection: PgConnection, shutdown: &CancellationToken) {
        loop {
            let alive = tokio::time::timeout(
                LEADER_PING_TIMEOUT,
                sqlx::query("SELECT 1").execute(&mut connection),
            )
            .await;
            if !matches!(alive, Ok(Ok(_))) {
                tracing::warn!("lost the leader connection; stepping down");
                return;
            }
            tokio::select! {
                // Dropping a sweep mid-way rolls back its open transactions and leaves the
                // cursor where it was: the next leader sweeps that range again.
                _ = shutdown.cancelled() => break,
                () = self.sweep_everyone() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // The sweep interval (or the standby's retry of the leader lock).
                _ = tokio::time::sleep(self.options.interval) => {}
            }
        }
        // Hand over at once rather than when the server notices the closed socket.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LEADER_LOCK_KEY)
            .execute(&mut connection)
            .await;
        let _ = sqlx::Connection::close(connection).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debug_print_of_the_options_keeps_the_database_password_out() {
        let options = ReconcilerOptions {
            database: "postgres://fulfillment:s3cret-pw@db:5432/orders"
                .parse()
                .unwrap(),
            interval: Duration::from_secs(60),
            overlap: Duration::from_secs(300),
            concurrency: 4,
            accounts: Vec::new(),
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("s3cret-pw"), "{printed}");
        assert!(printed.contains("db:5432/orders"), "{printed}");
    }
}
