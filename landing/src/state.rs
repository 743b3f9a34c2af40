//! What every handler of the landing service shares, built once from the settings: the
//! fulfiller, the catalog, the per-client budgets, the form tokens and the page settings.

use std::time::Duration;

use shared::{Fulfiller, Settings};

use crate::attempts::Attempts;
use crate::catalog::Catalog;
use crate::client_ip::ClientIp;
use crate::form_token::FormTokens;
use crate::rate_limit::ClientRateLimiter;
use crate::stripe_check::StripeCheck;

/// What every handler shares; one instance behind `web::Data`.
#[derive(Debug)]
pub struct AppState {
    /// The stored orders and the Stripe client.
    pub fulfiller: Fulfiller,
    /// The success page's `fulfill_checkout` attempts, one per session at a time.
    pub attempts: Attempts,
    pub catalog: Catalog,
    /// `landing.shipping_countries`: where a cart with physical goods may ship.
    pub shipping_countries: Vec<String>,
    /// Who the client is: the TCP peer, or the address a trusted proxy reports. Every budget
    /// below counts by it.
    pub client_ip: ClientIp,
    /// Success-page budget per client IP (an enumeration guard: ids are long and random, but a
    /// scraper should still get nowhere fast).
    pub success_limiter: ClientRateLimiter,
    /// The status endpoint polled by the "payment processing" page has its own budget of the
    /// same size, so that polling never uses up the customer's page loads.
    pub status_limiter: ClientRateLimiter,
    /// Checkout budget per client: each checkout may create a Checkout Session, a Stripe call.
    pub checkout_limiter: ClientRateLimiter,
    /// Issues the shop's form tokens and checks them at checkout.
    pub form_tokens: FormTokens,
    /// Stripe's part of `/readyz`, checked at most every `landing.stripe_check_secs`.
    pub stripe_check: StripeCheck,
    /// How long the success page waits for `fulfill_checkout` before it answers "confirming".
    pub fulfill_deadline: Duration,
    /// Where customers reach us, without a trailing slash; `success_url` and `cancel_url` start
    /// with it.
    pub public_base_url: String,
    /// Set when the checkout button leads to the embedded form rather than Stripe's page.
    pub embedded_checkout: Option<crate::embedded_checkout::EmbeddedCheckout>,
}

impl AppState {
    pub fn new(settings: &Settings, fulfiller: Fulfiller) -> anyhow::Result<Self> {
        let landing = &settings.landing;
        Ok(Self {
            catalog: Catalog::new(
                fulfiller.stripe().clone(),
                landing.catalog.clone(),
                landing.catalog_ttl(),
            ),
            shipping_countries: landing.shipping_countries.clone(),
            client_ip: ClientIp::from_settings(landing)?,
            checkout_limiter: ClientRateLimiter::per_minute(landing.checkout_rate_per_minute),
            form_tokens: FormTokens::new(landing.form_secret.clone()),
            stripe_check: StripeCheck::new(fulfiller.stripe().clone(), landing.stripe_check()),
            attempts: Attempts::new(fulfiller.clone()),
            fulfiller,
            success_limiter: ClientRateLimiter::per_minute(landing.success_rate_per_minute),
            status_limiter: ClientRateLimiter::per_minute(landing.success_rate_per_minute),
            fulfill_deadline: landing.fulfill_deadline(),
            public_base_url: landing.public_base_url.trim_end_matches('/').to_owned(),
            embedded_checkout: crate::embedded_checkout::EmbeddedCheckout::from_settings(landing)?,
        })
    }
}
