//! `fulfill_checkout`: the heart of the product (seed 003), safe to call many times,
//! concurrently, from any process, for the same Checkout Session (G2), and never fulfilling an
//! unpaid one (G3).
//!
//! The flow:
//! 1. An order already fulfilled in Postgres answers from there; Stripe is not called. The same
//!    read claims the session ([`store::claims`]). (A caller that read the order already, in a
//!    statement of its own, passes it in: the worker reads it with the event's recorded outcome,
//!    [`Fulfiller::fulfill_checkout_read_on`].)
//! 2. Another caller holds the claim (the worker, when the success page arrives while it asks
//!    Stripe; or the reverse): wait for its order, up to `stripe.claim_wait_ms`, instead of
//!    asking Stripe a second time. Released unfulfilled, or still held at the end of the wait:
//!    go on as if there were no claim.
//! 3. Retrieve the session from Stripe with `line_items` expanded (all pages): the decision is
//!    made from Stripe's answer, never from a webhook payload.
//! 4. Complete and paid (or no payment required), and not a setup-mode session
//!    ([`CheckoutSession::is_fulfillable`]): under `pg_advisory_xact_lock` on the session's
//!    64-bit key, write the order, unless it is fulfilled already (the re-check is that insert's
//!    own `WHERE`), its line items, what its digital products give (links, licence keys:
//!    `store::access`) and an `order.fulfilled` outbox row: one statement, one round trip
//!    ([`store::fulfilled`]; two the first time a process meets a product granting access). The lock serialises racing callers; the unique keys of line items
//!    and outbox are the second line of defense; a violation there is read back as "already
//!    fulfilled". Too few licence keys fails it all ([`FulfillError::LicenceKeys`], retried).
//! 5. Unpaid: recorded as awaiting payment (delayed methods), unless it already failed; a
//!    setup-mode session records nothing. A claimant that did not fulfill releases its claim.
//!
//! A session lives on an account: the platform's own (`None`), or a connected account's
//! (Stripe Connect; the event that brought it names the `acct_…`). Each `…_on` method takes the
//! account: Stripe is asked with `Stripe-Account`, and the order, its lock and its
//! announcements are keyed by account and session, so two accounts never share one. The
//! methods without `_on` are the platform's (the landing page's sessions are always its own).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::announcements::OrderPaymentFailed;
use crate::domain::{AccountId, CheckoutSessionId};
use crate::errors::error_chain;
use crate::metrics;
use crate::settings::Settings;
use crate::store;
use crate::store::access::KeysExhausted;
use crate::store::claims::{self, Waited};
use crate::store::events::{EventKey, EventOutcome};
use crate::store::fulfilled::{self, Fulfillment, Written};
use crate::store::orders::{self, Order, OrderRead, OrderState, Trigger};
use crate::store::outbox;
use crate::stripe::{CheckoutSession, SessionStatus, StripeClient, StripeError};

/// What happened, for the caller to act on (ack, render a page, …).
// One outcome per call, moved once: boxing the order would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FulfillmentOutcome {
    /// The order is fulfilled; `newly` is true for the one call that did it.
    Fulfilled { order: Order, newly: bool },
    /// Not paid yet: an open session, or a delayed payment method still processing.
    AwaitingPayment,
    /// A delayed payment failed; the customer has been (or will be) told.
    PaymentFailed,
    /// The session expired unpaid.
    Expired,
    /// Stripe does not know this session (in this mode, on this account).
    NotFound,
}

impl FulfillmentOutcome {
    /// What the event that asked for it came to.
    pub fn event_outcome(&self) -> EventOutcome {
        match self {
            Self::Fulfilled { newly: true, .. } => EventOutcome::Fulfilled,
            Self::Fulfilled { newly: false, .. } => EventOutcome::AlreadyFulfilled,
            Self::AwaitingPayment => EventOutcome::AwaitingPayment,
            Self::PaymentFailed => EventOutcome::PaymentFailed,
            Self::Expired => EventOutcome::Expired,
            Self::NotFound => EventOutcome::NotFound,
        }
    }

    /// A short label for metrics, logs and the audit trail: the event outcome's name.
    pub fn label(&self) -> &'static str {
        self.event_outcome().as_str()
    }

    /// Whether the event the fulfillment was given (if any) is recorded already: a new
    /// fulfillment records it in its own statement ([`fulfilled::write`]).
    pub fn event_recorded(&self) -> bool {
        matches!(self, Self::Fulfilled { newly: true, .. })
    }
}

/// Why fulfillment could not be decided. Both kinds may be transient; see
/// [`FulfillError::is_transient`].
#[derive(Debug, thiserror::Error)]
pub enum FulfillError {
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A product's licence key pool cannot cover the order; retried until keys are added.
    #[error("{0}")]
    LicenceKeys(String),
}

