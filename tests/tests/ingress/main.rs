//! Ingress: a signed webhook is answered 2xx only once RabbitMQ has confirmed it (G1), and
//! everything else is refused clearly; against the real broker.
//!
//! - publishing and the publisher's confirms (`ingress_publishing`, `publisher`);
//! - refusals, connections, load, a broker outage, shutdown and the log (`ingress_*`).

mod ingress_broker_outage;
mod ingress_connections;
mod ingress_load;
mod ingress_logs;
mod ingress_publishing;
mod ingress_rejections;
mod ingress_shutdown;
mod publisher;
