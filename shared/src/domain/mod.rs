//! Domain types: identifiers parsed once at the edge ("parse, don't validate") and money.

pub mod account_id;
mod event_id;
mod money;
mod session_id;

pub use account_id::{AccountId, InvalidAccountId};
pub use event_id::{EventId, InvalidEventId};
pub use money::{Currency, Money};
pub use session_id::{CheckoutSessionId, InvalidSessionId};
