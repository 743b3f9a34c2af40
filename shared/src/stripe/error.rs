use serde::Deserialize;

/// Stripe's error object: `{"error": {"type", "code", "message", "param", …}}`, plus the HTTP
/// status, request id and `Stripe-Should-Retry` header of the answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(skip)]
    pub request_id: Option<String>,
    /// The `Stripe-Should-Retry` header (`true`/`false`), when the answer carried one: Stripe's
    /// own verdict on whether the same request may succeed later, which overrides the status's.
    #[serde(skip)]
    pub should_retry: Option<bool>,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: ApiError,
}

impl ApiError {
    /// Parses an error body; a body that is not Stripe's shape still yields the status.
    pub fn parse(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let mut error = serde_json::from_slice::<Envelope>(body)
            .map(|e| e.error)
            .unwrap_or_else(|_| ApiError {
                message: Some(String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()),
                ..ApiError::default()
            });
        error.status = status;
        error.request_id = request_id;
        error
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(param) = &self.param {
            write!(f, " [param {param}]")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

/// Why a Stripe call failed, as callers need to act on it.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// 404: the object does not exist (in this mode, on this account). Permanent.
    #[error("Stripe: not found: {0}")]
    NotFound(ApiError),
    /// 401/403: the key is wrong, expired, rolled or lacks a permission. An outage, not a
    /// property of the object asked for: every call fails alike until someone fixes the key, and
    /// then every one of them succeeds. Transient.
    #[error("Stripe: authentication failed: {0}")]
    Authentication(ApiError),
    /// A 4xx that Stripe marked `Stripe-Should-Retry: true` (e.g. the object was locked by a
    /// concurrent request), after every immediate retry was spent. An outage too: the answer
    /// says nothing against the request itself. Transient.
    #[error("Stripe: asked to retry: {0}")]
    ShouldRetry(ApiError),
    /// Other 4xx: our request is wrong. Permanent; retrying sends the same mistake.
    #[error("Stripe: invalid request: {0}")]
    InvalidRequest(ApiError),
    /// 429 after every retry was spent. Transient.
    #[error("Stripe: rate limited: {0}")]
    RateLimited(ApiError),
    /// 408/409/5xx after every retry was spent. Transient: a 408 says the request was not read
    /// in time, nothing about it.
    #[error("Stripe: server error: {0}")]
    Server(ApiError),
    /// Could not connect, or the request timed out. Transient.
    #[error("Stripe: connection failed")]
    Connection(#[source] reqwest::Error),
    /// A 2xx whose body is not the object we asked for.
    #[error("Stripe: unexpected response body")]
    Decode(#[source] serde_json::Error),
}

impl StripeError {
    /// Whether trying again later may succeed (the worker retries these with delay).
    ///
    /// A 5xx stays transient even with `Stripe-Should-Retry: false`: that header decides the
    /// client's immediate retries, while this decides whether an order is given up on, and
    /// reading a session is safe to repeat minutes later.
    pub fn is_transient(&self) -> bool {
        self.is_outage()
            || matches!(
                self,
                Self::RateLimited(_) | Self::Server(_) | Self::Connection(_)
            )
    }

    /// Whether Stripe refused the call for a reason that is about us, not about the object: a
    /// rejected key, or an answer Stripe says to retry. Such a failure may last as long as it
    /// takes an operator to fix the key, so the worker never gives up an event over it (no dead
    /// letter, the reconciler's cursor waits) and the alert rules page on it.
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Authentication(_) | Self::ShouldRetry(_))
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Authentication(_) => "authentication",
            Self::ShouldRetry(_) => "should_retry",
            Self::InvalidRequest(_) => "invalid_request",
            Self::RateLimited(_) => "rate_limited",
            Self::Server(_) => "server",
            Self::Connection(_) => "connection",
            Self::Decode(_) => "decode",
        }
    }

    /// Classifies an answer by its status, then by `Stripe-Should-Retry`: a 4xx that Stripe
    /// says to retry is not our mistake, whatever its status (401/403 excepted: those are about
    /// the key either way).
    pub(crate) fn from_status(error: ApiError) -> Self {
        match error.status {
            401 | 403 => Self::Authentication(error),
            429 => Self::RateLimited(error),
            408 | 409 | 500..=599 => Self::Server(error),
            _ if error.should_retry == Some(true) => Self::ShouldRetry(error),
            404 => Self::NotFound(error),
            _ => Self::InvalidRequest(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_error_object_is_parsed() {
        let body = br#"{"error":{"code":"resource_missing","doc_url":"https://stripe.com/docs/error-codes/resource-missing","message":"No such checkout.session: 'cs_test_x'","param":"session","type":"invalid_request_error"}}"#;
        let e = ApiError::parse(404, Some("req_1".into()), body);
        assert_eq!(e.kind, "invalid_request_error");
        assert_eq!(e.code.as_deref(), Some("resource_missing"));
        assert_eq!(e.param.as_deref(), Some("session"));
        assert!(matches!(
            StripeError::from_status(e),
            StripeError::NotFound(_)
        ));
    }

    fn answer(status: u16, should_retry: Option<bool>) -> StripeError {
        let mut error = ApiError::parse(
            status,
            None,
            br#"{"error":{"type":"invalid_request_error"}}"#,
        );
        error.should_retry = should_retry;
        StripeError::from_status(error)
    }

    #[test]
    fn a_4xx_stripe_says_to_retry_is_a_transient_outage() {
        let error = answer(400, Some(true));
        assert!(matches!(error, StripeError::ShouldRetry(_)), "{error:?}");
        assert!(error.is_transient() && error.is_outage());
        assert_eq!(error.kind(), "should_retry");
        let error = answer(404, Some(true));
        assert!(error.is_transient() && error.is_outage(), "{error:?}");
        // Without the header, or with `false`, a 4xx stays our mistake.
        for should_retry in [None, Some(false)] {
            let error = answer(400, should_retry);
            assert!(matches!(error, StripeError::InvalidRequest(_)), "{error:?}");
            assert!(!error.is_transient());
        }
    }

    /// A 408 is the server (or a proxy in front of it) giving up on reading our request: nothing
    /// about the session. Classed as our mistake, it dead-lettered a paid order's event on its
    /// first attempt when the simulator, starved of CPU, answered one.
    #[test]
    fn a_request_timeout_is_transient_not_our_mistake() {
        let error = answer(408, None);
        assert!(matches!(error, StripeError::Server(_)), "{error:?}");
        assert!(error.is_transient() && !error.is_outage());
    }

    #[test]
    fn a_rejected_key_is_a_transient_outage_whatever_the_header_says() {
        for status in [401, 403] {
            for should_retry in [None, Some(false)] {
                let error = answer(status, should_retry);
                assert!(matches!(error, StripeError::Authentication(_)), "{error:?}");
                assert!(error.is_transient() && error.is_outage(), "{error:?}");
            }
        }
        let throttled = answer(429, Some(true));
        assert!(throttled.is_transient() && !throttled.is_outage());
    }

    #[test]
    fn a_non_json_error_body_keeps_the_status() {
        let e = ApiError::parse(502, None, b"<html>Bad gateway</html>");
        assert_eq!(e.status, 502);
        assert!(StripeError::from_status(e).is_transient());
    }
}
