//! `checkout_orders` and `order_line_items`: the state of each session and what was delivered.
//!
//! Every row is keyed by account and session: `account` is a connected account's `acct_…`
//! (Stripe Connect) or `''` for the platform's own sessions (see
//! [`crate::domain::account_id::stored`]), so two accounts never share an order.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};

use crate::domain::account_id::stored;
use crate::domain::{AccountId, CheckoutSessionId};
use crate::store::access::Access;
use crate::store::claims;
use crate::store::events::{EventOutcome, SETTLED_OUTCOMES};
use crate::stripe::{CheckoutSession, LineItem, Recurring, ShippingDetails};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    AwaitingPayment,
    Fulfilled,
    PaymentFailed,
    Expired,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Fulfilled => "fulfilled",
            Self::PaymentFailed => "payment_failed",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<Self, sqlx::Error> {
        Ok(match s {
            "awaiting_payment" => Self::AwaitingPayment,
            "fulfilled" => Self::Fulfilled,
            "payment_failed" => Self::PaymentFailed,
            "expired" => Self::Expired,
            other => {
                return Err(sqlx::Error::Decode(
                    format!("unknown order state {other}").into(),
                ))
            }
        })
    }
}

/// Who called `fulfill_checkout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Webhook,
    Landing,
    Reconciler,
    /// An operator, from the console ("fulfill now").
    Operator,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Landing => "landing",
            Self::Reconciler => "reconciler",
            Self::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Deserialize)]
pub struct OrderLine {
    pub line_item_id: String,
    pub description: String,
    pub quantity: i64,
    pub price_id: Option<String>,
    pub currency: String,
    pub amount_subtotal: i64,
    pub amount_total: i64,
}

/// The subscription a subscription-mode order started, as Stripe reported it at fulfillment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSubscription {
    /// Stripe's subscription id (`sub_…`).
    pub id: String,
    /// Its status then: `active` (paid), `trialing`, …
    pub status: String,
    /// How often it renews; `None` if Stripe named no recurring price.
    pub recurring: Option<Recurring>,
    /// When the first period ends, which is when it first renews.
    pub current_period_end: Option<DateTime<Utc>>,
}

impl OrderSubscription {
    /// What a session retrieved with its subscription expanded started; `None` for a
    /// payment-mode session.
    pub fn of(session: &CheckoutSession) -> Option<Self> {
        let subscription = session.subscription()?;
        Some(OrderSubscription {
            id: subscription.id.clone(),
            status: subscription.status.clone(),
            recurring: subscription.recurring().cloned(),
            current_period_end: subscription
                .current_period_end()
                .and_then(|t| DateTime::from_timestamp(t, 0)),
        })
    }
}

/// A session's row and, once fulfilled, its line items.
#[derive(Debug, Clone)]
pub struct Order {
    pub session_id: String,
    /// The connected account the session was paid on; `None` for the platform's own.
    pub account: Option<String>,
    pub order_number: i64,
    pub state: OrderState,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub currency: Option<String>,
    pub amount_subtotal: Option<i64>,
    pub amount_total: Option<i64>,
    pub fulfilled_by: Option<String>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    /// The Payment Link the session came from, if any.
    pub payment_link: Option<String>,
    /// Where it ships; `None` when no shipping address was collected.
    pub shipping: Option<ShippingDetails>,
    /// The subscription it started; `None` for a one-time order.
    pub subscription: Option<OrderSubscription>,
    pub lines: Vec<OrderLine>,
    /// The links and licence keys it gave (digital goods and services).
    pub access: Vec<Access>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    session_id: String,
    account: String,
    order_number: i64,
    state: String,
    customer_name: Option<String>,
    customer_email: Option<String>,
    currency: Option<String>,
    amount_subtotal: Option<i64>,
    amount_total: Option<i64>,
    fulfilled_by: Option<String>,
    fulfilled_at: Option<DateTime<Utc>>,
    payment_link: Option<String>,
    shipping: Option<Json<ShippingDetails>>,
    subscription: Option<Json<OrderSubscription>>,
    lines: Json<Vec<OrderLine>>,
    access: Json<Vec<Access>>,
}

impl OrderRow {
    fn into_order(self) -> Result<Order, sqlx::Error> {
        Ok(Order {
            state: OrderState::parse(&self.state)?,
            session_id: self.session_id,
            account: Some(self.account).filter(|a| !a.is_empty()),
            order_number: self.order_number,
            customer_name: self.customer_name,
            customer_email: self.customer_email,
            currency: self.currency,
            amount_subtotal: self.amount_subtotal,
            amount_total: self.amount_total,
            fulfilled_by: self.fulfilled_by,
            fulfilled_at: self.fulfilled_at,
            payment_link: self.payment_link,
            shipping: self.shipping.map(|Json(s)| s),
            subscription: self.subscription.map(|Json(s)| s),
            lines: self.lines.0,
            access: self.access.0,
        })
    }
}

