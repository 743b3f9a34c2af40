//! A stateful, in-memory stand-in for the part of the Stripe API the fulfillment services call.
//!
//! An unmodified Stripe client pointed at it (API base URL plus any `sk_test_…` key) creates
//! Checkout Sessions, retrieves them with `expand[]=line_items`, pages through line items and
//! events, and meets Stripe's error objects, pagination and idempotency. Tests then play the
//! customer through the control API (pay, pay late, fail, expire) and make "Stripe" slow or
//! broken on purpose. It runs as a binary (`stripe-sim serve --port 12111`) or inside a test
//! ([`RunningSim::start`] on port 0).
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`config`] | [`SimConfig`]: accepted keys, the price catalog, the public base URL |
//! | [`startup`] | [`RunningSim`]: the actix-web server on a socket, start and stop |
//! | [`state`] | [`SimState`]: sessions, events, faults, counters, clock; every operation |
//! | `objects` | every Stripe JSON object, rendered from Stripe's fixtures in `fixtures/` |
//! | `api` | `/v1/*`: the gate (count, authenticate, faults), one file per resource |
//! | `control` | `/_sim/*`: the test-only control API |
//! | `form`, `pagination` | Stripe's bracket parameter encoding; cursor pagination |
//! | [`error`] | [`SimError`], rendered as Stripe's `{"error": {…}}` |
//! | [`cli`] | the command line |
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
//!                          transitions record an event ─▶ event feed (subscribe_events)
//! ```
//!
//! State changes happen only in `state`, JSON is built only in `objects`, HTTP lives only in
//! `api` and `control`. The hosted payment page and signed webhook delivery plug in beside them:
//! the page as another route module calling `SimState::complete_session`, delivery as a task
//! reading [`SimState::subscribe_events`].

pub mod cli;
pub mod config;
pub mod error;
pub mod startup;
pub mod state;

mod api;
mod control;
mod form;
mod ids;
mod objects;
mod pagination;
mod request_id;

pub use config::{default_catalog, CatalogPrice, SimConfig};
pub use error::SimError;
pub use pagination::{DEFAULT_LIMIT, MAX_LIMIT};
pub use startup::RunningSim;
pub use state::{
    CreateSession, CreatedFilter, Customer, Fault, FaultKind, InlinePrice, LineItemParams,
    PaymentOutcome, PriceSpec, RouteMatch, SimState, EVENT_RETENTION_SECS, MAX_LINE_ITEMS,
};
