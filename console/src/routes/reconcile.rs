//! "Reconcile a time range": what `worker reconcile --since … --until …` does, from the console.
//! `GET /reconcile` checks the range and asks for confirmation; `POST /reconcile` lists Stripe's
//! checkout events created in it (on the platform, or one connected account) and sends each
//! through the worker's own processing, so a paid session whose webhook never arrived is
//! fulfilled (trigger `reconciler`) and nothing is fulfilled twice. The action and its report go
//! to the audit trail.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use shared::AccountId;

use super::fulfill::ResultPage;
use crate::audit::{self, Action};
use crate::pages::{message, respond, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct RangeForm {
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    csrf: String,
}

/// A checked range: unix seconds, and the account (`None`: the platform).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    since: i64,
    until: i64,
    account: Option<AccountId>,
}

/// A form's time: `2026-12-05T01:30` (a datetime-local field, read as UTC), RFC 3339, or unix
/// seconds.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc().timestamp())
        .or_else(|| worker::cli::parse_time(text).ok())
}

impl RangeForm {
    fn range(&self, now: i64) -> Result<Range, &'static str> {
        let since = parse_time(&self.since).ok_or("The start is not a time (UTC).")?;
        let until = match self.until.trim() {
            "" => now,
            text => parse_time(text).ok_or("The end is not a time (UTC).")?,
        };
        if until < since {
            return Err("The end is before the start.");
        }
        let account = match self.account.trim() {
            "" => None,
            text => Some(
                AccountId::parse(text).map_err(|_| "Connected account ids look like acct_….")?,
            ),
        };
        Ok(Range {
            since,
            until,
            account,
        })
    }
}

fn utc(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[derive(Debug, Template)]
#[template(path = "confirm_reconcile.html")]
struct ConfirmReconcilePage {
    nav: Option<Nav>,
    since: i64,
    until: i64,
    since_text: String,
    until_text: String,
    account: String,
    csrf: String,
}

pub async fn confirm(
    operator: SignedIn,
    form: web::Query<RangeForm>,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    let range = match form.range(Utc::now().timestamp()) {
        Ok(range) => range,
        Err(problem) => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                "Not a time range",
                problem,
            ))
        }
    };
    let page = ConfirmReconcilePage {
        nav: operator.nav(),
        since: range.since,
        until: range.until,
        since_text: utc(range.since),
        until_text: utc(range.until),
        account: range
            .account
            .as_ref()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        csrf: operator.csrf.clone(),
    };
    Ok(respond(StatusCode::OK, &page))
}

pub async fn act(
    state: web::Data<AppState>,
    operator: SignedIn,
    form: web::Form<RangeForm>,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    operator.check_form(&form.csrf)?;
    let range = match form.range(Utc::now().timestamp()) {
        Ok(range) => range,
        Err(problem) => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                "Not a time range",
                problem,
            ))
        }
    };
    let scope = range
        .account
        .as_ref()
        .map_or_else(|| "the platform".to_owned(), |a| a.as_str().to_owned());
    let detail = format!("{} to {} on {scope}", utc(range.since), utc(range.until));
    let run =
        state
            .reconciler
            .reconcile_range_on(range.account.as_ref(), range.since, Some(range.until));
    let (outcome, sentence, problem) = match tokio::time::timeout(state.action_timeout, run).await {
        Ok(Ok(report)) => {
            let problem = report.failed > 0;
            let mut sentence = format!("Reconciled {detail}: {report}.");
            if problem {
                sentence.push_str(&format!(
                    " {} event(s) failed; run it again to retry them.",
                    report.failed
                ));
            }
            (report.to_string(), sentence, problem)
        }
        Ok(Err(e)) => {
            let chain = shared::errors::error_chain(&e);
            (
                format!("error: {chain}"),
                format!("The reconciliation failed: {chain}"),
                true,
            )
        }
        Err(_) => (
            "error: timed out".to_owned(),
            format!(
                "No answer within {} s; what was listed so far was processed. Run a shorter range, \
                 or `worker reconcile` from the command line.",
                state.action_timeout.as_secs()
            ),
            true,
        ),
    };
    audit::record(
        &state.pool,
        Action {
            operator: &operator.name,
            action: "reconcile",
            session_id: None,
            account: range.account.as_ref().map_or("", AccountId::as_str),
            detail: &detail,
        },
        &outcome,
    )
    .await?;
    tracing::info!(operator = %operator.name, %detail, %outcome, "operator reconciled a range");
    let page = ResultPage {
        nav: operator.nav(),
        title: "Reconcile a time range".into(),
        outcome: sentence,
        problem,
        back: "/".into(),
        back_label: "the overview",
    };
    Ok(respond(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(since: &str, until: &str, account: &str) -> RangeForm {
        RangeForm {
            since: since.into(),
            until: until.into(),
            account: account.into(),
            csrf: String::new(),
        }
    }

    #[test]
    fn a_range_is_read_in_utc_and_checked() {
        let range = form("2026-12-05T01:30", "2026-12-05T02:00:30", "")
            .range(0)
            .unwrap();
        assert_eq!(range.since, 1_796_434_200);
        assert_eq!(range.until - range.since, 30 * 60 + 30);
        assert_eq!(
            form("1700000000", "", "")
                .range(1_700_000_100)
                .unwrap()
                .until,
            1_700_000_100
        );
        assert!(form("2026-12-05T02:00", "2026-12-05T01:00", "")
            .range(0)
            .is_err());
        assert!(form("yesterday", "", "").range(0).is_err());
        assert!(form("1700000000", "", "acct x")
            .range(1_700_000_100)
            .is_err());
        let on = form("1700000000", "", "acct_1Abc")
            .range(1_700_000_100)
            .unwrap();
        assert_eq!(on.account.unwrap().as_str(), "acct_1Abc");
    }
}
