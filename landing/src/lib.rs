//! The customer-facing pages: the shop, the way into Stripe Checkout, and the way back out.
//!
//! Flow of a purchase through this service:
//! 1. `GET /` ([`routes::shop`]) lists the catalog ([`catalog`]: the configured prices, or every
//!    active price the Stripe account lists, cached and refreshed behind the cache) with one cart
//!    form per currency.
//! 2. `POST /checkout` ([`routes::checkout`]) creates the Checkout Session with
//!    `success_url=<public base>/order/success?session_id={CHECKOUT_SESSION_ID}` (the placeholder
//!    literally; Stripe substitutes it) and an idempotency key derived from the form's one-time
//!    token, then answers 303 to the hosted payment page. A form whose token the shop did not
//!    issue, or a client past its checkout budget, is refused before Stripe is asked.
//!    With `landing.checkout_ui_mode = "embedded"` it answers our own checkout page instead, on
//!    which Stripe.js mounts the payment form ([`routes::embedded_checkout`],
//!    [`embedded_checkout`]); the session it creates returns to the same success page.
//! 3. The customer pays; Stripe redirects to `GET /order/success?session_id=cs_…`
//!    ([`routes::success`]). The id is parsed before anything else (a malformed one is a 400 page
//!    and never reaches Stripe), then [`shared::Fulfiller::fulfill_checkout`] runs with
//!    `Trigger::Landing` under a deadline. It races the worker for the same session; that is
//!    normal and safe (G2), and an order already fulfilled is read from Postgres without calling
//!    Stripe. The page shows the outcome: the confirmation, "payment processing" (which checks
//!    again through [`routes::status`] by itself), "payment failed", 404, or a 503 that says to
//!    retry.
//! 4. `GET /order/cancel` ([`routes::cancel`]) is where Checkout's back link leads.
//!
//! Around it: [`access_log`] logs every request with the session id redacted; [`attempts`] runs the page's fulfillment attempts as tasks, one per session at a
//! time; [`startup`] builds the server and the [`state`] every handler shares; [`paths`] spells the order pages' paths once; [`pages`] holds the templates (askama, escaped
//! automatically) and turns them into responses; [`headers`] sets the security and caching
//! headers; [`rate_limit`] bounds success-page, status and checkout requests per client, which
//! [`client_ip`] finds (the TCP peer, or what a trusted proxy reports); [`form_token`] signs the
//! shop's form tokens and checks them at checkout; [`metrics`] counts pages by outcome and times
//! them; [`routes::ops`] serves `/healthz`, `/readyz` (Stripe's part from [`stripe_check`],
//! never a call per probe) and `/metrics`, and [`routes::assets`] the stylesheet and script,
//! compiled into the binary (no CDN); [`shop_name`] is the name every page shows.
//! [`cli`] and [`payment_links`]: `landing payment-links create` makes a Payment Link per
//! catalog price that redirects to the success page, so link customers are fulfilled the same
//! way (their sessions are created by Stripe, not by step 2).

pub mod access_log;
pub mod attempts;
pub mod catalog;
pub mod cli;
pub mod client_ip;
pub mod embedded_checkout;
pub mod form_token;
pub mod headers;
pub mod metrics;
pub mod pages;
pub mod paths;
pub mod payment_links;
pub mod rate_limit;
pub mod routes;
pub mod shop_name;
pub mod startup;
pub mod state;
pub mod stripe_check;

pub use startup::Application;

/// The service name in logs and traces.
pub const SERVICE_NAME: &str = "landing";