/// The order with its lines and what it gave, in one statement: every read of an order (the
/// success page, a duplicate event, a race lost inside the lock) is one round trip. Lines and
/// access exist only for fulfilled orders, so other states read none.
pub(super) const FIND_ORDER: &str = "\
    SELECT o.session_id, o.account, o.order_number, o.state, o.customer_name, o.customer_email, \
        o.currency, o.amount_subtotal, o.amount_total, o.fulfilled_by, o.fulfilled_at, \
        o.payment_link, o.shipping, o.subscription, \
        COALESCE((SELECT json_agg(json_build_object( \
                'line_item_id', l.line_item_id, 'description', l.description, \
                'quantity', l.quantity, 'price_id', l.price_id, 'currency', l.currency, \
                'amount_subtotal', l.amount_subtotal, 'amount_total', l.amount_total) \
                ORDER BY l.position) \
            FROM order_line_items l \
            WHERE l.session_id = o.session_id AND l.account = o.account), '[]') AS lines, \
        COALESCE((SELECT json_agg(json_build_object( \
                'product_id', a.product_id, 'title', a.title, 'url', a.url, \
                'licence_key', a.licence_key) ORDER BY a.position) \
            FROM order_access a \
            WHERE a.session_id = o.session_id AND a.account = o.account), '[]') AS access \
    FROM checkout_orders o WHERE o.session_id = $1 AND o.account = $2";

/// The order of session `id` on `account` (`None`: the platform) with its lines, or `None` if
/// the session was never recorded there. One round trip.
#[tracing::instrument(skip(conn))]
pub async fn find(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
) -> Result<Option<Order>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(FIND_ORDER)
        .bind(id.as_str())
        .bind(stored(account))
        .fetch_optional(&mut *conn)
        .await?;
    row.map(OrderRow::into_order).transpose()
}

/// An order read by a caller about to ask Stripe about its session, and whether that read
/// claimed the session ([`super::claims`]).
#[derive(Debug, Default)]
pub struct OrderRead {
    pub order: Option<Order>,
    /// False when another caller holds a fresh claim, and also when no claim was tried (the
    /// order is fulfilled already, or the worker's event is settled).
    pub claimed: bool,
}

/// The stored order of session `$1` on account `$2` as a CTE, and the claim on the session
/// unless that order is fulfilled (and unless `unless`, more of the claim's `WHERE`, holds).
fn claiming(unless: &str) -> String {
    format!(
        "stored_order AS MATERIALIZED ({FIND_ORDER}), \
         claim AS ({})",
        claims::claim(&format!(
            "WHERE NOT EXISTS (SELECT 1 FROM stored_order WHERE state = 'fulfilled') {unless}"
        ))
    )
}

static FIND_CLAIMING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} \
         SELECT EXISTS (SELECT 1 FROM claim) AS claimed, s.* \
         FROM (VALUES (1)) AS one LEFT JOIN stored_order s ON true",
        claiming("")
    )
});

static FIND_WITH_EVENT_OUTCOME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH recorded AS MATERIALIZED (SELECT outcome FROM stripe_events WHERE event_id = $4), \
         {} \
         SELECT (SELECT outcome FROM recorded) AS event_outcome, \
             EXISTS (SELECT 1 FROM claim) AS claimed, s.* \
         FROM (VALUES (1)) AS one LEFT JOIN stored_order s ON true",
        claiming("AND NOT EXISTS (SELECT 1 FROM recorded WHERE outcome = ANY($5))")
    )
});

/// The order of session `id` on `account`, claiming the session for `claim_wait` unless the
/// order is fulfilled: the read of a caller about to ask Stripe (the success page's). One round
/// trip.
#[tracing::instrument(skip(conn))]
pub async fn find_claiming(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    claim_wait: Duration,
) -> Result<OrderRead, sqlx::Error> {
    let row = sqlx::query(&FIND_CLAIMING)
        .bind(id.as_str())
        .bind(stored(account))
        .bind(claim_wait.as_secs_f64())
        .fetch_one(&mut *conn)
        .await?;
    let (order, claimed) = claimed_and_order(&row)?;
    Ok(OrderRead { order, claimed })
}

