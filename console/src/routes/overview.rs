//! `GET /`: is any paid order not fulfilled, and why — the queues as the broker counts them,
//! every paid-but-unfulfilled session with its age and last error, and the latest operator
//! actions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Utc;
use shared::store::events;

use crate::management::{QueueCounts, QueueKind};
use crate::pages::{age, respond, session_href, timestamp, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::startup::AppState;

#[derive(Debug, Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Option<Nav>,
    generated_at: String,
    queues: Result<Vec<QueueView>, String>,
    stuck: Vec<StuckView>,
    /// The list stopped at `console.list_limit`.
    stuck_truncated: bool,
    actions: Vec<ActionView>,
}

#[derive(Debug)]
struct QueueView {
    name: String,
    ready: String,
    unacked: String,
    consumers: String,
    /// Messages wait where they should not (dead letters, unrouted) or nobody consumes.
    problem: bool,
}

#[derive(Debug)]
struct StuckView {
    href: String,
    session_id: String,
    account: String,
    age: String,
    outcome: String,
    attempts: i32,
    last_error: String,
}

#[derive(Debug)]
pub(super) struct ActionView {
    pub at: String,
    pub operator: String,
    pub action: String,
    pub href: Option<String>,
    pub session_id: String,
    pub outcome: String,
}

impl ActionView {
    pub(super) fn of(entry: &crate::audit::Entry) -> Self {
        ActionView {
            at: timestamp(entry.at),
            operator: entry.operator.clone(),
            action: entry.action.clone(),
            href: entry
                .session_id
                .as_deref()
                .map(|id| session_href(id, &entry.account)),
            session_id: entry.session_id.clone().unwrap_or_default(),
            outcome: entry.outcome.clone(),
        }
    }
}

/// Messages wait where they should not, or nobody consumes a queue that needs it.
fn needs_attention(kind: QueueKind, counts: &QueueCounts) -> bool {
    match kind {
        QueueKind::Consumed => counts.consumers == 0,
        QueueKind::Delay => false,
        QueueKind::Parked => counts.messages_ready + counts.messages_unacknowledged > 0,
    }
}

pub async fn page(state: web::Data<AppState>, operator: SignedIn) -> Result<HttpResponse, Refused> {
    let limit = state.list_limit;
    // One more than shown, to know whether the list was cut.
    let (queues, stuck, actions) = tokio::join!(
        state.management.queues(),
        events::paid_unfulfilled_sessions(&state.pool, limit + 1),
        crate::audit::recent(&state.pool, 10),
    );
    let mut stuck = stuck?;
    let stuck_truncated = stuck.len() > limit as usize;
    stuck.truncate(limit as usize);
    let now = Utc::now();
    let page = OverviewPage {
        nav: Nav::of(&operator),
        generated_at: timestamp(now),
        queues: queues
            .map(|rows| {
                rows.into_iter()
                    .map(|row| match row.counts {
                        Some(c) => QueueView {
                            problem: needs_attention(row.kind, &c),
                            name: row.name,
                            ready: c.messages_ready.to_string(),
                            unacked: c.messages_unacknowledged.to_string(),
                            consumers: c.consumers.to_string(),
                        },
                        None => QueueView {
                            name: row.name,
                            ready: "—".into(),
                            unacked: "—".into(),
                            consumers: "not declared".into(),
                            problem: true,
                        },
                    })
                    .collect()
            })
            .map_err(|e| e.to_string()),
        stuck: stuck
            .into_iter()
            .map(|s| {
                let account = s.account.unwrap_or_default();
                StuckView {
                    href: session_href(&s.session_id, &account),
                    session_id: s.session_id,
                    account,
                    age: age(s.event_created, now),
                    outcome: s.outcome,
                    attempts: s.attempts,
                    last_error: s.last_error.unwrap_or_default(),
                }
            })
            .collect(),
        stuck_truncated,
        actions: actions?.iter().map(ActionView::of).collect(),
    };
    Ok(respond(StatusCode::OK, &page))
}
