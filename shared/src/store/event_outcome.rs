//! What processing an event came to, as `stripe_events.outcome` records it: one vocabulary for
//! the worker's processor, the reconciler, the store, the metrics and the console. The settled
//! ones end an event's story (a redelivery is skipped); the others leave its session possibly
//! paid and unfulfilled, which the "paid but unfulfilled" gauge and the console look for.

/// One event's recorded outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventOutcome {
    /// This event's processing fulfilled the order.
    Fulfilled,
    /// The order was fulfilled already (by another event, the success page, the reconciler…).
    AlreadyFulfilled,
    /// Complete but not paid yet (a delayed payment method); its `async_payment_*` event decides.
    AwaitingPayment,
    /// A delayed payment failed; recorded and announced.
    PaymentFailed,
    /// The session expired unpaid.
    Expired,
    /// Not a type the worker acts on, or one without a session.
    Ignored,
    /// A failure that may pass; another attempt is coming (a retry tier, the next sweep).
    Retrying,
    /// Given up on: dead-lettered by the worker, or failed for good in the reconciler's sweep. A
    /// redrive, a reconcile or an operator's "fulfill now" may still settle the session.
    Dead,
    /// Stripe does not know the session (wrong account or mode, or a forged event).
    NotFound,
    /// The event cannot be read (an invalid session or account id); dead-lettered.
    Rejected,
}

impl EventOutcome {
    /// Every outcome.
    pub const ALL: [EventOutcome; 10] = [
        Self::Fulfilled,
        Self::AlreadyFulfilled,
        Self::AwaitingPayment,
        Self::PaymentFailed,
        Self::Expired,
        Self::Ignored,
        Self::Retrying,
        Self::Dead,
        Self::NotFound,
        Self::Rejected,
    ];

    /// As stored and as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fulfilled => "fulfilled",
            Self::AlreadyFulfilled => "already_fulfilled",
            Self::AwaitingPayment => "awaiting_payment",
            Self::PaymentFailed => "payment_failed",
            Self::Expired => "expired",
            Self::Ignored => "ignored",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::NotFound => "not_found",
            Self::Rejected => "rejected",
        }
    }

    /// The outcome `text` names. `failed`, which the reconciler once recorded for what is now
    /// `dead`, reads as `dead`.
    pub fn parse(text: &str) -> Option<EventOutcome> {
        if text == "failed" {
            return Some(Self::Dead);
        }
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Needs no further processing: a redelivery is skipped, and a later concurrent attempt
    /// does not overwrite it (except by `fulfilled`: see `events::record_keeping_settled`).
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Fulfilled
                | Self::AlreadyFulfilled
                | Self::AwaitingPayment
                | Self::PaymentFailed
                | Self::Expired
                | Self::Ignored
        )
    }
}

impl std::fmt::Display for EventOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settled outcomes as stored: bound into queries, and spelled out in SQL where the planner
/// must see them (the partial index `stripe_events_unsettled_idx`, the stuck-session predicate),
/// which a test checks against this list.
pub const SETTLED_OUTCOMES: [&str; 6] = [
    EventOutcome::Fulfilled.as_str(),
    EventOutcome::AlreadyFulfilled.as_str(),
    EventOutcome::AwaitingPayment.as_str(),
    EventOutcome::PaymentFailed.as_str(),
    EventOutcome::Expired.as_str(),
    EventOutcome::Ignored.as_str(),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_reads_back_from_its_name() {
        for outcome in EventOutcome::ALL {
            assert_eq!(EventOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(EventOutcome::parse("failed"), Some(EventOutcome::Dead));
        assert_eq!(EventOutcome::parse("skipped"), None);
    }

    #[test]
    fn the_settled_list_is_exactly_the_settled_outcomes() {
        let settled: Vec<&str> = EventOutcome::ALL
            .into_iter()
            .filter(|o| o.is_settled())
            .map(EventOutcome::as_str)
            .collect();
        assert_eq!(settled, SETTLED_OUTCOMES);
    }

    /// The outcomes a `NOT IN (…)` list in `sql` names, in order.
    fn not_in_list(sql: &str) -> Vec<String> {
        let start = sql.find("NOT IN (").expect("a NOT IN list") + "NOT IN (".len();
        let end = start + sql[start..].find(')').unwrap();
        sql[start..end]
            .split(',')
            .map(|s| s.trim().trim_matches('\'').to_owned())
            .collect()
    }

    #[test]
    fn the_partial_index_and_the_stuck_predicate_spell_the_same_settled_list() {
        let index = include_str!("../../migrations/20261124000001_unsettled_events_index.sql");
        assert_eq!(not_in_list(index), SETTLED_OUTCOMES);
        for sql in [super::super::events::STUCK, super::super::events::STUCK_L] {
            assert_eq!(not_in_list(sql), SETTLED_OUTCOMES, "{sql}");
        }
    }
}
