//! The routes, one file per page.

pub mod assets;
pub mod cancel;
pub mod checkout;
pub mod embedded_checkout;
pub mod ops;
pub mod shop;
pub mod status;
pub mod success;

use std::net::IpAddr;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::pages::ErrorPage;
use crate::state::AppState;

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(shop::shop))
        .route("/checkout", web::post().to(checkout::checkout))
        .route(
            "/checkout/session",
            web::post().to(embedded_checkout::session),
        )
        .route(SUCCESS_PATH, web::get().to(success::success))
        .route(STATUS_PATH, web::get().to(status::status))
        .route(CANCEL_PATH, web::get().to(cancel::cancel))
        .route("/static/{file}", web::get().to(assets::asset))
        .route("/healthz", web::get().to(shared::http::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    ErrorPage::page_not_found()
}

/// The client's address, for its budgets (see [`crate::client_ip`]).
pub(crate) fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    state.client_ip.of(req)
}

/// The first `session_id` in the query string, percent-decoded; `None` when absent.
pub(crate) fn session_id_param(req: &HttpRequest) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "session_id").then_some(v))
}
