//! `Stripe-Account: acct_…`: a platform's request made on behalf of one of its connected
//! accounts (Stripe Connect). Checkout Sessions created with it belong to that account; only a
//! request naming the same account sees them again, and their events carry `account`.
//!
//! The simulator has no account objects: every well-formed `acct_…` is taken to be connected
//! to the platform. A value that is not an account id is refused, as Stripe refuses it.
//! Resources whose scoping is not modelled (customers, prices, payment links) refuse the header
//! rather than answer with the platform's objects, which Stripe would not do.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpMessage, HttpRequest};

use crate::error::SimError;
use crate::ids;

/// The header Stripe's SDKs send for `stripe_account=` / `stripeAccount`.
pub(crate) const HEADER: &str = "Stripe-Account";

/// The paths under `/v1` whose objects are scoped by the header.
const SCOPED_PREFIXES: [&str; 2] = ["/v1/checkout/sessions", "/v1/events"];

/// The connected account a request was made for; `None` (not in the request's extensions) is
/// the platform itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectedAccount(pub String);

/// Reads the header for the gate: `Ok(None)` without one, the account when it is well formed
/// and the path is one whose objects are scoped, a 400 otherwise.
pub(crate) fn from_headers(
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<ConnectedAccount>, SimError> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    let value = raw.to_str().unwrap_or_default().trim();
    if !ids::is_account(value) {
        return Err(SimError::invalid_header(format!(
            "The Stripe-Account header must name a connected account (acct_…); got {:?}.",
            value.chars().take(64).collect::<String>()
        )));
    }
    if !SCOPED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Err(SimError::invalid_header(format!(
            "stripe-sim models connected accounts for Checkout Sessions and events only, \
                 not for {path}."
        )));
    }
    Ok(Some(ConnectedAccount(value.to_string())))
}

/// The account the gate found on this request, if any.
pub(crate) fn of(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<ConnectedAccount>()
        .map(|a| a.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("stripe-account"),
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn a_connected_account_scopes_sessions_and_events() {
        let found = from_headers(&headers("acct_1Abc"), "/v1/checkout/sessions/cs_test_1");
        assert_eq!(found, Ok(Some(ConnectedAccount("acct_1Abc".into()))));
        assert_eq!(
            from_headers(&headers("acct_1Abc"), "/v1/events"),
            Ok(Some(ConnectedAccount("acct_1Abc".into())))
        );
        assert_eq!(from_headers(&HeaderMap::new(), "/v1/events"), Ok(None));
    }

    #[test]
    fn a_malformed_account_or_an_unscoped_resource_is_refused() {
        for value in ["", "cus_123", "acct_", "acct_a;b", "acct_ä"] {
            let err = from_headers(&headers(value), "/v1/events").unwrap_err();
            assert_eq!(err.status(), 400, "{value}");
            assert!(err.message().contains("acct_"), "{value}");
        }
        let err = from_headers(&headers("acct_1Abc"), "/v1/prices").unwrap_err();
        assert!(err.message().contains("/v1/prices"));
    }
}
