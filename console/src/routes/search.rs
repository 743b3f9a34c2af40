//! `GET /search?q=`: support's "a customer says they paid". One order found opens its session;
//! several (an email with many orders) are listed newest first.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use shared::{Currency, Money};

use crate::lookup::{self, Query};
use crate::pages::{respond, session_href, timestamp, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Debug, Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Option<Nav>,
    query: String,
    note: Option<&'static str>,
    hits: Vec<HitView>,
}

#[derive(Debug)]
struct HitView {
    href: String,
    number: i64,
    state: String,
    customer: String,
    total: String,
    created: String,
}

pub async fn page(
    state: web::Data<AppState>,
    operator: SignedIn,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, Refused> {
    let Some(parsed) = Query::parse(&query.q) else {
        let page = SearchPage {
            nav: operator.nav(),
            query: query.q.clone(),
            note: Some("Search by Checkout Session id (cs_…), order number (1042) or email."),
            hits: Vec::new(),
        };
        return Ok(respond(StatusCode::BAD_REQUEST, &page));
    };
    let hits = lookup::find(&state.pool, &parsed, state.list_limit).await?;
    // A session id is worth opening even without an order: its events may say why.
    if let (Query::Session(id), true) = (&parsed, hits.is_empty()) {
        return Ok(see_other(&session_href(id, "")));
    }
    if let [only] = &hits[..] {
        return Ok(see_other(&session_href(&only.session_id, &only.account)));
    }
    let page = SearchPage {
        nav: operator.nav(),
        query: query.q.clone(),
        note: hits.is_empty().then_some("No order matches."),
        hits: hits
            .into_iter()
            .map(|hit| HitView {
                href: session_href(&hit.session_id, &hit.account),
                number: hit.order_number,
                state: hit.state,
                customer: hit.customer_email.or(hit.customer_name).unwrap_or_default(),
                total: match (
                    hit.amount_total,
                    hit.currency.as_deref().and_then(Currency::parse),
                ) {
                    (Some(minor), Some(currency)) => Money::new(minor, currency).to_string(),
                    _ => String::new(),
                },
                created: timestamp(hit.created_at),
            })
            .collect(),
    };
    Ok(respond(StatusCode::OK, &page))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}
