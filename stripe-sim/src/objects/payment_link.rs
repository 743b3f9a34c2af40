//! `payment_link`.
//!
//! No fixture of it is among Stripe's copied files, so the fields are those of Stripe's API
//! reference for the object; the ones the simulator does not model hold Stripe's defaults.
//! `line_items` is includable only on request at Stripe and is left out here too.

use serde_json::{json, Value};

use crate::state::payment_links::{AfterCompletion, PaymentLinkRecord};

pub(crate) fn render(link: &PaymentLinkRecord) -> Value {
    json!({
        "id": link.id,
        "object": "payment_link",
        "active": link.active,
        "after_completion": after_completion(&link.after_completion),
        "allow_promotion_codes": false,
        "application": null,
        "application_fee_amount": null,
        "application_fee_percent": null,
        "automatic_tax": { "enabled": false, "liability": null },
        "billing_address_collection": "auto",
        "consent_collection": null,
        "currency": link.currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null,
            "shipping_address": null,
            "submit": null,
            "terms_of_service_acceptance": null
        },
        "customer_creation": "if_required",
        "inactive_message": null,
        "invoice_creation": null,
        "livemode": false,
        "metadata": link.metadata,
        "on_behalf_of": null,
        "payment_intent_data": null,
        "payment_method_collection": "always",
        "payment_method_types": null,
        "phone_number_collection": { "enabled": false },
        "restrictions": null,
        "shipping_address_collection": link
            .shipping_countries
            .as_ref()
            .map(|c| json!({ "allowed_countries": c })),
        "shipping_options": [],
        "submit_type": "auto",
        "subscription_data": null,
        "tax_id_collection": { "enabled": false, "required": "never" },
        "transfer_data": null,
        "url": link.url
    })
}

fn after_completion(after: &AfterCompletion) -> Value {
    match after {
        AfterCompletion::Redirect { url } => json!({
            "type": "redirect",
            "redirect": { "url": url }
        }),
        AfterCompletion::HostedConfirmation { custom_message } => json!({
            "type": "hosted_confirmation",
            "hosted_confirmation": { "custom_message": custom_message }
        }),
    }
}
