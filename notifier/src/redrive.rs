//! `notifier redrive`: the notifier's dead letters (`notifier.orders.dead`) back into
//! `notifier.orders`, through `notifier.redrive` (bound to that queue alone, so no other
//! subscriber of `orders` hears an announcement twice), attempts reset. A channel already marked
//! sent in `notifications` is skipped when the announcement comes back, so only what failed is
//! sent. The moving itself is [`shared::queue::redrive`]'s.

use std::time::Duration;

use shared::queue::redrive::{Part, RedriveError, RedriveReport};
use shared::queue::{BrokerEndpoint, Topology};

/// Moves up to `limit` (default: all present now) dead letters back to the notifier.
pub async fn redrive(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let exchange = topology.notifier_redrive_exchange();
    shared::queue::redrive::redrive(
        endpoint,
        topology,
        Part::Notifier,
        &topology.notifier_dead_queue(),
        // The routing key says which announcement it is; the fanout ignores it, the notifier
        // reads it.
        |routing_key| (exchange.clone(), routing_key.to_owned()),
        limit,
        confirm_timeout,
    )
    .await
}
