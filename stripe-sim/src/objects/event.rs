//! `event`.

use serde_json::{json, Value};

use super::template::{Fill, EVENT};

/// The API version stamped on events: the one the pinned stripe-python of `sdk-check/` speaks.
pub(crate) const API_VERSION: &str = "2026-10-28.endive";

/// An event carrying `object` (already rendered) as `data.object`. Checkout events are caused by
/// the customer, not by an API request, so `request` is all nulls as in Stripe's payloads.
/// `pending_webhooks` counts the endpoints that have not acknowledged it yet. An event of a
/// connected account carries `account` (its `acct_…`); a platform's event has no such field,
/// as in Stripe's payloads and fixture.
pub(crate) fn render(
    id: &str,
    event_type: &str,
    created: i64,
    object: Value,
    pending_webhooks: usize,
    account: Option<&str>,
) -> Value {
    let mut event = Fill::from(&EVENT);
    if let Some(account) = account {
        event.set_newer("account", account);
    }
    event
        .set("api_version", API_VERSION)
        .set("created", created)
        .set("data", json!({ "object": object }))
        .set("id", id)
        .set("livemode", false)
        .set("object", "event")
        .set("pending_webhooks", pending_webhooks)
        .set("request", json!({ "id": null, "idempotency_key": null }))
        .set("type", event_type)
        .finish()
}
