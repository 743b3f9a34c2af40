//! `GET /`: the catalog, one cart form per currency, with a fresh one-time form token.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use shared::errors::error_chain;

use crate::metrics;
use crate::pages::{respond, ErrorPage, ShopPage};
use crate::state::AppState;

pub async fn shop(state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = match state.catalog.offers().await {
        Ok(offers) => {
            // A new token per view: a double-submitted form repeats it (one session), a new
            // visit gets a new one (a new session); checkout accepts only tokens issued here.
            let token = state.form_tokens.issue();
            (
                respond(StatusCode::OK, &ShopPage::new(&offers, token)),
                "ok",
            )
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %error_chain(&e), "the catalog could not be loaded");
            (
                ErrorPage::unavailable("load our catalog"),
                "stripe_unavailable",
            )
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "the catalog could not be loaded");
            (ErrorPage::internal(), "error")
        }
    };
    metrics::page_served("shop", outcome, started);
    response
}
