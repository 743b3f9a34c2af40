//! The simulator's state and every operation on it, independent of HTTP.
//!
//! [`SimState`] is a cheap handle (`Arc` inside) shared by the HTTP workers, the control API and
//! tests. HTTP handlers translate requests into calls here; tests call the same methods
//! directly, so both paths meet the same rules.

mod account_limit;
pub(crate) mod catalog;
mod clock;
mod create_session;
mod customers;
mod deliveries;
pub(crate) mod events;
mod faults;
mod idempotency;
pub(crate) mod payment_links;
pub(crate) mod records;
pub(crate) mod session_queries;
pub(crate) mod shipping;
mod stats;
mod store;
pub(crate) mod subscriptions;
mod transitions;
pub(crate) mod ui_mode;
mod webhook_settings;

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

pub use create_session::{CreateSession, InlinePrice, LineItemParams, PriceSpec, MAX_LINE_ITEMS};
pub use customers::CreateCustomer;
pub(crate) use deliveries::unix_ms;
pub use deliveries::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, WebhookWait};
pub use events::{CreatedFilter, EVENT_RETENTION_SECS};
pub use faults::{Fault, FaultKind, RouteMatch};
pub(crate) use idempotency::{Idempotent, IdempotentRequest};
pub use payment_links::{AfterCompletion, CreatePaymentLink};
pub use records::Customer;
pub use shipping::Shipping;
pub use transitions::PaymentOutcome;
pub(crate) use webhook_settings::DeliverySettings;

use crate::config::SimConfig;
use account_limit::AccountLimit;
use catalog::Catalog;
use clock::SimClock;
use deliveries::DeliveryLog;
use faults::FaultTable;
use idempotency::IdempotencyCache;
use stats::RequestStats;
use store::Store;

/// How many events a slow subscriber may fall behind before it starts missing some.
const EVENT_FEED_CAPACITY: usize = 4096;

/// A handle on one simulator's state.
#[derive(Debug, Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Accepted secret keys; empty accepts any `sk_test_…`.
    api_keys: Vec<String>,
    /// Prefix of `session.url`, without a trailing slash.
    public_base_url: String,
    /// Shown on the hosted payment page.
    business_name: String,
    /// Fixed at start-up, so read without a lock.
    catalog: Catalog,
    clock: SimClock,
    /// Sessions and events: one lock, see `store`.
    store: Mutex<Store>,
    /// Separate from `store` because it is held across a whole create; the order is always
    /// `idempotency` then `store`, never the reverse.
    idempotency: Mutex<IdempotencyCache>,
    faults: Mutex<FaultTable>,
    /// Its own lock, taken by every `/v1/` request and held only to look at one second's
    /// timestamps, so the limit never waits on a slow handler holding `store`.
    account_limit: Mutex<AccountLimit>,
    stats: Mutex<RequestStats>,
    /// Fan-out of new events (for webhook delivery and tests).
    events_tx: broadcast::Sender<Value>,
    /// Endpoints, retry schedule, faults: read by every delivery, changed by the control API.
    delivery_settings: Mutex<DeliverySettings>,
    /// Every delivery and its attempts. Never locked together with `store`: a delivery's
    /// success is recorded here first, then the event's `pending_webhooks` in `store`.
    deliveries: Mutex<DeliveryLog>,
    /// Bumped after every change to `deliveries` (and `pending_webhooks`), so the payment page
    /// can wait for an acknowledgement without polling.
    deliveries_changed: watch::Sender<u64>,
}

