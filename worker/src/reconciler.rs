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
//! **Sweep.** `created[gte] = cursor - overlap` (events are created with one-second resolution
//! and may become listable late), never earlier than Stripe's 30-day retention; one page of 100
//! at a time, newest page first and oldest first within a page, with bounded concurrency, so a
//! backlog of any size costs one page of memory. Events already settled cost one primary-key
//! read. When every page is done the cursor moves to the newest `created` listed, or only up to
//! the oldest event whose failure may pass (a Stripe outage, a database that is unreachable), so
//! that event is listed again next time. A failure that cannot pass is recorded as `failed` and
//! does not hold the cursor. A listing that fails half-way leaves the cursor where it was.
//!
//! **Clocks.** The cursor is a value of Stripe's clock (events' `created`), never of this
//! worker's: a worker whose clock runs ahead would otherwise move the cursor past events Stripe
//! has yet to create, and skip them. The first sweep ever starts one overlap before Stripe's
//! newest checkout event. This worker's clock only places the 30-day retention floor, which keeps
//! an hour's margin, so a skew up to an hour changes nothing; a sweep that sees Stripe's newest
//! event more than a minute ahead of this worker's clock logs a warning.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use shared::store::cursors;
use shared::stripe::{Event, EventFilter, StripeError};
use shared::Trigger;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::event::{CheckoutEvent, EventKind};
use crate::metrics;
use crate::process::{error_chain, Processor};

/// The `sweep_cursors` row holding the last swept position (unix seconds).
pub const CURSOR_NAME: &str = "reconciler.checkout_events";

/// The advisory lock key of reconciler leadership: "reconcil" in ASCII, far from the session
/// keys (hashes) in practice and fixed forever, so every version of the worker contends for it.
pub const LEADER_LOCK_KEY: i64 = 0x7265_636f_6e63_696c;

/// Stripe lists events for 30 days.
pub const EVENT_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// Kept clear of the retention edge: an event about to age out may be gone by the time its
/// page is fetched. Also the clock skew the floor tolerates.
const RETENTION_MARGIN_SECS: i64 = 60 * 60;

/// How far ahead of this worker's clock Stripe's newest event may be before a sweep says so.
const CLOCK_SKEW_WARNING_SECS: i64 = 60;

/// How long the leader waits for its lock connection to answer before stepping down.
const LEADER_PING_TIMEOUT: Duration = Duration::from_secs(5);

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
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Reconciler {
    processor: Processor,
    options: ReconcilerOptions,
    leader: Arc<AtomicBool>,
}

/// Why a sweep stopped before it could move the cursor.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("listing events from Stripe")]
    List(#[from] StripeError),
    #[error("reading or writing the cursor")]
    Cursor(#[from] sqlx::Error),
}

/// What a sweep (or a one-shot range) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// The `created[gte]` that was listed from.
    pub since: i64,
    pub listed: usize,
    /// Pages fetched from `GET /v1/events`.
    pub pages: usize,
    /// The newest `created` listed: where the cursor moves when nothing holds it back.
    pub newest: Option<i64>,
    /// Per outcome label (`fulfilled`, `skipped`, `awaiting_payment`, …, `failed`).
    pub outcomes: BTreeMap<String, usize>,
    /// Events whose processing failed.
    pub failed: usize,
    /// The oldest `created` among the failures that may pass: the cursor waits there.
    pub oldest_failed: Option<i64>,
}

/// An event the sweep could not process.
#[derive(Debug, Clone, Copy)]
struct EventFailure {
    transient: bool,
}

impl SweepReport {
    pub fn count(&self, outcome: &str) -> usize {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "listed {} event(s) in {} page(s) since {}",
            self.listed, self.pages, self.since
        )?;
        for (outcome, n) in &self.outcomes {
            write!(f, ", {outcome}: {n}")?;
        }
        Ok(())
    }
}

