//! Which client a request comes from, for the per-client budgets ([`crate::rate_limit`]).
//!
//! The TCP peer, unless the peer is one of `landing.trusted_proxies`: then the address the
//! proxies report in `landing.client_ip_header` (`X-Forwarded-For` by default). That header is
//! a chain, each proxy appending the address it received the request from, and anything left of
//! our own proxies' entries was written by the client. So the chain is read from the right, past
//! the trusted proxies, and the first other address is the client. A header from any other peer
//! is ignored: believing it would let anyone pick a fresh "client" per request.

use std::net::IpAddr;

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use ipnet::IpNet;
use shared::settings::LandingSettings;

/// How to find a request's client.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted_proxies: Vec<IpNet>,
    header: HeaderName,
}

impl ClientIp {
    /// From `landing.trusted_proxies` and `landing.client_ip_header` (validated with the
    /// settings; an error here names the key anyway).
    pub fn from_settings(landing: &LandingSettings) -> anyhow::Result<Self> {
        let trusted_proxies = landing
            .trusted_proxy_ranges()
            .map_err(|problem| anyhow::anyhow!("landing.trusted_proxies: {problem}"))?;
        let header = HeaderName::from_bytes(landing.client_ip_header.as_bytes())
            .map_err(|_| anyhow::anyhow!("landing.client_ip_header is not a header name"))?;
        Ok(Self {
            trusted_proxies,
            header,
        })
    }

    /// The client's address; `None` without a peer address (a handler called directly).
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let chain = req
            .headers()
            .get_all(&self.header)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        Some(self.client(peer, chain))
    }

    /// The walk described above: `chain` is the header's entries, left to right.
    fn client<'a>(&self, peer: IpAddr, chain: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        for hop in chain.rev() {
            if !self.is_trusted(client) {
                break;
            }
            match parse_hop(hop) {
                Some(address) => client = address,
                // Garbage from a client: the proxy that passed it on is as far as we can trust.
                None => break,
            }
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }
}

/// One entry of the chain: `203.0.113.7`, `203.0.113.7:5123`, `2001:db8::1` or
/// `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| canonical(socket.ip()))
}

/// An IPv4 client reaching a dual-stack socket appears as `::ffff:a.b.c.d`; it is the same
/// client as `a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn behind(trusted: &[&str]) -> ClientIp {
        ClientIp {
            trusted_proxies: trusted
                .iter()
                .map(|t| {
                    t.parse()
                        .unwrap_or_else(|_| IpNet::from(t.parse::<IpAddr>().unwrap()))
                })
                .collect(),
            header: HeaderName::from_static("x-forwarded-for"),
        }
    }

    fn client(resolver: &ClientIp, peer: &str, header: &str) -> IpAddr {
        resolver.client(ip(peer), header.split(','))
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(
            client(&behind(&[]), "192.0.2.1", "198.51.100.1"),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn from_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let resolver = behind(&["10.0.0.0/8"]);
        assert_eq!(
            client(&resolver, "10.0.0.2", "198.51.100.1"),
            ip("198.51.100.1")
        );
        assert_eq!(
            client(&resolver, "10.0.0.2", "203.0.113.9, 198.51.100.1, 10.0.0.3"),
            ip("198.51.100.1"),
            "a prepended address is not believed; a second proxy is skipped"
        );
        assert_eq!(
            client(&resolver, "10.0.0.2", "[2001:db8::7]:443"),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&resolver, "10.0.0.2", "198.51.100.1, not-an-address"),
            ip("10.0.0.2"),
            "garbage stops the walk at the proxy that passed it on"
        );
        assert_eq!(
            resolver.client(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let resolver = behind(&["10.0.0.0/8"]);
        assert_eq!(
            client(&resolver, "192.0.2.1", "198.51.100.1"),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let resolver = behind(&["10.0.0.1"]);
        assert_eq!(
            client(&resolver, "::ffff:10.0.0.1", "::ffff:198.51.100.1"),
            ip("198.51.100.1")
        );
    }
}
