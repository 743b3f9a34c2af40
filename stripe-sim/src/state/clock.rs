//! The simulator's "now": wall-clock time plus an adjustable offset.
//!
//! Tests of the 30-day event retention and of the reconciler's `created[gte]` cursor need objects
//! created in the past (or the future) without waiting; shifting the clock does that, and only
//! the `created` stamps of objects made afterwards move.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub(crate) struct SimClock {
    /// Seconds added to the wall clock.
    offset_secs: AtomicI64,
}

impl SimClock {
    /// Unix seconds as the simulator sees them.
    pub(crate) fn now(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        wall + self.offset_secs.load(Ordering::Relaxed)
    }

    pub(crate) fn set_offset(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::Relaxed);
    }

    pub(crate) fn offset(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }
}
