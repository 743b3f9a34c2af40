//! What the fulfillment services share.
//!
//! Layout, in the order data flows through it:
//! - [`settings`]: the typed settings tree (compiled defaults → file → environment), secrets
//!   redacted.
//! - [`telemetry`]: logs (pretty or JSON) and OpenTelemetry traces.
//! - [`domain`]: `CheckoutSessionId`, `EventId`, `AccountId` (a connected account), `Money` —
//!   parsed once at the edge.
//! - [`signature`]: Stripe webhook signatures, `verify` (G4) and `sign`.
//! - [`queue`]: the RabbitMQ topology, the confirmed publisher (G1), trace context over AMQP.
//! - [`stripe`]: the Stripe API client (G6).
//! - [`store`]: Postgres: pool, migrations, orders, events, outbox, cursors.
//! - [`fulfillment`]: `fulfill_checkout` (G2, G3), called by the worker, the landing page, the
//!   reconciler and the operators' console alike.
//! - [`announcements`]: the typed `orders` bodies (`order.fulfilled`, `order.payment_failed`),
//!   the contract of the merchant's own consumers.
//! - [`errors`]: `error_chain`, the whole cause chain in one line.
//! - [`metrics`]: Prometheus metrics common to every service.
//! - [`http`]: the `/healthz`, `/readyz` and `/metrics` endpoints every service exposes.
//! - [`shutdown`]: how every service stops: `StopHandle`, and SIGTERM or SIGINT for `main`.
//!
//! Data enters as webhook bytes (ingress → [`signature`] → [`queue`]), as queue messages
//! (worker → [`fulfillment`]), or as a success-page request (landing → [`fulfillment`]); it
//! leaves as rows ([`store`]) and as `orders` announcements (outbox → [`queue`]).

pub mod announcements;
pub mod domain;
pub mod errors;
pub mod fulfillment;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod settings;
pub mod shutdown;
pub mod signature;
pub mod store;
pub mod stripe;
pub mod telemetry;

pub use domain::{AccountId, CheckoutSessionId, Currency, EventId, Money};
pub use fulfillment::{FulfillError, Fulfiller, FulfillmentOutcome};
pub use settings::Settings;
pub use store::orders::{Order, OrderState, Trigger};
