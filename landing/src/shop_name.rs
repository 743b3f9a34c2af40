//! The shop's name, as every page shows it (title and header), from `landing.shop_name`.
//!
//! One landing process serves one shop, and every page (error pages included, which are built
//! far from any request state) carries the name, so it is set once at start-up and read by the
//! base template rather than threaded through every view model.

use std::sync::OnceLock;

/// Shown until start-up sets the configured name (the default setting's value too).
const DEFAULT: &str = "Corner Store";

static SHOP_NAME: OnceLock<String> = OnceLock::new();

/// Sets the name pages show; the first call wins (a process serves one shop), and a later call
/// with another name is logged, not applied.
pub fn set(name: &str) {
    if SHOP_NAME.set(name.to_owned()).is_err() && get() != name {
        tracing::warn!(
            kept = get(),
            ignored = name,
            "the shop name is set once per process"
        );
    }
}

/// The name pages show.
pub fn get() -> &'static str {
    SHOP_NAME.get().map(String::as_str).unwrap_or(DEFAULT)
}
