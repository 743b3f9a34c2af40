//! `/static/{file}`: the stylesheet and the scripts (order status, embedded checkout), compiled into the binary so the
//! service needs no files beside it and no CDN.

use actix_web::{web, HttpResponse};

use crate::pages::ErrorPage;

const STYLESHEET: &str = include_str!("../../static/landing.css");
const STATUS_SCRIPT: &str = include_str!("../../static/status.js");
const EMBEDDED_CHECKOUT_SCRIPT: &str = include_str!("../../static/embedded-checkout.js");

/// An hour: long enough to spare repeat downloads, short enough that a deploy's new stylesheet
/// reaches everyone the same day without versioned file names.
const CACHE_CONTROL: &str = "public, max-age=3600";

pub async fn asset(file: web::Path<String>) -> HttpResponse {
    let (content_type, body) = match file.as_str() {
        "landing.css" => ("text/css; charset=utf-8", STYLESHEET),
        "status.js" => ("text/javascript; charset=utf-8", STATUS_SCRIPT),
        "embedded-checkout.js" => ("text/javascript; charset=utf-8", EMBEDDED_CHECKOUT_SCRIPT),
        _ => return ErrorPage::page_not_found(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", CACHE_CONTROL))
        .body(body)
}