impl FulfillError {
    /// The Stripe outage behind this failure, if it is one (see [`StripeError::is_outage`]).
    pub fn stripe_outage(&self) -> Option<&StripeError> {
        match self {
            Self::Stripe(e) if e.is_outage() => Some(e),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: Stripe unavailable, rate limited or refusing our
    /// key; the database unreachable, a transaction aborted by a conflict, or one of our session
    /// bounds expired (a lock held elsewhere for longer than `database.lock_timeout_ms`); not
    /// Postgres refusing this session's data. See [`store::is_transient`].
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Stripe(e) => e.is_transient(),
            Self::Database(e) => store::is_transient(e),
            // Paid, and owed its keys: worth retrying until the pool is refilled (the order
            // shows up as paid but unfulfilled, and dead-letters past the retries).
            Self::LicenceKeys(_) => true,
        }
    }

    /// The setting whose bound ended a database statement, if one did (see
    /// [`store::expired_bound`]).
    pub fn expired_bound(&self) -> Option<&'static str> {
        match self {
            Self::Stripe(_) | Self::LicenceKeys(_) => None,
            Self::Database(e) => store::expired_bound(e),
        }
    }
}

/// What `fulfill_checkout` needs: the store and Stripe. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fulfiller {
    pool: PgPool,
    stripe: StripeClient,
    customer_mail: bool,
    claim_wait: Duration,
    /// Which products this process has seen grant access: picks the smaller statement for
    /// orders of anything else ([`fulfilled::GrantingProducts`]).
    granting: fulfilled::GrantingProducts,
}

impl Fulfiller {
    /// A fulfiller that never waits for another caller's claim (see [`Self::waiting_for_claims`]).
    pub fn new(pool: PgPool, stripe: StripeClient) -> Self {
        Self {
            pool,
            stripe,
            customer_mail: false,
            claim_wait: Duration::ZERO,
            granting: fulfilled::GrantingProducts::default(),
        }
    }

    /// Waits up to `claim_wait` (`stripe.claim_wait_ms`) for another caller already asking
    /// Stripe about the same session, instead of asking too; see [`store::claims`].
    pub fn waiting_for_claims(mut self, claim_wait: Duration) -> Self {
        self.claim_wait = claim_wait;
        self
    }

    /// How long a claim holds; what the worker's own read of an order claims for.
    pub fn claim_wait(&self) -> Duration {
        self.claim_wait
    }

    /// A service's fulfiller: customer mail and the claim wait as configured. Its claim-wait
    /// counters are exposed at 0 from the start, so the dashboard has a series before the first
    /// wait.
    pub fn from_settings(pool: PgPool, stripe: StripeClient, settings: &Settings) -> Self {
        for ended in Waited::LABELS {
            metrics::CLAIM_WAITS.with_label_values(&[ended]);
        }
        Self::new(pool, stripe)
            .mailing_customers(settings.notifier.customer_mail)
            .waiting_for_claims(settings.stripe.claim_wait())
    }

