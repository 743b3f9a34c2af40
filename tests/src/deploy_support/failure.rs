//! The reason a live test failed, repeated after its logs.
//!
//! A failing live test prints hundreds of lines of container logs (the stack's `Drop`), and the
//! panic message that says *what* failed comes before them. Whoever reads only the end of a CI
//! log would see logs and no reason, so the message is remembered here and printed again last.

use std::sync::{Mutex, Once};

static LAST: Mutex<Option<String>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Installs (once per test binary) a panic hook that remembers each panic's message and
/// location, then runs the default hook as before.
pub fn remember_panics() {
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            if let Ok(mut last) = LAST.lock() {
                *last = Some(format!("{location}: {message}"));
            }
            default(info);
        }));
    });
}

/// The first 2,000 characters of the latest panic's message (an assertion may itself hold
/// logs), if any.
pub fn last_panic() -> Option<String> {
    let last = LAST.lock().ok()?.clone()?;
    Some(last.chars().take(2_000).collect())
}
