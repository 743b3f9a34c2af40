//! A new fulfillment's writes in one statement, one round trip: the session's advisory lock,
//! the order (unless it is fulfilled already), its line items, what its products give (links,
//! licence keys: [`super::access`]), its `order.fulfilled` announcement and the customer's
//! pending mail, and the outcome (`fulfilled`) of the event that asked for it, if one did. It also
//! purges a few expired claims ([`super::claims`]); the session's own claim stays until it
//! expires, so that a caller that read before this commits still waits for the order instead of
//! asking Stripe.
//!
//! Two shapes of it ([`GrantingProducts`] picks): the full one, for an order some of whose
//! products grant access, and the plain one, without the grant's CTEs, for every other order.
//! Postgres initialises every node of a plan on every execution, so the grant costs an order
//! that grants nothing about a fifth of its database time. The plain one is never trusted to
//! know: its order `INSERT` writes nothing if any of the order's products grants access, in the
//! statement's own snapshot (the one the full statement's grant would read), and it then returns
//! those products instead of an order; the full statement follows. A missed grant would need the
//! plain statement to see no access row that the full one would have seen: they read the same
//! table under the same rule.
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
//!   else is written: every other CTE is fed from the order's `RETURNING`.
//! - Data-modifying CTEs do not see each other's rows: the lines, the access, the keys and the
//!   announcement are fed from `RETURNING`s and from the statement's own values, never read back
//!   from the tables they write.
//! - Licence keys: one `UPDATE` takes each product's keys (summed over the order's lines) with
//!   `FOR UPDATE SKIP LOCKED`, which re-checks "still free" on the latest row version, so a key
//!   taken by a concurrent fulfillment is skipped, never shared; the `LIMIT` counts only the
//!   rows locked. Fewer keys than wanted calls `licence_keys_exhausted()`, which fails the whole
//!   statement: no order without its keys ([`super::access::KeysExhausted`]).
//! - The unique keys of lines, access and outbox still fail the whole statement if the lock
//!   were ever bypassed.
//!
//! The announcement's body is `OrderFulfilled::from(&order)` serialized in Rust, as every
//! announcement is; only what Postgres decides in this statement is merged in SQL: the
//! `order_number` and the `access` granted (a test checks the stored body against the Rust
//! serialization of the order returned).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::announcements::{Announcement, OrderFulfilled};
use crate::domain::account_id::stored;
use crate::domain::{AccountId, CheckoutSessionId};
use crate::store::access::Access;
use crate::store::claims;
use crate::store::events::{EventKey, EventOutcome};
use crate::store::notifications;
use crate::store::orders::{
    fulfilled_order, LineArrays, Order, Trigger, FULFILLED_COLUMNS, FULFILLED_UPSERT, LINE_COLUMNS,
};
use crate::stripe::{CheckoutSession, LineItem};

/// One paid session's fulfillment, as [`write`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Fulfillment<'a> {
    pub account: Option<&'a AccountId>,
    pub id: &'a CheckoutSessionId,
    pub session: &'a CheckoutSession,
    pub items: &'a [LineItem],
    pub trigger: Trigger,
    /// Whether the customer gets mail: the announcement's notification row is pending.
    pub customer_mail: bool,
    /// The event being processed, recorded as `fulfilled` when this call fulfills (as
    /// [`super::events::record_keeping_settled`] would, in the same statement); `None`: the
    /// success page, or an operator.
    pub event: Option<EventKey<'a>>,
}

/// What [`write`] did.
// One value per call, moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Written {
    /// This call fulfilled the order.
    Newly(Order),
    /// The order was fulfilled already (by a caller that won the lock first); nothing written.
    AlreadyFulfilled,
}

/// The products a process has seen grant access (links, licence keys): an order of none of them
/// is written by the plain statement, without the grant's CTEs, which cost a fifth of the
/// fulfillment's database time when there is nothing to grant (BENCHMARKS.md). It is a guess
/// that is never trusted: the plain statement writes nothing if any of the order's products
/// grants access after all, and names them, and the order is then written by the full one.
/// Only ever grows: a product that stops granting costs its orders the full statement, never a
/// missed grant. Cheap to clone; one per [`crate::Fulfiller`].
#[derive(Debug, Clone, Default)]
pub struct GrantingProducts(Arc<RwLock<HashSet<String>>>);

impl GrantingProducts {
    fn any_of(&self, products: &[Option<String>]) -> bool {
        let known = self.0.read().expect("never poisoned");
        products.iter().flatten().any(|p| known.contains(p))
    }

    fn learn(&self, products: Vec<String>) {
        self.0.write().expect("never poisoned").extend(products);
    }
}

