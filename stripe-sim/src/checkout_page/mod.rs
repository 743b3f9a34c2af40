//! The hosted payment page at each session's `url` (`/c/pay/{id}`), and its stylesheet.
//!
//! ```text
//! GET  /c/pay/{id} ─▶ open? the form : a "complete"/"expired" page
//! POST /c/pay/{id} ─▶ payment_form: well-formed? ─no─▶ the form again, error in #payment-error
//!                       │ shipping address (when the session collects one) ─bad─▶ the form again
//!                       │ card: test_cards::charge ─declined─▶ the form again (402), session open
//!                       ▼
//!                     SimState::complete_session (paid, or unpaid for a bank transfer)
//!                       ▼ the event is delivered by `crate::webhooks`
//!                     wait for every endpoint's 2xx (at most the redirect wait)
//!                       ▼
//!                     303 to success_url, {CHECKOUT_SESSION_ID} filled in
//! ```
//! The page works without JavaScript, so a plain form post (or a headless browser) pays.

mod embedded;
mod payment_form;
mod test_cards;
mod view;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use chrono::{Datelike, TimeZone, Utc};

use crate::state::records::{SessionRecord, SessionStatus};
use crate::state::{Customer, PaymentOutcome, SimState, WebhookWait};
use payment_form::{Payment, PaymentForm};
use view::{respond, CheckoutPage};

pub(crate) use view::respond as respond_page;
pub(crate) use view::ClosedPage;

/// The headers telling how the redirect's wait for the webhooks ended (`acknowledged`,
/// `timed_out`, `gave_up` or `no_endpoints`) and the milliseconds waited.
pub const ACK_HEADER: &str = "stripe-sim-webhook-ack";
pub const ACK_MS_HEADER: &str = "stripe-sim-webhook-ack-ms";

const STYLESHEET: &str = include_str!("../../static/checkout.css");

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/c/pay/{session}")
            .route(web::get().to(show))
            .route(web::post().to(pay)),
    )
    .route("/c/checkout.css", web::get().to(stylesheet))
    .configure(embedded::configure);
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(STYLESHEET)
}

async fn show(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match hosted_session(&state, &path) {
        Some(session) if session.status == SessionStatus::Open => respond(
            StatusCode::OK,
            &CheckoutPage::new(state.business_name(), &session, None, None),
        ),
        Some(session) => closed(&session, StatusCode::OK),
        None => unknown_session(),
    }
}

async fn pay(
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> HttpResponse {
    let Some(session) = hosted_session(&state, &path) else {
        return unknown_session();
    };
    let event_id = match charge(&state, &session, &body) {
        Ok(event_id) => event_id,
        Err(page) => return *page,
    };
    let event_id = event_id.as_str();
    let wait = state
        .wait_for_webhooks(event_id, state.delivery_settings().redirect_wait)
        .await;
    let (ack, waited) = match wait {
        WebhookWait::NoEndpoints => ("no_endpoints", std::time::Duration::ZERO),
        WebhookWait::Acknowledged(after) => ("acknowledged", after),
        WebhookWait::GaveUp(after) => ("gave_up", after),
        WebhookWait::TimedOut(after) => ("timed_out", after),
    };
    tracing::info!(
        session = %session.id,
        event = event_id,
        ack,
        ack_ms = waited.as_millis() as u64,
        "checkout paid; redirecting"
    );
    let Some(success_url) = &session.success_url else {
        // A Payment Link's hosted confirmation shows the merchant's message, if it set one.
        let message = session
            .confirmation_message
            .clone()
            .unwrap_or_else(|| "Thanks for your payment. You can close this page.".into());
        let page = ClosedPage {
            title: "Payment complete".into(),
            message,
            link: None,
        };
        return respond(StatusCode::OK, &page);
    };
    // Stripe answers the form and lets the browser follow: 303 turns the POST into a GET.
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, success_location(success_url, &session.id)))
        .insert_header((ACK_HEADER, ack))
        .insert_header((ACK_MS_HEADER, waited.as_millis().to_string()))
        .finish()
}

/// The session `id`, unless it is an embedded one: those have no page of their own (their
/// `url` is null), only the embedded form that their client secret opens.
fn hosted_session(state: &SimState, id: &str) -> Option<SessionRecord> {
    state
        .session_record(id)
        .filter(|s| s.ui_mode == crate::state::ui_mode::UiMode::Hosted)
}

