//! Filling a fixture-shaped object field by field.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

/// Stripe's `checkout.session` fixture.
pub(super) static CHECKOUT_SESSION: LazyLock<Value> =
    LazyLock::new(|| parse(include_str!("../../fixtures/checkout_session.json")));
/// Stripe's Checkout line item (`item`) fixture; its `price` is the price template too.
pub(super) static LINE_ITEM: LazyLock<Value> =
    LazyLock::new(|| parse(include_str!("../../fixtures/line_item.json")));
/// Stripe's event fixture.
pub(super) static EVENT: LazyLock<Value> =
    LazyLock::new(|| parse(include_str!("../../fixtures/event.json")));

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("the fixtures compiled into stripe-sim are valid JSON")
}

/// An object being filled from a fixture. `set` refuses names the fixture lacks (a typo would
/// otherwise add a field Stripe does not have) and `finish` refuses to hand out an object with a
/// field still holding the fixture's sample value.
pub(super) struct Fill {
    fields: Map<String, Value>,
    unset: BTreeSet<String>,
}

impl Fill {
    pub(super) fn from(template: &Value) -> Self {
        let fields = template
            .as_object()
            .expect("a fixture is a JSON object")
            .clone();
        let unset = fields.keys().cloned().collect();
        Fill { fields, unset }
    }

    pub(super) fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        assert!(
            self.fields.contains_key(key),
            "{key} is not a field of the fixture"
        );
        self.unset.remove(key);
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// A field the fixture does not have: one of Stripe's current object that the fixture
    /// predates (the embedded form's `return_url`, `redirect_on_completion`), or one Stripe sends
    /// only sometimes (an event's `account`, on a connected account's events; the fixture is a
    /// platform's). Kept apart from [`Fill::set`] so that a typo there is still caught.
    pub(super) fn set_newer(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        assert!(
            !self.fields.contains_key(key),
            "{key} is in the fixture; use set"
        );
        self.fields.insert(key.to_string(), value.into());
        self
    }

    pub(super) fn finish(&mut self) -> Value {
        assert!(
            self.unset.is_empty(),
            "fixture fields left unset: {:?}",
            self.unset
        );
        Value::Object(std::mem::take(&mut self.fields))
    }
}
