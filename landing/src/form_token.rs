//! The one-time token of the shop's forms: issued with each shop page, required by
//! `POST /checkout`.
//!
//! A checkout creates a Checkout Session, a call against the Stripe budget that fulfillment
//! needs (G6), so a form must come from a shop page this service rendered: the token is
//! `<issued, unix seconds>.<random nonce>.<HMAC-SHA256 of both under landing.form_secret>`,
//! checked in constant time, and accepted for [`MAX_AGE`]. Every replica shares the secret, so
//! a form rendered by one is accepted by another. The token is not stored: it proves where the
//! form came from, and the per-client budget bounds how often one is used. It also keys the
//! Checkout Session's idempotency (a double-submitted form makes one session).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How long a shop page's forms can be submitted: a customer may leave a tab open for hours,
/// not for days (prices may have changed since).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// How far in the future an issue time may be: another replica's clock may run a little ahead.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Bytes of the MAC kept in the token (128 bits: unforgeable, and a short hidden field).
const MAC_BYTES: usize = 16;

/// Separates this use of the secret from any other.
const CONTEXT: &[u8] = b"landing form token v1\n";

/// Why a token is refused (the customer sees one message for all: reload the shop page).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormTokenError {
    #[error("the form token is not one this shop issues")]
    Malformed,
    #[error("the form token's signature does not match")]
    Forged,
    #[error("the form token has expired")]
    Expired,
}

/// Issues and checks form tokens under one secret.
pub struct FormTokens {
    secret: SecretString,
}

impl std::fmt::Debug for FormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormTokens")
    }
}

impl FormTokens {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    /// A new token, issued now.
    pub fn issue(&self) -> String {
        self.issue_at(unix_now(), &uuid::Uuid::new_v4().simple().to_string())
    }

    /// Whether `token` was issued by this shop within [`MAX_AGE`].
    pub fn verify(&self, token: &str) -> Result<(), FormTokenError> {
        self.verify_at(token, unix_now())
    }

    fn issue_at(&self, issued: u64, nonce: &str) -> String {
        let mac = self.mac(issued, nonce).finalize().into_bytes();
        format!("{issued}.{nonce}.{}", hex::encode(&mac[..MAC_BYTES]))
    }

    fn verify_at(&self, token: &str, now: u64) -> Result<(), FormTokenError> {
        let mut parts = token.split('.');
        let (Some(issued), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(FormTokenError::Malformed);
        };
        let issued: u64 = issued.parse().map_err(|_| FormTokenError::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| FormTokenError::Malformed)?;
        if nonce.is_empty() || mac.len() != MAC_BYTES {
            return Err(FormTokenError::Malformed);
        }
        self.mac(issued, nonce)
            .verify_truncated_left(&mac)
            .map_err(|_| FormTokenError::Forged)?;
        let age_limit = now.saturating_sub(MAX_AGE.as_secs());
        if issued < age_limit || issued > now.saturating_add(CLOCK_SKEW.as_secs()) {
            return Err(FormTokenError::Expired);
        }
        Ok(())
    }

    fn mac(&self, issued: u64, nonce: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(CONTEXT);
        mac.update(format!("{issued}.{nonce}").as_bytes());
        mac
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000;

    fn tokens(secret: &str) -> FormTokens {
        FormTokens::new(SecretString::from(secret.to_owned()))
    }

    #[test]
    fn an_issued_token_is_accepted_until_it_is_a_day_old() {
        let shop = tokens("form_secret_for_tests");
        let token = shop.issue_at(NOW, "a1b2");
        assert_eq!(shop.verify_at(&token, NOW), Ok(()));
        assert_eq!(shop.verify_at(&token, NOW + MAX_AGE.as_secs()), Ok(()));
        assert_eq!(
            shop.verify_at(&token, NOW + MAX_AGE.as_secs() + 1),
            Err(FormTokenError::Expired)
        );
        assert_eq!(
            shop.verify_at(&token, NOW - 3600),
            Err(FormTokenError::Expired),
            "issued an hour in the future"
        );
        assert_ne!(shop.issue(), shop.issue(), "a new nonce each time");
    }

    #[test]
    fn a_token_changed_or_signed_under_another_secret_is_refused() {
        let shop = tokens("form_secret_for_tests");
        let token = shop.issue_at(NOW, "a1b2");
        let later = token.replacen(&NOW.to_string(), &(NOW + 60).to_string(), 1);
        assert_eq!(shop.verify_at(&later, NOW), Err(FormTokenError::Forged));
        let elsewhere = tokens("another_secret_entirely").issue_at(NOW, "a1b2");
        assert_eq!(shop.verify_at(&elsewhere, NOW), Err(FormTokenError::Forged));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let shop = tokens("form_secret_for_tests");
        for token in [
            "",
            "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "1790000000.a1b2",
            "1790000000.a1b2.zz",
            "1790000000..00000000000000000000000000000000",
            "x.a1b2.00000000000000000000000000000000",
            "1790000000.a1b2.00000000000000000000000000000000.extra",
        ] {
            assert_eq!(
                shop.verify_at(token, NOW),
                Err(FormTokenError::Malformed),
                "{token:?}"
            );
        }
    }
}
