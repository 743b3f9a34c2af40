use serde::Deserialize;

/// Stripe's error object: `{"error": {"type", "code", "message", "param", …}}`, plus the HTTP
/// status and request id for the logs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(skip)]
    pub request_id: Option<String>,
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
    /// 401/403: the key is wrong or lacks permission. Permanent until someone fixes the key.
    #[error("Stripe: authentication failed: {0}")]
    Authentication(ApiError),
    /// Other 4xx: our request is wrong. Permanent; retrying sends the same mistake.
    #[error("Stripe: invalid request: {0}")]
    InvalidRequest(ApiError),
    /// 429 after every retry was spent. Transient.
    #[error("Stripe: rate limited: {0}")]
    RateLimited(ApiError),
    /// 409/5xx after every retry was spent. Transient.
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
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited(_) | Self::Server(_) | Self::Connection(_)
        )
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Authentication(_) => "authentication",
            Self::InvalidRequest(_) => "invalid_request",
            Self::RateLimited(_) => "rate_limited",
            Self::Server(_) => "server",
            Self::Connection(_) => "connection",
            Self::Decode(_) => "decode",
        }
    }

    pub(crate) fn from_status(error: ApiError) -> Self {
        match error.status {
            404 => Self::NotFound(error),
            401 | 403 => Self::Authentication(error),
            429 => Self::RateLimited(error),
            409 | 500..=599 => Self::Server(error),
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

    #[test]
    fn a_non_json_error_body_keeps_the_status() {
        let e = ApiError::parse(502, None, b"<html>Bad gateway</html>");
        assert_eq!(e.status, 502);
        assert!(StripeError::from_status(e).is_transient());
    }
}
