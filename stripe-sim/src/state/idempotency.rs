//! `Idempotency-Key`: a retried POST gets the first answer back instead of a second object.
//!
//! Results are remembered per (API key, idempotency key) with the endpoint and the parsed
//! parameters, so a reuse with other parameters is refused as Stripe refuses it. As with Stripe,
//! only requests that got past validation are remembered: a 400 leaves the key unused. Keys are
//! kept for the simulator's lifetime (Stripe: at least 24 hours).

use std::collections::HashMap;

use serde_json::Value;

use super::SimState;
use crate::error::SimError;

/// Stripe's limit on the key's length.
const MAX_KEY_LEN: usize = 255;

#[derive(Debug, Default)]
pub(crate) struct IdempotencyCache {
    saved: HashMap<(String, String), Saved>,
}

#[derive(Debug)]
struct Saved {
    endpoint: String,
    params: Value,
    body: Value,
    request_id: String,
}

/// The answer to an idempotent request.
#[derive(Debug)]
pub(crate) enum Idempotent {
    /// First use of the key: the operation ran.
    Fresh(Value),
    /// The key was used before with the same request: its answer, and the request that made it.
    Replayed {
        body: Value,
        original_request: String,
    },
}

/// Who sent the request and what it asked, as far as idempotency compares them.
#[derive(Debug)]
pub(crate) struct IdempotentRequest<'a> {
    pub api_key: &'a str,
    pub key: &'a str,
    /// `POST /v1/checkout/sessions`.
    pub endpoint: String,
    pub params: &'a Value,
    pub request_id: &'a str,
}

impl SimState {
    /// Runs `op` unless this key already has an answer. The cache stays locked while `op` runs,
    /// so two concurrent requests with one key cannot both create an object.
    pub(crate) fn idempotent(
        &self,
        request: IdempotentRequest<'_>,
        op: impl FnOnce() -> Result<Value, SimError>,
    ) -> Result<Idempotent, SimError> {
        if request.key.len() > MAX_KEY_LEN {
            return Err(SimError::invalid_param(
                "Idempotency-Key",
                format!("Idempotency keys can be at most {MAX_KEY_LEN} characters long."),
            ));
        }
        let mut cache = super::lock(&self.inner.idempotency);
        let slot = (request.api_key.to_string(), request.key.to_string());
        if let Some(saved) = cache.saved.get(&slot) {
            if saved.endpoint != request.endpoint {
                return Err(SimError::idempotency(format!(
                    "Keys for idempotent requests can only be used for the same endpoint they \
                     were first used for ('{}' vs '{}'). Try using a key other than '{}' if you \
                     meant to execute a different request.",
                    saved.endpoint, request.endpoint, request.key
                )));
            }
            if saved.params != *request.params {
                return Err(SimError::idempotency(format!(
                    "Keys for idempotent requests can only be used with the same parameters they \
                     were first used with. Try using a key other than '{}' if you meant to \
                     execute a different request.",
                    request.key
                )));
            }
            return Ok(Idempotent::Replayed {
                body: saved.body.clone(),
                original_request: saved.request_id.clone(),
            });
        }
        let body = op()?;
        cache.saved.insert(
            slot,
            Saved {
                endpoint: request.endpoint,
                params: request.params.clone(),
                body: body.clone(),
                request_id: request.request_id.to_string(),
            },
        );
        Ok(Idempotent::Fresh(body))
    }
}
