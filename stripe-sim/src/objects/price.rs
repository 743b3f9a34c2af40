//! `price`.

use serde_json::{json, Value};

use super::template::{Fill, LINE_ITEM};
use crate::state::catalog::PriceRecord;

/// A per-unit price, one-time or recurring; `product` is the product's id unless expanded by
/// the caller.
pub(crate) fn render(p: &PriceRecord) -> Value {
    Fill::from(&LINE_ITEM["price"])
        .set("active", p.active)
        .set("billing_scheme", "per_unit")
        .set("created", p.created)
        .set("currency", p.currency.clone())
        .set("custom_unit_amount", Value::Null)
        .set("id", p.id.clone())
        .set("livemode", false)
        .set("lookup_key", Value::Null)
        .set("metadata", json!({}))
        .set("nickname", Value::Null)
        .set("object", "price")
        .set("product", p.product_id.clone())
        .set(
            "recurring",
            p.recurring.as_ref().map_or(Value::Null, |r| {
                json!({
                    "interval": r.interval,
                    "interval_count": r.interval_count,
                    "meter": null,
                    "trial_period_days": null,
                    "usage_type": "licensed"
                })
            }),
        )
        .set("tax_behavior", "unspecified")
        .set("tiers_mode", Value::Null)
        .set("transform_quantity", Value::Null)
        .set(
            "type",
            if p.recurring.is_some() {
                "recurring"
            } else {
                "one_time"
            },
        )
        .set("unit_amount", p.unit_amount)
        .set("unit_amount_decimal", p.unit_amount.to_string())
        .finish()
}
