//! Signed webhook delivery: every event the simulator records, by any path (the payment page,
//! the control API, a delayed payment settling by itself), is POSTed to every configured
//! endpoint, signed as Stripe signs it and retried as Stripe retries it.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | endpoints, retry schedule, redirect wait, delayed payments, fault knobs |
//! | [`args`] | the `stripe-sim serve` flags for all of the above |
//! | `dispatch` | the task that reads the event feed and starts deliveries (and settles delayed payments) |
//! | `deliver` | one delivery: its attempts and the backoff between them |
//! | `attempt` | one signed HTTP request and what came back |
//!
//! ```text
//! SimState::transition ─▶ event feed ─▶ dispatch ─▶ register deliveries (state) ─▶ deliver
//!                                          │ shuffle window? batch, permute        │ attempt: sign with a
//!                                          │ unpaid completion? settle later      │ fresh timestamp, POST
//!                                          ▼                                      ▼
//!                                  succeed/fail_async_payment          record_attempt (state): status,
//!                                                                       ack latency, pending_webhooks
//! ```
//!
//! The record of deliveries and attempts lives in `crate::state` like every other state; this
//! module only sends and reports.

pub mod args;
mod attempt;
pub mod config;
mod deliver;
mod dispatch;

pub(crate) use dispatch::start;
