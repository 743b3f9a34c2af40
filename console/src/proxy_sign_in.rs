//! Sign-in through a trusted reverse proxy (single sign-on): a proxy in front of the console
//! (oauth2-proxy, Authelia, Caddy's `forward_auth`…) authenticates the operator and names them in
//! a header (`console.proxy_user_header`). The header is believed only from the proxies'
//! addresses (`console.trusted_proxies`, matched against the TCP peer, never against a header),
//! so a request that reaches the console's port some other way cannot name anyone.
//!
//! The proxy says who; `console.operators` still says whether they may come in and with which
//! role. `GET /login` turns a vouched name into an ordinary session (same cookie, same form
//! token), and a session whose operator is not the one the proxy now names is not honoured.

use std::net::IpAddr;

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use ipnet::IpNet;
use shared::settings::ConsoleSettings;

/// The configured proxy and header.
#[derive(Debug, Clone)]
pub struct ProxySignIn {
    header: HeaderName,
    trusted: Vec<IpNet>,
}

/// What a request's proxy header amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouched {
    /// No proxy sign-in configured, or no (or an empty) header.
    Nobody,
    /// The header came from a peer that is not a trusted proxy: ignored.
    Untrusted { peer: Option<IpAddr> },
    /// A trusted proxy names this operator.
    Operator(String),
}

impl ProxySignIn {
    /// The proxy sign-in `console` configures, if any. The settings are checked at start-up
    /// (both halves or neither, a valid header name, parseable ranges).
    pub fn from_settings(console: &ConsoleSettings) -> anyhow::Result<Option<ProxySignIn>> {
        let header = console.proxy_user_header.trim();
        if header.is_empty() {
            return Ok(None);
        }
        Ok(Some(ProxySignIn {
            header: HeaderName::from_bytes(header.as_bytes())?,
            trusted: console
                .trusted_proxy_ranges()
                .map_err(|problem| anyhow::anyhow!("console.trusted_proxies: {problem}"))?,
        }))
    }

    /// Whom `req` is vouched for.
    pub fn vouched(&self, req: &HttpRequest) -> Vouched {
        let Some(name) = req
            .headers()
            .get(&self.header)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|name| !name.is_empty())
        else {
            return Vouched::Nobody;
        };
        // An IPv4 peer of a dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = req.peer_addr().map(|addr| addr.ip().to_canonical());
        match peer {
            Some(ip) if self.trusted.iter().any(|range| range.contains(&ip)) => {
                Vouched::Operator(name.to_owned())
            }
            _ => Vouched::Untrusted { peer },
        }
    }
}

/// Whom `req` is vouched for under `proxy` (none configured: nobody).
pub fn vouched(proxy: Option<&ProxySignIn>, req: &HttpRequest) -> Vouched {
    proxy.map_or(Vouched::Nobody, |proxy| proxy.vouched(req))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxy(trusted: &[&str]) -> ProxySignIn {
        ProxySignIn {
            header: HeaderName::from_static("remote-user"),
            trusted: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        }
    }

    fn request(peer: &str, user: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(user) = user {
            request = request.insert_header(("Remote-User", user));
        }
        request.to_http_request()
    }

    #[test]
    fn only_a_trusted_peer_names_an_operator() {
        let proxy = proxy(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(
            proxy.vouched(&request("10.1.2.3:4000", Some(" alice "))),
            Vouched::Operator("alice".into())
        );
        assert_eq!(
            proxy.vouched(&request("[::1]:4000", Some("bob"))),
            Vouched::Operator("bob".into())
        );
        assert_eq!(
            proxy.vouched(&request("[::ffff:10.9.9.9]:4000", Some("carol"))),
            Vouched::Operator("carol".into()),
            "an IPv4 peer on a dual-stack socket is still that IPv4 address"
        );
        assert_eq!(
            proxy.vouched(&request("192.168.1.5:4000", Some("alice"))),
            Vouched::Untrusted {
                peer: Some("192.168.1.5".parse().unwrap())
            }
        );
        assert_eq!(
            proxy.vouched(&request("10.1.2.3:4000", None)),
            Vouched::Nobody
        );
        assert_eq!(
            proxy.vouched(&request("10.1.2.3:4000", Some("  "))),
            Vouched::Nobody
        );
        assert_eq!(
            vouched(None, &request("10.1.2.3:4000", Some("alice"))),
            Vouched::Nobody
        );
    }
}
