//! Connecting to RabbitMQ, and a connection that repairs itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::tcp::OwnedTLSConfig;
use lapin::{Channel, Connection, ConnectionProperties};
use rand::Rng;
use tokio::sync::Notify;

use super::endpoint::{without_credentials, BrokerEndpoint};
use super::publisher::{publish_confirmed, OutgoingMessage, PublishError};
use super::topology::Topology;
use crate::errors::error_chain;

/// Opens a connection driven by the current tokio runtime.
///
/// `endpoint` may name several nodes of a cluster, comma-separated, each a full AMQP URI (a
/// bare URL converts: see [`BrokerEndpoint`] for the separate password and the CA file). They
/// are tried in turn, each for at most [`NODE_CONNECT_TIMEOUT`], and every call starts one node
/// further along than the previous call in this process: a reconnect moves on from the node
/// that just failed, and connections spread over the cluster.
pub async fn connect(
    endpoint: impl Into<BrokerEndpoint>,
    name: &str,
) -> Result<Connection, lapin::Error> {
    let endpoint = endpoint.into();
    let nodes = endpoint.nodes();
    let tls = endpoint.tls()?;
    let next = NEXT_NODE.get_or_init(|| AtomicUsize::new(rand::thread_rng().gen_range(0..64)));
    let first = next.fetch_add(1, Ordering::Relaxed);
    let mut last_error = None;
    for i in 0..nodes.len() {
        let node = nodes[(first + i) % nodes.len()];
        let uri = endpoint.uri(node)?;
        let properties = ConnectionProperties::default()
            .with_connection_name(name.into())
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let attempt = tokio::time::timeout(
            NODE_CONNECT_TIMEOUT,
            Connection::connect_uri_with_config(uri.clone(), properties, clone_tls(&tls)),
        );
        let error = match attempt.await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(error)) => endpoint.explain(&uri, error),
            Err(_) => lapin::Error::IOError(Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {NODE_CONNECT_TIMEOUT:?}"),
            ))),
        };
        if nodes.len() > 1 {
            tracing::warn!(node = %without_credentials(node), %error, "cannot reach this broker node; trying the next");
        }
        last_error = Some(error);
    }
    Err(last_error.expect("broker_nodes returns at least one node"))
}

/// `OwnedTLSConfig` is not `Clone`; each connection attempt takes one.
fn clone_tls(tls: &OwnedTLSConfig) -> OwnedTLSConfig {
    OwnedTLSConfig {
        identity: None,
        cert_chain: tls.cert_chain.clone(),
    }
}

/// How long one node may take to accept a connection before the next one is tried: a node cut
/// off the network does not refuse, it just never answers.
pub const NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the next [`connect`] starts in the node list: from a random place in each process, so
/// that replicas of a service started alike do not all land on the same node.
static NEXT_NODE: std::sync::OnceLock<AtomicUsize> = std::sync::OnceLock::new();

/// The AMQP URIs of a (possibly comma-separated) broker URL, never empty: an empty URL is one
/// node whose connect fails with a parse error naming `broker.url`.
pub fn broker_nodes(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).collect()
}

/// Exponential backoff with jitter between reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            current: min,
        }
    }

    /// The next delay: doubles up to `max`, each with up to 50% jitter so a fleet of services
    /// doesn't reconnect in lock-step after a broker restart.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter = rand::thread_rng().gen_range(0..=base.as_millis() as u64 / 2);
        base + Duration::from_millis(jitter)
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

/// A broker connection kept alive in the background, with confirm-mode channels shared by every
/// publisher in the process.
///
/// Publishing never waits for a reconnect: while disconnected it fails at once with
/// [`PublishError::NotConnected`], so a webhook gets its 503 immediately and Stripe retries.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    /// The live channels; empty while disconnected. A std lock: held only to clone a handle,
    /// never across an await.
    channels: RwLock<Vec<Channel>>,
    /// Round-robin position over `channels`.
    next: AtomicUsize,
    connected: AtomicBool,
    /// Wakes `wait_connected` callers.
    changed: Notify,
    /// Set by `close`; stops the reconnect loop.
    closing: AtomicBool,
    connection: RwLock<Option<Connection>>,
}

