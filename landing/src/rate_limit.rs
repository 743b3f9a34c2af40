//! A per-client request budget, keyed by the client's address as [`crate::client_ip`] finds it
//! (the TCP peer, or what a trusted proxy reports).
//!
//! An IPv6 client is keyed by its /64: one host or household usually holds a whole /64 and can
//! pick any address in it, so counting single addresses would give it 2^64 budgets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
        let key = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), budget_key);
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

/// IPv4 addresses as they are; IPv6 addresses with their last 64 bits cleared.
fn budget_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
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

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let limiter = ClientRateLimiter::per_minute(1);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:aaaa::5")).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok());
    }
}
