//! `GET /`: is any paid order not fulfilled, and why — every paid-but-unfulfilled session with
//! its age and last error, the queues as the broker counts them, the last hour as charts
//! (fulfillments and payment-to-fulfilled from Postgres, webhook acknowledgements from
//! Prometheus), who leads the reconciler and how far behind it is, and the latest operator
//! actions. Each part that cannot be read says why in its place; the rest still shows.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Utc;
use shared::store::events;

use crate::charts::{self, Svg};
use crate::management::{QueueCounts, QueueKind};
use crate::pages::{age, respond, session_href, timestamp, Nav};
use crate::sign_in::{Refused, SignedIn};
use crate::state::AppState;
use crate::{activity, status};

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
    last_hour: LastHour,
    reconciler: ReconcilerView,
    /// Offer the operator's forms (a viewer sees none).
    may_act: bool,
    /// The optional live refresh's period.
    refresh_ms: u128,
    refresh_every: String,
}

#[derive(Debug)]
struct LastHour {
    fulfilled: Svg,
    fulfilled_total: u64,
    latency: Svg,
    /// The latest slot's p99, or "—".
    latency_latest: String,
    /// The acknowledgement chart and the answers by outcome, or why they cannot be shown.
    webhooks: Result<(Svg, Vec<(String, u64)>), String>,
}

#[derive(Debug)]
struct ReconcilerView {
    /// Who holds the leadership lock, or `None`: no worker leads (none runs, or all are
    /// configured without the reconciler).
    leader: Option<String>,
    cursors: Vec<CursorView>,
}

#[derive(Debug)]
struct CursorView {
    scope: String,
    caught_up: String,
    /// Behind by more than ten minutes: sweeps are failing or held back.
    problem: bool,
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
    let (queues, stuck, actions, fulfilled, latency, leader, cursors, acks, outcomes) = tokio::join!(
        state.management.queues(),
        events::paid_unfulfilled_sessions(&state.pool, limit + 1),
        crate::audit::recent(&state.pool, 10),
        activity::fulfilled_per_minute(&state.pool),
        activity::payment_to_fulfilled_p99(&state.pool),
        status::leader(&state.pool),
        status::cursors(&state.pool),
        state.prometheus.ack_p99_per_minute(),
        state.prometheus.outcomes_last_hour(),
    );
    let (fulfilled, latency) = (fulfilled?, latency?);
    let mut stuck = stuck?;
    let stuck_truncated = stuck.len() > limit as usize;
    stuck.truncate(limit as usize);
    let now = Utc::now();
    let page = OverviewPage {
        nav: operator.nav(),
        may_act: operator.role.may_act(),
        refresh_ms: state.refresh.as_millis(),
        refresh_every: format!("{} s", state.refresh.as_secs()),
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
        last_hour: LastHour {
            fulfilled_total: fulfilled.iter().flatten().sum::<f64>() as u64,
            fulfilled: charts::bars(
                "Orders fulfilled per minute, last hour",
                &fulfilled,
                " fulfilled",
            ),
            latency_latest: latency
                .iter()
                .rev()
                .flatten()
                .next()
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.2} s")),
            latency: charts::bars(
                "Payment to fulfilled, p99 per five minutes, last hour",
                &latency,
                " s",
            ),
            webhooks: match (acks, outcomes) {
                (Ok(acks), Ok(outcomes)) => Ok((
                    charts::bars(
                        "Webhook acknowledgement p99 per minute, last hour",
                        &acks,
                        " s",
                    ),
                    outcomes,
                )),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            },
        },
        reconciler: ReconcilerView {
            leader: leader?.map(|l| {
                format!(
                    "Postgres backend {} from {}{}",
                    l.pid,
                    l.client.as_deref().unwrap_or("a local socket"),
                    l.since
                        .map(|at| format!(", connected {} ago", age(at, now)))
                        .unwrap_or_default()
                )
            }),
            cursors: cursors?
                .iter()
                .map(|c| CursorView {
                    scope: c.scope().to_owned(),
                    caught_up: format!("{} ago", age(c.caught_up_at, now)),
                    problem: (now - c.caught_up_at).num_minutes() >= 10,
                })
                .collect(),
        },
    };
    Ok(respond(StatusCode::OK, &page))
}
