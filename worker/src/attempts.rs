//! How many attempts a delivery has had (its `x-attempts` header), and where the next one goes
//! after a failure: the next retry tier, the dead-letter queue once the tiers are spent, or, for
//! a Stripe outage, the tiers for as long as the outage lasts.

use lapin::types::{AMQPValue, FieldTable};
use shared::queue::topology::headers;

use crate::process::{DeadReason, Disposition};

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

/// The attempts a message has had before this one, from its `x-attempts` header (0 when
/// absent or unreadable: a fresh message).
pub fn previous_attempts(headers: Option<&FieldTable>) -> u32 {
    count_header(headers, headers::ATTEMPTS)
}

/// A count carried in header `name`, whatever integer type (or decimal text) the publisher
/// chose; 0 when absent, negative or unreadable.
pub fn count_header(headers: Option<&FieldTable>, name: &str) -> u32 {
    let Some(value) = headers.and_then(|h| h.inner().get(name)) else {
        return 0;
    };
    let n: i64 = match value {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    u32::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{LongString, ShortString};

    #[test]
    fn attempts_are_read_from_any_integer_header_type() {
        assert_eq!(previous_attempts(None), 0);
        let mut h = FieldTable::default();
        h.insert(ShortString::from(headers::ATTEMPTS), AMQPValue::LongUInt(3));
        assert_eq!(previous_attempts(Some(&h)), 3);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongLongInt(7),
        );
        assert_eq!(previous_attempts(Some(&h)), 7);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongString(LongString::from("2")),
        );
        assert_eq!(previous_attempts(Some(&h)), 2);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongLongInt(-1),
        );
        assert_eq!(previous_attempts(Some(&h)), 0);
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