    /// Customers get mail from the notifier (`notifier.customer_mail`): each announcement with
    /// an address records its mail as pending, so the success page can promise it.
    pub fn mailing_customers(mut self, customer_mail: bool) -> Self {
        self.customer_mail = customer_mail;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn stripe(&self) -> &StripeClient {
        &self.stripe
    }

    /// The platform's order as Postgres has it, without calling Stripe.
    pub async fn stored_order(&self, id: &CheckoutSessionId) -> Result<Option<Order>, sqlx::Error> {
        self.stored_order_on(None, id).await
    }

    /// The order of session `id` on `account` as Postgres has it, without calling Stripe.
    pub async fn stored_order_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
    ) -> Result<Option<Order>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        orders::find(&mut conn, account, id).await
    }

    /// Fulfills the platform's session if it is paid; see the module docs for the flow.
    pub async fn fulfill_checkout(
        &self,
        id: &CheckoutSessionId,
        trigger: Trigger,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        self.fulfill_checkout_on(None, id, trigger).await
    }

    /// Fulfills session `id` on `account` (`None`: the platform) if it is paid.
    pub async fn fulfill_checkout_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        self.fulfill(account, id, trigger, Stored::Unread, None)
            .await
    }

    /// [`Self::fulfill_checkout_on`] for the worker processing `event`, which has just read (and
    /// claimed) the order in a statement that also read the event's outcome: the order is not
    /// read again, and a new fulfillment records the event as `fulfilled` in its own statement
    /// (see [`FulfillmentOutcome::event_recorded`]).
    pub async fn fulfill_checkout_read_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
        stored: OrderRead,
        event: EventKey<'_>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        self.fulfill(account, id, trigger, Stored::Read(stored), Some(event))
            .await
    }

    #[tracing::instrument(
        name = "fulfill_checkout",
        skip(self, stored, event),
        fields(
            session_id = %id,
            account = account.map(AccountId::as_str),
            trigger = trigger.as_str(),
            outcome
        )
    )]
    async fn fulfill(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
        stored: Stored,
        event: Option<EventKey<'_>>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let started = Instant::now();
        let result = self.decide(account, id, trigger, stored, event).await;
        let label = result.as_ref().map_or("error", FulfillmentOutcome::label);
        tracing::Span::current().record("outcome", label);
        metrics::FULFILLMENTS
            .with_label_values(&[trigger.as_str(), label])
            .inc();
        metrics::FULFILLMENT_SECONDS
            .with_label_values(&[trigger.as_str()])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn decide(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
        stored: Stored,
        event: Option<EventKey<'_>>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let OrderRead { order, claimed } = match stored {
            Stored::Read(read) => read,
            Stored::Unread => {
                let mut conn = self.pool.acquire().await?;
                orders::find_claiming(&mut conn, account, id, self.claim_wait).await?
            }
        };
        if let Some(order) = order.filter(|o| o.state == OrderState::Fulfilled) {
            return Ok(FulfillmentOutcome::Fulfilled {
                order,
                newly: false,
            });
        }
        if !claimed && !self.claim_wait.is_zero() {
            if let Some(order) = self.wait_for_claimant(account, id).await? {
                return Ok(FulfillmentOutcome::Fulfilled {
                    order,
                    newly: false,
                });
            }
        }
        let result = self.decide_from_stripe(account, id, trigger, event).await;
        if claimed && !matches!(result, Ok(FulfillmentOutcome::Fulfilled { .. })) {
            self.release(account, id).await;
        }
        result
    }

    /// Step 2: the order of the caller holding the session's claim, if it fulfills in time.
    async fn wait_for_claimant(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
    ) -> Result<Option<Order>, FulfillError> {
        let waited = claims::wait_for_order(&self.pool, account, id, self.claim_wait).await?;
        metrics::CLAIM_WAITS
            .with_label_values(&[waited.label()])
            .inc();
        Ok(match waited {
            Waited::Fulfilled(order) => Some(order),
            Waited::Released => None,
            Waited::TimedOut => {
                tracing::info!(wait = ?self.claim_wait, "the session's claimant did not fulfill in time; asking Stripe");
                None
            }
        })
    }

    /// Gives up this caller's claim; a failure only makes a waiter wait its whole wait.
    async fn release(&self, account: Option<&AccountId>, id: &CheckoutSessionId) {
        if let Err(e) = claims::release(&self.pool, account, id).await {
            tracing::warn!(error = %error_chain(&e), "could not release the session's claim");
        }
    }

    /// Steps 3–5: Stripe's answer decides.
    async fn decide_from_stripe(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
        event: Option<EventKey<'_>>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let Some(session) = self.retrieve(account, id).await? else {
            return Ok(FulfillmentOutcome::NotFound);
        };
        if session.is_fulfillable() {
            return self
                .fulfill_paid(account, id, &session, trigger, event)
                .await;
        }
        if session.mode.as_deref() == Some("setup") {
            // A saved payment method, not a sale: no order to record, ever.
            return Ok(FulfillmentOutcome::AwaitingPayment);
        }
        let state = match session.status {
            Some(SessionStatus::Expired) => OrderState::Expired,
            Some(SessionStatus::Complete) => OrderState::AwaitingPayment,
            // Open: the customer has not paid (or not even submitted) yet; nothing to record.
            _ => return Ok(FulfillmentOutcome::AwaitingPayment),
        };
        self.record(account, id, &session, state).await
    }

    /// The session as Stripe has it, line items expanded; `None`: Stripe does not know it.
    async fn retrieve(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
    ) -> Result<Option<CheckoutSession>, StripeError> {
        match self.stripe.retrieve_checkout_session_on(account, id).await {
            Ok(session) => Ok(Some(session)),
            Err(StripeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Step 4: the fulfillment effect, committed at most once.
    async fn fulfill_paid(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        session: &CheckoutSession,
        trigger: Trigger,
        event: Option<EventKey<'_>>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let fulfillment = Fulfillment {
            account,
            id,
            session,
            items: session.line_items.as_ref().map_or(&[], |l| &l.data),
            trigger,
            customer_mail: self.customer_mail,
            event,
        };
        match fulfilled::write(&self.pool, &self.granting, fulfillment).await {
            Ok(Written::Newly(order)) => {
                tracing::info!(order_number = order.order_number, "order fulfilled");
                Ok(FulfillmentOutcome::Fulfilled { order, newly: true })
            }
            Ok(Written::AlreadyFulfilled) => {
                // Another caller fulfilled it while we were asking Stripe.
                let order = self
                    .stored_order_on(account, id)
                    .await?
                    .expect("a fulfilled order exists");
                Ok(FulfillmentOutcome::Fulfilled {
                    order,
                    newly: false,
                })
            }
            Err(e) if is_unique_violation(&e) => {
                self.already_fulfilled_by_constraint(account, id, e).await
            }
            Err(e) => Err(match KeysExhausted::of(&e) {
                Some(short) => FulfillError::LicenceKeys(short.to_string()),
                None => e.into(),
            }),
        }
    }

    /// A unique key stopped a second fulfillment. Only reachable if the lock were bypassed (e.g.
    /// a hand-written insert): the constraint held, so the order exists once. Report it as such.
    async fn already_fulfilled_by_constraint(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        e: sqlx::Error,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        tracing::warn!(error = %error_chain(&e), "unique constraint stopped a second fulfillment");
        let order = self.stored_order_on(account, id).await?.ok_or(e)?;
        Ok(FulfillmentOutcome::Fulfilled {
            order,
            newly: false,
        })
    }

    /// Records an asynchronous payment failure (`checkout.session.async_payment_failed`) of a
    /// platform's session; see [`Self::record_payment_failed_on`].
    pub async fn record_payment_failed(
        &self,
        id: &CheckoutSessionId,
        trigger: Trigger,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        self.record_payment_failed_on(None, id, trigger, None).await
    }

    /// Records an asynchronous payment failure of session `id` on `account` and announces
    /// `order.payment_failed` once, so the customer hears of it. The session is still checked
    /// with Stripe: a session that turns out paid is fulfilled instead, recording `event` as
    /// [`Self::fulfill_checkout_read_on`] does.
    #[tracing::instrument(name = "record_payment_failed", skip(self, event), fields(session_id = %id, account = account.map(AccountId::as_str)))]
    pub async fn record_payment_failed_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
        event: Option<EventKey<'_>>,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let Some(session) = self.retrieve(account, id).await? else {
            return Ok(FulfillmentOutcome::NotFound);
        };
        if session.is_fulfillable() {
            return self
                .fulfill_paid(account, id, &session, trigger, event)
                .await;
        }
        self.record(account, id, &session, OrderState::PaymentFailed)
            .await
    }

    /// Records that the platform's session expired; see [`Self::record_expired_on`].
    pub async fn record_expired(
        &self,
        id: &CheckoutSessionId,
        trigger: Trigger,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        self.record_expired_on(None, id, trigger).await
    }

    /// Records that session `id` on `account` expired (`checkout.session.expired`), if it was
    /// not paid.
    #[tracing::instrument(name = "record_expired", skip(self), fields(session_id = %id, account = account.map(AccountId::as_str)))]
    pub async fn record_expired_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        trigger: Trigger,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        // The same decision as fulfill_checkout: an expired session in Stripe is recorded as
        // such; one that is (somehow) paid is fulfilled.
        self.fulfill_checkout_on(account, id, trigger).await
    }

    /// Writes a non-fulfilled state under the session's lock; a failure is announced once.
    async fn record(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
        session: &CheckoutSession,
        state: OrderState,
    ) -> Result<FulfillmentOutcome, FulfillError> {
        let mut tx = self.pool.begin().await?;
        orders::lock_session(&mut tx, account, id).await?;
        let before = orders::state(&mut *tx, account, id).await?;
        let after = orders::record_state(&mut tx, account, id, session, state).await?;
        if after == OrderState::PaymentFailed && before != Some(OrderState::PaymentFailed) {
            let body = OrderPaymentFailed::new(account, id.as_str(), session);
            outbox::enqueue(&mut tx, account, id.as_str(), &body, self.customer_mail).await?;
        }
        let outcome = match after {
            OrderState::AwaitingPayment => FulfillmentOutcome::AwaitingPayment,
            OrderState::PaymentFailed => FulfillmentOutcome::PaymentFailed,
            OrderState::Expired => FulfillmentOutcome::Expired,
            // Fulfilled by another caller since Stripe answered us: the row was left alone.
            OrderState::Fulfilled => {
                let order = orders::find(&mut tx, account, id)
                    .await?
                    .expect("a fulfilled order exists");
                FulfillmentOutcome::Fulfilled {
                    order,
                    newly: false,
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

/// Whether the caller read (and claimed) the order already.
// Passed once per call and moved: boxing the order would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Stored {
    Unread,
    Read(OrderRead),
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