/// What the background loop needs to (re)connect.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub endpoint: BrokerEndpoint,
    pub connection_name: String,
    pub topology: Topology,
    /// Confirm channels to publish on. Confirms are per channel; a few channels spread the
    /// confirm bookkeeping when many requests publish at once.
    pub channels: usize,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl BrokerOptions {
    /// A publisher connection to the configured brokers, named `connection_name` in the
    /// broker's connection list, with `channels` confirm channels.
    pub fn from_settings(
        broker: &crate::settings::BrokerSettings,
        connection_name: &str,
        channels: usize,
    ) -> Self {
        Self {
            endpoint: BrokerEndpoint::from_settings(broker),
            connection_name: connection_name.to_owned(),
            topology: Topology::from_settings(broker),
            channels,
            reconnect_min: broker.reconnect_min(),
            reconnect_max: broker.reconnect_max(),
        }
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Broker {
    /// Starts connecting in the background and returns at once.
    pub fn start(options: BrokerOptions) -> Self {
        let broker = Self {
            inner: Arc::new(Inner {
                channels: RwLock::new(Vec::new()),
                next: AtomicUsize::new(0),
                connected: AtomicBool::new(false),
                changed: Notify::new(),
                closing: AtomicBool::new(false),
                connection: RwLock::new(None),
            }),
        };
        tokio::spawn(broker.clone().maintain(options));
        broker
    }

    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for a connection; true when connected.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let changed = self.inner.changed.notified();
                if self.is_connected() {
                    return;
                }
                changed.await;
            }
        })
        .await
        .is_ok()
    }

    /// A channel to publish on, if connected.
    pub fn channel(&self) -> Option<Channel> {
        let channels = self.inner.channels.read().expect("lock is never poisoned");
        if channels.is_empty() {
            return None;
        }
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % channels.len();
        let channel = channels[i].clone();
        channel.status().connected().then_some(channel)
    }

    /// Publishes and awaits the confirm within `deadline`; fails fast when disconnected.
    pub async fn publish(
        &self,
        message: OutgoingMessage<'_>,
        deadline: Duration,
    ) -> Result<(), PublishError> {
        let channel = self.channel().ok_or(PublishError::NotConnected)?;
        let result = publish_confirmed(&channel, message, deadline).await;
        if matches!(result, Err(PublishError::Channel(_))) && !channel.status().connected() {
            // The connection watcher will notice too; marking now turns the next callers away
            // without waiting for it.
            self.set_disconnected();
        }
        result
    }

    /// Stops reconnecting and closes the connection (after in-flight publishes have finished).
    pub async fn close(&self) {
        self.inner.closing.store(true, Ordering::Release);
        let channels = std::mem::take(&mut *self.inner.channels.write().expect("not poisoned"));
        self.set_disconnected();
        // Channels first: closing the connection under open channels makes lapin report the
        // orderly shutdown as a connection error.
        for channel in channels {
            let _ = channel.close(200, "shutting down").await;
        }
        let connection = self.inner.connection.write().expect("not poisoned").take();
        if let Some(connection) = connection {
            let _ = connection.close(200, "shutting down").await;
        }
    }

    fn set_disconnected(&self) {
        self.inner.channels.write().expect("not poisoned").clear();
        self.inner.connected.store(false, Ordering::Release);
        self.inner.changed.notify_waiters();
    }

    async fn maintain(self, options: BrokerOptions) {
        let mut backoff = Backoff::new(options.reconnect_min, options.reconnect_max);
        while !self.inner.closing.load(Ordering::Acquire) {
            match self.open(&options).await {
                Ok((connection, lost)) => {
                    backoff.reset();
                    tracing::info!("connected to the broker");
                    *self.inner.connection.write().expect("not poisoned") = Some(connection);
                    lost.notified().await;
                    self.set_disconnected();
                    if self.inner.closing.load(Ordering::Acquire) {
                        break;
                    }
                    // A channel error leaves the connection itself open: close it, or every
                    // such incident would leak one connection to the broker.
                    let stale = self.inner.connection.write().expect("not poisoned").take();
                    if let Some(stale) = stale {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            stale.close(200, "reconnecting"),
                        )
                        .await;
                    }
                    tracing::warn!("lost the broker connection; reconnecting");
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %error_chain(&e), ?delay, "cannot reach the broker; retrying");
                    // Reconnect backoff: the broker is down; don't hammer it.
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Connects, opens confirm channels, declares the topology, and returns a notifier that
    /// fires when the connection is lost.
    async fn open(
        &self,
        options: &BrokerOptions,
    ) -> Result<(Connection, Arc<Notify>), lapin::Error> {
        let connection = connect(&options.endpoint, &options.connection_name).await?;
        let lost = Arc::new(Notify::new());
        let on_error = lost.clone();
        connection.on_error(move |error| {
            tracing::warn!(%error, "broker connection error");
            on_error.notify_one();
        });
        let mut channels = Vec::with_capacity(options.channels.max(1));
        for _ in 0..options.channels.max(1) {
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let on_channel_error = lost.clone();
            channel.on_error(move |error| {
                tracing::warn!(%error, "broker channel error");
                on_channel_error.notify_one();
            });
            channels.push(channel);
        }
        options.topology.declare(&channels[0]).await?;
        *self.inner.channels.write().expect("not poisoned") = channels;
        self.inner.connected.store(true, Ordering::Release);
        self.inner.changed.notify_waiters();
        Ok((connection, lost))
    }
}