impl Reconciler {
    pub fn new(processor: Processor, options: ReconcilerOptions) -> Self {
        Self {
            processor,
            options,
            leader: Arc::new(AtomicBool::new(false)),
        }
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
                Err(e) => tracing::warn!(error = %e, "cannot take part in the leader election"),
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
                result = self.sweep() => match result {
                    Ok(report) => tracing::info!(%report, "reconciler sweep done"),
                    Err(e) => tracing::warn!(error = %error_chain(&e), "reconciler sweep failed"),
                },
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

    /// One sweep from the persisted cursor (see the module docs). Callable directly: the
    /// leader loop does, and so do tests.
    #[tracing::instrument(skip(self), fields(since))]
    pub async fn sweep(&self) -> Result<SweepReport, SweepError> {
        let pool = self.processor.fulfiller().pool();
        let cursor = cursors::get(pool, CURSOR_NAME).await?;
        let overlap = self.options.overlap.as_secs() as i64;
        let since = match cursor {
            Some(position) => position - overlap,
            // Older history is `worker reconcile --since`'s job, run deliberately by an
            // operator. No checkout event at all: from the retention floor, which lists only
            // what was created since that question.
            None => match self.newest_event_created().await? {
                Some(newest) => newest - overlap,
                None => retention_floor(),
            },
        };
        let report = self.reconcile_range(since, None).await?;
        warn_about_clock_skew(report.newest);
        // Stripe's clock only: the newest event listed (or the cursor, if nothing newer was).
        let reached = report.newest.max(cursor);
        match (report.oldest_failed, reached) {
            (Some(oldest), _) => cursors::hold(pool, CURSOR_NAME, oldest).await?,
            (None, Some(reached)) => cursors::set(pool, CURSOR_NAME, reached).await?,
            // Stripe lists no checkout event and never did: nothing to resume from.
            (None, None) => {}
        }
        if let Some(age) = cursors::seconds_since_caught_up(pool, CURSOR_NAME).await? {
            metrics::RECONCILER_LAG_SECONDS.set(age.max(0) as f64);
        }
        Ok(report)
    }

    /// The `created` of Stripe's newest checkout event, where a first sweep starts.
    async fn newest_event_created(&self) -> Result<Option<i64>, StripeError> {
        let page = self
            .processor
            .fulfiller()
            .stripe()
            .list_events_page(&checkout_events(None, None), None)
            .await?;
        Ok(page.data.iter().map(|e| e.created).max())
    }

    /// Lists the checkout events created in `[since, until]` and processes each, a page at a
    /// time. `since` is raised to the retention floor if older. The cursor is not touched:
    /// this is also the one-shot `worker reconcile`.
    pub async fn reconcile_range(
        &self,
        since: i64,
        until: Option<i64>,
    ) -> Result<SweepReport, SweepError> {
        let floor = retention_floor();
        if since < floor {
            tracing::warn!(
                since,
                floor,
                "Stripe keeps events for 30 days; starting at the floor"
            );
        }
        let since = since.max(floor);
        tracing::Span::current().record("since", since);
        let filter = checkout_events(Some(since), until);
        let stripe = self.processor.fulfiller().stripe();
        let mut report = SweepReport {
            since,
            ..SweepReport::default()
        };
        let mut starting_after: Option<String> = None;
        loop {
            let page = stripe
                .list_events_page(&filter, starting_after.as_deref())
                .await?;
            report.pages += 1;
            starting_after = match page.data.last() {
                Some(oldest) if page.has_more => Some(oldest.id.clone()),
                _ => None,
            };
            self.reconcile_page(page.data, &mut report).await;
            if starting_after.is_none() {
                return Ok(report);
            }
        }
    }

    /// Processes one page of events, oldest first, into `report`.
    async fn reconcile_page(&self, mut events: Vec<Event>, report: &mut SweepReport) {
        report.listed += events.len();
        report.newest = events.iter().map(|e| e.created).max().max(report.newest);
        // Listed newest first; fulfill in the order things happened.
        events.reverse();
        // The futures are built up front (not in a `map` closure over borrowed events), which
        // keeps the sweep's future `Send` for `tokio::spawn`.
        let pending: Vec<_> = events
            .iter()
            .map(|event| self.reconcile_timed(event))
            .collect();
        let results: Vec<(i64, Result<&'static str, EventFailure>)> =
            futures::stream::iter(pending)
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
        for (created, result) in results {
            let label = match result {
                Ok(label) => label,
                Err(EventFailure { transient }) => {
                    report.failed += 1;
                    // Only a failure that may pass holds the cursor back; a permanent one would
                    // hold it forever.
                    if transient {
                        report.oldest_failed =
                            Some(report.oldest_failed.map_or(created, |o| o.min(created)));
                    }
                    "failed"
                }
            };
            metrics::RECONCILED_EVENTS.with_label_values(&[label]).inc();
            *report.outcomes.entry(label.to_owned()).or_default() += 1;
        }
    }

    async fn reconcile_timed(&self, event: &Event) -> (i64, Result<&'static str, EventFailure>) {
        (event.created, self.reconcile_event(event).await)
    }

    async fn reconcile_event(&self, event: &Event) -> Result<&'static str, EventFailure> {
        let event = match CheckoutEvent::from_event(event) {
            Ok(event) => event,
            Err(e) => {
                // Stripe's own list will not improve on a second reading.
                tracing::warn!(error = %error_chain(&e), "skipping an unreadable listed event");
                return Ok("rejected");
            }
        };
        let started = std::time::Instant::now();
        let result = self.processor.handle(&event, Trigger::Reconciler).await;
        metrics::PROCESSING_SECONDS
            .with_label_values(&[Trigger::Reconciler.as_str()])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(handled) => {
                let label = handled.label();
                if label == "fulfilled" {
                    tracing::info!(event_id = %event.id, "reconciler fulfilled a session a webhook missed");
                }
                Ok(label)
            }
            Err(e) => {
                let error = error_chain(&e);
                // An outage is transient too: the cursor waits for the event.
                if let Some(outage) = e.stripe_outage() {
                    metrics::STRIPE_OUTAGE.with_label_values(&[outage]).inc();
                }
                let transient = e.is_transient();
                let outcome = if transient {
                    tracing::warn!(%error, event_id = %event.id, "reconciling an event failed; the cursor waits for it");
                    "retrying"
                } else {
                    // `worker show` and worker_reconciled_events_total{outcome="failed"} report it.
                    tracing::error!(%error, event_id = %event.id, "reconciling an event failed for good; recorded as failed, the cursor moves on");
                    "failed"
                };
                self.processor.record_failure(&event, outcome, &error).await;
                Err(EventFailure { transient })
            }
        }
    }
}

/// The oldest `created` a listing asks for: Stripe's 30-day retention, less a margin.
fn retention_floor() -> i64 {
    chrono::Utc::now().timestamp() - EVENT_RETENTION_SECS + RETENTION_MARGIN_SECS
}

/// The checkout event types the worker handles, created in `[since, until]`.
fn checkout_events(since: Option<i64>, until: Option<i64>) -> EventFilter {
    EventFilter {
        types: EventKind::HANDLED.iter().map(|t| (*t).to_owned()).collect(),
        created_gte: since,
        created_lte: until,
    }
}

/// Stripe's events cannot be created in Stripe's future, so one ahead of this worker's clock
/// means this clock is behind. The cursor does not mind; people reading logs and the reconciler
/// lag do.
fn warn_about_clock_skew(newest: Option<i64>) {
    let Some(newest) = newest else { return };
    let behind = newest - chrono::Utc::now().timestamp();
    if behind > CLOCK_SKEW_WARNING_SECS {
        tracing::warn!(
            behind_secs = behind,
            "this worker's clock is behind Stripe's: its newest event was created in our future"
        );
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
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("s3cret-pw"), "{printed}");
        assert!(printed.contains("db:5432/orders"), "{printed}");
    }
}
