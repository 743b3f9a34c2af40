//! Sending: an open loop at a fixed rate, or a closed loop at fixed concurrency.
//!
//! - **Open loop** (`--rate`): request `i` is due at `start + i / rate`, whatever happened to
//!   the ones before, like Stripe's deliveries. A sender that takes a request whose time has
//!   already passed (every sender was busy) measures its latency from the due time, so a slow
//!   server is not hidden by a generator that slowed down with it (coordinated omission). A
//!   request that was waited for is measured from its actual start, so the 1 ms resolution of
//!   the timer is not charged to the server.
//! - **Closed loop** (`--concurrency`): each sender sends its next request when the previous one
//!   is answered: the saturation throughput.
//!
//! Each sender owns one keep-alive connection and its own [`Tally`]; nothing is shared in the
//! measured path but an atomic counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::signature::{signature_header, unix_now};

use super::client::Connection;
use super::events::EventSource;
use super::report::Tally;
use super::target::Target;

/// A request later than this after its due time counts as a late start.
const LATE: Duration = Duration::from_millis(1);
/// Pause after a failed connect, so a dead target is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Open loop: `per_sec` requests per second over `connections` connections.
    Rate { per_sec: u32, connections: usize },
    /// Closed loop: this many senders, back to back.
    Concurrency(usize),
}

/// What to send, where, how fast, for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: Target,
    /// The endpoint secret the bodies are signed with.
    pub secret: String,
    pub pace: Pace,
    pub duration: Duration,
    pub max_requests: u64,
}

impl LoadPlan {
    pub fn senders(&self) -> usize {
        match self.pace {
            Pace::Rate { connections, .. } => connections.max(1),
            Pace::Concurrency(n) => n.max(1),
        }
    }
}

struct Run {
    plan: LoadPlan,
    events: EventSource,
    next: AtomicU64,
    start: Instant,
}

/// Runs `plan`; returns what every sender saw and the measured window.
pub async fn drive(plan: LoadPlan, events: EventSource) -> (Tally, Duration) {
    let senders = plan.senders();
    let run = Arc::new(Run {
        plan,
        events,
        next: AtomicU64::new(0),
        start: Instant::now(),
    });
    let tasks: Vec<_> = (0..senders)
        .map(|_| tokio::spawn(sender(run.clone())))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        if let Ok(sender_tally) = task.await {
            tally.merge(sender_tally);
        }
    }
    (tally, run.start.elapsed())
}

async fn sender(run: Arc<Run>) -> Tally {
    let mut tally = Tally::default();
    let mut connection = None;
    let end = run.start + run.plan.duration;
    let total = match run.plan.pace {
        Pace::Rate { per_sec, .. } => {
            let scheduled = (run.plan.duration.as_secs_f64() * f64::from(per_sec)).ceil() as u64;
            scheduled.min(run.plan.max_requests)
        }
        Pace::Concurrency(_) => run.plan.max_requests,
    };
    loop {
        let seq = run.next.fetch_add(1, Ordering::Relaxed);
        if seq >= total {
            break;
        }
        let body = run.events.body(seq);
        let signature = signature_header(&body, &[&run.plan.secret], unix_now());
        let measured_from = match run.plan.pace {
            Pace::Rate { per_sec, .. } => {
                let due = run.start + Duration::from_secs_f64(seq as f64 / f64::from(per_sec));
                let now = Instant::now();
                if due > now {
                    tokio::time::sleep_until(due.into()).await;
                    Instant::now()
                } else {
                    if now - due > LATE {
                        tally.late_starts += 1;
                    }
                    due
                }
            }
            Pace::Concurrency(_) => {
                if Instant::now() >= end {
                    break;
                }
                Instant::now()
            }
        };
        let status = send(&mut connection, &run.plan.target, body, &signature).await;
        tally.record(status, measured_from.elapsed());
    }
    tally
}

/// One request on the sender's connection, reconnecting when the server closed it.
async fn send(
    connection: &mut Option<Connection>,
    target: &Target,
    body: bytes::Bytes,
    signature: &str,
) -> Option<u16> {
    if !connection.as_ref().is_some_and(Connection::is_open) {
        match Connection::open(target).await {
            Ok(opened) => *connection = Some(opened),
            Err(_) => {
                *connection = None;
                tokio::time::sleep(RECONNECT_PAUSE).await;
                return None;
            }
        }
    }
    let open = connection.as_mut()?;
    match open.post_webhook(target, body, signature).await {
        Ok(status) => Some(status),
        Err(_) => {
            *connection = None;
            None
        }
    }
}
