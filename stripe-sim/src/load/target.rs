//! Where the load goes: loopback only. A load generator pointed elsewhere by a typo would be a
//! small denial-of-service; refusing anything but this machine makes that impossible.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};
use url::Url;

/// A checked `http://` target on this machine.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// Resolved and checked: every address is loopback.
    pub address: SocketAddr,
    /// The `Host` header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Target {
    pub async fn parse(raw: &str) -> anyhow::Result<Target> {
        let url = Url::parse(raw).with_context(|| format!("{raw:?} is not a URL"))?;
        if url.scheme() != "http" {
            bail!("only http:// targets are supported, not {:?}", url.scheme());
        }
        let host = url
            .host_str()
            .context("the target URL has no host")?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let address = resolve_loopback(&host, port).await?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        Ok(Target {
            url,
            address,
            authority,
            path,
        })
    }
}

/// Resolves `host` and refuses it unless every address it names is loopback.
pub async fn resolve_loopback(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if !ip.is_loopback() {
            bail!("refusing to send load to {host}: only loopback addresses (127.0.0.0/8, ::1) are allowed");
        }
        return Ok(SocketAddr::new(ip, port));
    }
    if !host.eq_ignore_ascii_case("localhost") {
        bail!("refusing to send load to {host}: only localhost and loopback addresses are allowed");
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .collect();
    match addresses.iter().find(|a| a.ip().is_loopback()) {
        Some(address) if addresses.iter().all(|a| a.ip().is_loopback()) => Ok(*address),
        _ => bail!("refusing to send load to {host}: it resolves to a non-loopback address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_targets_are_accepted() {
        for raw in [
            "http://127.0.0.1:8080/webhook",
            "http://127.3.2.1/webhook?x=1",
            "http://[::1]:9/webhook",
            "http://localhost:8080/webhook",
        ] {
            let target = Target::parse(raw).await.unwrap();
            assert!(target.address.ip().is_loopback(), "{raw}");
        }
        let target = Target::parse("http://127.0.0.1:8080/webhook?x=1")
            .await
            .unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.path, "/webhook?x=1");
    }

    #[tokio::test]
    async fn other_targets_are_refused() {
        for raw in [
            "http://10.0.0.1:8080/webhook",
            "http://192.168.1.10/webhook",
            "http://8.8.8.8/webhook",
            "http://example.com/webhook",
            "https://127.0.0.1/webhook",
            "http://0.0.0.0:8080/webhook",
        ] {
            assert!(Target::parse(raw).await.is_err(), "{raw} must be refused");
        }
    }
}
