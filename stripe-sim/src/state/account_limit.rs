//! The account's rate limit: Stripe counts requests per account, whichever process or key sends
//! them, and answers 429 `rate_limit` past its limit (25 per second in test mode, 100 live).
//!
//! Modelled as a sliding one-second window: a request is admitted when fewer than the limit were
//! admitted in the second before it. That is at least as strict as any bucket Stripe may run
//! (it never lends a burst), so a client that stays under it here stays under it there.
//! Refused requests do not count against the window: a client that backs off is let in again
//! as soon as the second has passed.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct AccountLimit {
    /// Requests admitted per second; `None`: unlimited (the default, what most tests want).
    per_sec: Option<NonZeroU32>,
    /// When each request of the last second was admitted, oldest first.
    admitted: VecDeque<Instant>,
}

impl AccountLimit {
    pub(crate) fn new(per_sec: Option<NonZeroU32>) -> Self {
        AccountLimit {
            per_sec,
            admitted: VecDeque::new(),
        }
    }

    pub(crate) fn per_sec(&self) -> Option<NonZeroU32> {
        self.per_sec
    }

    /// Whether a request arriving at `now` is within the limit; an admitted one is counted.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        let Some(limit) = self.per_sec else {
            return true;
        };
        while self
            .admitted
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= WINDOW)
        {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= limit.get() as usize {
            return false;
        }
        self.admitted.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_sec(n: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(n)
    }

    #[test]
    fn no_limit_admits_everything() {
        let mut limit = AccountLimit::new(None);
        let now = Instant::now();
        assert!((0..1000).all(|_| limit.admit(now)));
    }

    #[test]
    fn at_most_the_limit_is_admitted_in_any_one_second() {
        let mut limit = AccountLimit::new(per_sec(3));
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert!(limit.admit(at(0)));
        assert!(limit.admit(at(100)));
        assert!(limit.admit(at(900)));
        assert!(!limit.admit(at(950)), "a fourth within the second");
        assert!(!limit.admit(at(999)));
        assert!(limit.admit(at(1000)), "the first one has left the window");
        assert!(!limit.admit(at(1050)));
        assert!(limit.admit(at(1100)));
    }

    #[test]
    fn refused_requests_do_not_count_against_the_window() {
        let mut limit = AccountLimit::new(per_sec(1));
        let start = Instant::now();
        assert!(limit.admit(start));
        for ms in 1..1000 {
            assert!(!limit.admit(start + Duration::from_millis(ms)));
        }
        assert!(limit.admit(start + Duration::from_millis(1000)));
    }
}
