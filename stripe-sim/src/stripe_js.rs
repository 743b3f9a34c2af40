//! `GET /v3`: a stand-in for Stripe.js, so a merchant page that embeds Checkout works offline
//! against the simulator by pointing its `<script src>` here instead of `https://js.stripe.com/v3`.
//! Only `Stripe(pk).initEmbeddedCheckout(…)` and the checkout's `mount`/`unmount`/`destroy` exist;
//! the form it mounts is `checkout_page`'s embedded form.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const SCRIPT: &str = include_str!("../static/stripe-v3.js");

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v3", web::get().to(script))
        .route("/v3/", web::get().to(script));
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(SCRIPT)
}
