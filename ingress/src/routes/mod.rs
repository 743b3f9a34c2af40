//! The HTTP surface: the webhook, and the operational endpoints every service has.

pub mod operations;
pub mod webhook;

pub use operations::{metrics, readyz};
pub use webhook::{method_not_allowed, receive, WebhookContext};
