//! The embedded form: the payment page Stripe.js mounts in an iframe on the merchant's own page.
//!
//! ```text
//! merchant page ─ /v3 (stripe_js) ─ Stripe(pk).initEmbeddedCheckout({ fetchClientSecret })
//!   .mount('#checkout') ─▶ <iframe src="/c/embedded/{client_secret}/{session id}">
//! GET  ─▶ the hosted page's form, frameable by the return_url's origin
//! POST ─▶ the hosted page's checks and charge (`super::charge`)
//!           ▼ paid
//!         a page whose script posts the return URL to the parent window, and Stripe.js sends
//!         the top window there ({CHECKOUT_SESSION_ID} filled in)
//! ```
//! The session id ends the path so that the shared form's relative `action` posts back here.
//! Unlike the hosted page, nothing waits for the webhook endpoints: Stripe's "Fulfill orders"
//! guide says the embedded form redirects to `return_url` immediately, without waiting for the
//! event to be acknowledged.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::view::{respond, CheckoutPage};
use super::{charge, success_location, unknown_session};
use crate::state::records::{SessionRecord, SessionStatus};
use crate::state::ui_mode::UiMode;
use crate::state::SimState;

/// The script of the completion page: tells the parent window (Stripe.js) where to go.
const RETURN_SCRIPT: &str = include_str!("../../static/embedded-return.js");

/// The policy of the pages inside the iframe; `{ancestors}` is the merchant's origin. Scripts
/// only from this origin (the completion page's one script).
const FRAMED_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; base-uri 'none'; frame-ancestors {ancestors}";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/c/embedded/{client_secret}/{session}")
            .route(web::get().to(show))
            .route(web::post().to(pay)),
    )
    .route("/c/embedded-return.js", web::get().to(return_script));
}

/// What the completion page hands to its script.
#[derive(Debug, Template)]
#[template(path = "embedded_return.html")]
struct ReturnPage {
    /// Empty with `redirect_on_completion=never`: the form stays on the merchant's page.
    return_url: String,
    /// Where the message may be read: the merchant's origin, never any page that framed us.
    parent_origin: String,
}

async fn show(path: web::Path<(String, String)>, state: web::Data<SimState>) -> HttpResponse {
    let Some((session, origin)) = embedded_session(&state, &path) else {
        return unknown_session();
    };
    let page = if session.status == SessionStatus::Open {
        respond(
            StatusCode::OK,
            &CheckoutPage::new(state.business_name(), &session, None, None),
        )
    } else {
        completion(&session)
    };
    frameable(page, &origin)
}

async fn pay(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> HttpResponse {
    let Some((session, origin)) = embedded_session(&state, &path) else {
        return unknown_session();
    };
    let page = match charge(&state, &session, &body) {
        Ok(event_id) => {
            tracing::info!(session = %session.id, event = event_id, "embedded checkout paid");
            completion(&session)
        }
        Err(page) => *page,
    };
    frameable(page, &origin)
}

async fn return_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(RETURN_SCRIPT)
}

/// The embedded session the path names, if the client secret is its own, with the origin
/// allowed to frame it.
fn embedded_session(
    state: &SimState,
    (secret, id): &(String, String),
) -> Option<(SessionRecord, String)> {
    let session = state.session_record(id)?;
    if session.client_secret.as_deref() != Some(secret.as_str()) {
        return None;
    }
    let UiMode::Embedded(embedded) = &session.ui_mode else {
        return None;
    };
    let origin = embedded
        .return_url
        .as_deref()
        .and_then(|url| url::Url::parse(&url.replace("{CHECKOUT_SESSION_ID}", "x")).ok())
        .map(|url| url.origin().ascii_serialization())
        // No return_url (`redirect_on_completion=never`): the merchant's origin is unknown.
        .unwrap_or_else(|| "*".to_owned());
    Some((session, origin))
}

/// The page shown once the session is complete; its script sends the customer on.
fn completion(session: &SessionRecord) -> HttpResponse {
    let return_url = session
        .ui_mode
        .return_url()
        .map(|url| success_location(url, &session.id))
        .unwrap_or_default();
    let parent_origin = url::Url::parse(&return_url)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "*".to_owned());
    respond(
        StatusCode::OK,
        &ReturnPage {
            return_url,
            parent_origin,
        },
    )
}

/// Replaces the pages' `frame-ancestors 'none'` with the merchant's origin.
fn frameable(mut page: HttpResponse, origin: &str) -> HttpResponse {
    let policy = FRAMED_POLICY.replace("{ancestors}", origin);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        page.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    page
}
