//! G6: which answers are retried, and how long to wait between attempts.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// "Full jitter": a uniform delay in `[0, min(max, base * 2^retry)]`. Spreading the retries of
    /// many callers avoids hammering Stripe in lock-step after an incident.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }
}

/// Whether an HTTP answer may succeed if sent again.
///
/// Stripe's `Stripe-Should-Retry` header, when present, decides; otherwise 408 (the server or
/// a proxy gave up reading the request), 409 (a conflicting concurrent request, e.g. an
/// idempotency key in use), 429 and 5xx are retried and every other status is final.
pub fn should_retry(status: u16, stripe_should_retry: Option<bool>) -> bool {
    stripe_should_retry
        .unwrap_or(matches!(status, 408 | 409 | 429) || (500..=599).contains(&status))
}

/// The `Stripe-Should-Retry` header's verdict; anything but `true` or `false` is no verdict.
pub fn parse_should_retry(header: Option<&str>) -> Option<bool> {
    match header.map(str::trim) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_follow_g6() {
        for status in [408, 409, 429, 500, 502, 503] {
            assert!(should_retry(status, None), "{status}");
        }
        for status in [400, 401, 402, 403, 404] {
            assert!(!should_retry(status, None), "{status}");
        }
        assert!(should_retry(400, Some(true)));
        assert!(!should_retry(503, Some(false)));
        assert_eq!(parse_should_retry(Some("true")), Some(true));
        assert_eq!(parse_should_retry(Some("false")), Some(false));
        assert_eq!(parse_should_retry(Some("maybe")), None);
        assert_eq!(parse_should_retry(None), None);
    }

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for retry in 0..10 {
            let ceiling = Duration::from_millis((100u64 << retry).min(1000));
            for _ in 0..50 {
                assert!(policy.delay(retry) <= ceiling);
            }
        }
    }
}
