//! Response headers every page gets unless a handler sets its own.
//!
//! - `Cache-Control: no-store`: order pages show a customer's name and address, and shop pages
//!   carry a one-time form token; neither may be kept by a browser or a shared cache. (Static
//!   assets set their own caching.)
//! - `Referrer-Policy: no-referrer`: the success URL holds the session id, which must not leak
//!   to another site through a link.
//! - `Content-Security-Policy`: everything comes from this origin; no inline script or style
//!   runs, so even a template mistake cannot execute a customer-supplied name. There is no
//!   `form-action`: the checkout form's 303 leads to Stripe's origin (or the simulator's, which
//!   differs per deployment), and browsers apply `form-action` to that redirect too.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

pub fn security() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Cache-Control", "no-store"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
}

/// `Retry-After` in whole seconds, at least one.
pub fn retry_after(wait: std::time::Duration) -> (HeaderName, HeaderValue) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        actix_web::http::header::RETRY_AFTER,
        HeaderValue::from(secs.max(1)),
    )
}
