//! `/b/{id}`: a Payment Link's public URL (Stripe's `buy.stripe.com/…`).
//!
//! Each visit creates a new Checkout Session for the link and sends the browser to its hosted
//! payment page, so two customers opening the same link pay two separate sessions.
//!
//! ```text
//! GET /b/{id} ─▶ active? ─yes─▶ new session (payment_link = id) ─▶ 303 to /c/pay/{session}
//!                  │no: 410 "no longer available"; unknown id: 404
//! ```

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};

use crate::checkout_page::{respond_page, ClosedPage};
use crate::state::payment_links::OpenLinkError;
use crate::state::SimState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/b/{payment_link}", web::get().to(open));
}

async fn open(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.open_payment_link(&path) {
        Ok(session) => {
            let url = session["url"].as_str().unwrap_or_default().to_string();
            tracing::info!(payment_link = %path, session = %session["id"], "payment link opened");
            // No caching: every visit must start its own session.
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(OpenLinkError::Unknown) => page(
            StatusCode::NOT_FOUND,
            "Something went wrong",
            "This payment link does not exist. Check the link you were given.",
        ),
        Err(OpenLinkError::Deactivated) => page(
            StatusCode::GONE,
            "This link is no longer available",
            "The seller has deactivated this payment link, so it cannot take payments any more.",
        ),
        Err(OpenLinkError::Failed(reason)) => {
            tracing::warn!(payment_link = %path, %reason, "payment link could not start a checkout");
            page(
                StatusCode::CONFLICT,
                "This link cannot take payments right now",
                "The seller's payment link refers to something that is no longer for sale.",
            )
        }
    }
}

fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    respond_page(
        status,
        &ClosedPage {
            title: title.into(),
            message: message.into(),
            link: None,
        },
    )
}
