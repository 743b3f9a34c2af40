//! Dead letters: `GET /dead-letters` lists the parked events with their reason and attempt
//! history; an operator picks some (or all), confirms on `GET /dead-letters/redrive`, and
//! `POST /dead-letters/redrive` moves them back into `checkout.fulfillment` with the worker's
//! own redrive. `…/drop` removes chosen ones for good instead (events Stripe does not know),
//! where a purge would take every message. Each records the action and its result in the
//! audit trail.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::fulfill::ResultPage;
use crate::audit::{self, Action};
use crate::dead_letters::DeadLetter;
use crate::pages::{age, message, respond, session_href, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;

#[derive(Debug, Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    nav: Option<Nav>,
    may_act: bool,
    /// How many the broker holds (the list may show fewer).
    total: Option<u64>,
    rows: Vec<DeadLetterView>,
    error: Option<String>,
}

#[derive(Debug)]
struct DeadLetterView {
    event_id: String,
    event_type: String,
    session: Option<(String, String)>,
    age: String,
    reason: String,
    history: Vec<String>,
}

pub async fn page(state: web::Data<AppState>, operator: SignedIn) -> Result<HttpResponse, Refused> {
    let queue = state.topology.dead_queue();
    let peeked = state.management.peek(&queue, state.list_limit).await;
    // The first message taken saw the rest still queued: an exact count, where the management
    // API's queue statistics trail by their refresh interval.
    let total = peeked
        .as_ref()
        .ok()
        .map(|messages| messages.first().map_or(0, |m| m.message_count + 1));
    let now = Utc::now();
    let (rows, error) = match peeked {
        Ok(messages) => (
            messages
                .iter()
                .map(DeadLetter::of)
                .map(|dead| DeadLetterView {
                    session: dead
                        .session_id
                        .as_ref()
                        .map(|id| (session_href(id, &dead.account), id.clone())),
                    age: dead.created.map(|at| age(at, now)).unwrap_or_default(),
                    event_id: dead.event_id,
                    event_type: dead.event_type,
                    reason: dead.reason,
                    history: dead.history,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let page = DeadLettersPage {
        nav: operator.nav(),
        may_act: operator.role.may_act(),
        total,
        rows,
        error,
    };
    Ok(respond(StatusCode::OK, &page))
}

/// What a redrive form chose: every message, or these event ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    All,
    Only(HashSet<String>),
}

/// `all=1`, or one `id=evt_…` per chosen message (a form's checkboxes), and the form token.
fn read_choice(encoded: &[u8]) -> (Option<Choice>, String) {
    let mut all = false;
    let mut ids = HashSet::new();
    let mut csrf = String::new();
    for (key, value) in url::form_urlencoded::parse(encoded) {
        match &*key {
            "all" => all = value == "1",
            "id" if value.starts_with("evt_") => {
                ids.insert(value.into_owned());
            }
            "csrf" => csrf = value.into_owned(),
            _ => {}
        }
    }
    let choice = if all {
        Some(Choice::All)
    } else if ids.is_empty() {
        None
    } else {
        Some(Choice::Only(ids))
    };
    (choice, csrf)
}

fn nothing_chosen() -> HttpResponse {
    message(
        StatusCode::BAD_REQUEST,
        "Nothing chosen",
        "Tick the dead letters to redrive, or use “Redrive all”.",
    )
}

/// What a form does with the chosen dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Redrive,
    Drop,
}

impl Verb {
    fn path(self) -> &'static str {
        match self {
            Verb::Redrive => "/dead-letters/redrive",
            Verb::Drop => "/dead-letters/drop",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Verb::Redrive => "redrive",
            Verb::Drop => "drop",
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "confirm_redrive.html")]
struct ConfirmRedrivePage {
    nav: Option<Nav>,
    all: bool,
    ids: Vec<String>,
    csrf: String,
    dropping: bool,
    action: &'static str,
}

pub async fn confirm_redrive(
    operator: SignedIn,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, Refused> {
    confirm(operator, &req, Verb::Redrive)
}

pub async fn confirm_drop(
    operator: SignedIn,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, Refused> {
    confirm(operator, &req, Verb::Drop)
}

/// The choice a form made for `verb`; `None` when nothing usable was chosen. Dropping is for
/// chosen messages only: dropping "all" is what a purge does, and is not offered.
fn chosen(encoded: &[u8], verb: Verb) -> (Option<Choice>, String) {
    match read_choice(encoded) {
        (Some(Choice::All), csrf) if verb == Verb::Drop => (None, csrf),
        other => other,
    }
}

fn confirm(
    operator: SignedIn,
    req: &actix_web::HttpRequest,
    verb: Verb,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    let (Some(choice), _) = chosen(req.query_string().as_bytes(), verb) else {
        return Ok(nothing_chosen());
    };
    let mut ids: Vec<String> = match &choice {
        Choice::All => Vec::new(),
        Choice::Only(ids) => ids.iter().cloned().collect(),
    };
    ids.sort();
    let page = ConfirmRedrivePage {
        nav: operator.nav(),
        all: choice == Choice::All,
        ids,
        csrf: operator.csrf.clone(),
        dropping: verb == Verb::Drop,
        action: verb.path(),
    };
    Ok(respond(StatusCode::OK, &page))
}

pub async fn redrive(
    state: web::Data<AppState>,
    operator: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, Refused> {
    act(&state, &operator, &body, Verb::Redrive).await
}

pub async fn drop(
    state: web::Data<AppState>,
    operator: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, Refused> {
    act(&state, &operator, &body, Verb::Drop).await
}

async fn act(
    state: &AppState,
    operator: &SignedIn,
    body: &[u8],
    verb: Verb,
) -> Result<HttpResponse, Refused> {
    operator.may_act()?;
    let (choice, csrf) = chosen(body, verb);
    operator.check_form(&csrf)?;
    let Some(choice) = choice else {
        return Ok(nothing_chosen());
    };
    let (detail, run) = match &choice {
        Choice::All => ("all".to_owned(), redrive_all(state).await),
        Choice::Only(ids) => {
            let mut listed: Vec<&str> = ids.iter().map(String::as_str).collect();
            listed.sort_unstable();
            let run = match verb {
                Verb::Redrive => {
                    worker::redrive::redrive_dead_events(
                        &state.broker,
                        &state.topology,
                        ids,
                        state.confirm_timeout,
                    )
                    .await
                }
                Verb::Drop => {
                    worker::redrive::drop_dead_events(&state.broker, &state.topology, ids).await
                }
            };
            (listed.join(" "), run)
        }
    };
    let (outcome, sentence, problem) = match run {
        Ok(report) => {
            let missing = match &choice {
                Choice::Only(ids) if report.moved < ids.len() => format!(
                    " {} of the chosen were no longer parked (taken already?).",
                    ids.len() - report.moved
                ),
                _ => String::new(),
            };
            let done = match verb {
                Verb::Redrive => format!("Moved {} back into the fulfillment queue", report.moved),
                Verb::Drop => format!("Dropped {} for good", report.moved),
            };
            let past = match verb {
                Verb::Redrive => "moved",
                Verb::Drop => "dropped",
            };
            (
                format!("{past} {}, {} remain", report.moved, report.remaining),
                format!("{done}; {} remain parked.{missing}", report.remaining),
                !missing.is_empty(),
            )
        }
        Err(e) => {
            let chain = shared::errors::error_chain(&e);
            (
                format!("error: {chain}"),
                format!(
                    "It failed: {chain}. Nothing was lost: a message leaves the dead-letter \
                     queue only once its copy is confirmed (a redrive) or it was chosen (a drop)."
                ),
                true,
            )
        }
    };
    audit::record(
        &state.pool,
        Action {
            operator: &operator.name,
            action: verb.action(),
            session_id: None,
            account: "",
            detail: &detail,
        },
        &outcome,
    )
    .await?;
    tracing::info!(
        operator = %operator.name,
        action = verb.action(),
        %detail,
        %outcome,
        "operator acted on dead letters"
    );
    let page = ResultPage {
        nav: operator.nav(),
        title: match verb {
            Verb::Redrive => "Redrive dead letters".into(),
            Verb::Drop => "Drop dead letters".into(),
        },
        outcome: sentence,
        problem,
        back: "/dead-letters".into(),
        back_label: "the dead letters",
    };
    Ok(respond(StatusCode::OK, &page))
}

async fn redrive_all(
    state: &AppState,
) -> Result<shared::queue::redrive::RedriveReport, shared::queue::redrive::RedriveError> {
    worker::redrive::redrive(
        &state.broker,
        &state.topology,
        worker::redrive::RedriveSource::Dead,
        None,
        state.confirm_timeout,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_chooses_all_or_the_ticked_events() {
        let (choice, csrf) = read_choice(b"id=evt_a&id=evt_b&csrf=t0k");
        assert_eq!(
            choice,
            Some(Choice::Only(HashSet::from([
                "evt_a".into(),
                "evt_b".into()
            ])))
        );
        assert_eq!(csrf, "t0k");
        assert_eq!(read_choice(b"all=1&id=evt_a").0, Some(Choice::All));
        assert_eq!(read_choice(b"id=not-an-event").0, None);
        assert_eq!(read_choice(b"").0, None);
    }
}
