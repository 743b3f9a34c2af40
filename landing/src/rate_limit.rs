//! A per-client request budget, keyed by the peer IP address.
//!
//! The peer address is the TCP peer, not `X-Forwarded-For`: a header anyone can write would let
//! a scraper pick a fresh "client" per request. Behind a reverse proxy every request shares the
//! proxy's address, so size the budget for that (or terminate the limit at the proxy).

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `n` requests per minute per client, in a burst of up to `n`.
pub struct ClientRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for ClientRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRateLimiter")
            .field("clients", &self.limiter.len())
            .finish()
    }
}

impl ClientRateLimiter {
    /// A budget of `per_minute` (at least one) requests per client per minute.
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one request of `client`'s budget; `Err` says how long until the next one is
    /// allowed. An unknown peer (a test calling a handler directly) shares one budget.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let key = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops clients whose budget is full again (they are indistinguishable from new ones).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_budget() {
        let limiter = ClientRateLimiter::per_minute(2);
        let a = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let b = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.check(b).is_ok(), "another client is unaffected");
    }
}
