//! The console's routes. Every page but the sign-in form and `/healthz` needs a signed-in
//! operator ([`crate::sign_in::SignedIn`]); every action is a POST carrying the session's form
//! token, reached from a confirmation page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

mod dead_letters;
mod fulfill;
mod login;
mod overview;
mod reconcile;
mod search;
mod session;

const STYLESHEET: &str = include_str!("../../static/console.css");
/// The overview's optional live refresh (pages work without it).
const REFRESH_SCRIPT: &str = include_str!("../../static/refresh.js");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview::page))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::sign_out))
        .route("/search", web::get().to(search::page))
        .route("/sessions/{id}", web::get().to(session::page))
        .route("/sessions/{id}/fulfill", web::get().to(fulfill::confirm))
        .route("/sessions/{id}/fulfill", web::post().to(fulfill::act))
        .route("/reconcile", web::get().to(reconcile::confirm))
        .route("/reconcile", web::post().to(reconcile::act))
        .route("/dead-letters", web::get().to(dead_letters::page))
        .route(
            "/dead-letters/redrive",
            web::get().to(dead_letters::confirm_redrive),
        )
        .route(
            "/dead-letters/redrive",
            web::post().to(dead_letters::redrive),
        )
        .route(
            "/dead-letters/drop",
            web::get().to(dead_letters::confirm_drop),
        )
        .route("/dead-letters/drop", web::post().to(dead_letters::drop))
        .route("/static/console.css", web::get().to(stylesheet))
        .route("/static/refresh.js", web::get().to(refresh_script))
        .route("/healthz", web::get().to(healthz))
        .default_service(web::to(not_found));
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

async fn refresh_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(REFRESH_SCRIPT)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn not_found() -> HttpResponse {
    crate::pages::message(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}
