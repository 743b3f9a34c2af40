//! Fulfillment attempts started by the success page: one at a time per session in this
//! process, each running as its own task.
//!
//! Why a task: when the page's deadline passes, the attempt goes on (and commits) instead of
//! being cancelled half-way, so the page's next reload finds the result in Postgres rather than
//! starting over.
//!
//! Why one per session: the "confirming" page reloads itself every few seconds while Stripe is
//! slow, and customers press reload too. Without this, every reload would add another attempt
//! queued behind the same slow Stripe call (and behind the client's rate limit, delaying every
//! other customer). A reload now joins the attempt already running. Other processes (workers,
//! other landing replicas) still race it; `fulfill_checkout` makes that safe (G2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use shared::errors::error_chain;
use shared::{CheckoutSessionId, FulfillError, Fulfiller, FulfillmentOutcome, Trigger};
use tracing::Instrument;

use crate::metrics::FULFILLMENTS_TRIGGERED;

/// How an attempt ended.
// Allocated once per attempt behind an `Arc`; boxing the outcome would add a second allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Finished {
    Outcome(Result<FulfillmentOutcome, FulfillError>),
    /// The task panicked (a bug; logged).
    Panicked,
}

/// An attempt that any number of pages can await; it runs whether or not anyone does.
pub type Attempt = Shared<BoxFuture<'static, Arc<Finished>>>;

/// The attempts running in this process, by session.
pub struct Attempts {
    fulfiller: Fulfiller,
    /// A `std` mutex: held only to look up, insert or remove, never across an `.await`.
    running: Arc<Mutex<HashMap<CheckoutSessionId, Attempt>>>,
}

impl std::fmt::Debug for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempts")
            .field("running", &lock(&self.running).len())
            .finish()
    }
}

impl Attempts {
    pub fn new(fulfiller: Fulfiller) -> Self {
        Self {
            fulfiller,
            running: Arc::default(),
        }
    }

    pub fn fulfiller(&self) -> &Fulfiller {
        &self.fulfiller
    }

    /// The running attempt for `id`, or a new one (`fulfill_checkout` with trigger `landing`).
    pub fn fulfill(&self, id: &CheckoutSessionId) -> Attempt {
        let mut running = lock(&self.running);
        if let Some(attempt) = running.get(id) {
            return attempt.clone();
        }
        let fulfiller = self.fulfiller.clone();
        let task_id = id.clone();
        // Removes the entry when the task ends, even by panicking. It needs the lock, which
        // this function holds until the entry is inserted, so it never removes too early.
        let unregister = Unregister {
            running: self.running.clone(),
            id: id.clone(),
        };
        let task = tokio::spawn(
            async move {
                let _unregister = unregister;
                let result = fulfiller.fulfill_checkout(&task_id, Trigger::Landing).await;
                let label = result.as_ref().map_or("error", FulfillmentOutcome::label);
                FULFILLMENTS_TRIGGERED.with_label_values(&[label]).inc();
                result
            }
            .instrument(tracing::Span::current()),
        );
        let attempt = async move {
            Arc::new(match task.await {
                Ok(result) => Finished::Outcome(result),
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "the fulfillment task failed");
                    Finished::Panicked
                }
            })
        }
        .boxed()
        .shared();
        running.insert(id.clone(), attempt.clone());
        attempt
    }

    /// How many attempts are running (for tests and debugging).
    pub fn running(&self) -> usize {
        lock(&self.running).len()
    }
}

struct Unregister {
    running: Arc<Mutex<HashMap<CheckoutSessionId, Attempt>>>,
    id: CheckoutSessionId,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.id);
    }
}

/// A panic elsewhere while holding the lock leaves the map consistent (single inserts and
/// removes), so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
