//! `GET /_sim/`: a plain HTML page with the delivery settings and the latest deliveries, for a
//! person watching a local run.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::checkout_page::respond_page;
use crate::state::{AttemptOutcome, Delivery, DeliveryStatus, SimState};

/// The page lists this many of the newest deliveries; `/_sim/deliveries` has them all.
const SHOWN: usize = 200;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(show))
        .route("", web::get().to(show));
}

#[derive(Debug, Template)]
#[template(path = "status.html")]
struct StatusPage {
    endpoints: Vec<(String, usize)>,
    redirect_wait_ms: u128,
    retry_schedule: String,
    attempt_timeout_ms: u128,
    delayed_payment: String,
    faults: String,
    sessions: u64,
    events: u64,
    pending: usize,
    succeeded: usize,
    failed: usize,
    deliveries: Vec<DeliveryRow>,
    total_deliveries: usize,
}

#[derive(Debug)]
struct DeliveryRow {
    id: String,
    event: String,
    event_type: String,
    endpoint: String,
    copy: u32,
    status: &'static str,
    /// CSS class of the status cell.
    class: &'static str,
    attempts: usize,
    last_outcome: String,
    ack_latency: String,
}

async fn show(state: web::Data<SimState>) -> HttpResponse {
    let settings = state.delivery_settings();
    let stats = state.stats();
    let (pending, succeeded, failed) = state.delivery_counts();
    let all = state.deliveries();
    let total_deliveries = all.len();
    let deliveries = all.iter().rev().take(SHOWN).map(row).collect();
    let page = StatusPage {
        endpoints: settings
            .endpoints
            .iter()
            .map(|e| (e.url.clone(), e.secrets.len()))
            .collect(),
        redirect_wait_ms: settings.redirect_wait.as_millis(),
        retry_schedule: settings
            .retry_schedule
            .iter()
            .map(|d| format!("{} ms", d.as_millis()))
            .collect::<Vec<_>>()
            .join(", "),
        attempt_timeout_ms: settings.attempt_timeout.as_millis(),
        delayed_payment: match settings.delayed_payment {
            Some(r) => format!("{:?} after {} ms", r.outcome, r.after.as_millis()),
            None => "only through the control API".into(),
        },
        faults: if settings.faults.is_off() {
            "none".into()
        } else {
            format!("{:?}", settings.faults)
        },
        sessions: stats["sessions"].as_u64().unwrap_or(0),
        events: stats["events"].as_u64().unwrap_or(0),
        pending,
        succeeded,
        failed,
        deliveries,
        total_deliveries,
    };
    respond_page(StatusCode::OK, &page)
}

fn row(d: &Delivery) -> DeliveryRow {
    let (status, class) = match d.status {
        DeliveryStatus::Pending => ("pending", "pending"),
        DeliveryStatus::Succeeded => ("succeeded", "ok"),
        DeliveryStatus::Failed => ("failed", "bad"),
    };
    DeliveryRow {
        id: d.id.clone(),
        event: d.event.clone(),
        event_type: d.event_type.clone(),
        endpoint: d.endpoint.clone(),
        copy: d.copy,
        status,
        class,
        attempts: d.attempts.len(),
        last_outcome: match d.attempts.last().map(|a| &a.outcome) {
            None => "not yet attempted".into(),
            Some(AttemptOutcome::Response { status }) => format!("HTTP {status}"),
            Some(AttemptOutcome::Timeout { injected: false }) => "timed out".into(),
            Some(AttemptOutcome::Timeout { injected: true }) => "timed out (injected)".into(),
            Some(AttemptOutcome::Error { message }) => message.clone(),
        },
        ack_latency: d
            .ack_latency_ms
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_default(),
    }
}
