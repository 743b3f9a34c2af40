//! The one error type of the simulator, rendered as Stripe's error object.
//!
//! Stripe answers every failure with `{"error": {"type", "code"?, "doc_url"?, "message", "param"?}}`
//! and an HTTP status that tells the client whether to retry. Clients (and our own Stripe client in
//! `shared`) branch on `type`, `code` and `param`, so each constructor below mirrors one family of
//! Stripe's answers rather than inventing its own.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

/// A failed simulator operation: the HTTP status plus the fields of Stripe's error object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {error_type}: {message}")]
pub struct SimError {
    status: u16,
    error_type: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
    /// `Stripe-Should-Retry`, when the answer carries it (429 always does).
    should_retry: Option<bool>,
}

impl SimError {
    fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        SimError {
            status,
            error_type,
            code: None,
            message: message.into(),
            param: None,
            should_retry: None,
        }
    }

    /// Sends `Stripe-Should-Retry: true|false` with the answer: Stripe's own verdict, which
    /// clients follow before the status's.
    pub fn advising_retry(mut self, should_retry: bool) -> Self {
        self.should_retry = Some(should_retry);
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 `parameter_missing`: a required parameter was not sent.
    pub fn missing_param(param: &str) -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            format!("Missing required param: {param}."),
        )
        .with_code("parameter_missing")
        .with_param(param)
    }

    /// 400 `parameter_invalid_empty`: Stripe reads an empty value as "unset", which a required
    /// parameter cannot be.
    pub fn empty_param(param: &str) -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt \
                 to unset a parameter; however '{param}' cannot be unset. You should remove \
                 '{param}' from your request or supply a non-empty value."
            ),
        )
        .with_code("parameter_invalid_empty")
        .with_param(param)
    }

    /// 400 `parameter_invalid_integer`.
    pub fn invalid_integer(param: &str, raw: &str) -> Self {
        Self::new(400, INVALID_REQUEST, format!("Invalid integer: {raw}"))
            .with_code("parameter_invalid_integer")
            .with_param(param)
    }

    /// 400 `parameter_unknown`: Stripe rejects parameters it does not know.
    pub fn unknown_param(param: &str) -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            format!("Received unknown parameter: {param}"),
        )
        .with_code("parameter_unknown")
        .with_param(param)
    }

    /// 400 `parameters_exclusive`: two parameters that cannot be combined.
    pub fn exclusive_params(a: &str, b: &str) -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            format!("You may only specify one of these parameters: {a}, {b}."),
        )
        .with_code("parameters_exclusive")
        .with_param(a)
    }

    /// 400 without a code: the parameter is present but its value is not acceptable.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::new(400, INVALID_REQUEST, message).with_param(param)
    }

    /// 400: a parameter Stripe accepts but the simulator does not model. Saying so plainly beats
    /// silently ignoring it and letting a test pass against behaviour the real API would not have.
    pub fn unsupported_param(param: &str, endpoint: &str) -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            format!("stripe-sim does not implement the parameter {param} of {endpoint}."),
        )
        .with_param(param)
    }

    /// 400 for a request header whose value Stripe would not accept (`Stripe-Account` naming
    /// something other than an account). Stripe names no `param` for a header.
    pub fn invalid_header(message: impl Into<String>) -> Self {
        Self::new(400, INVALID_REQUEST, message)
    }

    /// 404 `resource_missing` for the object named in the URL path.
    pub fn not_found(object: &str, id: &str, param: &str) -> Self {
        Self::new(404, INVALID_REQUEST, format!("No such {object}: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)
    }

    /// 400 `resource_missing` for an object referenced from a parameter (a price in a line
    /// item, a pagination cursor): Stripe uses 400 here, 404 only for the path's own object.
    pub fn missing_reference(object: &str, id: &str, param: &str) -> Self {
        Self::new(400, INVALID_REQUEST, format!("No such {object}: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)
    }

    /// 400 for an archived price named where only active prices are accepted (a session's or a
    /// payment link's line item).
    pub fn inactive_price(param: &str) -> Self {
        Self::invalid_param(
            param,
            "The price specified is inactive. This field only accepts active prices.",
        )
    }

    /// 400 for an action the object's current state does not allow (completing an expired
    /// session, say).
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(400, INVALID_REQUEST, message)
    }

    /// 400 `idempotency_error`: an `Idempotency-Key` reused with other parameters.
    pub fn idempotency(message: impl Into<String>) -> Self {
        Self::new(400, "idempotency_error", message)
    }

    /// 401: no key, or a key the simulator does not accept.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, INVALID_REQUEST, message)
    }

    /// 429 `rate_limit`. Stripe types rate limiting as `invalid_request_error`.
    pub fn rate_limited() -> Self {
        Self::new(
            429,
            INVALID_REQUEST,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of \
             your requests.",
        )
        .with_code("rate_limit")
        // Stripe's SDKs honour this header before their own retry policy.
        .advising_retry(true)
    }

    /// 5xx `api_error`: something went wrong on "Stripe's" side.
    pub fn api_error(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, "api_error", message)
    }

    /// Any other status, as a fault injection asked for it.
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        match status {
            429 => Self::rate_limited(),
            500..=599 => Self::api_error(status, message),
            _ => Self::new(status, INVALID_REQUEST, message),
        }
    }

    /// 404 for a URL that names no endpoint, worded as Stripe words it.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::new(
            404,
            INVALID_REQUEST,
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs \
                 or we can help at https://support.stripe.com/."
            ),
        )
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Stripe's `error.type`.
    pub fn error_type(&self) -> &str {
        self.error_type
    }

    /// Stripe's `error.code`, when the error has one.
    pub fn code(&self) -> Option<&str> {
        self.code
    }

    /// The human-readable `error.message`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The request parameter at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// Stripe's `{"error": {…}}` body.
    pub fn to_json(&self) -> Value {
        let mut error = Map::new();
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.insert("type".into(), json!(self.error_type));
        json!({ "error": error })
    }
}

const INVALID_REQUEST: &str = "invalid_request_error";

impl ResponseError for SimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(should_retry) = self.should_retry {
            response.insert_header(("Stripe-Should-Retry", should_retry.to_string()));
        }
        if self.status == 401 {
            response.insert_header(("WWW-Authenticate", "Basic realm=\"Stripe\""));
        }
        response.json(self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coded_error_links_its_documentation() {
        let body = SimError::not_found("checkout.session", "cs_test_x", "session").to_json();
        assert_eq!(
            body,
            json!({"error": {
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "message": "No such checkout.session: 'cs_test_x'",
                "param": "session",
                "type": "invalid_request_error"
            }})
        );
    }

    #[test]
    fn an_uncoded_error_has_only_message_and_type() {
        let body = SimError::api_error(500, "boom").to_json();
        assert_eq!(
            body,
            json!({"error": {"message": "boom", "type": "api_error"}})
        );
    }
}
