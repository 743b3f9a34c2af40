//! "Fulfill now": `GET /sessions/{id}/fulfill` asks for confirmation, `POST` runs the same
//! `fulfill_checkout` as the worker and the success page (under the same advisory lock, so it
//! cannot fulfill twice) with trigger `operator`, records the action and its outcome in the
//! audit trail, and shows the outcome.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use shared::store::orders::Trigger;
use shared::{AccountId, FulfillmentOutcome};

use super::session::{target, AccountQuery};
use crate::audit::{self, Action};
use crate::pages::{respond, session_href, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;

#[derive(Debug, Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Option<Nav>,
    title: &'static str,
    explanation: String,
    action: String,
    csrf: String,
    account: String,
    back: String,
}

#[derive(Debug, Template)]
#[template(path = "result.html")]
pub(super) struct ResultPage {
    pub nav: Option<Nav>,
    pub title: String,
    pub outcome: String,
    pub problem: bool,
    pub back: String,
    /// What `back` leads to: "the session", "the dead letters"…
    pub back_label: &'static str,
}

pub async fn confirm(
    operator: SignedIn,
    path: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    let (id, account) = match target(&path, &query.account) {
        Ok(target) => target,
        Err(bad) => return Ok(bad.page()),
    };
    let account = account.as_ref().map(AccountId::as_str).unwrap_or("");
    let page = ConfirmPage {
        nav: operator.nav(),
        title: "Fulfill this session now?",
        explanation: format!(
            "The console asks Stripe for {id} and fulfills it if it is paid, exactly as the \
             worker would: an order already fulfilled is not fulfilled again. The action is \
             recorded under your name."
        ),
        action: format!("/sessions/{}/fulfill", id.as_str()),
        csrf: operator.csrf.clone(),
        account: account.to_owned(),
        back: session_href(id.as_str(), account),
    };
    Ok(respond(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
}

pub async fn act(
    state: web::Data<AppState>,
    operator: SignedIn,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    operator.check_form(&form.csrf)?;
    let (id, account) = match target(&path, &form.account) {
        Ok(target) => target,
        Err(bad) => return Ok(bad.page()),
    };
    let stored_account = account.as_ref().map(AccountId::as_str).unwrap_or("");
    let run = state
        .fulfiller
        .fulfill_checkout_on(account.as_ref(), &id, Trigger::Operator);
    let (outcome, sentence, problem) = match tokio::time::timeout(state.action_timeout, run).await {
        Ok(Ok(outcome)) => {
            let sentence = match &outcome {
                FulfillmentOutcome::Fulfilled { order, newly: true } => {
                    format!("Fulfilled: order #{} is recorded.", order.order_number)
                }
                FulfillmentOutcome::Fulfilled {
                    order,
                    newly: false,
                } => format!(
                    "Already fulfilled (order #{}, by {}): nothing was done twice.",
                    order.order_number,
                    order.fulfilled_by.as_deref().unwrap_or("someone")
                ),
                FulfillmentOutcome::AwaitingPayment => {
                    "Not paid yet: Stripe says the payment is still to come.".into()
                }
                FulfillmentOutcome::PaymentFailed => {
                    "The payment failed: nothing to fulfill.".into()
                }
                FulfillmentOutcome::Expired => "The session expired unpaid.".into(),
                FulfillmentOutcome::NotFound => {
                    "Stripe does not know this session (in this mode, on this account).".into()
                }
            };
            let problem = !matches!(outcome, FulfillmentOutcome::Fulfilled { .. });
            (outcome.label().to_owned(), sentence, problem)
        }
        Ok(Err(e)) => {
            let chain = shared::errors::error_chain(&e);
            (
                format!("error: {chain}"),
                format!("Not fulfilled: {chain}"),
                true,
            )
        }
        Err(_) => (
            "error: timed out".to_owned(),
            format!(
                "No answer within {} s; it may still complete. Reload the session to see.",
                state.action_timeout.as_secs()
            ),
            true,
        ),
    };
    audit::record(
        &state.pool,
        Action {
            operator: &operator.name,
            action: "fulfill",
            session_id: Some(id.as_str()),
            account: stored_account,
            detail: "",
        },
        &outcome,
    )
    .await?;
    tracing::info!(
        operator = %operator.name,
        session_id = %id,
        outcome = %outcome,
        "operator fulfilled a session"
    );
    let page = ResultPage {
        nav: operator.nav(),
        title: format!("Fulfill {}", id.as_str()),
        outcome: sentence,
        problem,
        back: session_href(id.as_str(), stored_account),
        back_label: "the session",
    };
    Ok(respond(StatusCode::OK, &page))
}
