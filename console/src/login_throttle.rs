//! Failed sign-ins per operator name: past `console.login_failures_per_minute` in a minute,
//! the form answers 429 without checking the password, until that minute is over. Counting by
//! name (not by address) holds however many addresses a guesser has; a success clears it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct LoginThrottle {
    limit: u32,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginThrottle {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        // A panic elsewhere while holding it leaves only counts behind: still usable.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until `name` may try again; `None`: now.
    pub fn blocked_for(&self, name: &str) -> Option<Duration> {
        let failures = self.lock();
        let (since, count) = failures.get(name)?;
        let left = WINDOW.checked_sub(since.elapsed())?;
        (*count >= self.limit).then_some(left)
    }

    pub fn failed(&self, name: &str) {
        let mut failures = self.lock();
        // The table only grows with names someone tried; drop finished windows as it does.
        failures.retain(|_, (since, _)| since.elapsed() < WINDOW);
        let entry = failures
            .entry(name.to_owned())
            .or_insert((Instant::now(), 0));
        entry.1 += 1;
    }

    pub fn succeeded(&self, name: &str) {
        self.lock().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_blocked_after_its_failures_and_cleared_by_a_success() {
        let throttle = LoginThrottle::per_minute(2);
        throttle.failed("alice");
        assert_eq!(throttle.blocked_for("alice"), None);
        throttle.failed("alice");
        assert!(throttle.blocked_for("alice").is_some());
        assert_eq!(
            throttle.blocked_for("bob"),
            None,
            "other names are not held"
        );
        throttle.succeeded("alice");
        assert_eq!(throttle.blocked_for("alice"), None);
    }
}
