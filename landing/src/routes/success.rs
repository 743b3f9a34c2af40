//! `GET /order/success?session_id=…`: where Stripe sends the customer after paying.
//!
//! 1. Spend one request of the client's budget (429 page past it).
//! 2. Parse the id; a malformed one is a 400 page and never reaches Stripe or the database.
//! 3. Run `fulfill_checkout` (trigger `landing`) under the fulfillment deadline, or join the
//!    attempt this process already runs for the session ([`crate::attempts`]). The worker may
//!    be fulfilling the same session at this moment; `fulfill_checkout` makes that safe (G2),
//!    and answers an order that is already fulfilled from Postgres without calling Stripe.
//! 4. Render the outcome: the confirmation (saying the confirmation mail was sent, or is on its
//!    way, only when `notifications` says so); "payment processing" (checks again by itself and
//!    never fulfills); "payment failed" with a way to try again; 404 for an expired or unknown
//!    session; 503 (retry) when Stripe or the database is unavailable; "confirming your payment"
//!    (reloads itself) when the deadline passed first.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use shared::errors::error_chain;
use shared::store::notifications::{self, CustomerMail};
use shared::{CheckoutSessionId, FulfillmentOutcome};

use super::{client_ip, session_id_param};
use crate::attempts::Finished;
use crate::metrics::{self, FULFILLMENTS_TRIGGERED};
use crate::pages::{
    respond, ConfirmingPage, ErrorPage, FulfilledPage, OrderView, PaymentFailedPage, ProcessingPage,
};
use crate::state::AppState;

/// How soon the "confirming" page reloads itself.
const CONFIRMING_REFRESH_SECS: u32 = 2;

pub async fn success(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = page(&req, &state).await;
    metrics::page_served("success", outcome, started);
    response
}

async fn page(req: &HttpRequest, state: &AppState) -> (HttpResponse, &'static str) {
    if let Err(wait) = state.success_limiter.check(client_ip(req, state)) {
        return (ErrorPage::too_many_requests(wait), "rate_limited");
    }
    let id = match CheckoutSessionId::parse(&session_id_param(req).unwrap_or_default()) {
        Ok(id) => id,
        Err(reason) => return (ErrorPage::bad_link(reason), "bad_link"),
    };
    let finished = match fulfill_within_deadline(state, &id).await {
        Waited::Finished(finished) => finished,
        Waited::DeadlinePassed => {
            let page = ConfirmingPage {
                refresh_secs: CONFIRMING_REFRESH_SECS,
                page_url: crate::paths::success_page(id.as_str()),
            };
            return (respond(StatusCode::OK, &page), "confirming");
        }
    };
    let result = match &*finished {
        Finished::Outcome(result) => result,
        Finished::Panicked => return (ErrorPage::internal(), "error"),
    };
    match result {
        Ok(FulfillmentOutcome::Fulfilled { order, .. }) => {
            let page = FulfilledPage {
                order: OrderView::from(order),
                mail: customer_mail(state, &id).await,
            };
            (respond(StatusCode::OK, &page), "fulfilled")
        }
        Ok(FulfillmentOutcome::AwaitingPayment) => {
            let stored = stored_order(state, &id).await;
            let page = ProcessingPage::new(id.as_str(), stored.as_ref());
            (respond(StatusCode::OK, &page), "awaiting_payment")
        }
        Ok(FulfillmentOutcome::PaymentFailed) => {
            let stored = stored_order(state, &id).await;
            let page = PaymentFailedPage {
                customer_email: stored.and_then(|o| o.customer_email),
            };
            (respond(StatusCode::OK, &page), "payment_failed")
        }
        Ok(FulfillmentOutcome::Expired) => (ErrorPage::not_found(), "expired"),
        Ok(FulfillmentOutcome::NotFound) => (ErrorPage::not_found(), "not_found"),
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %error_chain(e), "the order could not be confirmed");
            (ErrorPage::unavailable("confirm your order"), "unavailable")
        }
        Err(e) => {
            tracing::error!(error = %error_chain(e), "the order could not be confirmed");
            (ErrorPage::internal(), "error")
        }
    }
}

/// How the fulfillment attempt ended, as far as this page waits for it.
enum Waited {
    Finished(Arc<Finished>),
    /// Still running; it goes on in the background.
    DeadlinePassed,
}

/// Joins (or starts) the session's attempt and waits for it up to the deadline.
async fn fulfill_within_deadline(state: &AppState, id: &CheckoutSessionId) -> Waited {
    let attempt = state.attempts.fulfill(id);
    match tokio::time::timeout(state.fulfill_deadline, attempt).await {
        Ok(finished) => Waited::Finished(finished),
        Err(_) => {
            FULFILLMENTS_TRIGGERED
                .with_label_values(&["deadline_exceeded"])
                .inc();
            tracing::info!(session_id = %id, "fulfillment deadline passed; it goes on in the background");
            Waited::DeadlinePassed
        }
    }
}

/// Where the confirmation mail is. A failed read promises nothing: the page is right without it.
async fn customer_mail(state: &AppState, id: &CheckoutSessionId) -> Option<CustomerMail> {
    notifications::customer_mail(state.fulfiller.pool(), None, id.as_str())
        .await
        .inspect_err(
            |e| tracing::warn!(error = %error_chain(&e), "reading the confirmation mail's state"),
        )
        .ok()
        .flatten()
}

/// The stored row, for the customer's name and email on the in-between pages; those pages are
/// still right without it.
async fn stored_order(state: &AppState, id: &CheckoutSessionId) -> Option<shared::Order> {
    state.fulfiller.stored_order(id).await.ok().flatten()
}