/// Writes the fulfillment of paid `session` on `account`, see the module docs: one statement,
/// or two the first time this process meets a product that grants access
/// ([`GrantingProducts`]). Not inside a transaction (it takes a pool): there the lock would be
/// held until the transaction ends. A licence key pool too small for the order fails it with the
/// error [`super::access::KeysExhausted::of`] reads.
pub async fn write(
    pool: &PgPool,
    granting: &GrantingProducts,
    fulfillment: Fulfillment<'_>,
) -> Result<Written, sqlx::Error> {
    let Fulfillment {
        account,
        id,
        session,
        items,
        trigger,
        customer_mail,
        event,
    } = fulfillment;
    // This process's clock, not Postgres's `now()`: the body is serialized before the statement
    // runs. Stored with microseconds, so the order returned is the order read back.
    let fulfilled_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let mut order = fulfilled_order(account, session, items, trigger, fulfilled_at);
    let body = OrderFulfilled::from(&order);
    let mail = customer_mail && body.customer_email().is_some();
    let body = serde_json::to_value(&body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let lines = LineArrays::of(items, &order.lines);
    let lock_key = id.advisory_lock_key_on(account);
    let run = |statement: &'static str| {
        sqlx::query_as::<_, Returned>(statement)
            .bind(lock_key)
            .bind(&lines.product_id)
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
            .bind(&lines.line_item_id)
            .bind(&lines.position)
            .bind(&lines.description)
            .bind(&lines.quantity)
            .bind(&lines.price_id)
            .bind(&lines.currency)
            .bind(&lines.amount_subtotal)
            .bind(&lines.amount_total)
            .bind(Uuid::new_v4())
            .bind(OrderFulfilled::ROUTING_KEY)
            .bind(&body)
            .bind(notifications::EMAIL)
            .bind(mail)
            .bind(event.map(|e| e.event_id))
            .bind(event.map(|e| e.event_type))
            .bind(event.map(|e| e.created as f64))
            .bind(event.and_then(|e| e.account))
            .fetch_optional(pool)
    };
    let mut returned = if granting.any_of(&lines.product_id) {
        run(&FULL).await?
    } else {
        run(&PLAIN).await?
    };
    if let Some(Returned {
        granting: Some(products),
        ..
    }) = returned
    {
        // The plain statement wrote nothing: these of the order's products grant access.
        granting.learn(products);
        returned = run(&FULL).await?;
    }
    let returned = returned.map(|r| (r.order_number, r.access));
    Ok(match returned {
        None => Written::AlreadyFulfilled,
        Some((Some(number), Some(Json(access)))) => {
            order.order_number = number;
            order.access = access;
            Written::Newly(order)
        }
        Some(_) => {
            return Err(sqlx::Error::Protocol(
                "the fulfillment statement returned neither an order nor the products granting \
                 access"
                    .into(),
            ))
        }
    })
}

/// A row of the statement: the order written (its number and its access), or, from the plain
/// statement only, the order's products that grant access (nothing written).
#[derive(sqlx::FromRow)]
struct Returned {
    order_number: Option<i64>,
    access: Option<Json<Vec<Access>>>,
    granting: Option<Vec<String>>,
}

/// For an order some of whose products grant access, or may.
static FULL: LazyLock<String> = LazyLock::new(|| statement(Grant::Checked));
/// For an order none of whose products is known to grant access.
static PLAIN: LazyLock<String> = LazyLock::new(|| statement(Grant::Refused));

/// Whether the statement grants access, or refuses to write an order that would need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Checked,
    Refused,
}

