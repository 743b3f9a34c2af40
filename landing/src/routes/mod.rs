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
use crate::paths::{CANCEL_PATH, STATUS_PATH, SUCCESS_PATH};
use crate::state::AppState;

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
