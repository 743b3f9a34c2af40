//! Fulfillment: `fulfill_checkout` and the worker around it, against the real Postgres and
//! RabbitMQ, with stripe-sim as Stripe.
//!
//! - the order itself: exactly once under racing callers, one Stripe call between callers that
//!   race, its contract, the migrations, digital access, connected accounts (`fulfill_checkout`,
//!   `fulfillment_claims`, `orders_contract`, `store_migrations`, `digital_access`,
//!   `connected_accounts`);
//! - talking to Stripe: the client, the API budget (`stripe_client`, `stripe_budget`);
//! - the worker: consuming, failures and retry tiers, redrive, reconnects, Stripe outages, the
//!   reconciler (`worker_*`);
//! - what follows an order: the notifier's mail (`notifier_delivery`).

mod connected_accounts;
mod digital_access;
mod fulfill_checkout;
mod fulfillment_claims;
mod notifier_delivery;
mod orders_contract;
mod store_migrations;
mod stripe_budget;
mod stripe_client;
mod worker_failures;
mod worker_fulfillment;
mod worker_reconciler;
mod worker_redrive;
mod worker_resilience;
mod worker_stripe_outage;
