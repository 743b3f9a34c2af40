//! The notifier: tells people about what fulfillment announces on the `orders` exchange, at most
//! once per announcement and channel.
//!
//! Layout, in the order an announcement flows through it:
//! - [`consumer`]: `notifier.orders` (bound to `orders` for `order.fulfilled` and
//!   `order.payment_failed`) → one task per delivery (bounded by the prefetch) → ack; or, for a
//!   failure that may pass, a pause that doubles with each redelivery and a requeue (the queue's
//!   delivery limit bounds them); or, for one that will not, a reject into
//!   `notifier.orders.dead`, the reason logged.
//! - [`notice`]: the delivery's body as a typed announcement ([`shared::announcements`]).
//! - [`dispatch`]: the per-delivery decision. For each channel the announcement has (the
//!   customer's mail when it names an address; every configured callback): claim its row in
//!   `notifications` ([`ledger`]) → send → mark it sent. A row already sent is skipped, so a
//!   redelivered or republished announcement is never sent twice on a channel.
//! - [`mail`]: the customer's mail over SMTP (lettre), written from [`templates`] (minijinja
//!   files the merchant may replace), `Message-ID: <message_id@sender's domain>`.
//! - [`callback`]: a POST of the announcement's JSON to each of the merchant's URLs, signed
//!   `Notifier-Signature: t=…,v1=…` (HMAC-SHA256 over `t.body`, Stripe's scheme) with
//!   `Idempotency-Key: message_id`.
//! - [`startup`]: `Application::build` / `run_until_stopped` (until its `StopHandle` is
//!   stopped) / `run_until_terminated` (until SIGTERM), the ops server (`/healthz`, `/readyz`,
//!   `/metrics`), graceful drain on stop.
//! - [`cli`]: `notifier run | preview <template> | redrive`.
//! - [`redrive`]: `notifier.orders.dead` back into `notifier.orders` once the cause is fixed.
//! - [`metrics`]: notifications by channel and outcome, send durations.
//!
//! Exactly once: the row's primary key `(message_id, channel)` makes every send after the first
//! a skip, and its lease (`claimed_until`) keeps two copies handled at the same moment from both
//! sending. The one window left is a crash (or a lost connection to Postgres) after a send and
//! before its row is marked: the announcement is then delivered again and sent again with the
//! same idempotency key, which the receiver uses to drop the repeat (a mail client threads or
//! drops a repeated Message-ID; a callback receiver keeps the Idempotency-Keys it has seen).

pub mod callback;
pub mod cli;
pub mod consumer;
pub mod dispatch;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod notice;
pub mod redrive;
pub mod startup;
pub mod templates;

pub use dispatch::{Dispatcher, Disposition};
pub use startup::Application;