/// Locks a mutex even if a panicking thread poisoned it: every critical section leaves the data
/// consistent before anything that can panic, and a test's panic must not take the simulator
/// down for the tests that follow.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// A fresh state. The caller has validated the catalog.
    pub(crate) fn new(config: &SimConfig, public_base_url: &str) -> Self {
        let clock = SimClock::default();
        let (events_tx, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        SimState {
            inner: Arc::new(Inner {
                api_keys: config.api_keys.clone(),
                public_base_url: public_base_url.trim_end_matches('/').to_string(),
                business_name: config.business_name.clone(),
                catalog: Catalog::new(&config.catalog, clock.now()),
                clock,
                store: Mutex::default(),
                idempotency: Mutex::default(),
                faults: Mutex::default(),
                account_limit: Mutex::new(AccountLimit::new(config.rate_limit_per_sec)),
                stats: Mutex::default(),
                events_tx,
                delivery_settings: Mutex::new(DeliverySettings::from_config(config)),
                deliveries: Mutex::default(),
                deliveries_changed: watch::Sender::new(0),
            }),
        }
    }

    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub(crate) fn public_base_url(&self) -> &str {
        &self.inner.public_base_url
    }

    pub(crate) fn business_name(&self) -> &str {
        &self.inner.business_name
    }

    /// The simulator's current Unix time (wall clock plus the offset).
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Shifts "now" by `secs` for objects and events created from here on (negative: the past).
    pub fn set_clock_offset(&self, secs: i64) {
        self.inner.clock.set_offset(secs);
    }

    /// The current clock offset in seconds.
    pub fn clock_offset(&self) -> i64 {
        self.inner.clock.offset()
    }

    /// Whether `key` may call `/v1/*`.
    pub(crate) fn accepts_key(&self, key: &str) -> bool {
        if self.inner.api_keys.is_empty() {
            key.starts_with("sk_test_") && key.len() > "sk_test_".len()
        } else {
            self.inner.api_keys.iter().any(|k| k == key)
        }
    }

    /// Arms a fault for the matching `/v1/` requests that follow.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.inner.faults).arm(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        lock(&self.inner.faults).take(method, path)
    }

    pub(crate) fn record_request(&self, path: &str) {
        lock(&self.inner.stats).record(path);
    }

    /// Whether the account's rate limit lets one more request in now (counting it if so).
    pub(crate) fn admit_under_account_limit(&self) -> bool {
        lock(&self.inner.account_limit).admit(std::time::Instant::now())
    }

    pub(crate) fn record_rate_limited(&self, path: &str) {
        lock(&self.inner.stats).record_rate_limited(path);
    }

    /// How many `/v1/` requests were answered 429 (the account's rate limit or an injected
    /// fault).
    pub fn rate_limited_count(&self) -> u64 {
        lock(&self.inner.stats).rate_limited_to_prefix("")
    }

    /// How many `/v1/` requests with a path starting with `path_prefix` were answered 429.
    pub fn rate_limited_to(&self, path_prefix: &str) -> u64 {
        lock(&self.inner.stats).rate_limited_to_prefix(path_prefix)
    }

    /// How many `/v1/` requests arrived, rejected ones included.
    pub fn request_count(&self) -> u64 {
        lock(&self.inner.stats).total
    }

    /// How many `/v1/` requests had a path starting with `path_prefix`.
    pub fn requests_to(&self, path_prefix: &str) -> u64 {
        lock(&self.inner.stats).to_prefix(path_prefix)
    }

    /// Counters for `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        let (requests_total, requests_by_path, rate_limited_by_path) = {
            let stats = lock(&self.inner.stats);
            (
                stats.total,
                json!(stats.by_path),
                json!(stats.rate_limited_by_path),
            )
        };
        let rate_limit_per_sec = lock(&self.inner.account_limit).per_sec();
        let (sessions, events) = {
            let store = self.lock_store();
            (store.sessions.len(), store.events.len())
        };
        let (pending, succeeded, failed) = self.delivery_counts();
        json!({
            "requests_total": requests_total,
            "requests_by_path": requests_by_path,
            "rate_limit_per_sec": rate_limit_per_sec,
            "rate_limited_total": self.rate_limited_count(),
            "rate_limited_by_path": rate_limited_by_path,
            "sessions": sessions,
            "events": events,
            "faults_armed": lock(&self.inner.faults).len(),
            "clock_offset_secs": self.clock_offset(),
            "webhook_deliveries": {
                "pending": pending,
                "succeeded": succeeded,
                "failed": failed,
            },
        })
    }
}
