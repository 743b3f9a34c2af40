//! A new fulfillment's writes in one statement, one round trip: the session's advisory lock,
//! the order (unless it is fulfilled already), its line items, its `order.fulfilled`
//! announcement and the customer's pending mail.
//!
//! Why one statement is as safe as the transaction it replaces (G2):
//! - A statement outside a transaction is its own transaction: `pg_advisory_xact_lock` in the
//!   first CTE is held until the statement commits or fails, and every write commits together.
//!   The lock's CTE is volatile, so Postgres never inlines or skips it; the order's `INSERT`
//!   reads its row from it, so the lock is taken before the order is looked at.
//! - The statement's snapshot predates the lock, but nothing here decides from it: the "not
//!   fulfilled yet" re-check is `ON CONFLICT … WHERE`, which reads the latest committed version
//!   of the row ([`super::orders::FULFILLED_UPSERT`]). A racing caller that fulfilled the order
//!   while this one waited for the lock makes the `INSERT` return nothing, and then nothing
//!   else is written.
//! - Data-modifying CTEs do not see each other's rows: the lines and the announcement are fed
//!   from the order's `RETURNING`, never read from the tables.
//! - The unique keys of lines and outbox still fail the whole statement if the lock were ever
//!   bypassed.
//!
//! Orders whose products give access (links, licence keys: `store::access`) are not written
//! here: the statement finds that out in the same round trip and writes nothing, and the caller
//! runs the transaction that grants access ([`Written::GivesAccess`]).
//!
//! The announcement's body is `OrderFulfilled::from(&order)` serialized in Rust, as every
//! announcement is; only `order_number`, which Postgres assigns in this statement, is merged in
//! SQL (a test checks the stored body against the Rust serialization).

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::types::Json;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::announcements::{Announcement, OrderFulfilled};
use crate::domain::account_id::stored;
use crate::domain::{AccountId, CheckoutSessionId};
use crate::store::notifications;
use crate::store::orders::{
    fulfilled_order, LineArrays, Order, Trigger, FULFILLED_COLUMNS, FULFILLED_UPSERT, LINE_COLUMNS,
};
use crate::stripe::{CheckoutSession, LineItem};

/// What [`write`] did.
// One value per call, moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Written {
    /// This call fulfilled the order.
    Newly(Order),
    /// The order was fulfilled already (by a caller that won the lock first); nothing written.
    AlreadyFulfilled,
    /// A product of the order gives access: nothing written; fulfill it in a transaction.
    GivesAccess,
}

/// Writes the fulfillment of paid `session` on `account`, see the module docs. Run it on a
/// pool or a connection outside a transaction: inside one, the lock would be held until that
/// transaction ends, which is still correct but no longer one round trip.
pub async fn write(
    executor: impl PgExecutor<'_>,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    session: &CheckoutSession,
    items: &[LineItem],
    trigger: Trigger,
    customer_mail: bool,
) -> Result<Written, sqlx::Error> {
    // Stored with microseconds, so the order returned is the order read back.
    let fulfilled_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let mut order = fulfilled_order(account, session, items, trigger, fulfilled_at);
    let body = OrderFulfilled::from(&order);
    let mail = customer_mail && body.customer_email().is_some();
    let body = serde_json::to_value(&body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let lines = LineArrays::of(items, &order.lines);
    let sql = format!(
        "WITH locked AS (SELECT pg_advisory_xact_lock($1)), \
         gives_access AS (SELECT EXISTS (SELECT 1 FROM product_access \
             WHERE product_id = ANY($2::text[])) AS found), \
         written AS ( \
             INSERT INTO checkout_orders ({FULFILLED_COLUMNS}) \
             SELECT $3, 'fulfilled', $4, $5, $6, $7, $8, $9, $10, $11, $12, to_timestamp($13), \
                 $14, $15, $16, $17 \
             FROM locked, gives_access WHERE NOT gives_access.found \
             {FULFILLED_UPSERT} \
             RETURNING session_id, account, order_number), \
         lines AS ( \
             INSERT INTO order_line_items (session_id, account, {LINE_COLUMNS}) \
             SELECT w.session_id, w.account, l.* FROM written w, \
                 UNNEST($18::text[], $19::int[], $20::text[], $21::bigint[], $22::text[], \
                     $2::text[], $23::text[], $24::bigint[], $25::bigint[]) AS l), \
         announced AS ( \
             INSERT INTO outbox (id, topic, session_id, payload, account) \
             SELECT $26, $27, w.session_id, \
                 $28::jsonb || jsonb_build_object('order_number', w.order_number), w.account \
             FROM written w \
             RETURNING id, topic, session_id), \
         mailed AS ( \
             INSERT INTO notifications (message_id, channel, routing_key, session_id) \
             SELECT id, $29, topic, session_id FROM announced WHERE $30) \
         SELECT (SELECT found FROM gives_access), (SELECT order_number FROM written)"
    );
    let LineArrays {
        line_item_id,
        position,
        description,
        quantity,
        price_id,
        product_id,
        currency,
        amount_subtotal,
        amount_total,
    } = lines;
    let (gives_access, order_number): (bool, Option<i64>) = sqlx::query_as(&sql)
        .bind(id.advisory_lock_key_on(account))
        .bind(product_id)
        .bind(&session.id)
        .bind(session.livemode)
        .bind(&order.customer_name)
        .bind(&order.customer_email)
        .bind(&order.currency)
        .bind(order.amount_subtotal)
        .bind(order.amount_total)
        .bind(&session.payment_intent)
        .bind(trigger.as_str())
        .bind(fulfilled_at)
        .bind(session.created as f64)
        .bind(&order.payment_link)
        .bind(stored(account))
        .bind(order.shipping.as_ref().map(Json))
        .bind(order.subscription.as_ref().map(Json))
        .bind(line_item_id)
        .bind(position)
        .bind(description)
        .bind(quantity)
        .bind(price_id)
        .bind(currency)
        .bind(amount_subtotal)
        .bind(amount_total)
        .bind(Uuid::new_v4())
        .bind(OrderFulfilled::ROUTING_KEY)
        .bind(body)
        .bind(notifications::EMAIL)
        .bind(mail)
        .fetch_one(executor)
        .await?;
    Ok(match (gives_access, order_number) {
        (true, _) => Written::GivesAccess,
        (false, None) => Written::AlreadyFulfilled,
        (false, Some(number)) => {
            order.order_number = number;
            Written::Newly(order)
        }
    })
}
