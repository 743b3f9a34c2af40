//! The delivery task: reads the event feed, creates the deliveries of each new event and starts
//! them, applying the shuffle and delay faults; and settles delayed payments that are set to
//! settle by themselves.

use std::time::Duration;

use bytes::Bytes;
use rand::seq::SliceRandom;
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::{AsyncPaymentOutcome, DelayedPaymentResolution, WebhookEndpoint};
use super::deliver::{Deliverer, Job};
use crate::state::SimState;

/// What Stripe's webhook requests identify themselves as.
const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// Starts delivering the events `state` records from now on, until `shutdown` is cancelled.
/// Subscribes before returning, so no event created after this call is missed.
pub(crate) fn start(state: SimState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        // Stripe does not follow redirects: a 3xx is a failed delivery.
        .redirect(reqwest::redirect::Policy::none())
        // A well-behaved sender drops an idle connection before the receiver does (ingress keeps
        // them 75 s), so a delivery is never written onto a connection being closed.
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let feed = state.subscribe_events();
    let deliverer = Deliverer {
        state,
        client,
        shutdown,
    };
    tokio::spawn(run(deliverer, feed));
    Ok(())
}

async fn run(deliverer: Deliverer, mut feed: broadcast::Receiver<Value>) {
    // Events are read back from the store by position: the feed only says "something new",
    // so falling behind it (`Lagged`) loses nothing.
    let mut cursor = 0;
    // The shuffle fault's held deliveries, and when they go out.
    let mut held: Vec<Job> = Vec::new();
    let mut release_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = deliverer.shutdown.cancelled() => return,
            received = feed.recv() => match received {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let (events, next) = deliverer.state.events_after(cursor);
                    cursor = next;
                    for event in events {
                        dispatch(&deliverer, event, &mut held, &mut release_at);
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now)),
                if release_at.is_some() => {
                release_at = None;
                release_shuffled(&deliverer, std::mem::take(&mut held));
            }
        }
    }
}

/// Creates the deliveries of `event` and starts them (or holds them for the shuffle).
fn dispatch(
    deliverer: &Deliverer,
    mut event: Value,
    held: &mut Vec<Job>,
    release_at: &mut Option<Instant>,
) {
    let settings = deliverer.state.delivery_settings();
    let (Some(id), Some(event_type)) = (event["id"].as_str(), event["type"].as_str()) else {
        return;
    };
    let (id, event_type) = (id.to_string(), event_type.to_string());
    if let Some(resolution) = settings.delayed_payment {
        if event_type == "checkout.session.completed"
            && event["data"]["object"]["payment_status"] == "unpaid"
        {
            if let Some(session) = event["data"]["object"]["id"].as_str() {
                settle_later(deliverer, session.to_string(), resolution);
            }
        }
    }
    // A connected account's event goes to the Connect endpoints, a platform's to the others.
    let endpoints: Vec<WebhookEndpoint> = settings
        .endpoints_for(event["account"].as_str())
        .cloned()
        .collect();
    if endpoints.is_empty() && event["pending_webhooks"] == 0 {
        // Nowhere to deliver and nothing to correct: the common case without endpoints.
        return;
    }
    let ids = deliverer.state.register_deliveries(
        &id,
        &event_type,
        &endpoints,
        settings.faults.duplicates,
    );
    if ids.is_empty() {
        return;
    }
    event["pending_webhooks"] = endpoints.len().into();
    // Pretty-printed, as Stripe sends it: a receiver that re-serializes before verifying fails
    // here as it would in production.
    let payload = Bytes::from(
        serde_json::to_vec_pretty(&event).expect("a serde_json::Value always serializes"),
    );
    let copies = settings.faults.duplicates as usize + 1;
    let jobs = ids.into_iter().enumerate().map(|(i, delivery_id)| Job {
        delivery_id,
        endpoint: endpoints[i / copies].clone(),
        payload: payload.clone(),
    });
    match settings.faults.shuffle_window {
        Some(window) => {
            held.extend(jobs);
            release_at.get_or_insert_with(|| Instant::now() + window + settings.faults.delay);
        }
        None => {
            for job in jobs {
                deliverer.start(job, settings.faults.delay);
            }
        }
    }
}

/// Sends the held first attempts one after another in an order other than the original one;
/// retries then run independently.
fn release_shuffled(deliverer: &Deliverer, jobs: Vec<Job>) {
    let jobs = shuffle_away_from_original(jobs);
    let this = deliverer.clone();
    deliverer.spawn(async move {
        for job in jobs {
            this.first_attempt_then_background(job).await;
        }
    });
}

/// A random permutation that is never the identity when there are two or more items, so that
/// a test of the shuffle fault sees a difference every time.
fn shuffle_away_from_original<T>(items: Vec<T>) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.shuffle(&mut rand::thread_rng());
    if items.len() >= 2 && order.iter().enumerate().all(|(i, &j)| i == j) {
        order.rotate_left(1);
    }
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|j| slots[j].take().expect("each index appears once"))
        .collect()
}

/// Settles a delayed payment after the configured time, unless the control API did first.
fn settle_later(deliverer: &Deliverer, session: String, resolution: DelayedPaymentResolution) {
    let state = deliverer.state.clone();
    deliverer.spawn(async move {
        // The configured time the money takes to arrive.
        tokio::time::sleep(resolution.after).await;
        let settled = match resolution.outcome {
            AsyncPaymentOutcome::Succeeded => state.succeed_async_payment(&session),
            AsyncPaymentOutcome::Failed => state.fail_async_payment(&session),
        };
        match settled {
            Ok(_) => {
                tracing::info!(%session, outcome = ?resolution.outcome, "delayed payment settled")
            }
            // Already settled through the control API: nothing left to do.
            Err(e) => tracing::debug!(%session, error = %e, "delayed payment not settled"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shuffle_never_keeps_the_original_order() {
        for len in 2..6 {
            for _ in 0..200 {
                let items = shuffle_away_from_original((0..len).collect::<Vec<usize>>());
                assert_ne!(items, (0..len).collect::<Vec<_>>());
                let mut sorted = items.clone();
                sorted.sort();
                assert_eq!(sorted, (0..len).collect::<Vec<_>>(), "a permutation");
            }
        }
    }

    #[test]
    fn one_item_stays_put() {
        assert_eq!(shuffle_away_from_original(vec!["a"]), vec!["a"]);
    }
}
