//! The per-delivery decision: which channels an announcement goes to, and for each, claim →
//! send → record (see [`crate::ledger`]). What the consumer does with the delivery follows from
//! the channels' outcomes ([`Disposition`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::errors::error_chain;
use sqlx::PgPool;
use uuid::Uuid;

use shared::store::notifications::EMAIL;

use crate::callback::{Callback, Caller};
use crate::ledger::{self, Claim};
use crate::mail::Mailer;
use crate::metrics;
use crate::notice::Notice;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The receiver may take it later (SMTP 4xx, no connection, HTTP 5xx, a timeout).
    #[error("{0}")]
    Transient(String),
    /// It never will (SMTP 5xx, an address that is none, HTTP 4xx).
    #[error("{0}")]
    Permanent(String),
}

/// What becomes of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Every channel has it (now or before): ack.
    Done,
    /// A channel failed for a reason that may pass, or another copy holds its claim: requeue
    /// after a pause. Channels already sent are skipped next time.
    Retry(String),
    /// It cannot be delivered on some channel, ever: dead-letter it (the others that were sent
    /// stay recorded, so a redrive sends only what is missing).
    Dead(String),
}

/// Sends one announcement on every channel it has.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    /// `None`: customers get no mail from us (`notifier.customer_mail = false`).
    mailer: Option<Mailer>,
    caller: Caller,
    callbacks: Vec<Callback>,
    /// How long a claim keeps another copy from sending: longer than any one send may take.
    lease: Duration,
}

impl Dispatcher {
    pub fn new(
        pool: PgPool,
        mailer: Option<Mailer>,
        caller: Caller,
        callbacks: Vec<Callback>,
        send_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                mailer,
                caller,
                callbacks,
                lease: send_timeout * 3,
            }),
        }
    }

    /// Handles one delivery: its `message_id` property, routing key and body.
    pub async fn dispatch(
        &self,
        message_id: Option<&str>,
        routing_key: &str,
        body: &[u8],
    ) -> Disposition {
        let (id, notice) = match Notice::read(message_id, routing_key, body) {
            Ok(read) => read,
            Err(unreadable) => return Disposition::Dead(unreadable.to_string()),
        };
        let mut retry = None;
        let mut dead = None;
        let mut record = |result: Result<(), SendError>| match result {
            Ok(()) => {}
            Err(SendError::Transient(reason)) => retry = Some(reason),
            Err(SendError::Permanent(reason)) => dead = Some(reason),
        };
        match (&self.inner.mailer, notice.customer_email()) {
            (Some(mailer), Some(to)) => {
                let result = self
                    .on_channel(id, &notice, EMAIL, "email", || mailer.send(id, &notice, to))
                    .await;
                record(result);
            }
            (None, _) => {}
            (Some(_), None) => {
                metrics::NOTIFICATIONS
                    .with_label_values(&["email", "no_address"])
                    .inc();
                tracing::info!(
                    message_id = %id,
                    session_id = notice.session_id(),
                    "no customer address: no mail"
                );
            }
        }
        let timestamp = shared::signature::unix_now();
        for callback in &self.inner.callbacks {
            let result = self
                .on_channel(id, &notice, callback.channel(), "callback", || {
                    self.inner
                        .caller
                        .send(callback, id, notice.routing_key(), body, timestamp)
                })
                .await;
            record(result);
        }
        match (dead, retry) {
            (Some(reason), _) => Disposition::Dead(reason),
            (None, Some(reason)) => Disposition::Retry(reason),
            (None, None) => Disposition::Done,
        }
    }

    /// Claim → `send` → record, on one channel. `kind` is the metrics label.
    async fn on_channel<F, Fut>(
        &self,
        id: Uuid,
        notice: &Notice,
        channel: &str,
        kind: &'static str,
        send: F,
    ) -> Result<(), SendError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), SendError>>,
    {
        let pool = &self.inner.pool;
        let claim = ledger::claim(
            pool,
            id,
            channel,
            notice.routing_key(),
            notice.session_id(),
            self.inner.lease,
        )
        .await
        .map_err(|e| SendError::Transient(format!("claiming the send: {}", error_chain(&e))))?;
        let attempt = match claim {
            Claim::Claimed { attempt } => attempt,
            Claim::AlreadySent => {
                metrics::NOTIFICATIONS
                    .with_label_values(&[kind, "duplicate"])
                    .inc();
                tracing::debug!(message_id = %id, channel, "sent before; skipped");
                return Ok(());
            }
            Claim::Held => {
                metrics::NOTIFICATIONS
                    .with_label_values(&[kind, "held"])
                    .inc();
                return Err(SendError::Transient(format!(
                    "another copy is sending on {channel}"
                )));
            }
        };
        let started = Instant::now();
        let result = send().await;
        metrics::SEND_SECONDS
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(()) => {
                // The send happened; if this update is lost (a crash, Postgres gone), the
                // announcement is sent again with the same idempotency key.
                ledger::mark_sent(pool, id, channel).await.map_err(|e| {
                    SendError::Transient(format!("recording the send: {}", error_chain(&e)))
                })?;
                metrics::NOTIFICATIONS
                    .with_label_values(&[kind, "sent"])
                    .inc();
                tracing::info!(
                    message_id = %id,
                    session_id = notice.session_id(),
                    channel,
                    attempt,
                    "sent"
                );
            }
            Err(error) => {
                let outcome = match error {
                    SendError::Transient(_) => "retry",
                    SendError::Permanent(_) => "failed",
                };
                metrics::NOTIFICATIONS
                    .with_label_values(&[kind, outcome])
                    .inc();
                tracing::warn!(
                    message_id = %id,
                    session_id = notice.session_id(),
                    channel,
                    attempt,
                    error = %error_chain(&error),
                    "send failed"
                );
                if let Err(e) = ledger::release(pool, id, channel, &error.to_string()).await {
                    // The lease runs out by itself; the next attempt only waits for it.
                    tracing::warn!(error = %error_chain(&e), "recording the failed send");
                }
            }
        }
        result
    }
}
