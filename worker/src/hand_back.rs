//! The pause before a delivery is handed back to its queue because its retry or dead-letter
//! copy was not confirmed (the broker refused it, e.g. a full retry tier with `reject-publish`
//! overflow, or the confirm did not come in time).
//!
//! Why pause at all: a delivery nacked with requeue comes straight back, is processed again
//! (another Stripe call) and fails to republish again, so without a pause one message loops
//! many times a second, burns the quorum queue's delivery limit in a moment and ends in the
//! dead-letter queue without ever waiting in a retry tier. The pause grows with the delivery's
//! redelivery count (`x-delivery-count`, kept by the quorum queue), so a broker that refuses for
//! a while sees fewer and fewer attempts. While a delivery waits it keeps its prefetch slot:
//! when every slot is waiting the consumer takes nothing new, which is the throttle we want
//! while the broker cannot take our copies.

use std::time::Duration;

use lapin::types::FieldTable;
use rand::Rng;
use shared::queue::topology::headers;

use crate::attempts::count_header;

/// The first pause; each later hand-back of the same delivery doubles it, up to the cap.
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// How many times the queue has handed this delivery out before (0 on the first delivery).
pub fn redeliveries(headers: Option<&FieldTable>) -> u32 {
    count_header(headers, headers::DELIVERY_COUNT)
}

/// The pause before the `redeliveries`-th hand-back: `FIRST_PAUSE × 2^redeliveries`, at most
/// `max`, plus up to half again at random so that deliveries refused together do not all come
/// back together.
pub fn pause(redeliveries: u32, max: Duration) -> Duration {
    let base = FIRST_PAUSE
        .saturating_mul(1 << redeliveries.min(16))
        .min(max);
    let jitter = rand::thread_rng().gen_range(0..=base.as_millis() as u64 / 2);
    (base + Duration::from_millis(jitter)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{AMQPValue, ShortString};

    #[test]
    fn the_pause_grows_with_each_redelivery_and_stops_at_the_cap() {
        let max = Duration::from_secs(30);
        let first = pause(0, max);
        assert!(
            first >= FIRST_PAUSE && first <= FIRST_PAUSE * 3 / 2,
            "{first:?}"
        );
        let fourth = pause(3, max);
        assert!(fourth >= FIRST_PAUSE * 8, "{fourth:?}");
        assert_eq!(pause(12, max), max);
        assert_eq!(pause(u32::MAX, max), max);
        assert!(pause(0, Duration::from_millis(100)) <= Duration::from_millis(100));
    }

    #[test]
    fn redeliveries_come_from_the_quorum_queues_counter() {
        assert_eq!(redeliveries(None), 0);
        let mut h = FieldTable::default();
        h.insert(
            ShortString::from(headers::DELIVERY_COUNT),
            AMQPValue::LongLongInt(4),
        );
        assert_eq!(redeliveries(Some(&h)), 4);
    }
}
