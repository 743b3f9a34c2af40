//! The order pages' paths, spelled once: the routes serve them, and Checkout, Payment Links,
//! the pages and the load generator link to them.

/// Where Checkout sends the paying customer back: the page that confirms the order.
pub const SUCCESS_PATH: &str = "/order/success";
/// What the "payment processing" page polls.
pub const STATUS_PATH: &str = "/order/status";
/// Where Checkout sends a customer who turns back.
pub const CANCEL_PATH: &str = "/order/cancel";

/// The success page of `session_id`, as a link within the site.
pub fn success_page(session_id: &str) -> String {
    format!("{SUCCESS_PATH}?session_id={session_id}")
}

/// The status endpoint of `session_id`, as a link within the site.
pub fn status_page(session_id: &str) -> String {
    format!("{STATUS_PATH}?session_id={session_id}")
}

/// The `success_url` (or `return_url`) Checkout and Payment Links are given: the success page
/// under `public_base_url`, with Stripe's placeholder for the session id, literally.
pub fn success_url(public_base_url: &str) -> String {
    let base = public_base_url.trim_end_matches('/');
    format!("{base}{}", success_page("{CHECKOUT_SESSION_ID}"))
}

/// The `cancel_url` Checkout is given.
pub fn cancel_url(public_base_url: &str) -> String {
    format!("{}{CANCEL_PATH}", public_base_url.trim_end_matches('/'))
}
