//! The pages, as askama templates (`console/templates/`, HTML-escaped automatically), their view
//! models of display-ready strings, and the step from a template to a response. Every page is
//! complete without JavaScript.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::{DateTime, Utc};
use shared::errors::error_chain;

/// Renders `page` with `status`; a template that fails to render (a bug) is logged and answered
/// with a plain 500 rather than half a page.
pub fn respond(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "a console page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("The page failed to render; the console's log says why.")
        }
    }
}

/// The header's operator and the token of its sign-out form.
#[derive(Debug)]
pub struct Nav {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
}

/// A page of one message (refusals, errors, not found).
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub nav: Option<Nav>,
    pub title: &'a str,
    pub text: &'a str,
}

pub fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    respond(
        status,
        &MessagePage {
            nav: None,
            title,
            text,
        },
    )
}

/// `12 s`, `4 min`, `3 h`, `2 d`: how long ago, at a glance.
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// The session page's address: the account, when there is one, rides in the query.
pub fn session_href(session_id: &str, account: &str) -> String {
    let mut href = format!("/sessions/{session_id}");
    if !account.is_empty() {
        href.push_str("?account=");
        href.push_str(account);
    }
    href
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::seconds(12), now), "12 s");
        assert_eq!(age(now - chrono::Duration::seconds(250), now), "4 min");
        assert_eq!(age(now - chrono::Duration::hours(3), now), "3 h");
        assert_eq!(age(now - chrono::Duration::days(2), now), "2 d");
        assert_eq!(age(now + chrono::Duration::seconds(5), now), "0 s");
    }
}
