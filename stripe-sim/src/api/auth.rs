//! API keys: `Authorization: Bearer sk_test_…` (what Stripe's SDKs send) or HTTP Basic with the
//! key as the user name (what `curl -u sk_test_…:` sends).

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use base64::Engine;

use crate::error::SimError;
use crate::state::SimState;

/// The key a request authenticated with; idempotency keys are scoped by it, as at Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(pub String);

/// The request's key if the simulator accepts it; otherwise Stripe's 401.
pub(crate) fn authenticate(headers: &HeaderMap, state: &SimState) -> Result<ApiKey, SimError> {
    let Some(key) = key_from_headers(headers) else {
        return Err(SimError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
             YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or \
             we can help at https://support.stripe.com/.",
        ));
    };
    if state.accepts_key(&key) {
        Ok(ApiKey(key))
    } else {
        Err(invalid_key(&key))
    }
}

/// Stripe's 401 for a key it does not (or no longer) accept.
pub(crate) fn invalid_key(key: &str) -> SimError {
    SimError::unauthorized(format!("Invalid API Key provided: {}", redact(key)))
}

fn key_from_headers(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        // `user:password`; the key is the user, the password is empty.
        decoded.split(':').next()?.to_string()
    } else {
        return None;
    };
    (!key.is_empty()).then_some(key)
}

/// `sk_test_****abcd`: the type prefix and the last four characters, as Stripe shows keys.
fn redact(key: &str) -> String {
    let prefix_end = key
        .match_indices('_')
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap_or(0);
    let (prefix, secret) = key.split_at(prefix_end);
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = if chars.len() > 4 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{prefix}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_carry_the_same_key() {
        assert_eq!(
            key_from_headers(&headers("Bearer sk_test_123")).as_deref(),
            Some("sk_test_123")
        );
        // base64("sk_test_123:")
        assert_eq!(
            key_from_headers(&headers("Basic c2tfdGVzdF8xMjM6")).as_deref(),
            Some("sk_test_123")
        );
        assert_eq!(key_from_headers(&headers("Bearer ")), None);
        assert_eq!(key_from_headers(&headers("Token sk_test_123")), None);
        assert_eq!(key_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn a_key_is_redacted_to_its_prefix_and_last_four() {
        assert_eq!(redact("sk_test_51Habcdabcd"), "sk_test_****abcd");
        assert_eq!(redact("sk_live_x"), "sk_live_****");
        assert_eq!(redact("garbage-key"), "****-key");
    }
}
