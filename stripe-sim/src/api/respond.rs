//! Turning results into responses.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde_json::Value;

use super::auth::ApiKey;
use super::connected_account;
use super::params::Params;
use crate::error::SimError;
use crate::request_id::RequestId;
use crate::state::{Idempotent, IdempotentRequest, SimState};

/// 200 with a JSON body.
pub(crate) fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// Runs a POST's `op` under the request's `Idempotency-Key`, if it has one: a repeat of the
/// same request gets the first answer back with `Idempotent-Replayed: true` and
/// `Original-Request` naming the request that produced it.
pub(crate) fn idempotent(
    req: &HttpRequest,
    state: &SimState,
    params: &Params,
    op: impl FnOnce() -> Result<Value, SimError>,
) -> Result<HttpResponse, SimError> {
    let Some(key) = req
        .headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return op().map(ok);
    };
    let api_key = req
        .extensions()
        .get::<ApiKey>()
        .map(|k| k.0.clone())
        .unwrap_or_default();
    // Keys are scoped by the account too: the same key sent for two connected accounts names
    // two requests.
    let api_key = match connected_account::of(req) {
        Some(account) => format!("{api_key} for {account}"),
        None => api_key,
    };
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let outcome = state.idempotent(
        IdempotentRequest {
            api_key: &api_key,
            key: &key,
            endpoint: format!("{} {}", req.method(), req.path()),
            params: params.tree(),
            request_id: &request_id,
        },
        op,
    )?;
    Ok(match outcome {
        Idempotent::Fresh(body) => HttpResponse::Ok()
            .insert_header(("Idempotency-Key", key))
            .json(body),
        Idempotent::Replayed {
            body,
            original_request,
        } => HttpResponse::Ok()
            .insert_header(("Idempotency-Key", key))
            .insert_header(("Idempotent-Replayed", "true"))
            .insert_header(("Original-Request", original_request))
            .json(body),
    })
}
