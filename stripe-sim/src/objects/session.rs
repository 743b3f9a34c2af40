//! `checkout.session`.

use serde_json::{json, Value};

use super::template::{Fill, CHECKOUT_SESSION};
use crate::state::records::{SessionRecord, SessionStatus};
use crate::state::ui_mode::UiMode;

/// The session as `GET /v1/checkout/sessions/{id}` returns it without `expand`: Stripe never
/// includes `line_items` unless asked, so neither does this.
pub(crate) fn render(s: &SessionRecord) -> Value {
    let open = s.status == SessionStatus::Open;
    let completed = s.status == SessionStatus::Complete;
    let embedded = match &s.ui_mode {
        UiMode::Hosted => None,
        UiMode::Embedded(e) => Some(e),
    };
    Fill::from(&CHECKOUT_SESSION)
        .set("adaptive_pricing", json!({ "enabled": false }))
        .set("after_expiration", Value::Null)
        .set("allow_promotion_codes", Value::Null)
        .set("amount_subtotal", s.amount_total)
        .set("amount_total", s.amount_total)
        .set(
            "automatic_tax",
            json!({ "enabled": false, "liability": null, "provider": null, "status": null }),
        )
        .set("billing_address_collection", Value::Null)
        .set("cancel_url", s.cancel_url.clone())
        .set("client_reference_id", s.client_reference_id.clone())
        // Embedded sessions hand it to Stripe.js; Stripe leaves it in place after completion.
        .set("client_secret", s.client_secret.clone())
        // Filled in by the payment page; nothing is collected before that.
        .set(
            "collected_information",
            if completed {
                json!({
                    "business_name": null,
                    "individual_name": null,
                    "shipping_details": shipping_details(s)
                })
            } else {
                Value::Null
            },
        )
        .set("consent", Value::Null)
        .set("consent_collection", Value::Null)
        .set("created", s.created)
        .set("currency", s.currency.clone())
        .set("currency_conversion", Value::Null)
        .set("custom_fields", json!([]))
        .set(
            "custom_text",
            json!({
                "after_submit": null,
                "shipping_address": null,
                "submit": null,
                "terms_of_service_acceptance": null
            }),
        )
        .set("customer", s.customer_id.clone())
        .set("customer_account", Value::Null)
        .set("customer_creation", "if_required")
        .set("customer_details", customer_details(s))
        .set("customer_email", s.customer_email.clone())
        .set("discounts", json!([]))
        .set("expires_at", s.expires_at)
        .set("id", s.id.clone())
        .set("integration_identifier", Value::Null)
        .set("invoice", Value::Null)
        .set(
            "invoice_creation",
            json!({
                "enabled": false,
                "invoice_data": {
                    "account_tax_ids": null,
                    "custom_fields": null,
                    "description": null,
                    "footer": null,
                    "issuer": null,
                    "metadata": {},
                    "rendering_options": null
                }
            }),
        )
        .set("livemode", false)
        .set("locale", s.locale.clone())
        .set("managed_payments", json!({ "enabled": false }))
        .set("metadata", json!(s.metadata))
        .set("mode", s.mode.clone())
        .set("object", "checkout.session")
        .set("origin_context", Value::Null)
        .set("payment_intent", s.payment_intent.clone())
        .set("payment_link", s.payment_link.clone())
        .set("payment_method_collection", "if_required")
        .set("payment_method_configuration_details", Value::Null)
        .set("payment_method_options", json!({}))
        .set("payment_method_types", json!(s.payment_method_types))
        .set("payment_status", s.payment_status.as_str())
        .set("permissions", Value::Null)
        .set("phone_number_collection", json!({ "enabled": false }))
        .set("recovered_from", Value::Null)
        .set_newer(
            "redirect_on_completion",
            embedded.map(|e| e.redirect_on_completion.as_str()),
        )
        .set_newer("return_url", s.ui_mode.return_url())
        .set("saved_payment_method_options", Value::Null)
        .set("setup_intent", Value::Null)
        .set(
            "shipping_address_collection",
            s.shipping_countries
                .as_ref()
                .map_or(Value::Null, |c| json!({ "allowed_countries": c })),
        )
        .set("shipping_cost", Value::Null)
        .set("shipping_options", json!([]))
        .set("status", s.status.as_str())
        .set("submit_type", Value::Null)
        .set("subscription", s.subscription.clone())
        .set("success_url", s.success_url.clone())
        .set(
            "total_details",
            json!({ "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 }),
        )
        .set("ui_mode", embedded.map_or("hosted_page", |e| e.spelling))
        // The embedded form has no page of its own to send the customer to.
        .set(
            "url",
            if open && embedded.is_none() {
                Value::from(s.url.clone())
            } else {
                Value::Null
            },
        )
        .set("wallet_options", Value::Null)
        .finish()
}

/// `collected_information.shipping_details`: Stripe's `shipping` shape, without the carrier
/// and tracking fields it only fills for PaymentIntents. Empty optional fields are `null`.
fn shipping_details(s: &SessionRecord) -> Value {
    let Some(shipping) = s.customer.as_ref().and_then(|c| c.shipping.as_ref()) else {
        return Value::Null;
    };
    let optional = |v: &str| if v.is_empty() { Value::Null } else { v.into() };
    json!({
        "address": {
            "city": shipping.city,
            "country": shipping.country,
            "line1": shipping.line1,
            "line2": optional(&shipping.line2),
            "postal_code": shipping.postal_code,
            "state": optional(&shipping.state)
        },
        "name": shipping.name
    })
}

/// `customer_details` exists once the customer has submitted the payment page.
fn customer_details(s: &SessionRecord) -> Value {
    let Some(customer) = &s.customer else {
        return Value::Null;
    };
    json!({
        "address": {
            "city": null,
            "country": null,
            "line1": null,
            "line2": null,
            "postal_code": null,
            "state": null
        },
        "business_name": null,
        "email": customer.email,
        "individual_name": null,
        "name": customer.name,
        "phone": null,
        "tax_exempt": "none",
        "tax_ids": []
    })
}
