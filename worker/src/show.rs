//! `worker show <cs_…>`: what we know of one Checkout Session — its state, its lines and every
//! event received for it — as an operator reads it at a terminal.

use std::fmt::Write;

use shared::store::{events, orders};
use shared::{AccountId, CheckoutSessionId, Currency, Money, Order};
use sqlx::PgPool;

/// The report, or `None` when the session appears nowhere (no order, no event). The order is
/// the one on `account` (`None`: the platform's); the events are every one naming the session.
pub async fn render(
    pool: &PgPool,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
) -> Result<Option<String>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let order = orders::find(&mut conn, account, id).await?;
    let history = events::history(&mut *conn, id.as_str()).await?;
    if order.is_none() && history.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "session  {id}");
    if let Some(account) = account {
        let _ = writeln!(out, "account  {account}");
    }
    match &order {
        Some(order) => describe_order(&mut out, order),
        None => {
            let _ = writeln!(out, "state    (no order recorded)");
        }
    }
    let _ = writeln!(out, "events   {}", history.len());
    for event in &history {
        let _ = write!(
            out,
            "  {}  {:<44} {}  outcome={} attempts={}",
            event.event_created.format("%Y-%m-%d %H:%M:%S"),
            event.event_type,
            event.event_id,
            event.outcome,
            event.attempts
        );
        if let Some(error) = &event.last_error {
            let _ = write!(out, " error={error}");
        }
        let _ = writeln!(out);
        for failed in event.failed_attempts.iter() {
            let _ = writeln!(
                out,
                "    failed {}  {}: {}",
                failed.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                failed.outcome,
                failed.error
            );
        }
    }
    Ok(Some(out))
}

fn describe_order(out: &mut String, order: &Order) {
    let _ = writeln!(out, "order    #{}", order.order_number);
    let _ = write!(out, "state    {}", order.state.as_str());
    if let (Some(by), Some(at)) = (&order.fulfilled_by, order.fulfilled_at) {
        let _ = write!(
            out,
            " by {by} at {}",
            at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
        );
    }
    let _ = writeln!(out);
    let customer = match (&order.customer_name, &order.customer_email) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name.clone(),
        (None, Some(email)) => email.clone(),
        (None, None) => "(unknown)".to_owned(),
    };
    let _ = writeln!(out, "customer {customer}");
    if let Some(link) = &order.payment_link {
        let _ = writeln!(out, "link     {link}");
    }
    if let Some(total) = money(order.amount_total, order.currency.as_deref()) {
        let _ = writeln!(out, "total    {total}");
    }
    if !order.lines.is_empty() {
        let _ = writeln!(out, "lines    {}", order.lines.len());
    }
    for line in &order.lines {
        let amount = money(Some(line.amount_total), Some(&line.currency)).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} x {}  {}  {}",
            line.quantity,
            line.description,
            line.price_id.as_deref().unwrap_or("-"),
            amount
        );
    }
    if let Some(shipping) = &order.shipping {
        let _ = writeln!(out, "ships to {}", shipping.label_lines().join(", "));
    }
    if let Some(subscription) = &order.subscription {
        let _ = writeln!(
            out,
            "subscription {} {}{}{}",
            subscription.id,
            subscription.status,
            subscription
                .recurring
                .as_ref()
                .map(|r| format!(", every {}", r.period()))
                .unwrap_or_default(),
            subscription
                .current_period_end
                .map(|at| format!(", renews {}", at.format("%Y-%m-%d")))
                .unwrap_or_default()
        );
    }
    for access in &order.access {
        let _ = writeln!(
            out,
            "access   {}  {}{}",
            access.product_id,
            access.title,
            access
                .licence_key
                .as_deref()
                .map(|k| format!("  key {k}"))
                .unwrap_or_default()
        );
    }
}

fn money(minor_units: Option<i64>, currency: Option<&str>) -> Option<String> {
    let currency = Currency::parse(currency?)?;
    Some(Money::new(minor_units?, currency).to_string())
}
