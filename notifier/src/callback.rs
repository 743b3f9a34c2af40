//! Signed HTTP callbacks to the merchant's systems (a chat's incoming webhook, an inventory
//! service): a POST of the announcement's JSON body, exactly as published.
//!
//! Headers, for the receiver:
//! - `Notifier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under
//!   `notifier.callback_secret`: Stripe's `Stripe-Signature` scheme, so the same verification
//!   code works (compare in constant time, refuse a `t` too far from now).
//! - `Idempotency-Key: <message_id>`: the same on every send of one announcement; a receiver
//!   that keeps the keys it has seen drops the repeat a crash between sending and recording can
//!   cause.
//! - `Notifier-Event: <routing key>` (`order.fulfilled`, `order.payment_failed`).
//!
//! A 2xx answer is a delivery. 408, 429, 5xx, a timeout or no connection may pass: tried again.
//! Any other answer (a 4xx, a redirect, which is never followed) will not: dead-lettered.

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use shared::errors::error_chain;
use url::Url;
use uuid::Uuid;

use crate::dispatch::SendError;

pub const SIGNATURE_HEADER: &str = "Notifier-Signature";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
pub const EVENT_HEADER: &str = "Notifier-Event";

/// One of the merchant's callback URLs.
#[derive(Clone)]
pub struct Callback {
    url: Url,
    /// The channel's name in `notifications`: `callback:` and a digest of the URL, stable
    /// across restarts and list reorderings, and free of any token the URL carries.
    channel: String,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a token (a chat webhook's path): only the host is shown.
        f.debug_struct("Callback")
            .field("host", &self.url.host_str())
            .field("channel", &self.channel)
            .finish()
    }
}

impl Callback {
    pub fn new(url: Url) -> Self {
        let digest = Sha256::digest(url.as_str().as_bytes());
        let channel = format!("callback:{}", &hex::encode(digest)[..16]);
        Self { url, channel }
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

/// Sends callbacks: one HTTP client for all of them.
#[derive(Clone)]
pub struct Caller {
    client: reqwest::Client,
    secret: SecretString,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").finish_non_exhaustive()
    }
}

impl Caller {
    pub fn new(secret: SecretString, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, secret })
    }

    /// POSTs `body` (the announcement as published) to `callback`, signed at `timestamp`.
    pub async fn send(
        &self,
        callback: &Callback,
        message_id: Uuid,
        routing_key: &str,
        body: &[u8],
        timestamp: i64,
    ) -> Result<(), SendError> {
        let response = self
            .client
            .post(callback.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(body, &self.secret, timestamp))
            .header(IDEMPOTENCY_HEADER, message_id.to_string())
            .header(EVENT_HEADER, routing_key)
            .body(body.to_vec())
            .send()
            .await
            // No connection, a reset, a timeout: the receiver may be back later. The error
            // text is reqwest's without the URL, which may hold a token.
            .map_err(|e| {
                SendError::Transient(format!("callback: {}", error_chain(&e.without_url())))
            })?;
        classify(response.status())
    }
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(body: &[u8], secret: &SecretString, timestamp: i64) -> String {
    let v1 = shared::signature::sign(body, secret.expose_secret(), timestamp);
    format!("t={timestamp},v1={v1}")
}

/// What an answer's status means for the send.
pub fn classify(status: StatusCode) -> Result<(), SendError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(SendError::Transient(format!("callback answered {status}")))
    } else {
        Err(SendError::Permanent(format!("callback answered {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme_and_verifies_with_the_same_code() {
        let secret = SecretString::from("whsec_callback_secret_0001");
        let body = br#"{"version":1}"#;
        let header = signature(body, &secret, 1_700_000_000);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        let verified = shared::signature::verify(
            body,
            &header,
            &shared::signature::WebhookSecrets::from_strs(&["whsec_callback_secret_0001"]),
            std::time::Duration::from_secs(300),
            1_700_000_010,
        );
        assert_eq!(verified.ok(), Some(1_700_000_000));
    }

    #[test]
    fn only_answers_that_may_change_are_retried() {
        assert!(classify(StatusCode::NO_CONTENT).is_ok());
        for transient in [502, 503, 500, 408, 429] {
            let status = StatusCode::from_u16(transient).unwrap();
            assert!(
                matches!(classify(status), Err(SendError::Transient(_))),
                "{status}"
            );
        }
        for permanent in [400, 401, 404, 410, 301] {
            let status = StatusCode::from_u16(permanent).unwrap();
            assert!(
                matches!(classify(status), Err(SendError::Permanent(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn the_channel_names_the_url_without_showing_it() {
        let callback = Callback::new(Url::parse("https://chat.example/hooks/T0KEN").unwrap());
        assert!(callback.channel().starts_with("callback:"));
        assert!(!callback.channel().contains("T0KEN"));
        assert!(!format!("{callback:?}").contains("T0KEN"));
    }
}
