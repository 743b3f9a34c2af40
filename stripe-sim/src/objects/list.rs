//! Stripe's list envelope.

use serde_json::{json, Value};

use crate::pagination::Page;

/// `{"object": "list", "data": […], "has_more": …, "url": …}`. SDKs page by calling `url` again
/// with a cursor, so it must be the list's own path.
pub(crate) fn render(page: Page<Value>, url: &str) -> Value {
    json!({
        "object": "list",
        "data": page.data,
        "has_more": page.has_more,
        "url": url
    })
}
