//! The access log: one `HTTP request` span per request (tracing-actix-web), with the query's
//! `session_id` value redacted.
//!
//! A Checkout Session id in the success page's URL is what lets its holder see the order (name,
//! email, what was bought), and access logs travel further than the orders table: log shippers,
//! dashboards, support tickets. The request path is logged as
//! `/order/success?session_id=[redacted]`; the pages' own events still name the session where an
//! operator needs it to find the order.

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Query parameters whose values never reach the access log.
const SECRET_PARAMS: [&str; 1] = ["session_id"];

/// tracing-actix-web's root span with the same fields, but `http.target` redacted.
#[derive(Debug)]
pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let method = request.method().as_str();
        let connection = request.connection_info();
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let target = redact(request.uri().path_and_query().map_or("", |p| p.as_str()));
        // `http.client_ip` is the TCP peer: the default builder logs whatever X-Forwarded-For a
        // client sends. The address landing trusts ([`crate::client_ip`]) needs its settings.
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %connection.peer_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// `path?query` with the value of every secret parameter replaced by [`REDACTED`]; the rest
/// of the query as it came.
pub fn redact(path_and_query: &str) -> Cow<'_, str> {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return Cow::Borrowed(path_and_query);
    };
    let is_secret = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        SECRET_PARAMS.contains(&key)
    };
    if !query.split('&').any(is_secret) {
        return Cow::Borrowed(path_and_query);
    }
    let pairs: Vec<Cow<str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret(pair) => Cow::Owned(format!("{key}={REDACTED}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(format!("{path}?{}", pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_redacted_and_the_rest_kept() {
        assert_eq!(
            redact("/order/success?session_id=cs_test_a1b2"),
            "/order/success?session_id=[redacted]"
        );
        assert_eq!(
            redact("/order/status?x=1&session_id=cs_test_a1b2&y=2"),
            "/order/status?x=1&session_id=[redacted]&y=2"
        );
        assert_eq!(redact("/?session=cs_test_a"), "/?session=cs_test_a");
        assert_eq!(redact("/order/success"), "/order/success");
    }
}
