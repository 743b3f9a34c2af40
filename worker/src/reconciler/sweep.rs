//! One sweep of the reconciler, and the one-shot range `worker reconcile` runs.
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

use futures::StreamExt;
use shared::domain::AccountId;
use shared::errors::error_chain;
use shared::store::events::EventOutcome;
use shared::store::{cursors, orders};
use shared::stripe::{Event, EventFilter, StripeError};
use shared::Trigger;

use super::{Reconciler, EVENT_RETENTION_SECS};
use crate::event::{CheckoutEvent, EventKind};
use crate::metrics;

/// Kept clear of the retention edge: an event about to age out may be gone by the time its
/// page is fetched. Also the clock skew the floor tolerates.
const RETENTION_MARGIN_SECS: i64 = 60 * 60;

/// How far ahead of this worker's clock Stripe's newest event may be before a sweep says so.
const CLOCK_SKEW_WARNING_SECS: i64 = 60;

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
    /// One sweep of the platform's events from its persisted cursor (see the module docs).
    /// Callable directly: the leader loop does, and so do tests.
    pub async fn sweep(&self) -> Result<SweepReport, SweepError> {
        self.sweep_on(None).await
    }

    /// The connected accounts swept after the platform: those configured
    /// (`worker.reconcile_accounts`) and those with an order here, each once.
    pub async fn connected_accounts(&self) -> Result<Vec<AccountId>, sqlx::Error> {
        let mut accounts = orders::accounts(self.processor.fulfiller().pool()).await?;
        accounts.extend(self.options.accounts.iter().cloned());
        accounts.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        accounts.dedup();
        Ok(accounts)
    }

    /// One sweep of `account`'s events (`None`: the platform's) from its own cursor: a
    /// connected account's events are listed with its `Stripe-Account` and are not in the
    /// platform's list.
    #[tracing::instrument(skip(self), fields(since, account = account.map(AccountId::as_str)))]
    pub async fn sweep_on(&self, account: Option<&AccountId>) -> Result<SweepReport, SweepError> {
        let pool = self.processor.fulfiller().pool();
        let cursor_name = cursors::reconciler(account);
        let cursor = cursors::get(pool, &cursor_name).await?;
        let overlap = self.options.overlap.as_secs() as i64;
        let since = match cursor {
            Some(position) => position - overlap,
            // Older history is `worker reconcile --since`'s job, run deliberately by an
            // operator. No checkout event at all: from the retention floor, which lists only
            // what was created since that question.
            None => match self.newest_event_created(account).await? {
                Some(newest) => newest - overlap,
                None => retention_floor(),
            },
        };
        let report = self.reconcile_range_on(account, since, None).await?;
        warn_about_clock_skew(report.newest);
        // Stripe's clock only: the newest event listed (or the cursor, if nothing newer was).
        let reached = report.newest.max(cursor);
        match (report.oldest_failed, reached) {
            (Some(oldest), _) => cursors::hold(pool, &cursor_name, oldest).await?,
            (None, Some(reached)) => cursors::set(pool, &cursor_name, reached).await?,
            // Stripe lists no checkout event and never did: nothing to resume from.
            (None, None) => {}
        }
        // The gauge follows the platform's cursor, which every deployment has.
        if account.is_none() {
            if let Some(age) = cursors::seconds_since_caught_up(pool, cursors::RECONCILER).await? {
                metrics::RECONCILER_LAG_SECONDS.set(age.max(0) as f64);
            }
        }
        Ok(report)
    }

    /// The `created` of `account`'s newest checkout event, where a first sweep starts.
    async fn newest_event_created(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Option<i64>, StripeError> {
        let page = self
            .processor
            .fulfiller()
            .stripe()
            .list_events_page_on(account, &checkout_events(None, None), None)
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
        self.reconcile_range_on(None, since, until).await
    }

    /// [`Self::reconcile_range`] over `account`'s events (`None`: the platform's).
    pub async fn reconcile_range_on(
        &self,
        account: Option<&AccountId>,
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
                .list_events_page_on(account, &filter, starting_after.as_deref())
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
            .map(|event| self.reconcile_noting_created(event))
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

    /// [`Self::reconcile_event`], with the event's creation time: a failure holds the cursor
    /// back to it.
    async fn reconcile_noting_created(
        &self,
        event: &Event,
    ) -> (i64, Result<&'static str, EventFailure>) {
        (event.created, self.reconcile_event(event).await)
    }

    async fn reconcile_event(&self, event: &Event) -> Result<&'static str, EventFailure> {
        let event = match CheckoutEvent::from_event(event) {
            Ok(event) => event,
            Err(e) => {
                // Stripe's own list will not improve on a second reading.
                tracing::warn!(error = %error_chain(&e), "skipping an unreadable listed event");
                return Ok(EventOutcome::Rejected.as_str());
            }
        };
        let started = std::time::Instant::now();
        let result = self.processor.handle(&event, Trigger::Reconciler).await;
        metrics::PROCESSING_SECONDS
            .with_label_values(&[Trigger::Reconciler.as_str()])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(handled) => {
                if handled.recorded() == Some(EventOutcome::Fulfilled) {
                    tracing::info!(event_id = %event.id, "reconciler fulfilled a session a webhook missed");
                }
                Ok(handled.label())
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
                    EventOutcome::Retrying
                } else {
                    // `worker show` (outcome=dead) and worker_reconciled_events_total{outcome="failed"}
                    // report it; the console lists its session as paid but unfulfilled.
                    tracing::error!(%error, event_id = %event.id, "reconciling an event failed for good; recorded as dead, the cursor moves on");
                    EventOutcome::Dead
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
/// means this clock is behind. The cursor does not mind; whoever reads this worker's log
/// timestamps against Stripe's does.
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
