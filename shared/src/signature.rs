//! Stripe webhook signatures (G4), exactly Stripe's scheme.
//!
//! `Stripe-Signature: t=1700000000,v1=<hex>,v1=<hex>,v0=<hex>`. The signed payload is
//! `"{t}." + raw body`, HMAC-SHA256 keyed by the endpoint secret's UTF-8 bytes (`whsec_…`
//! included, not base64-decoded), lowercase hex. An event is authentic when **any** `v1` matches
//! **any** configured secret (so secrets can be rotated without downtime), compared in constant
//! time, and `t` is within the tolerance of now. `v0` and unknown keys are ignored. Nothing here
//! parses JSON: callers verify the raw bytes first and parse after.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default and ours: five minutes either side of now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The endpoint secrets currently accepted. Two during a rotation, one otherwise.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl WebhookSecrets {
    pub fn new(secrets: Vec<SecretString>) -> Self {
        Self(secrets)
    }

    pub fn from_strs<S: AsRef<str>>(secrets: &[S]) -> Self {
        Self(
            secrets
                .iter()
                .map(|s| SecretString::from(s.as_ref().to_owned()))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.expose_secret())
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets([REDACTED; {}])", self.0.len())
    }
}

/// Why a webhook was not accepted as authentic. Each maps to a 400 with a short reason that
/// never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header")]
    MalformedHeader,
    #[error("Stripe-Signature header has no timestamp")]
    MissingTimestamp,
    #[error("Stripe-Signature timestamp is not a number")]
    InvalidTimestamp,
    #[error("Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("no signature matches the payload")]
    NoMatchingSignature,
    #[error("timestamp is outside the tolerance (too old)")]
    TimestampTooOld,
    #[error("timestamp is outside the tolerance (in the future)")]
    TimestampInFuture,
}

impl VerifyError {
    /// A stable, machine-friendly code for responses and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::MalformedHeader => "malformed_header",
            Self::MissingTimestamp => "missing_timestamp",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::NoV1Signature => "no_v1_signature",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
        }
    }
}

/// The parts of a `Stripe-Signature` header we use.
struct ParsedHeader<'a> {
    timestamp: i64,
    timestamp_text: &'a str,
    v1: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, VerifyError> {
    if header.trim().is_empty() {
        return Err(VerifyError::MissingHeader);
    }
    let mut timestamp_text = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        // Surrounding whitespace is tolerated (`t=1, v1=…`): it cannot change what is signed.
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = item.split_once('=').ok_or(VerifyError::MalformedHeader)?;
        match key.trim() {
            "t" => timestamp_text = Some(value.trim()),
            "v1" => v1.push(value.trim()),
            // v0 is Stripe's test-only scheme; unknown keys may be added by Stripe later.
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(VerifyError::MissingTimestamp)?;
    if timestamp_text.is_empty() || !timestamp_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    let timestamp = timestamp_text
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if v1.is_empty() {
        return Err(VerifyError::NoV1Signature);
    }
    Ok(ParsedHeader {
        timestamp,
        timestamp_text,
        v1,
    })
}

fn mac_for(secret: &str, timestamp: &str, payload: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Verifies `header` over the raw `payload` against every secret, at time `now` (unix seconds).
///
/// Returns the signed timestamp on success. The signature is checked before the timestamp so that
/// "stale" is only ever said of an authentic (replayed) event.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &WebhookSecrets,
    tolerance: Duration,
    now: i64,
) -> Result<i64, VerifyError> {
    let parsed = parse_header(header)?;
    // Decode once; a candidate that is not 32 bytes of hex can never match.
    let candidates: Vec<[u8; 32]> = parsed
        .v1
        .iter()
        .filter_map(|hex_sig| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(hex_sig, &mut out).ok().map(|()| out)
        })
        .collect();
    let mut matched = false;
    for secret in secrets.iter() {
        let expected = mac_for(secret, parsed.timestamp_text, payload)
            .finalize()
            .into_bytes();
        for candidate in &candidates {
            // Non-short-circuiting: every comparison runs in constant time.
            matched |= bool::from(expected.as_slice().ct_eq(candidate));
        }
    }
    if !matched {
        return Err(VerifyError::NoMatchingSignature);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(parsed.timestamp);
    if age > tolerance {
        return Err(VerifyError::TimestampTooOld);
    }
    if -age > tolerance {
        return Err(VerifyError::TimestampInFuture);
    }
    Ok(parsed.timestamp)
}

/// The lowercase hex `v1` signature of `payload` at `timestamp` under `secret`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mac = mac_for(secret, &timestamp.to_string(), payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A complete `Stripe-Signature` header with one `v1` per secret, as Stripe sends during a
/// secret rotation.
pub fn signature_header<S: AsRef<str>>(payload: &[u8], secrets: &[S], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(payload, secret.as_ref(), timestamp));
    }
    header
}

/// Now, in unix seconds, for callers of [`verify`].
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
