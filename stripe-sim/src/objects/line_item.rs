//! Checkout's line `item`.

use serde_json::{json, Value};

use super::price;
use super::template::{Fill, LINE_ITEM};
use crate::state::records::LineItemRecord;

pub(crate) fn render(li: &LineItemRecord) -> Value {
    Fill::from(&LINE_ITEM)
        .set("adjustable_quantity", Value::Null)
        .set("amount_discount", 0)
        .set("amount_subtotal", li.amount)
        .set("amount_tax", 0)
        .set("amount_total", li.amount)
        .set("currency", li.price.currency.clone())
        .set("description", li.price.product_name.clone())
        .set("id", li.id.clone())
        .set("metadata", json!({}))
        .set("object", "item")
        .set("price", price::render(&li.price))
        .set("quantity", li.quantity)
        .finish()
}
