//! `Request-Id: req_…` on every response, as Stripe sends it; clients log it and the
//! idempotency cache records it as `Original-Request`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use crate::ids;

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(pub String);

pub(crate) async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = ids::request();
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let mut res = next.call(req).await?;
    tracing::debug!(
        request_id = %id,
        %method,
        %path,
        status = res.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    res.headers_mut().insert(
        HeaderName::from_static("request-id"),
        HeaderValue::from_str(&id).expect("request ids are ASCII"),
    );
    Ok(res)
}
