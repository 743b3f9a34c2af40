//! Everything that happened to one Checkout Session, in time order: the events Stripe sent
//! about it and what processing each one came to, the order and who fulfilled it, the
//! announcements relayed and the notifications sent, and the operators' actions.

use chrono::{DateTime, Utc};
use shared::store::events::{EventOutcome, EventRecord};
use shared::Order;
use sqlx::PgPool;

use crate::audit;

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// Who or what: `stripe`, `processing`, `order`, `announcement`, `email`, an operator's name…
    pub actor: String,
    pub text: String,
    /// Shown as a problem (an error, a dead letter, a failed send).
    pub problem: bool,
}

/// An announcement of the session and, when the notifier has claimed it, one channel's send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Announcement {
    pub topic: String,
    pub created_at: DateTime<Utc>,
    pub relayed_at: Option<DateTime<Utc>>,
    pub channel: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub send_attempts: Option<i32>,
    pub send_error: Option<String>,
}

pub async fn announcements(
    pool: &PgPool,
    session_id: &str,
    account: &str,
) -> Result<Vec<Announcement>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.topic, o.created_at, o.sent_at AS relayed_at, n.channel, n.sent_at, \
             n.attempts AS send_attempts, n.last_error AS send_error \
         FROM outbox o LEFT JOIN notifications n ON n.message_id = o.id \
         WHERE o.session_id = $1 AND o.account = $2 ORDER BY o.created_at, n.channel",
    )
    .bind(session_id)
    .bind(account)
    .fetch_all(pool)
    .await
}

/// Outcomes a payment event may rest at while its session is not fulfilled: each is a problem.
fn is_problem(outcome: &str) -> bool {
    !EventOutcome::parse(outcome).is_some_and(EventOutcome::is_settled)
}

pub fn build(
    events: &[EventRecord],
    order: Option<&Order>,
    announcements: &[Announcement],
    actions: &[audit::Entry],
) -> Vec<Entry> {
    let mut entries = Vec::new();
    for event in events {
        entries.push(Entry {
            at: event.event_created,
            actor: "stripe".into(),
            text: format!("created {} ({})", event.event_type, event.event_id),
            problem: false,
        });
        entries.push(Entry {
            at: event.first_seen_at,
            actor: "processing".into(),
            text: format!("received {}", event.event_id),
            problem: false,
        });
        for failed in event.failed_attempts.iter() {
            entries.push(Entry {
                at: failed.at,
                actor: "processing".into(),
                text: format!("attempt failed, {}: {}", failed.outcome, failed.error),
                problem: true,
            });
        }
        let mut text = format!(
            "{} after {} attempt{}",
            event.outcome,
            event.attempts,
            if event.attempts == 1 { "" } else { "s" }
        );
        // The failed attempts above already say why; an event recorded before they were kept
        // has only its last error.
        if let (Some(error), true) = (&event.last_error, event.failed_attempts.is_empty()) {
            text.push_str(": ");
            text.push_str(error);
        }
        entries.push(Entry {
            at: event.last_processed_at,
            actor: "processing".into(),
            text,
            problem: is_problem(&event.outcome),
        });
    }
    if let Some(order) = order {
        if let (Some(at), Some(by)) = (order.fulfilled_at, &order.fulfilled_by) {
            entries.push(Entry {
                at,
                actor: "order".into(),
                text: format!("order #{} fulfilled by {by}", order.order_number),
                problem: false,
            });
        }
    }
    for announcement in announcements {
        entries.push(Entry {
            at: announcement.created_at,
            actor: "announcement".into(),
            text: format!("{} recorded in the outbox", announcement.topic),
            problem: false,
        });
        if let Some(at) = announcement.relayed_at {
            entries.push(Entry {
                at,
                actor: "announcement".into(),
                text: format!("{} published", announcement.topic),
                problem: false,
            });
        }
        if let Some(channel) = &announcement.channel {
            let (at, text, problem) = match (announcement.sent_at, &announcement.send_error) {
                (Some(at), _) => (at, format!("{channel} sent"), false),
                (None, Some(error)) => (
                    announcement.created_at,
                    format!(
                        "{channel} failing after {} attempts: {error}",
                        announcement.send_attempts.unwrap_or(0)
                    ),
                    true,
                ),
                (None, None) => (announcement.created_at, format!("{channel} pending"), false),
            };
            entries.push(Entry {
                at,
                actor: channel.clone(),
                text,
                problem,
            });
        }
    }
    for action in actions {
        entries.push(Entry {
            at: action.at,
            actor: action.operator.clone(),
            text: format!("{}: {}", action.action, action.outcome),
            problem: action.outcome.starts_with("error"),
        });
    }
    // Stable: entries of the same instant keep the order they were added in (cause first).
    entries.sort_by_key(|entry| entry.at);
    entries
}
