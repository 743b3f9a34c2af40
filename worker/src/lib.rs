//! The fulfillment worker: every paid Checkout Session fulfilled exactly once (G2), never an
//! unpaid one (G3), with Stripe called politely (G6), and nothing stuck silently.
//!
//! Layout, in the order an event flows through it:
//! - [`consumer`]: `checkout.fulfillment` → one task per delivery (bounded by the prefetch) →
//!   ack, or a confirmed copy to a retry tier or the dead-letter exchange, then ack; a copy
//!   the broker did not confirm hands the delivery back after a growing pause ([`hand_back`]).
//! - [`process`]: the one-message step, body + headers → [`Disposition`]. Parses the
//!   event ([`event`]), skips one already settled, calls `fulfill_checkout` (or records a failed
//!   or expired payment) on the event's account (a connected account's `acct_…` from
//!   `account`, or the platform), records the outcome in `stripe_events`, classifies errors;
//!   [`disposition`] says where a failed delivery goes next (retry tier or dead letter, and
//!   why), [`attempts`] reads and writes the headers that carry its attempts.
//! - [`outbox_relay`]: outbox rows → the `orders` exchange, confirmed, then marked sent.
//! - [`reconciler`]: one leader (Postgres advisory lock on a dedicated connection) lists
//!   Stripe's checkout events since a cursor and sends each through [`process`].
//! - [`startup`]: `Application::build` / `run_until_stopped` (until its `StopHandle` is
//!   stopped) / `run_until_terminated` (until SIGTERM), the ops server (`/healthz`, `/readyz`,
//!   `/metrics`), graceful drain on stop.
//! - [`cli`]: `worker run | migrate | redrive | reconcile | show | access | definitions`;
//!   [`redrive`], [`show`] and [`access`] are the operator commands' bodies.
//! - [`metrics`]: the worker's Prometheus metrics.
//!
//! Data enters as queue deliveries (from the ingress) and `GET /v1/events` pages (reconciler);
//! it leaves as Postgres rows (orders, line items, the audit trail, the outbox) and `orders`
//! announcements.

pub mod access;
pub mod attempts;
pub mod cli;
pub mod consumer;
pub mod disposition;
pub mod event;
pub mod hand_back;
pub mod metrics;
pub mod outbox_relay;
pub mod process;
pub mod reconciler;
pub mod redrive;
pub mod show;
pub mod startup;

pub use disposition::Disposition;
pub use process::Processor;
pub use startup::Application;
