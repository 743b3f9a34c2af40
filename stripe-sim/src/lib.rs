//! A stateful, in-memory stand-in for the part of the Stripe API the fulfillment services call.
//!
//! An unmodified Stripe client pointed at it (API base URL plus any `sk_test_…` key) creates
//! Checkout Sessions, retrieves them with `expand[]=line_items`, pages through line items and
//! events, and meets Stripe's error objects, pagination and idempotency. Tests then play the
//! customer through the control API (pay, pay late, fail, expire) and make "Stripe" slow or
//! broken on purpose. A browser can pay too: each session's `url` is a hosted payment page with
//! Stripe's test cards. Every event is delivered, signed as Stripe signs it, to the configured
//! webhook endpoints, with Stripe's retries and optional faults. It runs as a binary
//! (`stripe-sim serve --port 12111`) or inside a test ([`RunningSim::start`] on port 0).
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`config`] | [`SimConfig`]: accepted keys, the price catalog, the public base URL, delivery |
//! | [`startup`] | [`RunningSim`]: the actix-web server on a socket, start and stop |
//! | [`state`] | [`SimState`]: sessions, events, faults, counters, clock, deliveries; every operation |
//! | `objects` | every Stripe JSON object, rendered from Stripe's fixtures in `fixtures/` |
//! | `api` | `/v1/*`: the gate (count, authenticate, `Stripe-Account`, faults), one file per resource |
//! | `control` | `/_sim/*`: the test-only control API, and the HTML status page at `/_sim/` |
//! | `checkout_page` | `/c/pay/{id}`: the hosted payment page (askama templates in `templates/`), and the embedded form |
//! | `payment_link_page` | `/b/{id}`: a Payment Link's public URL, starting a session per visit |
//! | `stripe_js` | `/v3`: a stand-in for Stripe.js that mounts the embedded form |
//! | [`webhooks`] | signed delivery of every event to the endpoints: retries, faults |
//! | `form`, `pagination` | Stripe's bracket parameter encoding; cursor pagination |
//! | [`error`] | [`SimError`], rendered as Stripe's `{"error": {…}}` |
//! | [`cli`] | the command line |
//! | [`load`] | `stripe-sim load`: signed webhook load at a target, measured |
//!
//! # Flow
//!
//! ```text
//! request ─▶ request_id ─▶ /v1 gate: count ─▶ auth ─▶ fault? ─▶ api::<resource> handler
//!                                                                  │ parse form/query (form, params)
//!                                                                  ▼
//!           /_sim control handler ─────────────────────────────▶ SimState method
//!                                                                  │ typed records under one lock
//!                                                                  ▼
//!                                               objects::* render JSON ─▶ response
//!                                                                  │
//!    payment page (/c/pay) ─▶ transitions record an event ─▶ event feed (subscribe_events)
//!          ▲  303 to success_url                                   │
//!          └── wait for the endpoints' 2xx ◀── record_attempt ◀── webhooks: sign, POST, retry
//! ```
//!
//! A request's `Stripe-Account` header (a Connect platform acting for a connected account) is
//! read by the gate; sessions and events record their account, reads are scoped by it, and
//! delivery sends a connected account's events only to the endpoints registered for Connect.
//!
//! State changes happen only in `state`, Stripe's JSON is built only in `objects`, HTTP lives
//! only in `api`, `control` and `checkout_page`. The payment page completes sessions through
//! `SimState::complete_session` like the control API does; delivery is a task reading
//! [`SimState::subscribe_events`] that reports each attempt back to `state`.

pub mod cli;
pub mod config;
pub mod error;
pub mod load;
pub mod startup;
pub mod state;
pub mod webhooks;

mod api;
mod checkout_page;
mod control;
mod form;
mod ids;
mod objects;
mod pagination;
mod payment_link_page;
mod request_id;
mod stripe_js;

pub use checkout_page::{ACK_HEADER, ACK_MS_HEADER};
pub use config::{default_catalog, CatalogPrice, Recurring, SimConfig};
pub use error::SimError;
pub use pagination::{DEFAULT_LIMIT, MAX_LIMIT};
pub use startup::RunningSim;
pub use state::{
    AfterCompletion, CreateCustomer, CreatePaymentLink, CreateSession, CreatedFilter, Customer,
    Fault, FaultKind, InlinePrice, LineItemParams, PaymentOutcome, PriceSpec, RouteMatch, Shipping,
    SimState, EVENT_RETENTION_SECS, MAX_LINE_ITEMS,
};
pub use state::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, WebhookWait};
pub use webhooks::config::{
    AsyncPaymentOutcome, DelayedPaymentResolution, WebhookEndpoint, WebhookFaults,
};
