//! `customer`. There is no Stripe fixture for it among ours; the field list follows the
//! current API reference.

use serde_json::{json, Value};

use crate::state::records::CustomerRecord;

pub(crate) fn render(c: &CustomerRecord) -> Value {
    json!({
        "address": null,
        "balance": 0,
        "created": c.created,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "email": c.email,
        "id": c.id,
        "invoice_prefix": null,
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": c.metadata,
        "name": c.name,
        "next_invoice_sequence": 1,
        "object": "customer",
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}
