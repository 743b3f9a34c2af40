//! `subscription`. There is no Stripe fixture for it among ours; the field list follows the
//! current API reference, where the billing period is on each item.

use serde_json::{json, Value};

use super::price;
use crate::state::subscriptions::SubscriptionRecord;

pub(crate) fn render(s: &SubscriptionRecord) -> Value {
    let items: Vec<Value> = s
        .items
        .iter()
        .map(|item| {
            json!({
                "billing_thresholds": null,
                "created": s.created,
                "current_period_end": s.current_period_end,
                "current_period_start": s.current_period_start,
                "discounts": [],
                "id": item.id,
                "metadata": {},
                "object": "subscription_item",
                "price": price::render(&item.price),
                "quantity": item.quantity,
                "subscription": s.id,
                "tax_rates": []
            })
        })
        .collect();
    // Two halves: one `json!` this size exceeds the macro's recursion limit.
    let mut subscription = json!({
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
        "billing_cycle_anchor": s.current_period_start,
        "billing_cycle_anchor_config": null,
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": s.created,
        "currency": s.currency,
        "customer": s.customer,
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null
    });
    let rest = json!({
        "id": s.id,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": {
            "data": items,
            "has_more": false,
            "object": "list",
            "total_count": s.items.len(),
            "url": format!("/v1/subscription_items?subscription={}", s.id)
        },
        "latest_invoice": null,
        "livemode": false,
        "metadata": {},
        "next_pending_invoice_item_invoice": null,
        "object": "subscription",
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {
            "payment_method_options": null,
            "payment_method_types": null,
            "save_default_payment_method": "off"
        },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": s.created,
        "status": s.status.as_str(),
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null
    });
    let fields = subscription.as_object_mut().expect("built as an object");
    fields.extend(rest.as_object().expect("built as an object").clone());
    subscription
}