/// The outcome recorded for event `event_id` and the order of session `id` on `account`, in
/// one statement that also claims the session (as [`find_claiming`]) unless the event is
/// settled: the worker's first read of an event (a settled duplicate costs this round trip and
/// nothing else; a new event's `fulfill_checkout` need not read the order again).
#[tracing::instrument(skip(conn))]
pub async fn find_with_event_outcome(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    event_id: &str,
    claim_wait: Duration,
) -> Result<(Option<EventOutcome>, OrderRead), sqlx::Error> {
    // Always one row: the order's columns are NULL when there is no order.
    let row = sqlx::query(&FIND_WITH_EVENT_OUTCOME)
        .bind(id.as_str())
        .bind(stored(account))
        .bind(claim_wait.as_secs_f64())
        .bind(event_id)
        .bind(&SETTLED_OUTCOMES[..])
        .fetch_one(&mut *conn)
        .await?;
    let outcome: Option<String> = row.try_get("event_outcome")?;
    let (order, claimed) = claimed_and_order(&row)?;
    // One this build does not know reads as none, as in `events::outcome`.
    Ok((
        outcome.as_deref().and_then(EventOutcome::parse),
        OrderRead { order, claimed },
    ))
}

/// A row of `claimed` and the order's columns, NULL when there is no order.
pub(super) fn claimed_and_order(row: &PgRow) -> Result<(Option<Order>, bool), sqlx::Error> {
    let claimed: bool = row.try_get("claimed")?;
    let session: Option<String> = row.try_get("session_id")?;
    let order = match session {
        Some(_) => Some(OrderRow::from_row(row)?.into_order()?),
        None => None,
    };
    Ok((order, claimed))
}

/// The connected accounts that have an order here (any state), for the reconciler to sweep.
pub async fn accounts(executor: impl PgExecutor<'_>) -> Result<Vec<AccountId>, sqlx::Error> {
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT account FROM checkout_orders WHERE account <> '' ORDER BY account",
    )
    .fetch_all(executor)
    .await?;
    // Written only from parsed ids; one that no longer parses is skipped, not fatal.
    Ok(stored
        .iter()
        .filter_map(|a| AccountId::parse(a).ok())
        .collect())
}

/// Blocks until this transaction holds the advisory lock of session `id` on `account` (released
/// at commit or rollback, so a crashed caller can never leave it held; never a session-level
/// lock on a pooled connection, which would outlive the caller).
pub async fn lock_session(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(id.advisory_lock_key_on(account))
        .execute(conn)
        .await?;
    Ok(())
}

/// The state of session `id` on `account`, read inside the lock.
pub async fn state(
    executor: impl PgExecutor<'_>,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
) -> Result<Option<OrderState>, sqlx::Error> {
    let state: Option<String> = sqlx::query_scalar(
        "SELECT state FROM checkout_orders WHERE session_id = $1 AND account = $2",
    )
    .bind(id.as_str())
    .bind(stored(account))
    .fetch_optional(executor)
    .await?;
    state.as_deref().map(OrderState::parse).transpose()
}

/// The order columns a fulfillment writes, in the order of its values.
pub(super) const FULFILLED_COLUMNS: &str = "session_id, state, livemode, customer_name, \
    customer_email, currency, amount_subtotal, amount_total, payment_intent, fulfilled_by, \
    fulfilled_at, session_created, payment_link, account, shipping, subscription";

/// What a fulfillment does to an existing row: overwrite it, unless it is fulfilled already.
/// `ON CONFLICT`'s `WHERE` reads the latest committed version of the row (not the statement's
/// snapshot), so under the session's lock it is the "not fulfilled yet" re-check.
pub(super) const FULFILLED_UPSERT: &str = "ON CONFLICT (session_id, account) DO UPDATE SET \
        state = 'fulfilled', \
        customer_name = EXCLUDED.customer_name, customer_email = EXCLUDED.customer_email, \
        currency = EXCLUDED.currency, amount_subtotal = EXCLUDED.amount_subtotal, \
        amount_total = EXCLUDED.amount_total, payment_intent = EXCLUDED.payment_intent, \
        fulfilled_by = EXCLUDED.fulfilled_by, fulfilled_at = EXCLUDED.fulfilled_at, \
        payment_link = EXCLUDED.payment_link, shipping = EXCLUDED.shipping, \
        subscription = EXCLUDED.subscription, updated_at = now() \
    WHERE checkout_orders.state <> 'fulfilled'";

/// The line columns a fulfillment writes after session and account, in the order of
/// [`LineArrays`].
pub(super) const LINE_COLUMNS: &str = "line_item_id, position, description, quantity, price_id, \
    product_id, currency, amount_subtotal, amount_total";

