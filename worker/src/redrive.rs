//! `worker redrive`: parked messages back where they belong.
//!
//! - `--from dead` (the default): dead-lettered messages straight into `checkout.fulfillment`
//!   (default exchange: other subscribers of `checkout.events` do not get them a second time),
//!   attempts reset.
//! - `--from unrouted`: events the alternate exchange caught (no binding took them) back through
//!   `checkout.events` with their own routing key, once the binding is back.
//! - `--from orders-unrouted`: announcements no subscriber's queue took, back through `orders`.
//!
//! The moving itself is [`shared::queue::redrive`]'s.

use std::time::Duration;

use shared::queue::redrive::{Part, RedriveError, RedriveReport};
use shared::queue::{BrokerEndpoint, Topology};

/// Which parked messages a redrive moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedriveSource {
    /// `checkout.fulfillment.dead`, back into `checkout.fulfillment`.
    Dead,
    /// `checkout.unrouted`, back through `checkout.events`.
    Unrouted,
    /// `orders.unrouted`, back through `orders`.
    OrdersUnrouted,
}

impl RedriveSource {
    /// The queue to take from.
    fn queue(self, topology: &Topology) -> String {
        match self {
            Self::Dead => topology.dead_queue(),
            Self::Unrouted => topology.unrouted_queue(),
            Self::OrdersUnrouted => topology.orders_unrouted_queue(),
        }
    }

    /// Where a message taken from the queue goes: (exchange, routing key).
    fn destination(self, topology: &Topology, routing_key: &str) -> (String, String) {
        match self {
            Self::Dead => (String::new(), topology.fulfillment_queue()),
            // The alternate exchange kept the routing key the message was published with.
            Self::Unrouted => (topology.checkout_exchange(), routing_key.to_owned()),
            Self::OrdersUnrouted => (topology.orders_exchange(), routing_key.to_owned()),
        }
    }
}

/// Moves up to `limit` (default: all present now) messages of `source` back.
pub async fn redrive(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    source: RedriveSource,
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    shared::queue::redrive::redrive(
        endpoint,
        topology,
        Part::Fulfillment,
        &source.queue(topology),
        |routing_key| source.destination(topology, routing_key),
        limit,
        confirm_timeout,
    )
    .await
}

/// Moves only the dead letters of the events in `ids` (`evt_…`, their message ids) back into
/// `checkout.fulfillment`, attempts reset; the others stay parked as they were. The console's
/// "redrive selected".
pub async fn redrive_dead_events(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    ids: &std::collections::HashSet<String>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let source = RedriveSource::Dead;
    shared::queue::redrive::redrive_only(
        endpoint,
        topology,
        &source.queue(topology),
        |routing_key| source.destination(topology, routing_key),
        ids,
        confirm_timeout,
    )
    .await
}

/// Removes for good only the dead letters of the events in `ids`; the others stay parked as
/// they were. The console's "drop selected", in place of a purge of the whole queue.
pub async fn drop_dead_events(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    ids: &std::collections::HashSet<String>,
) -> Result<RedriveReport, RedriveError> {
    shared::queue::redrive::drop_only(
        endpoint,
        topology,
        &RedriveSource::Dead.queue(topology),
        ids,
    )
    .await
}
