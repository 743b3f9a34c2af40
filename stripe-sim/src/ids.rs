//! Object ids in Stripe's shapes: a type prefix and random alphanumerics.
//!
//! Clients sometimes validate ids by prefix (`cs_…`, `evt_…`) or length, so the lengths follow
//! what Stripe hands out in test mode.

use rand::distributions::Alphanumeric;
use rand::Rng;

fn with_prefix(prefix: &str, len: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// `cs_test_` and 58 alphanumerics, like the fixture's session id.
pub fn checkout_session() -> String {
    with_prefix("cs_test_", 58)
}

/// A Payment Link.
pub fn payment_link() -> String {
    with_prefix("plink_", 24)
}

/// An embedded session's `client_secret`: the session id, `_secret_`, and random
/// alphanumerics, as Stripe shapes it. Whoever holds it can show the session's payment form.
pub fn client_secret(session_id: &str) -> String {
    with_prefix(&format!("{session_id}_secret_"), 24)
}

/// A Checkout line item.
pub fn line_item() -> String {
    with_prefix("li_", 24)
}

/// An event.
pub fn event() -> String {
    with_prefix("evt_", 24)
}

/// The PaymentIntent a paid (or pending delayed-method) session points at.
pub fn payment_intent() -> String {
    with_prefix("pi_", 24)
}

/// A price created inline from `price_data`.
pub fn price() -> String {
    with_prefix("price_", 24)
}

/// A product created inline from `price_data[product_data]`.
pub fn product() -> String {
    with_prefix("prod_", 14)
}

/// A Customer (`POST /v1/customers`).
pub fn customer() -> String {
    with_prefix("cus_", 14)
}

/// A Subscription, created when a subscription-mode session completes.
pub fn subscription() -> String {
    with_prefix("sub_", 24)
}

/// One price of a Subscription.
pub fn subscription_item() -> String {
    with_prefix("si_", 14)
}

/// One delivery of an event to one webhook endpoint (a simulator-only object).
pub fn webhook_delivery() -> String {
    with_prefix("whdel_", 24)
}

/// The `Request-Id` header of every response.
pub fn request() -> String {
    with_prefix("req_", 14)
}

/// Whether `s` is shaped like a Stripe account id: `acct_` and ASCII alphanumerics. The
/// simulator makes no accounts; this is how it recognises one a request names.
pub(crate) fn is_account(s: &str) -> bool {
    s.strip_prefix("acct_").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 255 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_session_id_has_the_fixture_shape() {
        let id = super::checkout_session();
        assert_eq!(id.len(), "cs_test_".len() + 58);
        assert!(id["cs_test_".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
    }
}