/// Checks the submitted form, charges the card and completes the session: the part of paying
/// that the hosted page and the embedded form share. `Ok` is the completion event's id; `Err`
/// is the page to answer instead (the form with its error, or the session's closed page).
pub(super) fn charge(
    state: &SimState,
    session: &SessionRecord,
    body: &[u8],
) -> Result<String, Box<HttpResponse>> {
    if session.status != SessionStatus::Open {
        return Err(Box::new(closed(session, StatusCode::CONFLICT)));
    }
    let form = PaymentForm::parse(body);
    let payment = match form.validate(today(state)) {
        Ok(payment) => payment,
        Err(error) => {
            let page = CheckoutPage::new(state.business_name(), session, Some(form), Some(error));
            return Err(Box::new(respond(StatusCode::UNPROCESSABLE_ENTITY, &page)));
        }
    };
    let shipping = match &session.shipping_countries {
        None => None,
        Some(allowed) => match form.validate_shipping(allowed) {
            Ok(shipping) => Some(shipping),
            Err(error) => {
                let page =
                    CheckoutPage::new(state.business_name(), session, Some(form), Some(error));
                return Err(Box::new(respond(StatusCode::UNPROCESSABLE_ENTITY, &page)));
            }
        },
    };
    let outcome = match payment {
        Payment::BankTransfer => PaymentOutcome::Unpaid,
        Payment::Card { digits } => match test_cards::charge(&digits) {
            Ok(()) => PaymentOutcome::Paid,
            Err(decline) => {
                tracing::info!(session = %session.id, code = decline.code, "card declined");
                let error = payment_form::FieldError {
                    field: payment_form::field::CARD_NUMBER,
                    message: decline.message,
                };
                let page =
                    CheckoutPage::new(state.business_name(), session, Some(form), Some(error));
                return Err(Box::new(respond(StatusCode::PAYMENT_REQUIRED, &page)));
            }
        },
    };
    let customer = Customer {
        name: form.name.clone(),
        email: form.email.clone(),
        shipping,
    };
    let event = match state.complete_session(&session.id, outcome, customer) {
        Ok(event) => event,
        // Paid (or expired) in the meantime, by another tab or the control API.
        Err(_) => {
            return Err(Box::new(match state.session_record(&session.id) {
                Some(now) => closed(&now, StatusCode::CONFLICT),
                None => unknown_session(),
            }))
        }
    };
    Ok(event["id"].as_str().unwrap_or_default().to_owned())
}

/// `success_url` with Stripe's template variable filled in.
pub(super) fn success_location(success_url: &str, session_id: &str) -> String {
    success_url.replace("{CHECKOUT_SESSION_ID}", session_id)
}

/// The page of a session that can no longer be paid.
fn closed(session: &SessionRecord, status: StatusCode) -> HttpResponse {
    let page = match session.status {
        SessionStatus::Complete => ClosedPage {
            title: "This checkout is complete".into(),
            message: "The payment for this order has already been submitted.".into(),
            link: session.success_url.as_deref().map(|url| {
                (
                    success_location(url, &session.id),
                    "Return to the shop".into(),
                )
            }),
        },
        SessionStatus::Expired | SessionStatus::Open => ClosedPage {
            title: "This checkout has expired".into(),
            message:
                "The checkout session timed out before it was paid. Start again from the shop."
                    .into(),
            link: session
                .cancel_url
                .clone()
                .map(|url| (url, "Return to the shop".into())),
        },
    };
    let status = if session.status == SessionStatus::Expired {
        StatusCode::GONE
    } else {
        status
    };
    respond(status, &page)
}

pub(super) fn unknown_session() -> HttpResponse {
    let page = ClosedPage {
        title: "Something went wrong".into(),
        message: "This checkout page does not exist. Check the link, or start again from the shop."
            .into(),
        link: None,
    };
    respond(StatusCode::NOT_FOUND, &page)
}

/// The simulator's current (year, month), for card expiry dates.
fn today(state: &SimState) -> (i32, u32) {
    let now = Utc
        .timestamp_opt(state.now(), 0)
        .single()
        .unwrap_or_else(Utc::now);
    (now.year(), now.month())
}
