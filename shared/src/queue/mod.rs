//! RabbitMQ: the topology (declared here and nowhere else), a confirmed publisher, a connection
//! that repairs itself, and W3C trace context over AMQP headers.
//!
//! - [`topology`]: every exchange and queue of ARCHITECTURE's topology, each option commented,
//!   and the policies that give `checkout.events` and `orders` their alternate exchanges (the
//!   `*.unrouted` queues), so nothing published is ever dropped as unroutable.
//! - [`definitions`]: the same topology as the definitions file the compose stack's broker
//!   imports at boot (`worker definitions` writes it).
//! - [`publisher`]: publish persistent + `mandatory`, await the confirm within a deadline; only
//!   a plain `Ack` counts.
//! - [`endpoint`]: the broker's URL, its separate password and the CA its TLS certificate
//!   chains to.
//! - [`connection`]: connect with the tokio executor; [`connection::Broker`] keeps a confirm
//!   channel alive in the background and fails callers fast while it is down.
//! - [`consume`]: the consume loop the worker and the notifier share (subscribe, one task per
//!   delivery, reconnect, drain on shutdown).
//! - [`trace_context`]: `traceparent` injection and extraction.
//! - `notifier_topology`: the notifier's own queue on `orders` and its dead letters, declared
//!   by the notifier alone ([`Topology::declare_notifier`]).
//! - [`redrive`]: parked messages moved back (`worker redrive`, `notifier redrive`).

pub mod connection;
pub mod consume;
pub mod definitions;
pub mod endpoint;
mod notifier_topology;
pub mod publisher;
pub mod redrive;
mod spec;
pub mod topology;
pub mod trace_context;

pub use connection::{connect, Backoff, Broker};
pub use consume::{Subscriber, Subscription};
pub use endpoint::BrokerEndpoint;
pub use publisher::{publish_confirmed, OutgoingMessage, PublishError};
pub use topology::{
    Argument, BindingSpec, ExchangeSpec, ExchangeType, Policy, PolicyDefinition, QueueSpec,
    Topology,
};
