//! The Stripe webhook endpoint (G1, G4, G5).
//!
//! Checkout holds the customer's redirect until this service answers, and Stripe retries anything
//! that is not 2xx for days; so a 2xx here means "durably ours", and anything else is a fast,
//! explicit refusal that Stripe will retry.
//!
//! Flow of one `POST /webhook`:
//! 1. [`routes::webhook`] refuses a request without `Stripe-Signature` (400) before reading its
//!    body, then reads the raw body up to the size limit within the read timeout ([`body`]; 413
//!    beyond the limit, 408 past the timeout, and the connection is closed).
//! 2. It verifies `Stripe-Signature` on those bytes with [`shared::signature::verify`] against
//!    every configured secret (400 with a reason when it fails). Nothing is parsed before this.
//! 3. [`envelope`] reads the event's `type`. Other verified event types answer 200 and are only
//!    counted (`ignored`), whatever else they hold: Stripe would retry a refusal for days. A
//!    `checkout.session.*` event must also have `id`, `created`, `livemode` and a `cs_…`
//!    `data.object.id` (400 naming what is missing), and an `account`, when it has one (a
//!    connected account's event, Stripe Connect), that is an `acct_…` id.
//! 4. Checkout events go to [`forward`], which publishes the **unchanged** bytes to
//!    `checkout.events` and waits for the broker's confirm within the ack budget; only a clean
//!    ack answers 200. Every failure answers 503 with `Retry-After` at once.
//!
//! Around it: [`startup`] builds the server and the shared broker connection (which reconnects
//! by itself, see [`shared::queue::Broker`]); [`rejection`] maps every refusal to its status and
//! a short JSON reason; [`metrics`] counts outcomes and times acks and confirms; [`routes`] also
//! serves `/healthz`, `/readyz` (false while the broker is unreachable) and `/metrics`.

pub mod body;
pub mod envelope;
pub mod forward;
pub mod metrics;
pub mod rejection;
pub mod routes;
pub mod startup;

pub use startup::Application;

/// The service name in logs, traces and the broker's connection list.
pub const SERVICE_NAME: &str = "ingress";
