//! The Stripe API client (G6): the calls the product makes, bounded and polite.
//!
//! - [`client`]: `StripeClient` — Bearer auth, pinned `Stripe-Version`, timeouts, the request
//!   budget, retries with jittered exponential backoff.
//! - [`budget`]: this process's share of the deployment's requests per second (Stripe limits the
//!   account, not a process).
//! - [`retry`]: which answers are retried and how long to wait.
//! - [`error`]: typed errors telling not-found, invalid request, rate limited and transient apart,
//!   with Stripe's error object parsed; a rejected key or an answer Stripe says to retry is an
//!   outage (transient, never a reason to give up on an order).
//! - [`objects`]: the parts of Stripe's objects we read (unknown fields are ignored).
//! - [`params`]: request parameters, form-encoded with Stripe's bracket notation;
//!   [`embedded_params`] those of an embedded-form session.
//! - [`payment_link`]: creating Payment Links for the catalog.

pub mod budget;
pub mod client;
pub mod embedded_params;
pub mod error;
pub mod objects;
pub mod params;
pub mod payment_link;
pub mod retry;

pub use client::StripeClient;
pub use embedded_params::CreateEmbeddedCheckoutSession;
pub use error::{ApiError, StripeError};
pub use objects::{
    Address, CatalogPrice, CheckoutSession, Event, LineItem, List, PaymentStatus, Product,
    Recurring, SessionStatus, ShippingDetails, Subscription,
};
pub use params::{CheckoutMode, CreateCheckoutSession, EventFilter, NewLineItem};
pub use payment_link::{CreatePaymentLink, PaymentLink};
