//! What becomes of a delivery after its processing step: acknowledged, sent to a retry tier, or
//! dead-lettered with a [`DeadReason`]; and the retry policy that chooses between the last two
//! (the next tier while one is left, for a Stripe outage the tiers for as long as it lasts).
//! The consumer acts on a [`Disposition`]; the headers that carry a delivery's attempts are
//! [`crate::attempts`]'s.

/// What the consumer must do with a delivery. Every variant ends with the original being
/// acknowledged; `Retry` and `Dead` first republish it (with a confirm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The outcome is committed (or there was nothing to do).
    Ack,
    /// A transient failure: wait in retry tier `tier` (0-based), then try again. `error` goes
    /// into the attempt history.
    Retry { tier: usize, error: String },
    /// Give up: to `checkout.fulfillment.dead` with the reason.
    Dead { reason: DeadReason },
}

/// Why a message is dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadReason {
    /// Not a Stripe event, or ids that do not parse. Retrying cannot help.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Stripe answered 404 for the session (wrong account or mode, or a forged event).
    #[error("Stripe does not know checkout session {0}")]
    SessionNotFound(String),
    /// An error that will not go away by itself (e.g. Stripe calls our request invalid).
    #[error("permanent error: {0}")]
    Permanent(String),
    /// Transient errors until every retry tier was spent.
    #[error("out of attempts after {attempts}: {last_error}")]
    OutOfAttempts { attempts: u32, last_error: String },
}

impl DeadReason {
    /// Every [`Self::label`], for the metric's series to exist at zero.
    pub const LABELS: [&'static str; 4] =
        ["malformed", "not_found", "permanent", "out_of_attempts"];

    /// A short label for metrics (one of [`Self::LABELS`]).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::SessionNotFound(_) => "not_found",
            Self::Permanent(_) => "permanent",
            Self::OutOfAttempts { .. } => "out_of_attempts",
        }
    }
}

/// After a transient failure of attempt `attempt` (1-based): the next retry tier while one is
/// left, else dead. With N tiers a message gets N + 1 attempts.
pub fn after_transient_failure(attempt: u32, retry_tiers: usize, error: String) -> Disposition {
    if (attempt as usize) <= retry_tiers {
        Disposition::Retry {
            tier: attempt as usize - 1,
            error,
        }
    } else {
        Disposition::Dead {
            reason: DeadReason::OutOfAttempts {
                attempts: attempt,
                last_error: error,
            },
        }
    }
}

/// After attempt `attempt` (1-based) failed because of a Stripe outage: the next retry tier,
/// and once they are spent the last one again, for as long as the outage lasts. The failure says
/// nothing about the event, so spending its attempts on it would dead-letter every order placed
/// while, say, a rolled key waits to be replaced; the alert rules page instead. Without tiers
/// there is nowhere to wait, and the usual rule applies.
pub fn during_outage(attempt: u32, retry_tiers: usize, error: String) -> Disposition {
    if retry_tiers == 0 {
        return after_transient_failure(attempt, retry_tiers, error);
    }
    Disposition::Retry {
        tier: (attempt as usize).saturating_sub(1).min(retry_tiers - 1),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_reasons_say_why() {
        let r = DeadReason::OutOfAttempts {
            attempts: 3,
            last_error: "Stripe: server error".into(),
        };
        assert_eq!(r.label(), "out_of_attempts");
        assert!(r.to_string().contains("after 3"));
    }

    #[test]
    fn every_dead_reason_label_is_listed_once() {
        let labels: Vec<&str> = [
            DeadReason::Malformed(String::new()),
            DeadReason::SessionNotFound(String::new()),
            DeadReason::Permanent(String::new()),
            DeadReason::OutOfAttempts {
                attempts: 1,
                last_error: String::new(),
            },
        ]
        .iter()
        .map(DeadReason::label)
        .collect();
        assert_eq!(labels, DeadReason::LABELS);
    }

    #[test]
    fn a_failure_is_retried_while_tiers_remain_then_dead() {
        assert!(matches!(
            after_transient_failure(1, 2, "boom".into()),
            Disposition::Retry { tier: 0, .. }
        ));
        assert!(matches!(
            after_transient_failure(2, 2, "boom".into()),
            Disposition::Retry { tier: 1, .. }
        ));
        assert!(matches!(
            after_transient_failure(3, 2, "boom".into()),
            Disposition::Dead {
                reason: DeadReason::OutOfAttempts { attempts: 3, .. }
            }
        ));
    }

    #[test]
    fn an_outage_waits_in_the_last_tier_and_is_never_dead() {
        assert!(matches!(
            during_outage(1, 2, "401".into()),
            Disposition::Retry { tier: 0, .. }
        ));
        for attempt in [2, 3, 50, u32::MAX] {
            assert!(matches!(
                during_outage(attempt, 2, "401".into()),
                Disposition::Retry { tier: 1, .. }
            ));
        }
        assert!(matches!(
            during_outage(1, 0, "401".into()),
            Disposition::Dead { .. }
        ));
    }
}
