//! The embedded form (`landing.checkout_ui_mode = "embedded"`).
//!
//! ```text
//! POST /checkout          the shop's cart form ─▶ our checkout page: the cart again (hidden),
//!                         Stripe.js from landing.stripe_js_url, and /static/embedded-checkout.js
//! POST /checkout/session  that script's fetchClientSecret: the same cart ─▶ a Checkout Session
//!                         with ui_mode=embedded ─▶ {"clientSecret": "cs_…_secret_…"}
//! Stripe.js mounts the payment form in an iframe; once paid, Stripe sends the customer to
//! return_url, which is the hosted flow's success page.
//! ```
//! The cart and its form token are checked on both requests, so the session endpoint refuses
//! what the shop's form would. Creating the session is idempotent per token and cart (like the
//! hosted checkout), so reloading the checkout page mounts the same session.

use std::time::Instant;

use actix_web::http::header::CONTENT_SECURITY_POLICY;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;
use shared::errors::error_chain;
use shared::stripe::CreateEmbeddedCheckoutSession;

use super::checkout::{cart_contents, Cart, CheckoutError, EXPIRED_FORM};
use super::client_ip;
use crate::embedded_checkout::EmbeddedCheckout;
use crate::metrics;
use crate::pages::{respond, ErrorPage};
use crate::paths::success_url;
use crate::state::AppState;

/// The page on which Stripe.js mounts the payment form.
#[derive(Debug, Template)]
#[template(path = "embedded_checkout.html")]
pub struct EmbeddedCheckoutPage {
    pub stripe_js_url: String,
    pub publishable_key: String,
    pub form_token: String,
    /// `(price id, quantity)`, posted again by the page's script.
    pub lines: Vec<(String, u32)>,
}

/// `POST /checkout` in embedded mode: the checkout page for the submitted cart, or the same
/// error pages as the hosted checkout. Returns the metrics outcome too.
pub fn page(
    state: &AppState,
    embedded: &EmbeddedCheckout,
    body: &[u8],
) -> (HttpResponse, &'static str) {
    let cart = match Cart::parse(body) {
        Ok(cart) => cart,
        Err(e) => return (ErrorPage::bad_form(e.0), "bad_form"),
    };
    if let Err(e) = state.form_tokens.verify(&cart.form_token) {
        tracing::info!(reason = %e, "checkout refused: the form token");
        return (ErrorPage::bad_form(EXPIRED_FORM), "bad_token");
    }
    let page = EmbeddedCheckoutPage {
        stripe_js_url: embedded.stripe_js_url.clone(),
        publishable_key: embedded.publishable_key.clone(),
        lines: cart.lines.into_iter().collect(),
        form_token: cart.form_token,
    };
    let mut response = respond(StatusCode::OK, &page);
    match embedded.content_security_policy.parse() {
        Ok(policy) => {
            response
                .headers_mut()
                .insert(CONTENT_SECURITY_POLICY, policy);
        }
        // Without its own policy the page keeps the site's, which blocks Stripe.js: the
        // customer sees the page's "could not be loaded" message rather than a weaker policy.
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "the embedded checkout policy is not a header")
        }
    }
    (response, "embedded_page")
}

/// `POST /checkout/session`: the client secret of a new embedded session, as JSON. Errors are
/// JSON too (`{"error": "…"}`, a sentence for the customer), since a script shows them.
pub async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    if state.embedded_checkout.is_none() {
        return ErrorPage::page_not_found();
    }
    if let Err(wait) = state.checkout_limiter.check(client_ip(&req, &state)) {
        metrics::page_served("checkout_session", "rate_limited", started);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "We’ve had many requests from you in a short while. Please wait {} seconds and \
                 try again.",
                wait.as_secs().max(1)
            ),
        );
    }
    let (response, outcome) = match create(&state, &body).await {
        Ok(client_secret) => (
            HttpResponse::Ok().json(json!({ "clientSecret": client_secret })),
            "created",
        ),
        Err(CheckoutError::Form(reason)) => (error(StatusCode::BAD_REQUEST, reason), "bad_form"),
        Err(CheckoutError::FormToken(e)) => {
            tracing::info!(reason = %e, "checkout refused: the form token");
            (error(StatusCode::BAD_REQUEST, EXPIRED_FORM), "bad_token")
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %error_chain(&e), "embedded checkout could not start");
            (
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "We couldn’t start your checkout just now. Please retry in a few seconds.",
                ),
                "stripe_unavailable",
            )
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "embedded checkout could not start");
            (
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side. Please try again in a minute.",
                ),
                "error",
            )
        }
    };
    metrics::page_served("checkout_session", outcome, started);
    response
}

async fn create(state: &AppState, body: &[u8]) -> Result<String, CheckoutError> {
    let cart = Cart::parse(body)?;
    state.form_tokens.verify(&cart.form_token)?;
    let contents = cart_contents(state, &cart).await?;
    let params = CreateEmbeddedCheckoutSession {
        mode: contents.mode,
        line_items: contents.line_items,
        return_url: success_url(&state.public_base_url),
        shipping_countries: contents.shipping_countries,
    };
    // Its own key space: the same cart checked out in the other mode is another session.
    let key = format!("{}-embedded", cart.idempotency_key());
    let session = state
        .fulfiller
        .stripe()
        .create_embedded_checkout_session(&params, &key)
        .await?;
    tracing::info!(session_id = %session.id, "embedded checkout session created");
    session.client_secret.ok_or(CheckoutError::NoPaymentPage)
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}
