//! Reading the raw request body, bounded in size and in time.
//!
//! The signature covers the exact bytes, so the body is kept as received (`Bytes`, never a
//! `String` or a parsed value). A declared `Content-Length` over the limit is refused before a
//! byte is read; a chunked body is refused as soon as it crosses the limit. The whole body must
//! arrive within the read timeout, however it is paced: a client that stalls or trickles would
//! otherwise hold a connection and a request for as long as it likes.

use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::rejection::Rejection;

/// The body of `request`, at most `limit` bytes, all of it within `timeout`.
pub async fn read_limited(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Rejection> {
    // A body already buffered completes on the first poll, before any timer is armed.
    tokio::time::timeout(timeout, read_up_to(request, payload, limit))
        .await
        .map_err(|_| Rejection::BodyTimeout { after: timeout })?
}

async fn read_up_to(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, Rejection> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(Rejection::TooLarge { limit });
    }
    // Trust the declared length only as a capacity hint, never beyond the limit.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Rejection::UnreadableBody)?;
        if body.len() + chunk.len() > limit {
            return Err(Rejection::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
