//! `GET /sessions/{id}[?account=acct_…]`: one Checkout Session — its order, and a timeline of
//! everything that happened to it — with "Fulfill now" for an operator while it is not
//! fulfilled.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use shared::store::{events, orders};
use shared::{AccountId, CheckoutSessionId, Currency, Money, Order};

use crate::pages::{message, respond, session_href, timestamp, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;
use crate::{audit, timeline};

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    pub account: String,
}

/// Which part of a session's address is malformed.
#[derive(Debug, Clone, Copy)]
pub(super) enum BadTarget {
    SessionId,
    Account,
}

impl BadTarget {
    /// The page that says so.
    pub(super) fn page(self) -> HttpResponse {
        match self {
            BadTarget::SessionId => message(
                StatusCode::BAD_REQUEST,
                "Not a Checkout Session id",
                "Checkout Session ids look like cs_test_… or cs_live_….",
            ),
            BadTarget::Account => message(
                StatusCode::BAD_REQUEST,
                "Not an account id",
                "Connected account ids look like acct_….",
            ),
        }
    }
}

/// The session and account a path and query name.
pub(super) fn target(
    id: &str,
    account: &str,
) -> Result<(CheckoutSessionId, Option<AccountId>), BadTarget> {
    let id = CheckoutSessionId::parse(id).map_err(|_| BadTarget::SessionId)?;
    let account = match account.trim() {
        "" => None,
        text => Some(AccountId::parse(text).map_err(|_| BadTarget::Account)?),
    };
    Ok((id, account))
}

#[derive(Debug, Template)]
#[template(path = "session.html")]
struct SessionPage {
    nav: Option<Nav>,
    session_id: String,
    account: String,
    order: Option<OrderView>,
    timeline: Vec<EntryView>,
    /// The fulfill button's address, when this operator may press it and it is needed.
    fulfill_href: Option<String>,
}

#[derive(Debug)]
struct OrderView {
    number: i64,
    state: String,
    fulfilled: String,
    customer: String,
    total: String,
    lines: Vec<String>,
}

#[derive(Debug)]
struct EntryView {
    at: String,
    actor: String,
    text: String,
    problem: bool,
}

fn money(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency.and_then(Currency::parse)) {
        (Some(minor), Some(currency)) => Money::new(minor, currency).to_string(),
        _ => "—".into(),
    }
}

fn order_view(order: &Order) -> OrderView {
    OrderView {
        number: order.order_number,
        state: order.state.as_str().to_owned(),
        fulfilled: match (&order.fulfilled_by, order.fulfilled_at) {
            (Some(by), Some(at)) => format!("by {by} at {}", timestamp(at)),
            _ => "not yet".into(),
        },
        customer: match (&order.customer_name, &order.customer_email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => "unknown".into(),
        },
        total: money(order.amount_total, order.currency.as_deref()),
        lines: order
            .lines
            .iter()
            .map(|line| {
                format!(
                    "{} × {} — {}",
                    line.quantity,
                    line.description,
                    money(Some(line.amount_total), Some(&line.currency))
                )
            })
            .collect(),
    }
}

pub async fn page(
    state: web::Data<AppState>,
    operator: SignedIn,
    path: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, Refused> {
    let (id, account) = match target(&path, &query.account) {
        Ok(target) => target,
        Err(bad) => return Ok(bad.page()),
    };
    let stored_account = account.as_ref().map(AccountId::as_str).unwrap_or("");
    let order = {
        let mut conn = state.pool.acquire().await?;
        orders::find(&mut conn, account.as_ref(), &id).await?
    };
    let (history, announcements, actions) = tokio::join!(
        events::history(&state.pool, id.as_str()),
        timeline::announcements(&state.pool, id.as_str(), stored_account),
        audit::of_session(&state.pool, id.as_str(), stored_account),
    );
    let (history, announcements, actions) = (history?, announcements?, actions?);
    if order.is_none() && history.is_empty() && actions.is_empty() {
        return Ok(message(
            StatusCode::NOT_FOUND,
            "Nothing known of this session",
            "No order, no event from Stripe and no operator action names it here. Stripe may \
             still know it: an operator can fulfill it from its page's address anyway.",
        ));
    }
    let fulfilled = order
        .as_ref()
        .is_some_and(|o| o.state == orders::OrderState::Fulfilled);
    let entries = timeline::build(&history, order.as_ref(), &announcements, &actions);
    let page = SessionPage {
        nav: operator.nav(),
        fulfill_href: (operator.role.may_act() && !fulfilled)
            .then(|| session_href(&format!("{}/fulfill", id.as_str()), stored_account)),
        session_id: id.as_str().to_owned(),
        account: stored_account.to_owned(),
        order: order.as_ref().map(order_view),
        timeline: entries
            .into_iter()
            .map(|e| EntryView {
                at: timestamp(e.at),
                actor: e.actor,
                text: e.text,
                problem: e.problem,
            })
            .collect(),
    };
    Ok(respond(StatusCode::OK, &page))
}