/// The statement; `$2` (the lines' product ids) and `$21` (their quantities) also say what the
/// order's products give. One row when the order was written, none when it was fulfilled
/// already. The plain one ([`Grant::Refused`]) has no grant: `written` inserts nothing if any
/// product of the order grants access, and the row returned then names those products. Both
/// read `product_access` with the statement's one snapshot, so the check and the refusal agree.
///
/// `settled` records the event (`$31`, none when it is null) as
/// [`super::events::record_keeping_settled`] records `fulfilled`, which always wins: the
/// outcome and a cleared error, one more attempt, the failed attempts kept. It is fed from
/// `written`, so an order fulfilled already records nothing here (the caller records
/// `already_fulfilled` as any other outcome).
fn statement(grant: Grant) -> String {
    let purged = claims::purge_expired();
    let fulfilled = EventOutcome::Fulfilled.as_str();
    let granting_products = "SELECT FROM product_access p WHERE p.product_id = ANY($2::text[])";
    let (refused, grants, access, returned) = match grant {
        Grant::Checked => (
            String::new(),
            GRANT,
            "COALESCE((SELECT jsonb_agg(jsonb_build_object( \
                 'product', g.product_id, 'title', g.title, 'url', g.url, \
                 'licence_key', g.licence_key) ORDER BY g.position) \
             FROM granted g), '[]')",
            "SELECT w.order_number, \
                 COALESCE((SELECT json_agg(json_build_object( \
                         'product_id', g.product_id, 'title', g.title, 'url', g.url, \
                         'licence_key', g.licence_key) ORDER BY g.position) \
                     FROM granted g), '[]') AS access, \
                 NULL::text[] AS granting \
             FROM written w \
             WHERE NOT EXISTS (SELECT FROM exhausted)"
                .to_owned(),
        ),
        Grant::Refused => (
            format!("WHERE NOT EXISTS ({granting_products})"),
            "",
            "'[]'::jsonb",
            "SELECT w.order_number, '[]'::json AS access, NULL::text[] AS granting \
             FROM written w \
             UNION ALL \
             SELECT NULL, NULL, array_agg(p.product_id) FROM product_access p \
             WHERE p.product_id = ANY($2::text[]) HAVING count(*) > 0"
                .to_owned(),
        ),
    };
    format!(
        "WITH locked AS (SELECT pg_advisory_xact_lock($1)), \
         written AS ( \
             INSERT INTO checkout_orders ({FULFILLED_COLUMNS}) \
             SELECT $3, 'fulfilled', $4, $5, $6, $7, $8, $9, $10, $11, $12, to_timestamp($13), \
                 $14, $15, $16, $17 \
             FROM locked {refused} \
             {FULFILLED_UPSERT} \
             RETURNING session_id, account, order_number), \
         lines AS ( \
             INSERT INTO order_line_items (session_id, account, {LINE_COLUMNS}) \
             SELECT w.session_id, w.account, l.* FROM written w, \
                 UNNEST($18::text[], $19::int[], $20::text[], $21::bigint[], $22::text[], \
                     $2::text[], $23::text[], $24::bigint[], $25::bigint[]) AS l), \
         {grants} \
         announced AS ( \
             INSERT INTO outbox (id, topic, session_id, payload, account) \
             SELECT $26, $27, w.session_id, $28::jsonb || jsonb_build_object( \
                 'order_number', w.order_number, 'access', {access}), \
                 w.account \
             FROM written w \
             RETURNING id, topic, session_id), \
         mailed AS ( \
             INSERT INTO notifications (message_id, channel, routing_key, session_id) \
             SELECT id, $29, topic, session_id FROM announced WHERE $30), \
         settled AS ( \
             INSERT INTO stripe_events (event_id, event_type, session_id, event_created, \
                 outcome, account) \
             SELECT $31, $32, w.session_id, to_timestamp($33), '{fulfilled}', $34 \
             FROM written w WHERE $31::text IS NOT NULL \
             ON CONFLICT (event_id) DO UPDATE SET outcome = EXCLUDED.outcome, \
                 last_error = NULL, attempts = stripe_events.attempts + 1, \
                 last_processed_at = now()), \
         purged AS ({purged}) \
         {returned}"
    )
}

/// The grant's CTEs, after `written`: what each line's product gives (`gives`: a link per line,
/// or a key per unit), the keys wanted per product and taken oldest first (`taken`), a failed
/// statement if any product is short (`exhausted`), and the access granted in line order, keys
/// in pool order (`granted`), recorded in `order_access`.
const GRANT: &str = "\
    gives AS ( \
        SELECT s.line, s.quantity, p.product_id, p.title, p.url, p.licence_keys, \
            sum(s.quantity) OVER (PARTITION BY p.product_id ORDER BY s.line) - s.quantity \
                AS keys_before \
        FROM written, UNNEST($2::text[], $21::bigint[]) WITH ORDINALITY AS s(product_id, \
                quantity, line) \
            JOIN product_access p ON p.product_id = s.product_id), \
    wanted AS ( \
        SELECT product_id, sum(quantity)::bigint AS n FROM gives WHERE licence_keys \
        GROUP BY product_id), \
    taken AS ( \
        UPDATE licence_keys k SET account = w.account, session_id = w.session_id, \
            issued_at = now() \
        FROM written w, wanted, LATERAL (SELECT f.id FROM licence_keys f \
                WHERE f.product_id = wanted.product_id AND f.session_id IS NULL \
                ORDER BY f.id LIMIT wanted.n FOR UPDATE SKIP LOCKED) pick \
        WHERE k.id = pick.id \
        RETURNING k.id, k.product_id, k.licence_key), \
    keys AS ( \
        SELECT product_id, licence_key, \
            row_number() OVER (PARTITION BY product_id ORDER BY id) AS nth \
        FROM taken), \
    exhausted AS ( \
        SELECT licence_keys_exhausted(wanted.product_id, wanted.n, count(keys.nth)) \
        FROM wanted LEFT JOIN keys ON keys.product_id = wanted.product_id \
        GROUP BY wanted.product_id, wanted.n HAVING count(keys.nth) < wanted.n), \
    granted AS ( \
        SELECT (row_number() OVER (ORDER BY g.line, k.nth) - 1)::int AS position, \
            g.product_id, g.title, g.url, k.licence_key \
        FROM gives g LEFT JOIN keys k ON g.licence_keys AND k.product_id = g.product_id \
            AND k.nth > g.keys_before AND k.nth <= g.keys_before + g.quantity \
        WHERE NOT g.licence_keys OR k.nth IS NOT NULL), \
    recorded AS ( \
        INSERT INTO order_access (account, session_id, position, product_id, title, url, \
            licence_key) \
        SELECT w.account, w.session_id, g.position, g.product_id, g.title, g.url, \
            g.licence_key \
        FROM written w, granted g),";
