//! The operators' console: is any paid order not fulfilled, which, why — and fix it, in one
//! place. It never serves the public: it binds to loopback (or a private network) and every page
//! needs a signed-in operator.
//!
//! Flow of a visit:
//! 1. `GET /login`, `POST /login` ([`routes`]): the name and password are checked against the
//!    operators file ([`operators`]: Argon2id hashes, roles `operator` and `viewer`), failures
//!    counted per name ([`login_throttle`]); a session row and its cookie are made
//!    ([`sign_in`]: HttpOnly, SameSite=Strict, Secure, a per-session form token). Behind a
//!    single sign-on proxy, `GET /login` takes the operator the trusted proxy names instead
//!    ([`proxy_sign_in`]); the operators file still gives the role.
//! 2. `GET /` (the overview): every paid-but-unfulfilled session with its age and last error
//!    ([`shared::store::events::paid_unfulfilled_sessions`]), the queues as the broker counts
//!    them ([`management`], RabbitMQ's management API), the last hour as SVG [`charts`]
//!    ([`activity`] from Postgres, [`webhooks`] from Prometheus), the reconciler's leader and
//!    lag ([`status`]), the latest operator actions ([`audit`]).
//! 3. `GET /sessions/{id}`: the order and a [`timeline`] of everything that happened to the
//!    session; `GET /search?q=` finds it by `cs_…`, order number or email ([`lookup`]).
//! 4. `GET /dead-letters`: the parked events with their reason and attempt history
//!    ([`dead_letters`], read through [`management`] and put back); redrive some or all.
//! 5. An action ("Fulfill now", a redrive) is a confirmation page, then a POST with the form token; it runs
//!    the same `fulfill_checkout` (trigger `operator`) or redrive as the worker, is written to the audit
//!    trail with its outcome, and the page shows that outcome.
//!
//! Around it: [`startup`] builds the server (security headers on every answer) and the
//! [`state`] every handler shares, [`pages`] holds
//! the templates' plumbing, [`cli`] the commands (`serve`, `hash-password`).

pub mod activity;
pub mod audit;
pub mod charts;
pub mod cli;
pub mod dead_letters;
pub mod login_throttle;
pub mod lookup;
pub mod management;
pub mod operators;
pub mod pages;
pub mod proxy_sign_in;
mod routes;
pub mod sign_in;
pub mod startup;
pub mod state;
pub mod status;
pub mod timeline;
pub mod webhooks;

pub use startup::Application;

/// The service's name in logs and traces.
pub const SERVICE_NAME: &str = "console";
