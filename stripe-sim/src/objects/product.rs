//! `product`. There is no Stripe fixture for it among ours; the field list follows the
//! current API reference.

use serde_json::{json, Value};

use crate::state::catalog::ProductRecord;

pub(crate) fn render(p: &ProductRecord) -> Value {
    json!({
        "active": true,
        "created": p.created,
        "default_price": p.default_price,
        "description": null,
        "id": p.id,
        "images": [],
        "livemode": false,
        "marketing_features": [],
        "metadata": {},
        "name": p.name,
        "object": "product",
        "package_dimensions": null,
        "shippable": p.shippable,
        "statement_descriptor": null,
        "tax_code": null,
        "unit_label": null,
        "updated": p.created,
        "url": null
    })
}