/// The lines of an order as one array per column, bound to one `UNNEST`: a cart of 250 items
/// costs one statement, not 250.
pub(super) struct LineArrays {
    pub line_item_id: Vec<String>,
    pub position: Vec<i32>,
    pub description: Vec<String>,
    pub quantity: Vec<i64>,
    pub price_id: Vec<Option<String>>,
    pub product_id: Vec<Option<String>>,
    pub currency: Vec<String>,
    pub amount_subtotal: Vec<i64>,
    pub amount_total: Vec<i64>,
}

impl LineArrays {
    pub(super) fn of(items: &[LineItem], lines: &[OrderLine]) -> Self {
        LineArrays {
            line_item_id: lines.iter().map(|l| l.line_item_id.clone()).collect(),
            position: (0..lines.len() as i32).collect(),
            description: lines.iter().map(|l| l.description.clone()).collect(),
            quantity: lines.iter().map(|l| l.quantity).collect(),
            price_id: lines.iter().map(|l| l.price_id.clone()).collect(),
            product_id: items
                .iter()
                .map(|i| i.price.as_ref().and_then(|p| p.product.clone()))
                .collect(),
            currency: lines.iter().map(|l| l.currency.clone()).collect(),
            amount_subtotal: lines.iter().map(|l| l.amount_subtotal).collect(),
            amount_total: lines.iter().map(|l| l.amount_total).collect(),
        }
    }
}

/// The order a fulfillment of `session` writes, before Postgres numbers it (`order_number` 0)
/// and grants its access (see [`super::fulfilled::write`]).
pub(super) fn fulfilled_order(
    account: Option<&AccountId>,
    session: &CheckoutSession,
    items: &[LineItem],
    trigger: Trigger,
    fulfilled_at: DateTime<Utc>,
) -> Order {
    Order {
        session_id: session.id.clone(),
        account: account.map(|a| a.as_str().to_owned()),
        order_number: 0,
        state: OrderState::Fulfilled,
        customer_name: session.customer_name().map(str::to_owned),
        customer_email: session.customer_email().map(str::to_owned),
        currency: session.currency.clone(),
        amount_subtotal: session.amount_subtotal,
        amount_total: session.amount_total,
        fulfilled_by: Some(trigger.as_str().to_owned()),
        fulfilled_at: Some(fulfilled_at),
        payment_link: session.payment_link.clone(),
        shipping: session.shipping().cloned(),
        subscription: OrderSubscription::of(session),
        lines: items.iter().map(order_line).collect(),
        access: Vec::new(),
    }
}

fn order_line(item: &LineItem) -> OrderLine {
    OrderLine {
        line_item_id: item.id.clone(),
        description: item.description.clone().unwrap_or_default(),
        quantity: item.quantity.unwrap_or(1),
        price_id: item.price.as_ref().map(|p| p.id.clone()),
        currency: item.currency.clone(),
        amount_subtotal: item.amount_subtotal,
        amount_total: item.amount_total,
    }
}

/// Records a non-fulfilled state, never moving a session backwards: a fulfilled order stays
/// fulfilled, and `awaiting_payment` never overwrites a failure or an expiry. Returns the state
/// the row has afterwards.
pub async fn record_state(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    session: &CheckoutSession,
    state: OrderState,
) -> Result<OrderState, sqlx::Error> {
    debug_assert!(state != OrderState::Fulfilled, "use fulfilled::write");
    let recorded: Option<String> = sqlx::query_scalar(
        "INSERT INTO checkout_orders (session_id, state, livemode, customer_name, customer_email, \
             currency, amount_subtotal, amount_total, payment_intent, session_created, \
             payment_link, account) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), $11, $12) \
         ON CONFLICT (session_id, account) DO UPDATE SET state = EXCLUDED.state, \
             customer_name = EXCLUDED.customer_name, customer_email = EXCLUDED.customer_email, \
             updated_at = now() \
         WHERE checkout_orders.state = 'awaiting_payment' \
         RETURNING state",
    )
    .bind(&session.id)
    .bind(state.as_str())
    .bind(session.livemode)
    .bind(session.customer_name())
    .bind(session.customer_email())
    .bind(&session.currency)
    .bind(session.amount_subtotal)
    .bind(session.amount_total)
    .bind(&session.payment_intent)
    .bind(session.created as f64)
    .bind(&session.payment_link)
    .bind(stored(account))
    .fetch_optional(&mut *conn)
    .await?;
    match recorded {
        Some(recorded) => OrderState::parse(&recorded),
        // The WHERE kept an existing row as it was: report what it is.
        None => Ok(self::state(&mut *conn, account, id).await?.unwrap_or(state)),
    }
}
