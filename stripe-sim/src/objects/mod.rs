//! Every Stripe JSON object the simulator serves is built here, and only here.
//!
//! The shapes come from Stripe's own fixtures (`fixtures/*.json`, the same files `shared` parses
//! in `shared/fixtures/stripe/`; a test keeps them one text): each renderer starts from its fixture and must set every field of it
//! ([`template::Fill`] checks that), so a response can neither miss a field the real API has nor
//! leak a fixture's sample value.

pub(crate) mod customer;
pub(crate) mod event;
pub(crate) mod line_item;
pub(crate) mod list;
pub(crate) mod payment_link;
pub(crate) mod price;
pub(crate) mod product;
pub(crate) mod session;
pub(crate) mod subscription;
mod template;
